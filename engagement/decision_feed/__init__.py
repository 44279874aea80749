"""Decisions pushed to the shop (`ENGAGEMENT_DECISIONS_WEBHOOK_URL`), not only polled.

Each runtime gives a `DecisionSource` (run: its stored decisions after a cursor; a worker: the
decisions topic read by a consumer group of its own); `push.run_feed` posts them in batches,
signed like the hand-off webhook, and moves the source's cursor on only after the receiver took a
batch: a crash, a kill -9 or a receiver that is down means the batch is posted again (at least
once; receivers drop repeats by each decision's `id`). A batch is retried with backoff for 24 h
after its decisions were made, then given up and counted.

May import: `engagement.handoff.record` (the signature), `engagement.providers.base` (the errors),
`engagement.live.metrics`. Never a runtime.
"""
