"""Hot reload: `run` and the workers watch the trigger and message directories and take a changed,
valid configuration without a restart. A set with any problem is rejected whole; the last good
one stays live, and the rejection shows in the logs and in `engagement_config_reloads_total`.

Timers armed before a change keep the configuration they were armed under (the engine keeps
the earlier engines) unless the new configuration says `in_flight: migrate` or `cancel`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from engagement.config.bundle import load_configuration
from engagement.config.loader import InvalidConfig, default_triggers_dir
from engagement.config.messages import default_messages_dir
from engagement.core.engine import Engine, EngineSettings
from engagement.decode import use_catalogue
from engagement.live.metrics import Metrics, standard_metrics
from engagement.privacy import private_directory
from engagement.settings import Settings

log = logging.getLogger("engagement.config")

RELOADS = "engagement_config_reloads_total"
LIVE_VERSION = "engagement_config_info"
POLL_SECONDS = 2.0


def describe_metrics(metrics: Metrics) -> None:
    metrics.describe(RELOADS, "counter", "configuration changes seen, by result: applied or rejected")
    metrics.describe(LIVE_VERSION, "gauge", "1 for the configuration version that is live")


class ConfigWatcher:
    def __init__(
        self, triggers_dir: Path, messages_dir: Path, settings: EngineSettings, metrics: Metrics, engine: Engine
    ) -> None:
        self.triggers_dir, self.messages_dir, self.settings = triggers_dir, messages_dir, settings
        self.metrics, self.engine = metrics, engine
        self._seen = self.fingerprint()
        self._looked_at = float("-inf")  # monotonic: the last unscheduled look (`may_look`)
        describe_metrics(metrics)
        metrics.set(LIVE_VERSION, 1, version=engine.config_version)

    def fingerprint(self) -> str:
        """Names, sizes and modification times of every file in both directories."""
        digest = hashlib.sha256()
        for directory in (self.triggers_dir, self.messages_dir):
            try:
                paths = sorted(directory.iterdir())
            except OSError:
                continue
            for path in paths:
                try:
                    stat = path.stat()
                except OSError:
                    continue
                digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        return digest.hexdigest()

    def may_look(self, gap: float = 1.0) -> bool:
        """At most one unscheduled look (`check`) per `gap` seconds: a flood of events of a type the
        configuration does not know lists the directories once a second, not once a batch."""
        now = time.monotonic()
        if now - self._looked_at < gap:
            return False
        self._looked_at = now
        return True

    def check(self) -> Engine | None:
        """The new engine when the directories changed to a valid, different configuration."""
        seen = self.fingerprint()
        if seen == self._seen:
            return None
        self._seen = seen
        try:
            configuration = load_configuration(self.triggers_dir, self.messages_dir, self.settings.allowed_lateness)
        except InvalidConfig as exc:
            self.metrics.inc(RELOADS, result="rejected")
            log.error(
                "configuration change rejected; %s stays live:\n%s",
                self.engine.config_version,
                "\n".join(str(p) for p in exc.problems),
            )
            return None
        if configuration.version == self.engine.config_version:
            return None
        previous = self.engine
        self.engine = previous.succeeded_by(Engine.of(configuration, self.settings))
        use_catalogue(self.engine.accepted_events)  # its event types are decoded from now on (and the kept ones')
        self.metrics.inc(RELOADS, result="applied")
        self.metrics.set(LIVE_VERSION, 0, version=previous.config_version)
        self.metrics.set(LIVE_VERSION, 1, version=self.engine.config_version)
        log.info("configuration %s is live (was %s)", self.engine.config_version, previous.config_version)
        return self.engine


def own_configuration(settings: Settings, state_dir: Path) -> Settings:
    """`run`'s live configuration is never a tracked source file: unless ENGAGEMENT_TRIGGERS_DIR and
    ENGAGEMENT_MESSAGES_DIR name directories, it lives under the state directory (`config/triggers`,
    `config/messages`), copied from the shipped defaults on the first start, so that what the
    console publishes lands there and a checkout stays as it was."""
    chosen: dict[str, Path] = {}
    for name, given, default in (
        ("triggers_dir", settings.triggers_dir, default_triggers_dir),
        ("messages_dir", settings.messages_dir, default_messages_dir),
    ):
        if given is not None:
            continue
        target = state_dir / "config" / name.removesuffix("_dir")
        if not target.is_dir():
            private_directory(target.parent)
            scratch = target.with_name(f".{target.name}.seeding")
            shutil.rmtree(scratch, ignore_errors=True)
            shutil.copytree(default(), scratch)
            os.replace(scratch, target)  # whole or not at all: a crash while copying leaves no half
            log.info("configuration: %s copied from the shipped %s", target, default())
        chosen[name] = target
    return settings.model_copy(update=chosen) if chosen else settings


def live_configuration(
    settings: Settings, triggers_dir: Path | None = None, allowed_lateness: float | None = None
) -> tuple[Engine, ConfigWatcher | None]:
    """The engine of the configuration that goes live in `run` or a worker, and the watcher that
    reloads it (None when `ENGAGEMENT_CONFIG_POLL` is 0s). The demo passes its own triggers and lateness."""
    triggers_dir = triggers_dir or settings.triggers_dir or default_triggers_dir()
    messages_dir = settings.messages_dir or default_messages_dir()
    engine_settings = settings.engine_settings()
    if allowed_lateness is not None:
        engine_settings = replace(engine_settings, allowed_lateness=allowed_lateness)
    configuration = load_configuration(triggers_dir, messages_dir, engine_settings.allowed_lateness)
    use_catalogue(configuration.triggers.catalogue)
    engine = Engine.of(configuration, engine_settings)
    if settings.config_poll.total_seconds() <= 0:
        return engine, None
    return engine, ConfigWatcher(triggers_dir, messages_dir, engine_settings, standard_metrics(), engine)


async def watch(watcher: ConfigWatcher, apply: Callable[[Engine], None], interval: float = POLL_SECONDS) -> None:
    while True:
        await asyncio.sleep(interval)
        engine = watcher.check()
        if engine is not None:
            apply(engine)
