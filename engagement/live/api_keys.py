"""API keys (CONTRACT.md §5): a file of `NAME SCOPE[,SCOPE...] sha256:HEX` lines, one per key.

Only a key's SHA-256 is stored; the key itself is printed once when it is created. A presented
key is hashed and compared with every stored digest in constant time. The file is read again
when it changes (checked at most once a second), so adding or removing a line rotates keys
without a restart. Revocation fails closed: a file that stops parsing (a malformed line, a
half-written line) accepts no key at all until it parses again, never the keys it held before;
the log names the line.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

SCOPES = ("ingest", "read", "admin")
KEY_PREFIX = "egk_"
_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}\Z")
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})\Z")
RELOAD_SECONDS = 1.0

log = logging.getLogger("engagement.keys")


class KeysFileError(ValueError):
    """The keys file cannot be read or has a malformed line (the message names file and line)."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    scopes: frozenset[str]
    digest: bytes


def digest_of(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", errors="surrogatepass")).digest()


def parse_keys(text: str, source: str) -> list[ApiKey]:
    keys: list[ApiKey] = []
    names: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 3:
            raise KeysFileError(f"{source}:{number}: expected `NAME SCOPE[,SCOPE...] sha256:HEX`")
        name, scope_text, digest_text = parts
        if not _NAME.match(name):
            raise KeysFileError(f"{source}:{number}: name: letters, digits and . _ @ - only, at most 64")
        if name in names:
            raise KeysFileError(f"{source}:{number}: name: {name!r} is used by an earlier line")
        scopes = frozenset(scope_text.split(","))
        unknown = scopes - set(SCOPES)
        if unknown:
            raise KeysFileError(f"{source}:{number}: scope: unknown {sorted(unknown)}; use {', '.join(SCOPES)}")
        match = _DIGEST.match(digest_text)
        if match is None:
            raise KeysFileError(f"{source}:{number}: digest: expected sha256: and 64 lowercase hex digits")
        names.add(name)
        keys.append(ApiKey(name, scopes, bytes.fromhex(match.group(1))))
    return keys


def check_scopes(text: str) -> tuple[str, ...]:
    """`ingest,read` -> ("ingest", "read"); an unknown or missing scope is a ValueError."""
    scopes = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    if not scopes:
        raise ValueError("at least one scope is needed: " + ", ".join(SCOPES))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}; use {', '.join(SCOPES)}")
    return scopes


def create_key(path: Path, name: str, scopes: tuple[str, ...]) -> str:
    """Append a new key's line to `path` (created 0600) and return the key, which is stored nowhere."""
    if not _NAME.match(name):
        raise ValueError("the name takes letters, digits and . _ @ - only, at most 64")
    existing = parse_keys(path.read_text(encoding="utf-8"), str(path)) if path.exists() else []
    if any(k.name == name for k in existing):
        raise ValueError(f"{path} already has a key named {name!r}; remove its line first, or pick another name")
    key = new_key()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = f"{name} {','.join(scopes)} sha256:{digest_of(key).hex()}\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyRing:
    """The keys a server accepts, read from its keys file (re-read when the file changes)."""

    def __init__(self, path: Path | None, keys: list[ApiKey] | None = None) -> None:
        self.path = path
        self._keys: list[ApiKey] = keys or []
        self._stamp: bytes | None = None  # the SHA-256 of the content last read
        self._checked = 0.0
        self._broken: str | None = None  # why the file does not parse: then no key is accepted
        if path is not None:
            self._reload(force=True)

    @classmethod
    def of(cls, keys: dict[str, tuple[str, tuple[str, ...]]]) -> KeyRing:
        """A ring held in memory: name -> (key, scopes). For the demo and tests."""
        return cls(None, [ApiKey(name, frozenset(scopes), digest_of(key)) for name, (key, scopes) in keys.items()])

    def __len__(self) -> int:
        self._reload()
        return len(self._keys)

    @property
    def broken(self) -> str | None:
        """Why the keys file does not parse (file and line), or None. While it is broken no key is
        accepted: a deleted key must never keep working because a later edit went wrong."""
        self._reload()
        return self._broken

    def authenticate(self, presented: str) -> ApiKey | None:
        """The key whose digest matches, compared against every stored key in constant time."""
        self._reload()
        if self._broken is not None:
            return None
        digest = digest_of(presented)
        found: ApiKey | None = None
        for key in self._keys:
            if hmac.compare_digest(key.digest, digest):
                found = key
        return found

    def _reload(self, force: bool = False) -> None:
        if self.path is None:
            return
        now = time.monotonic()
        if not force and now - self._checked < RELOAD_SECONDS:
            return
        self._checked = now
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            self._keys, self._stamp, self._broken = [], None, None
            return
        except OSError as exc:  # a loop of links, a directory, no permission: no key at all
            raw, failure = None, f"{self.path}: cannot be read ({exc.strerror or type(exc).__name__})"
        stamp = hashlib.sha256(raw).digest() if raw is not None else None
        if raw is not None and stamp == self._stamp:
            return  # the same content (a rotation that keeps the size and time is still seen)
        try:
            if raw is None:
                raise KeysFileError(failure)
            keys = parse_keys(raw.decode("utf-8"), str(self.path))
        except (UnicodeDecodeError, KeysFileError) as exc:
            reason = str(exc) if isinstance(exc, KeysFileError) else f"{self.path}: {exc}"
            if force:
                raise KeysFileError(reason) from None
            # fail closed: no key at all (never the old set) until the file reads cleanly again
            if reason != self._broken:
                log.error("API keys file does not parse; every request is refused until it does: %s", reason)
            self._keys, self._stamp, self._broken = [], stamp, reason
            return
        if self._broken is not None:
            log.warning("API keys file parses again: %d keys", len(keys))
        self._keys, self._stamp, self._broken = keys, stamp, None
