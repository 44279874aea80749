"""The yardstick of `bench_worker`: a faust agent that does nothing with the worker's input topics.

Usage (as the benchmark runs it): python -m tests.benchmarks.noop_agent COUNT_FILE, with the
same ENGAGEMENT_* environment as `engagement worker`. The app has the worker's faust settings
(`engagement.worker.app.faust_app`), subscribes to the same topics with the same partitions and
takes the same batches; it only counts the messages and writes the count to COUNT_FILE four
times a second. What the worker reaches as a share of this is what our own code costs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import faust

from engagement.settings import Settings
from engagement.worker.app import BATCH_MAX, BATCH_WITHIN_SECONDS, faust_app
from engagement.worker.topics import TopicNames


def main(count_file: Path) -> None:
    settings = Settings()
    settings = settings.model_copy(update={"app_id": f"{settings.app_id}-noop"})
    names = TopicNames(settings.topic_prefix)
    app = faust_app(settings, settings.partitions)
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    inputs = app.topic(*names.inputs, names.ticks, partitions=settings.partitions, **raw)
    counted = [0]

    @app.agent(inputs, concurrency=1)
    async def nothing(stream: Any) -> None:
        async for batch in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_SECONDS):
            counted[0] += len(batch)

    @app.timer(0.25)
    async def report() -> None:
        count_file.write_text(str(counted[0]), encoding="utf-8")

    faust.Worker(app, loglevel="WARNING").execute_from_commandline()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
