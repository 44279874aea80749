"""Keeping customers' data private where the runtimes store and log it (CONTRACT.md §8).

- Files and directories under the state directory are the owner's only (0600 and 0700).
- Phone numbers in log lines are masked: `+886912345678` reads `+8869******78`.
- An erased customer's stored decisions keep their outcome, reason and times; the message
  (number, name, text, template values) is replaced by `{"erased": true}`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import unicodedata
from pathlib import Path

PHONE = re.compile(r"(?<![\w+])\+?([1-9]\d{6,14})(?!\d)")
# A number written for people: `+886 912 340 097`, `+1 (555) 123-4567`, `+44 20.7946.0958`, with
# no-break or thin spaces, fullwidth digits, or a space between every digit
_DIGIT = "[0-9\uff10-\uff19]"
_SEPARATOR = "[ \u00a0\u2007\u2009\u202f.\\-\u2010-\u2015()]"
FORMATTED_PHONE = re.compile(rf"(?<![\w+\uff0b])[+\uff0b]{_DIGIT}(?:{_SEPARATOR}{{0,2}}{_DIGIT}){{6,24}}(?!{_DIGIT})")
# A national number, as customers type it into a name or a note: `0912 345 678`, `0912-345-678`,
# `02 2345 6789` (a 0 and 8 to 11 more digits; not after a letter, digit, `-` or `.`: not an id)
LOCAL_PHONE = re.compile(rf"(?<![\w+\-.\uff0b])[0\uff10]{_DIGIT}(?:[ \u00a0\-.]?{_DIGIT}){{7,10}}(?!{_DIGIT})")
# A number in a URL's query, its "+" encoded: `?q=%2B886912345678`
URL_PHONE = re.compile(r"%2[Bb]([1-9]\d{6,14})(?!\d)")
SHOWN_BEFORE, SHOWN_AFTER = 4, 2


def private_directory(path: Path) -> Path:
    """Create `path` (and parents) if needed, and make it the owner's only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> None:
    """Make an existing file the owner's only, or create it empty so, before anything writes it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def mask_phone(number: str) -> str:
    digits = number.lstrip("+")
    hidden = max(len(digits) - SHOWN_BEFORE - SHOWN_AFTER, 1)
    return "+" + digits[:SHOWN_BEFORE] + "*" * hidden + digits[SHOWN_BEFORE + hidden :]


def mask_phones(text: str) -> str:
    """Every E.164-like number in `text` masked (a '+' and 7 to 15 digits, or 10 to 15 bare digits),
    and every national one (`0912 345 678`)."""

    def masked(match: re.Match[str]) -> str:
        whole = match.group(0)
        if not whole.startswith("+") and len(whole) < 10:
            return whole  # short bare numbers are counts, ports, ids
        return mask_phone(whole)

    def formatted(match: re.Match[str]) -> str:
        digits = "".join(c for c in unicodedata.normalize("NFKC", match.group(0)) if c.isdigit())
        return mask_phone(digits) if 7 <= len(digits) <= 15 else match.group(0)

    def local(match: re.Match[str]) -> str:
        digits = "".join(c for c in unicodedata.normalize("NFKC", match.group(0)) if c.isdigit())
        return digits[:SHOWN_BEFORE] + "*" * (len(digits) - SHOWN_BEFORE - SHOWN_AFTER) + digits[-SHOWN_AFTER:]

    text = URL_PHONE.sub(lambda m: "%2B" + mask_phone(m.group(1))[1:], text)
    return PHONE.sub(masked, LOCAL_PHONE.sub(local, FORMATTED_PHONE.sub(formatted, text)))


def install_phone_masking() -> None:
    """Mask phone numbers in every log record this process creates, whichever handler writes it
    (faust installs its own): the message, and the traceback text when there is one."""
    for chatty in ("httpx", "httpcore"):  # a line per request, URLs and all: only their warnings
        logging.getLogger(chatty).setLevel(logging.WARNING)
    create = logging.getLogRecordFactory()
    if getattr(create, "masks_phones", False):
        return

    def masked_record(*args: object, **kwargs: object) -> logging.LogRecord:
        record = create(*args, **kwargs)
        message = record.getMessage()
        masked = mask_phones(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info:
            record.exc_text = mask_phones(logging.Formatter().formatException(record.exc_info))
        return record

    masked_record.masks_phones = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(masked_record)


def configure_logging(level: int = logging.INFO) -> None:
    """The runtimes' log setup: standard error, one line per record, phone numbers masked."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_phone_masking()


def erased_line(line: str) -> str:
    """A stored decision line with its message (and a hand-off's record) erased; everything else as it was."""
    try:
        record = json.loads(line)
    except ValueError:
        return json.dumps({"erased": True}) + "\n"
    if not isinstance(record, dict):
        return json.dumps({"erased": True}) + "\n"
    for field in ("message", "handoff"):  # a hand-off holds the reply, what we sent and its context
        if record.get(field) is not None:
            record[field] = {"erased": True}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
