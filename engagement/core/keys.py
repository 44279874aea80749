"""Deterministic hashes: idempotency keys, holdout buckets and event-id digests (stable across processes)."""

from __future__ import annotations

from hashlib import blake2b

EVENT_DIGEST_SIZE = 5  # 40 bits: a false repeat among 32 remembered ids is a 1-in-34-billion chance


def idempotency_key(trigger_id: str, customer_id: str, subject: str) -> str:
    """One key per (trigger, customer, subject); the provider is never called twice for it."""
    digest = blake2b(f"{customer_id}\0{subject}".encode(), digest_size=12).hexdigest()
    return f"{trigger_id}-{digest}"


def in_holdout(trigger_id: str, customer_id: str, percent: float) -> bool:
    """Whether the customer is in the trigger's control group; the same answer every time."""
    if percent <= 0:
        return False
    digest = blake2b(f"{trigger_id}\0{customer_id}".encode(), digest_size=8).digest()
    bucket = int.from_bytes(digest, "big") % 10_000
    return bucket < percent * 100


def seen_before(ring: bytes, digest: bytes) -> bool:
    """Whether `digest` is one of the aligned entries of `ring`."""
    start = ring.find(digest)
    while start != -1:
        if start % EVENT_DIGEST_SIZE == 0:
            return True
        start = ring.find(digest, start + 1)
    return False
