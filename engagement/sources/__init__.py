"""Platform webhooks mapped to contract events (CONTRACT.md §5 `POST /v1/sources/{name}`).

Each platform's module maps one delivery's JSON to contract event dicts (`mapping.Mapped`), with
the event time taken from the payload and event ids derived from the platform's own delivery or
message ids, so a redelivery is a duplicate. `routes` serves them for any runtime: it takes the
runtime's `Ingest` and a `SourceMemory` (what a source must remember between deliveries: the
customer of an order, a Segment cart) and knows no runtime.

May import: `engagement.events`, `engagement.decode`, `engagement.config`, `engagement.live`'s
HTTP helpers (guard, ingest, metrics). Never `engagement.embedded`, `engagement.worker`.
"""
