"""Privacy where the runtimes store and log (CONTRACT.md §8) and safe values in messages."""

from __future__ import annotations

import io
import json
import logging
import os
import stat
from pathlib import Path

import httpx
import pytest
from mode.utils.logging import ExtensionFormatter

from engagement.core.personalize import money, safe_value, safe_values
from engagement.core.state import CustomerState, Profile
from engagement.embedded.store import EmbeddedStore, Prepared, StoreBusy
from engagement.privacy import erased_line, install_phone_masking, mask_phone, mask_phones
from engagement.providers.file import FileProvider


def test_phone_numbers_are_masked_in_text() -> None:
    assert mask_phone("+886912345678") == "+8869******78"
    assert mask_phones("sent to +886912345678 and 886912345679, port 8080, 12 items") == (
        "sent to +8869******78 and +8869******79, port 8080, 12 items"
    )


def test_log_records_carry_masked_numbers(caplog: pytest.LogCaptureFixture) -> None:
    install_phone_masking()
    logger = logging.getLogger("engagement.tests")
    with caplog.at_level(logging.INFO):
        logger.info("report for %s failed", "+886912345678")
        try:
            raise ValueError("+886987654321 unreachable")
        except ValueError:
            logger.exception("while sending")
    text = caplog.text
    assert "+886912345678" not in text
    assert "+886987654321" not in text
    assert "+8869******78" in text


def test_a_number_in_a_urls_query_is_masked() -> None:
    assert mask_phones("GET /contacts/search?q=%2B886912345678 200") == "GET /contacts/search?q=%2B8869******78 200"
    install_phone_masking()
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING


def test_a_masked_record_still_formats_under_fausts_formatter() -> None:
    """faust's formatter (mode's) wraps a record's args in a tuple unless they are one already: a
    masked record's args must stay a tuple, or formatting it fails with a traceback in the log."""
    install_phone_masking()
    record = logging.getLogRecordFactory()(
        "aiokafka", logging.INFO, __file__, 1, "Joined group %r with member_id %s", ("g", "f-8e16-5652201234520a"), None
    )
    text = ExtensionFormatter(stream=io.StringIO(), fmt="%(message)s").format(record)
    assert "5652201234520" not in text
    assert text.startswith("Joined group 'g' with member_id f-8e16-")


def test_an_erased_decision_keeps_its_outcome_and_loses_its_message() -> None:
    line = json.dumps({"trigger": "cart_idle", "outcome": "send", "reason": None, "message": {"to": "+886912345678"}})
    record = json.loads(erased_line(line))
    assert record == {"trigger": "cart_idle", "outcome": "send", "reason": None, "message": {"erased": True}}


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("王小明", "王小明"),
        ("Bob  \t  Smith", "Bob Smith"),
        ("Alice\nURGENT: verify at http://evil.example", None),
        ("Alice visit www.evil.example", None),
        ("Alice bit.ly/abc", None),
        ("call +1 555 123 4567", None),
        ("call 0912-345-678", None),
        ("Dr. J. Smith", "Dr. J. Smith"),
        ("   ", None),
        ("x" * 200, "x" * 59 + "…"),
        # found by an attack on the list of top-level domains this replaced
        ("evil.ru/login", None),
        ("goo.gl/x", None),
        ("a@evil.ru", None),
        ("evil。com", None),
        ("ｅｖｉｌ．ｃｏｍ", None),
        ("555–123–4567", None),
        ("Mei\u202eevil", None),  # a right-to-left override
        ("O'Brien-Chen", "O'Brien-Chen"),
        ("María José", "María José"),
    ],
)
def test_free_text_from_events_is_made_safe_for_a_template(value: str, safe: str | None) -> None:
    assert safe_value(value, 60, free_text=True) == safe
    assert safe_value(value, 60, free_text=True, names_only=True) == safe


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("iPhone 15 Pro 256GB", "iPhone 15 Pro 256GB"),
        ("2.5L 保溫瓶「限定」", "2.5L 保溫瓶「限定」"),
        ("Tee (M) 2-pack, 50% off", "Tee (M) 2-pack, 50% off"),
        ("1.2.3.4/login", None),
        ("Model 1234567", None),
        ("evil.ru", None),
    ],
)
def test_product_names_keep_digits_and_sizes_but_no_links(value: str, safe: str | None) -> None:
    assert safe_value(value, 80, free_text=True) == safe
    assert safe_value("Mei 2", 60, free_text=True, names_only=True) is None  # a name has no digits


