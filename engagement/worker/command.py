"""`engagement worker`: builds the engine and runs the faust app as a worker."""

from __future__ import annotations

import faust

from engagement.live.config_reload import live_configuration
from engagement.settings import Settings
from engagement.worker.admin import ensure_topics_now
from engagement.worker.app import create_app
from engagement.worker.topics import TopicNames


def main(host: str) -> int:
    settings = Settings()
    engine, watcher = live_configuration(settings)
    ensure_topics_now(settings.kafka_brokers, settings.partitions, TopicNames(settings.topic_prefix), settings.app_id)
    app = create_app(settings, engine, settings.partitions, host, watcher)
    worker = faust.Worker(app, loglevel="INFO")
    worker.execute_from_commandline()
    return 0
