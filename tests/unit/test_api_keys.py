"""API keys: the file format of CONTRACT.md §5, keys stored only as digests, scopes, rotation by editing the file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from engagement.live.api_keys import KeyRing, KeysFileError, check_scopes, create_key, digest_of, parse_keys
from engagement.live.guard import InsecureBind, is_loopback, refuse_open_bind


def test_a_created_key_is_stored_as_its_digest_only_and_authenticates_with_its_scopes(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    key = create_key(path, "shop-backend", ("ingest",))
    other = create_key(path, "analyst", ("read", "admin"))
    text = path.read_text()
    assert key not in text
    assert other not in text
    assert f"shop-backend ingest sha256:{digest_of(key).hex()}\n" in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    ring = KeyRing(path)
    found = ring.authenticate(key)
    assert found is not None
    assert found.name == "shop-backend"
    assert found.scopes == {"ingest"}
    found = ring.authenticate(other)
    assert found is not None
    assert found.scopes == {"read", "admin"}
    assert ring.authenticate(key + "x") is None
    assert ring.authenticate("") is None


def test_a_name_is_used_once(tmp_path: Path) -> None:
    create_key(tmp_path / "keys", "a", ("read",))
    with pytest.raises(ValueError, match="already has a key named"):
        create_key(tmp_path / "keys", "a", ("read",))


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("only-two ingest", "expected"),
        ("bad name! ingest sha256:" + "0" * 64, "expected"),
        ("k ingest,root sha256:" + "0" * 64, "scope: unknown"),
        ("k ingest sha1:" + "0" * 40, "digest"),
        ("k ingest sha256:" + "Z" * 64, "digest"),
        ("k$ ingest sha256:" + "0" * 64, "name"),
    ],
)
def test_a_malformed_line_is_named_with_its_line_number(line: str, problem: str) -> None:
    with pytest.raises(KeysFileError, match=f"keys:2: .*{problem}"):
        parse_keys("# a comment\n" + line + "\n", "keys")


def test_scopes_are_checked() -> None:
    assert check_scopes("ingest, read,ingest") == ("ingest", "read")
    with pytest.raises(ValueError, match="unknown scope"):
        check_scopes("ingest,superuser")
    with pytest.raises(ValueError, match="at least one"):
        check_scopes(",")


def test_removing_a_line_revokes_the_key_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    old = create_key(path, "old", ("ingest",))
    ring = KeyRing(path)
    new = create_key(path, "new", ("ingest",))
    ring._checked = 0.0  # as if a second had passed
    assert ring.authenticate(new) is not None
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines() if not line.startswith("old ")))
    ring._checked = 0.0
    assert ring.authenticate(old) is None
    assert ring.authenticate(new) is not None


def test_a_broken_keys_file_stops_a_server_at_start(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("nonsense\n")
    with pytest.raises(KeysFileError, match="keys:1"):
        KeyRing(path)


def test_listening_beyond_loopback_needs_keys(tmp_path: Path) -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")  # noqa: S104
    assert not is_loopback("192.0.2.7")
    empty = KeyRing(tmp_path / "none")
    refuse_open_bind("127.0.0.1", empty)
    with pytest.raises(InsecureBind, match=r"refusing to listen on 0\.0\.0\.0 without API keys"):
        refuse_open_bind("0.0.0.0", empty)  # noqa: S104
    refuse_open_bind("0.0.0.0", KeyRing.of({"k": ("key", ("ingest",))}))  # noqa: S104


def test_a_keys_file_that_stops_parsing_accepts_no_key_until_mended(tmp_path: Path) -> None:
    """Found by an attack: a malformed line kept the previous keys, so a key deleted in the same edit
    kept working, silently. Now no key works until the file parses again."""
    path = tmp_path / "keys"
    leaving = create_key(path, "leaving", ("ingest",))
    staying = create_key(path, "staying", ("ingest",))
    ring = KeyRing(path)
    kept = [line for line in path.read_text().splitlines() if not line.startswith("leaving ")]
    path.write_text("\n".join([*kept, "typo ingest sha256:xyz"]) + "\n")
    ring._checked = 0.0
    assert ring.broken is not None
    assert "keys:2: digest" in ring.broken
    assert ring.authenticate(leaving) is None
    assert ring.authenticate(staying) is None
    path.write_text("\n".join(kept) + "\n")
    ring._checked = 0.0
    assert ring.broken is None
    assert ring.authenticate(leaving) is None
    assert ring.authenticate(staying) is not None


def test_a_key_name_with_a_trailing_newline_is_not_a_name() -> None:
    with pytest.raises(ValueError, match="name"):
        create_key(Path("/nonexistent/keys"), "ann\n", ("ingest",))


def test_a_keys_file_that_cannot_be_read_accepts_no_key(tmp_path: Path) -> None:
    """Found by an attack: a loop of links in place of the file kept the old keys (and answered 500)."""
    path = tmp_path / "keys"
    key = create_key(path, "k", ("ingest",))
    ring = KeyRing(path)
    path.unlink()
    path.symlink_to(path)  # a link to itself: every read fails
    ring._checked = 0.0
    assert ring.authenticate(key) is None
    assert ring.broken is not None
    assert "cannot be read" in ring.broken


def test_a_rotation_that_keeps_the_file_s_size_and_time_is_seen(tmp_path: Path) -> None:
    """Found by an attack: reloads compared modification time and size only."""
    path = tmp_path / "keys"
    old = create_key(path, "k", ("ingest",))
    ring = KeyRing(path)
    stamp = path.stat()
    new = "egk_" + "n" * len(old.removeprefix("egk_"))
    path.write_text(f"k ingest sha256:{digest_of(new).hex()}\n")
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert path.stat().st_size == stamp.st_size
    ring._checked = 0.0
    assert ring.authenticate(old) is None
    assert ring.authenticate(new) is not None
