"""`engagement worker`: builds the engine and runs the faust app as a worker."""

from __future__ import annotations

import os
import sys

import faust

from engagement.live.api_keys import KeysFileError
from engagement.live.config_reload import live_configuration
from engagement.live.guard import InsecureBind
from engagement.privacy import install_phone_masking, private_directory
from engagement.settings import Settings
from engagement.sources.routes import check_source_settings
from engagement.worker.admin import ensure_topics_now
from engagement.worker.app import create_app
from engagement.worker.topics import TopicNames


def main(host: str) -> int:
    os.umask(0o077)  # the RocksDB store and everything else written is the owner's only
    install_phone_masking()
    settings = Settings()
    private_directory(settings.state_dir / "worker")
    engine, watcher = live_configuration(settings)
    try:
        check_source_settings(settings)  # before the HTTP task would meet them
        app = create_app(settings, engine, settings.partitions, host, watcher)
    except (KeysFileError, InsecureBind, ValueError) as exc:
        sys.stderr.write(f"engagement worker: {exc}\n")
        return 2
    ensure_topics_now(
        settings.kafka_brokers,
        settings.partitions,
        TopicNames(settings.topic_prefix),
        settings.app_id,
        settings.retention_days,
    )
    worker = faust.Worker(app, loglevel="INFO")
    worker.execute_from_commandline()
    return 0