def test_ids_keep_a_bounded_alphabet_and_links_only_the_shops_domains() -> None:
    values = safe_values(
        {"order_id": "ORD 2026\n1120", "tracking_number": "1234567890123", "tracking_url": "javascript:alert(1)"}
    )
    assert values == {"order_id": None, "tracking_number": "1234567890123", "tracking_url": None}
    assert safe_values({"order_id": "https://evil.ru/pay?o=1"}) == {"order_id": None}
    assert safe_values({"order_id": "#1001"}) == {"order_id": "#1001"}
    shop = ("shop.example.com",)
    for url, kept in [
        ("https://shop.example.com/track/1", True),
        ("https://track.shop.example.com/1", True),
        ("https://t.example/1", False),  # not one of the shop's domains
        ("https://shop.example.com@evil.ru/", False),
        ("https://shop.example.com.evil.ru/", False),
        ("https://xn--shp-qla.example.com/", False),
    ]:
        assert safe_values({"tracking_url": url}, shop) == {"tracking_url": url if kept else None}, url
    assert safe_values({"tracking_url": "https://shop.example.com/1"}) == {"tracking_url": None}  # none configured


def test_amounts_no_message_should_show_are_left_out() -> None:
    assert money(1e300, "TWD") is None
    assert money(float("inf"), "TWD") is None
    assert money(2060.0, "TWD") == "NT$2,060"


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_store_is_private_and_held_by_one_process(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    store = EmbeddedStore(directory)
    try:
        assert mode(directory) == 0o700
        assert {mode(p) for p in directory.iterdir()} == {0o600}
        with pytest.raises(StoreBusy):
            EmbeddedStore(directory)
    finally:
        store.close()


def test_forget_and_retention_leave_no_copy_in_the_state_directory(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    state = CustomerState("alice", profile=Profile(name="Alice Wonder", number=886912345678))
    line = json.dumps({"customer_id": "alice", "at": "2026-11-20T02:00:00Z", "message": {"to": "+886912345678"}})
    try:
        batch = Prepared()
        batch.add_states([state])
        batch.numbers = [("alice", "+886912345678")]
        store.write(batch, {})
        store._db.execute("INSERT INTO decisions (line, customer_id, at) VALUES (?, 'alice', 1.0)", (line + "\n",))
        erased = store.forget("alice")
        assert erased["state"] == 1
        assert erased["phones"] == 1
        assert erased["decisions"] == 1
        assert store.load_state("alice") is None
        assert store.read_decisions(0, 10)[0][1].startswith('{"customer_id":"alice"')
        assert store.purge(before=2.0)["decisions"] == 1
        assert store.read_decisions(0, 10) == []
    finally:
        store.close()
    for path in tmp_path.iterdir():
        data = path.read_bytes()
        assert b"886912345678" not in data, path.name
        assert b"Alice Wonder" not in data, path.name


def test_the_send_log_erases_and_prunes(tmp_path: Path) -> None:
    path = tmp_path / "sent.jsonl"
    rows = [
        {"customer_id": "alice", "to": "+886912345678", "body": "Hi Alice", "sent_at": 10.0},
        {"customer_id": "bob", "to": "+886912000002", "body": "Hi Bob", "sent_at": 100.0},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    log = FileProvider(path)
    assert log.erase("alice") == 1
    assert "886912345678" not in path.read_text()
    assert "Hi Alice" not in path.read_text()
    assert log.prune(before=50.0) == 1
    assert [json.loads(x)["customer_id"] for x in path.read_text().splitlines()] == ["bob"]
    assert mode(path) == 0o600


async def test_a_report_that_cannot_be_delivered_is_logged_without_the_number(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from engagement.live.metrics import Metrics  # noqa: PLC0415
    from engagement.live.security_reports import SecurityReport, SecurityWebhook  # noqa: PLC0415

    webhook = SecurityWebhook("http://security.invalid/hook", Metrics(), backoff=0.0)
    await webhook.client.aclose()
    webhook.client = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(503)))
    report = SecurityReport("alice", "+886912345678", "wamid.1", "wamid.0", 1.0)
    with caplog.at_level(logging.INFO):
        assert not await webhook.post(report)
    await webhook.close()
    assert "alice" in caplog.text
    assert "886912345678" not in caplog.text


def test_phone_numbers_as_people_write_them_are_masked_too() -> None:
    text = "reply from +886 912 340 097, or +1 (555) 123-4567, at 2026-11-20 02:00:00 +08:00 on port 8080"
    masked = mask_phones(text)
    assert "912 340 097" not in masked
    assert "123-4567" not in masked
    assert "+8869******97" in masked
    assert "2026-11-20 02:00:00 +08:00" in masked  # dates and offsets are not numbers to hide


@pytest.mark.parametrize(
    "value",
    [
        "Call 555 - 123 - 4567",
        "555~123~4567",
        "555_123_4567",
        "555、123、4567",
        "555-12З-4567",  # a Cyrillic letter among the digits
        "evil[.]ru/login",
        "evil .ru",
        "evilꓸru",  # a Lisu letter that looks like a dot
        "evilᐧru",
        "evil‧com",
        "evil·ru",
    ],
)
def test_what_an_attack_slipped_past_the_allow_lists_is_refused(value: str) -> None:
    assert safe_value(value, 80, free_text=True) is None
    assert safe_value(value, 60, free_text=True, names_only=True) is None


def test_ids_that_read_as_phone_numbers_and_links_with_backslashes_are_refused() -> None:
    assert safe_values({"order_id": "1-800-555-0199"}) == {"order_id": None}
    assert safe_values({"order_id": "ORD-2026-1120"}) == {"order_id": "ORD-2026-1120"}
    shop = ("shop.example.com",)
    assert safe_values({"tracking_url": "https://evil.ru\\.shop.example.com/login"}, shop) == {"tracking_url": None}
    assert safe_values({"tracking_url": "https://shop.example.com/t?n=1&x=%20"}, shop)["tracking_url"]


def test_names_of_other_scripts_and_with_a_middle_dot_between_han_names_pass() -> None:
    for name in ("阿卜杜拉·买买提", "Ngô Bảo Châu", "Алексей", "María José"):
        assert safe_value(name, 60, free_text=True, names_only=True) == name


def test_numbers_with_odd_spaces_and_fullwidth_digits_are_masked() -> None:
    for text in (
        "+886 912340097",
        "+886\u00a0912\u2009340\u202f097",
        "＋８８６９１２３４００９７",
        "+8 8 6 9 1 2 3 4 0 0 9 7",
    ):
        assert mask_phones(text) == "+8869******97", text


def test_national_numbers_typed_into_names_and_items_are_masked() -> None:
    for text, masked in (
        ("Amy 0912 345 678", "Amy 0912****78"),
        ("call 0912-345-678 ×1", "call 0912****78 ×1"),
        ("02 2345 6789", "0223****89"),
        ("０９１２３４５６７８", "0912****78"),
    ):
        assert mask_phones(text) == masked, text
    for kept in ("order o-20260115-0042", "2026-12-03 21:30:00,000", "id 0001", "k-0123456789", "v1.0.123456789"):
        assert mask_phones(kept) == kept  # ids, dates and versions are not numbers to hide
