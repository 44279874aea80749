"""What would fail at send time is caught when a file is edited, as `file:line: path: message`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engagement.config.loader import InvalidConfig, default_triggers_dir, load_triggers
from engagement.config.messages import default_messages_dir, load_messages


def copy_with(source: Path, directory: Path, name: str, old: str, new: str) -> Path:
    """A copy of a shipped directory with `old` replaced by `new` in one file."""
    shutil.copytree(source, directory)
    path = directory / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return directory


def triggers_with(tmp_path: Path, name: str, old: str, new: str) -> Path:
    return copy_with(default_triggers_dir(), tmp_path / "triggers", name, old, new)


def problems(directory: Path, lateness: float = 30.0) -> list[str]:
    with pytest.raises(InvalidConfig) as caught:
        load_triggers(directory, lateness)
    return [str(p) for p in caught.value.problems]


VOUCHER = "voucher: round(shipping_fee + 0.05 * order_total)"


@pytest.mark.parametrize(
    ("name", "old", "new", "expected"),
    [
        ("cart_idle.yaml", "idle: 60m", "idle: 0m", "cart_idle.yaml:2: -: idle must be longer than 0s"),
        (
            "logistics_delay.yaml",
            VOUCHER,
            "voucher: order_total / 0",
            "logistics_delay.yaml:9: voucher: division by zero",
        ),
        ("logistics_delay.yaml", VOUCHER, "voucher: min()", "voucher: min() takes 2 to 8 arguments, not 0"),
        ("logistics_delay.yaml", VOUCHER, "voucher: ceil(order_total, 2)", "voucher: ceil() takes 1 argument, not 2"),
        (
            "logistics_delay.yaml",
            VOUCHER,
            "voucher: order_total * 1000000 * 1000000",
            "voucher: gives 6e+13 for order_total = 60; an amount is at most 10^12",
        ),
        ("logistics_delay.yaml", VOUCHER, "voucher: 1e400", "voucher: the number inf is out of range"),
        (
            "logistics_delay.yaml",
            VOUCHER,
            "voucher: " + " + ".join(["order_total"] * 20_000),
            "voucher: a formula is at most 500 characters",
        ),
        (
            "logistics_delay.yaml",
            VOUCHER,
            "voucher: " + "-" * 300 + "1",
            "voucher: the formula has 601 parts; at most 200",
        ),
        (
            "cart_idle.yaml",
            "send_within: 5m ",
            "send_within: 20s",
            "cart_idle.yaml:8: send_within: must be longer than the allowed lateness (30s",
        ),
    ],
)
def test_a_trigger_that_could_only_fail_later_is_refused_now(
    tmp_path: Path, name: str, old: str, new: str, expected: str
) -> None:
    found = problems(triggers_with(tmp_path, name, old, new))
    assert any(expected in p for p in found), found


def test_a_trigger_file_that_is_not_utf8_is_named_with_its_line(tmp_path: Path) -> None:
    directory = tmp_path / "triggers"
    shutil.copytree(default_triggers_dir(), directory)
    (directory / "extra.yaml").write_bytes(b"id: extra\nkind: cart_idle\ndescription: caf\xe9\n")
    assert any("extra.yaml:3: -: not UTF-8 text" in p for p in problems(directory))


def messages_with(tmp_path: Path, name: str, old: str, new: str) -> Path:
    return copy_with(default_messages_dir(), tmp_path / "messages", name, old, new)


@pytest.mark.parametrize(
    ("name", "old", "new", "expected"),
    [
        ("cart_idle.yaml", "  zh-TW:", "  zh-tw:", "locales.zh-tw: write 'zh-TW'"),
        (
            "_locales.yaml",
            "zh-SG: [zh-CN]",
            "zh-SG: [zh-XX]",
            "_locales.yaml:7: fallbacks.zh-SG.0: no message is written in 'zh-XX'",
        ),
        ("_locales.yaml", "zh-SG: [zh-CN]", "zh-sg: [zh-CN]", "fallbacks.zh-sg: write 'zh-SG'"),
    ],
)
def test_locale_tags_are_checked(tmp_path: Path, name: str, old: str, new: str, expected: str) -> None:
    with pytest.raises(InvalidConfig) as caught:
        load_messages(messages_with(tmp_path, name, old, new))
    found = [str(p) for p in caught.value.problems]
    assert any(expected in p for p in found), found


@pytest.mark.parametrize("date", ["0000-00-00T00:00:00Z", "2026-13-45", "2026-02-30"])
def test_a_date_that_cannot_exist_is_a_problem_at_its_line(tmp_path: Path, date: str) -> None:
    """Found by an attack: YAML read such a date as a timestamp and raised a Python error that
    escaped the checks (a 500 in the console, an unnamed error in validate)."""
    directory = tmp_path / "triggers"
    shutil.copytree(default_triggers_dir(), directory)
    (directory / "extra.yaml").write_text(
        f"id: extra\nkind: cart_idle\nidle: 1h\nsend_within: 5m\ndescription: {date}\n"
    )
    found = problems(directory)
    assert any(
        p.startswith(f"{directory / 'extra.yaml'}:5: -: not valid YAML: '{date}' is not a date") for p in found
    ), found


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("idle: 60m", "idle: 99999999999999d", "idle: '99999999999999d' is longer than 3650d"),
        ("cooldown: 24h", "cooldown: 2562047788015d", "cooldown: '2562047788015d' is longer than 3650d"),
        (
            '"* 9-20 * * *"',
            '"* 9-20 L * *"',
            "only numbers, ranges (9-20), steps (*/15) and lists (1,15) are supported",
        ),
    ],
)
def test_durations_that_overflow_and_cron_forms_not_supported_are_problems_not_crashes(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    found = problems(triggers_with(tmp_path, "cart_idle.yaml", old, new))
    assert any(expected in p for p in found), found
