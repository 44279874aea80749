"""The `engagement` command line.

May import: anything but `__main__`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from engagement.authoring.backtest import CLEAR, backtest, report, scope_line, show_progress
from engagement.authoring.baselines import BaselineCache, default_baseline_cache
from engagement.config.bundle import Configuration, load_configuration
from engagement.config.event_catalogue import EventCatalogue, load_catalogue, with_catalogue
from engagement.config.loader import InvalidConfig, default_triggers_dir
from engagement.config.messages import default_messages_dir
from engagement.config.template_registry import REGISTRY_FILE, RegistryError, load_registry, write_registry
from engagement.core.durations import Duration
from engagement.core.engine import Engine
from engagement.core.specs import TriggerSpec
from engagement.decode import use_catalogue
from engagement.events import events_json_schema
from engagement.live.api_keys import check_scopes, create_key
from engagement.privacy import install_phone_masking, mask_phone
from engagement.replay.command import run_replay
from engagement.replay.shards import default_jobs
from engagement.settings import Settings
from engagement.timefmt import parse_rfc3339, rfc3339


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status 0, 1 for a configuration with problems (each listed), 2 for any other user
    error (one line; `--debug` adds the traceback)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.handler(args))
    except InvalidConfig as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    except BrokenPipeError:  # `engagement ... | head`: the reader left, which is no error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ValidationError as exc:  # the ENGAGEMENT_* settings
        if args.debug:
            raise
        print(f"engagement: {settings_problem(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        if not isinstance(exc, user_errors()):
            raise
        if args.debug:
            raise
        print(f"engagement {args.command}: {exc}", file=sys.stderr)
        return 2


DURATION: TypeAdapter[timedelta] = TypeAdapter(Duration)


class UsageError(Exception):
    """A command given something it cannot work with; its message says what."""


LOADED_ERRORS = (
    ("engagement.event_export", "ExportError"),
    ("engagement.outcomes.sources", "ReportUnavailable"),
    ("engagement.providers.factory", "UnknownProviderError"),
    ("engagement.providers.whatsapp.templates", "TemplateSyncError"),
)
"""Errors of the modules a command loads for itself (a replay starts without the report's
plotting or the providers' HTTP clients): a module no command loaded raised none of them."""


def user_errors() -> tuple[type[Exception], ...]:
    """The errors a command reports in one line."""
    loaded = tuple(getattr(sys.modules[module], name) for module, name in LOADED_ERRORS if module in sys.modules)
    return (OSError, ValueError, UsageError, RegistryError, *loaded)


def settings_problem(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    name = "ENGAGEMENT_" + "_".join(str(p) for p in first["loc"]).upper()
    return f"{name}: {first['msg']} (got {first.get('input')!r})"


def _version() -> str:
    try:
        return version("engagement")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engagement", description="Proactive engagement event processor.")
    parser.add_argument("--version", action="version", version=f"engagement {_version()}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(metavar="COMMAND", dest="command")

    replay = sub.add_parser("replay", help="run the engine over recorded events; sends nothing")
    replay.add_argument("events", type=Path, help="events as JSON lines")
    _configuration_dirs(replay)
    replay.add_argument("--decisions", type=Path, help="write decisions here (default: standard output)")
    replay.add_argument("--rejects", type=Path, help="write rejected lines here, with line numbers and reasons")
    replay.add_argument(
        "--until",
        type=_moment,
        help="stop the clock at this RFC 3339 time (2026-11-20T12:00:00Z) instead of the last event",
    )
    replay.add_argument(
        "--baseline", type=Path, help="backtest: compare --triggers against this trigger directory, per trigger"
    )
    replay.add_argument("--baseline-messages", type=Path, help="backtest: the baseline's message directory")
    replay.add_argument(
        "--baseline-cache",
        type=Path,
        default=default_baseline_cache(),
        help="backtest: keep the baseline's side here, so that the next backtest of the same events and "
        "baseline replays the edit only (private to you; holds customer data; default: %(default)s)",
    )
    replay.add_argument(
        "--no-baseline-cache", action="store_true", help="backtest: neither read nor keep the baseline's side"
    )
    replay.add_argument(
        "--jobs",
        type=_jobs,
        default=default_jobs(),
        help="processes sharing the replay, split by customer; the output is the same for any number "
        "(default: the number of CPUs, here %(default)s)",
    )
    replay.set_defaults(handler=_replay)

    report = sub.add_parser("report", help="did it work: conversions, revenue and uplift over the holdout, per trigger")
    report.add_argument(
        "events", type=Path, nargs="?", help="events as JSON lines to replay (default: what run stored)"
    )
    where = report.add_mutually_exclusive_group()
    where.add_argument("--url", help="a running run or worker to ask (GET /v1/report with ENGAGEMENT_API_KEY)")
    where.add_argument("--worker", action="store_true", help="what the workers published to Kafka")
    report.add_argument(
        "--since",
        type=_since,
        help="decisions from this time on: a duration back from now (for an events file: from its last "
        "decision), such as 7d, or an RFC 3339 time",
    )
    _configuration_dirs(report)
    report.add_argument("--json", action="store_true", help="one JSON object per trigger instead of the table")
    report.add_argument(
        "--html", type=Path, metavar="FILE", help="also write the report with its plots as one HTML page"
    )
    report.add_argument("--jobs", type=_jobs, default=default_jobs(), help="processes sharing the replay")
    report.set_defaults(handler=_report)

    run = sub.add_parser("run", help="the main job on one machine: HTTP ingest, engine, timers, sender")
    run.add_argument("--demo", action="store_true", help="feed a shipped sample stream with seconds-long triggers")
    run.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    run.set_defaults(handler=_run)

    worker = sub.add_parser("worker", help="the same job as a faust-streaming worker on Kafka + Redis")
    worker.add_argument("--host", default="127.0.0.1", help="address of the HTTP API (default 127.0.0.1)")
    worker.set_defaults(handler=_worker)

    schema = sub.add_parser("schema", help="print a JSON Schema")
    schema.add_argument("what", choices=("events", "triggers"))
    schema.set_defaults(handler=_schema)

    triggers = sub.add_parser("triggers", help="trigger configuration tools")
    triggers.set_defaults(handler=_help_of(triggers))
    tsub = triggers.add_subparsers(metavar="ACTION")
    validate = tsub.add_parser("validate", help="check a trigger directory; exit 1 listing every problem")
    validate.add_argument("directory", type=Path, nargs="?", help="trigger directory (default: the shipped triggers/)")
    validate.add_argument("--messages", type=Path, help="message directory (default: the shipped messages/)")
    validate.set_defaults(handler=_validate)

    _message_commands(sub)
    _template_commands(sub)
    _event_commands(sub)
    _privacy_commands(sub)
    return parser


def _event_commands(sub: Any) -> None:
    """`events export`."""
    events = sub.add_parser("events", help="the events a runtime took")
    events.set_defaults(handler=_help_of(events))
    esub = events.add_subparsers(metavar="ACTION")
    export = esub.add_parser("export", help="recent accepted events as replayable JSON lines, to standard output")
    export.add_argument("--since", type=_duration, required=True, help="how far back: 7d, 36h, 90m")
    export.add_argument("--url", help="a running run to read through (GET /v1/events with ENGAGEMENT_API_KEY)")
    export.add_argument("--worker", action="store_true", help="read the workers' input topics instead of run's store")
    export.set_defaults(handler=_events_export)


def _message_commands(sub: Any) -> None:
    """`messages lint`, `preview` and `test`."""
    messages = sub.add_parser("messages", help="message tools for marketers")
    messages.set_defaults(handler=_help_of(messages))
    msub = messages.add_subparsers(metavar="ACTION")
    lint = msub.add_parser("lint", help="style rules; exit 1 on errors (and on warnings with --strict)")
    lint.add_argument("directory", type=Path, nargs="?", help="message directory (default: the shipped messages/)")
    lint.add_argument("--triggers", type=Path, help="trigger directory (default: the shipped triggers/)")
    lint.add_argument("--strict", action="store_true", help="warnings fail too")
    lint.set_defaults(handler=_lint)
    show = msub.add_parser("preview", help="what a customer would receive from a trigger")
    show.add_argument("trigger", help="a trigger id")
    show.add_argument("--locale", help="as if the customer's locale were this (zh-TW, zh-CN, en, ...)")
    show.add_argument("--tier", help="as if the customer's tier were this (for example vip)")
    show.add_argument("--channel", choices=("whatsapp", "line", "sms"), help="the message on this channel")
    show.add_argument("--customer", type=Path, help="one customer's events (JSON array or lines); default: a sample")
    _configuration_dirs(show)
    show.set_defaults(handler=_preview)
    test = msub.add_parser("test", help="send yourself a trigger's message with sample values (counted nowhere)")
    test.add_argument("trigger", help="a trigger id")
    test.add_argument("--to", required=True, help="your WhatsApp number, E.164 (+886912345678)")
    test.add_argument("--locale", help="the sample customer's locale")
    test.add_argument("--tier", help="the sample customer's tier")
    _configuration_dirs(test)
    test.set_defaults(handler=_messages_test)


def _template_commands(sub: Any) -> None:
    """`templates sync`."""
    templates = sub.add_parser("templates", help="the WhatsApp templates of the business account")
    templates.set_defaults(handler=_help_of(templates))
    tpsub = templates.add_subparsers(metavar="ACTION")
    sync = tpsub.add_parser("sync", help=f"read every template from WhatsApp into MESSAGES/{REGISTRY_FILE}")
    sync.add_argument("--messages", type=Path, help="message directory (default: the shipped messages/)")
    sync.set_defaults(handler=_templates_sync)
    submit = tpsub.add_parser("submit", help="ask WhatsApp to approve the template a trigger's message describes")
    submit.add_argument("trigger", help="a trigger id")
    submit.add_argument("--locale", help="only this locale's template (default: every locale of the message)")
    _configuration_dirs(submit)
    submit.set_defaults(handler=_templates_submit)


def _privacy_commands(sub: Any) -> None:
    """`keys create` and `customers forget`."""
    keys = sub.add_parser("keys", help="API keys for the HTTP API")
    keys.set_defaults(handler=_help_of(keys))
    ksub = keys.add_subparsers(metavar="ACTION")
    create = ksub.add_parser("create", help="a new API key, printed once (only its SHA-256 is stored)")
    create.add_argument("name", help="who or what uses the key (letters, digits and . _ @ -)")
    create.add_argument("--scope", required=True, help="ingest, read and/or admin, comma-separated")
    create.add_argument(
        "--file", type=Path, help="the keys file (default: ENGAGEMENT_API_KEYS_FILE or STATE_DIR/api_keys)"
    )
    create.set_defaults(handler=_keys_create)

    customers = sub.add_parser("customers", help="customer data")
    customers.set_defaults(handler=_help_of(customers))
    csub = customers.add_subparsers(metavar="ACTION")
    forget = csub.add_parser("forget", help="erase a customer everywhere the runtime keeps data")
    forget.add_argument("customer_id")
    forget.add_argument(
        "--url", help="a running run or worker to erase through (DELETE /v1/customers/ID with ENGAGEMENT_API_KEY)"
    )
    forget.add_argument(
        "--worker", action="store_true", help="erase from the workers' state (Kafka and Redis) instead of run's"
    )
    forget.set_defaults(handler=_forget)


def build_engine(triggers: Path | None, messages: Path | None, settings: Settings) -> Engine:
    configuration = load_configuration(
        triggers or settings.triggers_dir or default_triggers_dir(),
        messages or settings.messages_dir or default_messages_dir(),
        settings.allowed_lateness.total_seconds(),
    )
    use_catalogue(configuration.triggers.catalogue)  # the event types this process decodes
    return Engine.of(configuration, settings.engine_settings())


def _configuration_dirs(parser: argparse.ArgumentParser) -> None:
    """`--triggers` and `--messages`, as every command that loads a configuration takes them."""
    parser.add_argument("--triggers", type=Path, help="trigger directory (default: the shipped triggers/)")
    parser.add_argument("--messages", type=Path, help="message directory (default: the shipped messages/)")


def _help_of(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """A command group without its action: the group's own help, and exit status 2."""

    def show(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    return show


def _moment(text: str) -> float:
    try:
        return parse_rfc3339(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an RFC 3339 time with an offset, such as 2026-11-20T12:00:00Z"
        ) from None


def _replay(args: argparse.Namespace) -> int:
    backtesting = args.baseline is not None or args.baseline_messages is not None
    if backtesting and (args.decisions is not None or args.rejects is not None):
        raise UsageError("--decisions and --rejects write a replay's output; a backtest (--baseline) prints a report")
    if not args.events.is_file():
        raise UsageError(f"{args.events}: no such file")
    settings = Settings()
    engine = build_engine(args.triggers, args.messages, settings)
    until = args.until
    if backtesting:
        baseline = build_engine(args.baseline or args.triggers, args.baseline_messages or args.messages, settings)
        cache = None if args.no_baseline_cache else BaselineCache(args.baseline_cache)
        shown = show_progress(sys.stderr) if sys.stderr.isatty() else None
        found = backtest(baseline, engine, args.events, until, args.jobs, shown, cache)
        for line in report(found):
            print(line)
        print(("" if shown is None else CLEAR) + scope_line(found), file=sys.stderr)
        return 0
    return run_replay(engine, args.events, args.decisions, args.rejects, until, args.jobs)


MAX_JOBS = 256


def _jobs(text: str) -> int:
    try:
        jobs = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= jobs <= MAX_JOBS:
        raise argparse.ArgumentTypeError(f"{jobs} is out of range: 1 to {MAX_JOBS} processes")
    return jobs


def _configuration(triggers: Path | None, messages: Path | None) -> tuple[Configuration, Engine]:
    """The configuration and its engine for the authoring commands (sample customers' links allowed)."""
    from engagement.authoring.samples import for_samples  # noqa: PLC0415 (the authoring commands' own)

    settings = Settings()
    configuration = load_configuration(
        triggers or settings.triggers_dir or default_triggers_dir(),
        messages or settings.messages_dir or default_messages_dir(),
        settings.allowed_lateness.total_seconds(),
    )
    return configuration, Engine.of(configuration, for_samples(settings.engine_settings()))


def _lint(args: argparse.Namespace) -> int:
    from engagement.authoring.lint import lint, load_rules  # noqa: PLC0415 (loaded by the command that lints)

    directory = args.directory or Settings().messages_dir or default_messages_dir()
    configuration, engine = _configuration(args.triggers, directory)
    registry = load_registry(directory)
    findings = lint(configuration, load_rules(directory), engine, registry)
    if registry is None:
        print(f"{directory}: templates not checked against WhatsApp: no {REGISTRY_FILE} (engagement templates sync)")
    elif registry.example:
        print(
            f"{directory}: templates checked against the shipped example {REGISTRY_FILE}, not your WhatsApp "
            "account (engagement templates sync)"
        )
    for finding in findings:
        print(finding)
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    print(
        f"{directory}: {len(configuration.messages.messages)} messages, {errors} errors, {warnings} warnings "
        f"(version {configuration.version})"
    )
    return 1 if errors or (args.strict and warnings) else 0


def _preview(args: argparse.Namespace) -> int:
    from engagement.authoring.preview import PreviewError, describe, preview, read_customer_events  # noqa: PLC0415

    _, engine = _configuration(args.triggers, args.messages)
    try:
        events = read_customer_events(args.customer) if args.customer is not None else None
        directory = args.messages or Settings().messages_dir or default_messages_dir()
        registry = load_registry(directory)
        result = preview(engine, args.trigger, events, args.locale, args.tier, registry, args.channel)
    except (PreviewError, OSError) as exc:
        print(exc, file=sys.stderr)
        return 2
    for line in describe(result):
        print(line)
    return 0


def _run(args: argparse.Namespace) -> int:
    from engagement.embedded.command import main as run_main  # noqa: PLC0415 (aiohttp only when running)

    return run_main(args.demo, args.host)


def _worker(args: argparse.Namespace) -> int:
    from engagement.worker.command import main as worker_main  # noqa: PLC0415 (faust only when running)

    return worker_main(args.host)


def _templates_sync(args: argparse.Namespace) -> int:
    from engagement.providers.whatsapp.templates import fetch_templates  # noqa: PLC0415 (httpx only here)

    settings = Settings()
    directory = args.messages or settings.messages_dir or default_messages_dir()
    records = fetch_templates(
        settings.whatsapp_api_base,
        settings.whatsapp_api_version,
        settings.whatsapp_business_account_id,
        settings.whatsapp_token.get_secret_value(),
    )
    source = f"whatsapp:{settings.whatsapp_business_account_id}"
    path = write_registry(directory, source, rfc3339(round(time.time())), records)
    statuses = Counter(r.status for r in records)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items())) or "none"
    print(f"{path}: {len(records)} templates ({summary})")
    return 0


def _templates_submit(args: argparse.Namespace) -> int:
    from engagement.authoring.template_submission import submissions, template_payload  # noqa: PLC0415
    from engagement.providers.whatsapp.templates import submit_template  # noqa: PLC0415 (httpx only here)

    settings = Settings()
    _, engine = _configuration(args.triggers, args.messages)
    for locale, tier in submissions(engine, args.trigger, args.locale):
        payload = template_payload(engine, args.trigger, locale, tier)
        answer = submit_template(
            settings.whatsapp_api_base,
            settings.whatsapp_api_version,
            settings.whatsapp_business_account_id,
            settings.whatsapp_token.get_secret_value(),
            payload,
        )
        print(
            f"{payload['name']} ({payload['language']}, {payload['category']}): {answer.get('status', '?')} "
            f"(id {answer.get('id', '?')}); engagement templates sync once WhatsApp has reviewed it"
        )
    return 0


def _messages_test(args: argparse.Namespace) -> int:
    from engagement.authoring.template_submission import test_message  # noqa: PLC0415
    from engagement.providers.base import ProviderError  # noqa: PLC0415 (the providers only here)
    from engagement.providers.factory import build_provider  # noqa: PLC0415

    settings = Settings()
    _, engine = _configuration(args.triggers, args.messages)
    message = test_message(engine, args.trigger, args.to, args.locale, args.tier)
    provider = build_provider(settings)

    async def send() -> str:
        try:
            return (await provider.send(message)).provider_message_id
        finally:
            await provider.close()

    try:
        receipt = asyncio.run(send())
    except ProviderError as exc:
        print(f"engagement messages test: {settings.provider} refused the test message: {exc}", file=sys.stderr)
        return 1
    install_phone_masking()
    logging.getLogger("engagement.test").info("test message %s sent to %s", message.key, message.to)
    print(f"test message sent through {settings.provider} to {mask_phone(message.to)}: {receipt}")
    return 0


def _report(args: argparse.Namespace) -> int:
    # the report's numpy and plotting, and the runtimes' clients, only for a report
    from engagement.embedded import reports as stored_reports  # noqa: PLC0415
    from engagement.outcomes import page as report_page  # noqa: PLC0415
    from engagement.outcomes import sources as report_sources  # noqa: PLC0415
    from engagement.outcomes.table import as_json  # noqa: PLC0415
    from engagement.outcomes.table import describe as describe_report  # noqa: PLC0415
    from engagement.worker import reports as worker_reports  # noqa: PLC0415

    settings = Settings()
    engine = build_engine(args.triggers, args.messages, settings)
    ago, at = args.since if args.since is not None else (None, None)
    if args.events is not None:
        if args.url is not None or args.worker:
            raise UsageError("an events file is replayed; --url and --worker read what a runtime kept instead")
        if not args.events.is_file():
            raise UsageError(f"{args.events}: no such file")
        rows = report_sources.from_replay(engine, args.events, args.jobs, at, ago)
    else:
        since = at if ago is None else time.time() - ago
        if args.worker:
            rows = asyncio.run(worker_reports.from_topics(engine, settings, since))
        else:
            rows = stored_reports.stored(engine, settings, args.url, since)
    if args.html is not None:
        args.html.write_text(report_page.render(rows, generated=time.time()), encoding="utf-8")
        print(f"wrote {args.html}", file=sys.stderr)
    if args.json:
        print(as_json(rows))
    else:
        for line in describe_report(rows):
            print(line)
    return 0


def _since(text: str) -> tuple[float | None, float | None]:
    """(seconds back, None) for a duration, (None, epoch seconds) for a time."""
    try:
        return _duration(text), None
    except argparse.ArgumentTypeError:
        pass
    try:
        return None, parse_rfc3339(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration such as 7d nor an RFC 3339 time such as 2026-11-20T00:00:00Z"
        ) from None


def triggers_catalogue(settings: Settings) -> EventCatalogue:
    """The event catalogue of the trigger directory in use (`triggers/_events.yaml`)."""
    catalogue, problems, _ = load_catalogue(settings.triggers_dir or default_triggers_dir())
    if problems:
        raise InvalidConfig(problems)
    return catalogue


def _events_export(args: argparse.Namespace) -> int:
    from engagement.event_export import export_events  # noqa: PLC0415 (the runtimes' clients only here)

    since = time.time() - args.since
    settings = Settings()
    use_catalogue(triggers_catalogue(settings))  # the declared types are events to export too
    count = export_events(settings, since, sys.stdout, args.url, args.worker)
    print(f"exported {count:,} events that occurred since {rfc3339(since)}", file=sys.stderr)
    return 0


def _duration(text: str) -> float:
    try:
        seconds = DURATION.validate_python(text).total_seconds()
    except ValidationError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 7d, 36h or 90m") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a duration longer than 0")
    return seconds


def _keys_create(args: argparse.Namespace) -> int:
    path = args.file or Settings().keys_file()
    try:
        scopes = check_scopes(args.scope)
        key = create_key(path, args.name, scopes)
    except (ValueError, OSError) as exc:
        print(f"engagement keys create: {exc}", file=sys.stderr)
        return 2
    print(f"added key {args.name!r} ({','.join(scopes)}) to {path}; it is shown once, below", file=sys.stderr)
    print(key)
    return 0


def _forget(args: argparse.Namespace) -> int:
    from engagement.erasure import forget_customer  # noqa: PLC0415 (the runtimes' clients only here)

    return forget_customer(Settings(), args.customer_id, args.url, args.worker)


def _schema(args: argparse.Namespace) -> int:
    if args.what == "events":  # the contract's, with the event catalogue of the triggers in use
        schema = with_catalogue(events_json_schema(), triggers_catalogue(Settings()))
    else:
        schema = TypeAdapter(TriggerSpec).json_schema()
        schema["title"] = "engagement trigger"
    print(json.dumps(schema, indent=2, ensure_ascii=False))
    return 0


def _validate(args: argparse.Namespace) -> int:
    """The triggers checked with the messages they go live with; the version printed is the one
    `/metrics` and every decision will show for these two directories."""
    settings = Settings()
    directory = args.directory or settings.triggers_dir or default_triggers_dir()
    configuration, _ = _configuration(directory, args.messages)
    print(
        f"{directory}: {len(configuration.triggers.triggers)} triggers valid with the messages of "
        f"{args.messages or settings.messages_dir or default_messages_dir()} (version {configuration.version})"
    )
    return 0
