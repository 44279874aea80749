"""Did it work? What followed each decision (provider statuses, replies, orders), attributed per
trigger and configuration version, with the uplift over the holdout group (`engagement report`).

- `records`: what the report reads: decisions, the orders and replies that followed, statuses.
- `attribution`: the pure part: those records in, one row per trigger out.
- `intervals`: the 95 % intervals (two proportions; bootstrap for revenue).
- `sources`: where the records come from: a replay, run's store or API, the workers' topics.
- `table`, `page`: the report as a text table, or as one self-contained HTML page with plots.

May import: `replay`, `core`, `decode`, `config`, `events`, `timefmt`. Never a runtime.
"""
