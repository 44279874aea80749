"""The command line explains itself: one line and exit status 2 for a user error, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from engagement.cli import main
from tests.benchmarks.shop_day import generate

ROOT = Path(__file__).parents[2]
SAMPLE = ROOT / "engagement" / "samples" / "events.jsonl"
SCRATCH = {"ENGAGEMENT_STATE_DIR": str(Path(tempfile.gettempdir()) / "engagement-cli-errors")}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (the project's own command)
        [sys.executable, "-m", "engagement", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["replay", str(SAMPLE), "--until", "2026-11-20"], {}, "not an RFC 3339 time with an offset"),
        (["run"], {"ENGAGEMENT_HTTP_PORT": "abc"}, "ENGAGEMENT_HTTP_PORT: Input should be a valid integer"),
        (["replay", str(SAMPLE), "--baseline", "triggers", "--decisions", "x.jsonl"], {}, "a backtest (--baseline)"),
        (["replay", "no-such-file.jsonl"], {}, "no-such-file.jsonl: no such file"),
        (["replay", str(SAMPLE), "--jobs", "0"], {}, "0 is out of range"),
        (["messages", "preview", "cart_idle", "--locale", "xx"], {}, "no wording for locale 'xx'"),
        (["messages", "preview", "cart_idle", "--tier", "gold"], {}, "no wording for tier 'gold'"),
        (["run"], {"ENGAGEMENT_PROVIDER": "whatsapp", **SCRATCH}, "needs ENGAGEMENT_WHATSAPP_PHONE_NUMBER_ID"),
        (["run"], {"ENGAGEMENT_PROVIDER": "pigeon", **SCRATCH}, "ENGAGEMENT_PROVIDER='pigeon' is not available"),
        (["triggers"], {}, "validate"),
        (["messages"], {}, "preview"),
        (["report", "--url", "http://127.0.0.1:9"], {"ENGAGEMENT_API_KEY": ""}, "set ENGAGEMENT_API_KEY"),
        (["report", "--url", "http://127.0.0.1:9"], {"ENGAGEMENT_API_KEY": "k"}, "http://127.0.0.1:9: ConnectError"),
        (["report", "--since", "last week"], {}, "neither a duration such as 7d nor an RFC 3339 time"),
        (["report", str(SAMPLE), "--url", "http://127.0.0.1:9"], {}, "an events file is replayed"),
    ],
)
def test_a_user_error_is_one_explained_line_and_status_2(args: list[str], env: dict[str, str], says: str) -> None:
    done = run(*args, env=env)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr
    assert "Traceback" not in done.stderr


def test_debug_shows_the_traceback() -> None:
    done = run("--debug", "replay", "no-such-file.jsonl")
    assert done.returncode != 0
    assert "Traceback" in done.stderr


def test_version_is_printed() -> None:
    done = run("--version")
    assert done.returncode == 0
    assert done.stdout.startswith("engagement ")


def test_a_reader_that_leaves_early_is_no_error(tmp_path: Path) -> None:
    """`engagement replay ... | head -1`: the pipe closes under the writer, with megabytes to go."""
    events = tmp_path / "day.jsonl"
    generate(events, 2_000, seed=3)
    command = [sys.executable, "-m", "engagement", "replay", str(events), "--jobs", "1"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:  # noqa: S603
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        proc.wait(timeout=120)
    assert "Traceback" not in stderr
    assert "BrokenPipeError" not in stderr


def test_validate_prints_the_version_decisions_carry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triggers", "validate"]) == 0
    validated = capsys.readouterr().out
    decisions = tmp_path / "d.jsonl"
    assert main(["replay", str(SAMPLE), "--decisions", str(decisions), "--jobs", "1"]) == 0
    live = {json.loads(line)["config_version"] for line in decisions.read_text(encoding="utf-8").splitlines()}
    assert len(live) == 1
    assert f"(version {live.pop()})" in validated
    assert main(["messages", "lint"]) == 0
    assert f"(version {json.loads(decisions.read_text(encoding='utf-8').splitlines()[0])['config_version']})" in (
        capsys.readouterr().out
    )


def test_a_broken_customer_file_names_its_line(tmp_path: Path) -> None:
    good = json.dumps(
        {"event_id": "a", "type": "page.viewed", "customer_id": "c", "occurred_at": "2026-01-01T00:00:00Z"}
    )
    broken = tmp_path / "customer.jsonl"
    broken.write_text("\n".join([good] * 24 + ['{"event_id": "b" "type": "page.viewed"}']) + "\n", encoding="utf-8")
    done = run("messages", "preview", "cart_idle", "--customer", str(broken))
    assert done.returncode == 2
    assert f"{broken}:25: column 18: Expecting ',' delimiter" in done.stderr


def test_an_english_customer_without_a_name_gets_english_parameters(tmp_path: Path) -> None:
    """Parameters per locale: the en_US template's {{1}} falls back to "there", not to 您好."""
    customer = tmp_path / "customer.jsonl"
    events = [
        {"event_id": "p", "type": "customer.updated", "customer_id": "c-en", "occurred_at": "2026-01-15T01:00:00Z",
         "phone": "+886912345678", "locale": "en", "whatsapp_opt_in": True, "timezone": "Asia/Taipei"},
        {"event_id": "c", "type": "cart.updated", "customer_id": "c-en", "occurred_at": "2026-01-15T02:00:00Z",
         "cart_id": "k", "items": [{"product_id": "p-1", "name": "Linen shirt", "quantity": 1, "unit_price": 1280}],
         "currency": "TWD"},
    ]  # fmt: skip
    customer.write_text("\n".join(json.dumps(e) for e in events) + "\n", encoding="utf-8")
    done = run("messages", "preview", "cart_idle", "--customer", str(customer))
    assert done.returncode == 0, done.stderr
    assert "WhatsApp template 'cart_reminder' (en_US)" in done.stdout
    assert "    {{1}} = there" in done.stdout
    assert "您好" not in done.stdout


@pytest.mark.parametrize("args", [["report"], ["events", "export", "--since", "1d"], ["customers", "forget", "c1"]])
def test_read_commands_on_a_state_directory_that_is_not_there_create_nothing(tmp_path: Path, args: list[str]) -> None:
    """A mistyped ENGAGEMENT_STATE_DIR is an error, not an empty answer from a state made up on the spot."""
    missing = tmp_path / "typo"
    done = run(*args, env={"ENGAGEMENT_STATE_DIR": str(missing)})
    assert done.returncode == 2, done.stderr
    assert f"no state at {missing}: is ENGAGEMENT_STATE_DIR right?" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not missing.exists()
