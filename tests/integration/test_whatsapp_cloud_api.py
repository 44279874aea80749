"""The Cloud API adapter against a fake Graph API on loopback: payload shapes of the spec's
request examples, the error table, and read timeouts that are never resent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engagement.live.metrics import Metrics
from engagement.live.sender import deliver
from engagement.providers.base import (
    MarketingRefusedError,
    OutboundMessage,
    OutcomeUnknownError,
    PermanentError,
    RecipientUnreachableError,
    SendingHaltedError,
    TemplateButton,
    TemplateParameter,
    TemplateSend,
    ThrottledError,
    TransientError,
)
from engagement.providers.whatsapp.cloud_api import CloudApiProvider
from tests.integration.fake_graph import FakeGraph, error, server_error, slow

pytestmark = pytest.mark.integration

EXAMPLES = json.loads((Path(__file__).parents[1] / "fixtures" / "graph_api_send_examples.json").read_text())
CLOUD_API_IGNORES = ("calendar", "day_of_month", "day_of_week", "hour", "minute", "month", "year")


def provider(graph: FakeGraph, read_timeout: float = 5.0) -> CloudApiProvider:
    return CloudApiProvider(graph.base_url, "v23.0", "106540352242922", "test-token", read_timeout=read_timeout)


def message(key: str = "cart_idle-0123", template: TemplateSend | None = None) -> OutboundMessage:
    return OutboundMessage(key, "cart_idle", "c1", "+16505551234", "en", "marketing", "Still want it?", template)


def example(name: str) -> dict[str, Any]:
    """A spec example as the Cloud API reads it: date_time keeps only its fallback_value."""
    body: dict[str, Any] = json.loads(json.dumps(EXAMPLES[name]))
    body["to"] = "16505551234"
    for component in body.get("template", {}).get("components", []):
        for parameter in component["parameters"]:
            for ignored in CLOUD_API_IGNORES:
                parameter.get("date_time", {}).pop(ignored, None)
    return body


SPEC_TEMPLATE = TemplateSend(
    name="template-name",
    language="language-and-locale-code",
    header=(TemplateParameter("http(s)://the-image-url", kind="image"),),
    body=(
        TemplateParameter("text-string"),
        TemplateParameter("$100.99", kind="currency", amount=100.99, currency="USD"),
        TemplateParameter("February 25, 1977", kind="date_time"),
    ),
    buttons=(
        TemplateButton("quick_reply", 0, "aGlzIHRoaXMgaXMgY29v"),
        TemplateButton("quick_reply", 1, "9rwnB8RbYmPF5t2Mn09x4h"),
    ),
)


async def test_template_payload_matches_the_spec_example_and_carries_the_key(graph: FakeGraph) -> None:
    whatsapp = provider(graph)
    receipt = await whatsapp.send(message(template=SPEC_TEMPLATE))
    await whatsapp.close()
    (request,) = graph.received
    assert request.path == "/v23.0/106540352242922/messages"
    assert request.headers["Authorization"] == "Bearer test-token"
    body = dict(request.body)
    assert body.pop("biz_opaque_callback_data") == "cart_idle-0123"
    assert body == example("Send Message Template Interactive")
    assert receipt.provider_message_id.startswith("wamid.")
    assert receipt.status == "accepted"


async def test_text_payload_and_named_parameters(graph: FakeGraph) -> None:
    whatsapp = provider(graph)
    await whatsapp.send(message())
    named = TemplateSend("cart_reminder", "zh_TW", body=(TemplateParameter("Amy", name="customer_name"),))
    await whatsapp.send(message(template=named))
    await whatsapp.close()
    text, template = (dict(r.body) for r in graph.received)
    text.pop("biz_opaque_callback_data")
    expected = example("Send Text Message")
    expected["text"]["body"] = "Still want it?"
    assert text == expected
    assert template["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "Amy", "parameter_name": "customer_name"}]}
    ]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (131056, ThrottledError),
        (130429, ThrottledError),
        (80007, ThrottledError),
        (131000, TransientError),
        (131026, RecipientUnreachableError),
        (131049, MarketingRefusedError),
        (131050, MarketingRefusedError),
        (368, SendingHaltedError),
        (131048, SendingHaltedError),
        (190, SendingHaltedError),
        (132001, PermanentError),
        (131047, PermanentError),
    ],
)
async def test_each_error_code_becomes_its_typed_error(graph: FakeGraph, code: int, expected: type[Exception]) -> None:
    graph.script.append(error(code))
    whatsapp = provider(graph)
    with pytest.raises(expected) as raised:
        await whatsapp.send(message())
    await whatsapp.close()
    assert getattr(raised.value, "code", None) == str(code)
    if code == 131056:
        assert isinstance(raised.value, ThrottledError)
        assert raised.value.scope == "recipient"
        assert raised.value.retry_after >= 6.0
    if code in (130429, 80007):
        assert isinstance(raised.value, ThrottledError)
        assert raised.value.scope == "sender"
    if code in (131049, 131050):
        assert isinstance(raised.value, MarketingRefusedError)
        assert raised.value.opted_out is (code == 131050)


async def test_usage_header_sets_the_wait_for_code_4(graph: FakeGraph) -> None:
    usage = json.dumps({"123": [{"type": "whatsapp", "call_count": 100, "estimated_time_to_regain_access": 3}]})
    graph.script.append(error(4, headers={"x-business-use-case-usage": usage}))
    whatsapp = provider(graph)
    with pytest.raises(ThrottledError) as raised:
        await whatsapp.send(message())
    await whatsapp.close()
    assert 180.0 <= raised.value.retry_after <= 270.0


async def test_5xx_is_transient_and_a_read_timeout_is_an_unknown_outcome(graph: FakeGraph) -> None:
    graph.script.extend([server_error(503), slow(2.0)])
    whatsapp = provider(graph, read_timeout=0.5)
    with pytest.raises(TransientError) as first:
        await whatsapp.send(message())
    assert not isinstance(first.value, OutcomeUnknownError)
    with pytest.raises(OutcomeUnknownError):
        await whatsapp.send(message())
    await whatsapp.close()


async def test_the_sender_never_resends_after_a_read_timeout(graph: FakeGraph) -> None:
    graph.script.append(slow(2.0))
    whatsapp = provider(graph, read_timeout=0.5)
    metrics = Metrics()
    outcome = await deliver(whatsapp, message(), now=0.0, deadline=1e12, attempts=1, metrics=metrics)
    await whatsapp.close()
    assert outcome.status == "unknown"
    assert outcome.retry_at is None
    assert len(graph.received) == 1
    assert metrics.get("engagement_sends_total", result="unknown") == 1


async def test_a_connection_refused_is_transient_and_safe_to_retry() -> None:
    closed = FakeGraph()  # never started: nothing listens on its port
    whatsapp = provider(closed)
    with pytest.raises(TransientError) as raised:
        await whatsapp.send(message())
    await whatsapp.close()
    assert not isinstance(raised.value, OutcomeUnknownError)


@pytest.mark.parametrize(("code", "result"), [(131050, "opted_out"), (131049, "marketing_refused"), (368, "halted")])
async def test_the_sender_counts_refusals_by_kind(graph: FakeGraph, code: int, result: str) -> None:
    graph.script.append(error(code))
    whatsapp = provider(graph)
    metrics = Metrics()
    outcome = await deliver(whatsapp, message(), now=0.0, deadline=1e12, attempts=1, metrics=metrics)
    await whatsapp.close()
    assert outcome.status == "failed"
    assert metrics.get("engagement_sends_total", result=result) == 1


async def test_a_free_form_message_with_replies_is_the_spec_reply_button_message(graph: FakeGraph) -> None:
    replies = (("<UNIQUE_BUTTON_ID_1>", "<BUTTON_TITLE_1>"), ("<UNIQUE_BUTTON_ID_2>", "<BUTTON_TITLE_2>"))
    interactive = OutboundMessage(
        "cart_idle-0456", "cart_idle", "c1", "+16505551234", "en", "marketing", "<BUTTON_TEXT>", None, replies
    )
    assert OutboundMessage.from_dict(json.loads(json.dumps(interactive.to_dict()))) == interactive  # the outboxes
    whatsapp = provider(graph)
    await whatsapp.send(interactive)
    await whatsapp.close()
    (request,) = graph.received
    body = dict(request.body)
    assert body.pop("biz_opaque_callback_data") == "cart_idle-0456"
    assert body == example("Send Reply Button")
