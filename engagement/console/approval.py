"""Maker/checker (`ENGAGEMENT_CONSOLE_REQUIRE_APPROVAL=1`): an edit is proposed by one key and
published by another admin key, never by its proposer. A proposal keeps its files, note, author
and the live configuration it was made against; approving it publishes it (its dangers
acknowledged by the approver) with both names in the version; a proposal made against a
configuration that is no longer live must be proposed again. A roll back is proposed and approved
the same way. Each key may have at most `MAX_PER_AUTHOR` proposals waiting.

Kept under `STATE_DIR/console/proposals/{id}.json`.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engagement.privacy import private_directory

MAX_PROPOSALS = 200
MAX_PER_AUTHOR = 10  # so that one key cannot fill the list for everyone


class ProposalRefused(ValueError):
    """No such proposal, or one that cannot be approved (the message says why)."""


@dataclass
class Proposal:
    id: str
    author: str
    note: str
    files: dict[str, str]
    base_version: str  # the live configuration it was proposed against
    at: float = field(default_factory=time.time)
    acknowledged: list[str] = field(default_factory=list)  # what the proposer acknowledged
    rollback: int | None = None  # a roll back to this published version (its files are `files`)

    def as_json(self, with_files: bool = False) -> dict[str, Any]:
        found = asdict(self)
        if not with_files:
            found["files"] = sorted(self.files)
        return found


class Proposals:
    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / "console" / "proposals"

    def add(
        self,
        author: str,
        note: str,
        files: dict[str, str],
        base: str,
        acknowledged: list[str],
        rollback: int | None = None,
    ) -> Proposal:
        waiting = self.all()
        if sum(p.author == author for p in waiting) >= MAX_PER_AUTHOR:
            raise ProposalRefused(f"{MAX_PER_AUTHOR} of your proposals wait already: withdraw one first")
        if len(waiting) >= MAX_PROPOSALS:
            raise ProposalRefused(f"{MAX_PROPOSALS} proposals wait already: approve or withdraw some first")
        proposal = Proposal(uuid.uuid4().hex[:12], author, note, files, base, acknowledged=acknowledged,
                            rollback=rollback)  # fmt: skip
        private_directory(self.directory)
        path = self.directory / f"{proposal.id}.json"
        scratch = path.with_suffix(".writing")
        scratch.write_text(json.dumps(asdict(proposal), ensure_ascii=False), encoding="utf-8")
        os.replace(scratch, path)
        return proposal

    def get(self, proposal_id: str) -> Proposal:
        if not proposal_id.isalnum() or not proposal_id.isascii() or len(proposal_id) > 32:
            raise ProposalRefused("no such proposal")
        path = self.directory / f"{proposal_id}.json"
        try:
            return Proposal(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            raise ProposalRefused("no such proposal") from None

    def all(self) -> list[Proposal]:
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                found.append(Proposal(**json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, TypeError):
                continue
        return sorted(found, key=lambda p: p.at)

    def remove(self, proposal_id: str) -> None:
        self.get(proposal_id)
        (self.directory / f"{proposal_id}.json").unlink(missing_ok=True)
