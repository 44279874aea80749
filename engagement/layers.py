"""How the house is assembled, lowest floor first. A module imports only from its own package and
from packages on a lower floor; packages on the same floor do not import one another. Each
package's docstring says what it may import; `tests/unit/test_layers.py` holds every import to it.

0. `events` (the contract), `timefmt`, `privacy` (masking, private files), `limits` (HTTP bounds)
1. `core`: the pure decision core (no I/O, time injected)
2. `decode`: bytes to contract events, with the event catalogue
3. `config` (YAML into the core's models), `settings` (the environment), `state_codec`
4. `providers`: the channels' adapters behind one port
5. `handoff` (replies handed to people), `replay` (the engine over recorded events)
6. `outcomes`: what followed each decision (`engagement report`)
7. `live`: what both runtimes share (HTTP API core, ingest, webhooks, the sender)
8. `authoring`: lint, preview, samples, template submission
9. the features an HTTP application is assembled from, each knowing no runtime: `console`,
   `sources`, `decision_feed`, `openapi`
10. the runtimes, which assemble them: `embedded` (`engagement run`), `worker`
11. commands over any runtime's data: `erasure`, `event_export`, `demo`
12. `cli`, then `__main__`
"""

from __future__ import annotations

FLOORS: tuple[tuple[str, ...], ...] = (
    ("events", "timefmt", "privacy", "limits"),
    ("core",),
    ("decode",),
    ("config", "settings", "state_codec"),
    ("providers",),
    ("handoff", "replay"),
    ("outcomes",),
    ("live",),
    ("authoring",),
    ("console", "sources", "decision_feed", "openapi"),
    ("embedded", "worker"),
    ("erasure", "event_export", "demo"),
    ("cli",),
    ("__main__", "layers"),
)


def floor_of(package: str) -> int:
    for number, names in enumerate(FLOORS):
        if package in names:
            return number
    raise KeyError(package)
