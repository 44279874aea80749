"""Generated YAML at `triggers validate` and `messages lint`: an exit code of 0 or 1 with problems
listed, never an exception (a traceback for a marketer)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from engagement.cli import main
from tests.fuzz.settings import fuzz

ROOT = Path(__file__).resolve().parents[2]
KEYS = [
    "id", "kind", "idle", "send_within", "policies", "cooldown", "quiet_hours", "holdout_percent", "voucher",
    "trigger", "category", "whatsapp", "template", "parameters", "locales", "text", "tiers", "language",
    "zh-TW", "en", "buttons", "type", "value", "replies", "in_flight", "enabled", "frequency_cap",
]  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["5m", "0m", "1h30m", "-1h", "cart_idle", "marketing", "{{customer_name}}", "{{x", "* 9-20 * * *"]),
    st.sampled_from(["round(order_total / 0)", "min()", "ceil(order_total, 2)", "+".join(["order_total"] * 3000)]),
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=25,
)
raw_texts = st.one_of(
    documents.map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
    st.text(max_size=200),
    st.integers(1, 2000).map(lambda depth: "a: " + "[" * depth + "]" * depth),
    st.just("a: &x [1, 2]\nb: [" + ", ".join(["*x"] * 500) + "]"),
)


def stage(tmp_path: Path) -> tuple[Path, Path]:
    triggers, messages = tmp_path / "triggers", tmp_path / "messages"
    shutil.rmtree(tmp_path, ignore_errors=True)
    shutil.copytree(ROOT / "triggers", triggers)
    shutil.copytree(ROOT / "messages", messages)
    return triggers, messages


@pytest.mark.parametrize("target", ["cart_idle.yaml", "new.yaml"])
def test_triggers_validate_never_raises(tmp_path: Path, target: str) -> None:
    triggers, _ = stage(tmp_path)

    @fuzz(100)
    @given(raw_texts | st.binary(max_size=100).map(lambda b: b.decode("latin-1")))
    def validate(text: str) -> None:
        (triggers / target).write_bytes(text.encode("utf-8", errors="surrogateescape"))
        assert main(["triggers", "validate", str(triggers)]) in (0, 1)

    validate()


@pytest.mark.parametrize("target", ["cart_idle.yaml", "_locales.yaml", "_lint.yaml"])
def test_messages_lint_never_raises(tmp_path: Path, target: str) -> None:
    triggers, messages = stage(tmp_path)

    @fuzz(40)
    @given(raw_texts)
    def lint(text: str) -> None:
        (messages / target).write_text(text, encoding="utf-8")
        assert main(["messages", "lint", str(messages), "--triggers", str(triggers)]) in (0, 1)

    lint()


def test_a_file_that_is_not_utf8_is_a_problem_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    triggers, _ = stage(tmp_path)
    (triggers / "cart_idle.yaml").write_bytes(b"id: cart_idle\nkind: cart_idle\nname: \xff\xfe\n")
    assert main(["triggers", "validate", str(triggers)]) == 1
    assert "cart_idle.yaml:3: -: not UTF-8 text" in capsys.readouterr().err
