"""`run`'s decisions for the decisions webhook: the stored decisions after a cursor kept in the
store (`meta.decisions_pushed`), so a restart, or a kill -9, posts again from the last batch the
receiver did not take. A store that never pushed starts at its newest decision."""

from __future__ import annotations

from engagement.embedded.store import EmbeddedStore

CURSOR = "decisions_pushed"


class StoredDecisions:
    def __init__(self, store: EmbeddedStore) -> None:
        self.store = store
        self.cursor = int(store.meta(CURSOR, -1))
        if self.cursor < 0:
            self.cursor = store.max_decision_seq()
            store.set_meta(CURSOR, self.cursor)
        self._last: int | None = None

    async def next_batch(self, limit: int) -> list[str]:
        rows = self.store.decision_lines(self.cursor, limit)
        self._last = rows[-1][0] if rows else None
        return [line for _, line in rows]

    async def done(self) -> None:
        if self._last is not None:
            self.cursor = self._last
            self.store.set_meta(CURSOR, self.cursor)
            self._last = None
