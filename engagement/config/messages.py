"""Loading the message directory: one YAML file per trigger (or trigger kind) and an optional
`_locales.yaml` with the locale fallback chain, into a `MessageCatalog`.

    trigger: cart_idle                  # a trigger id, or a kind (serves every trigger of it without its own file)
    category: marketing                 # must equal the trigger's category
    whatsapp:                           # the approved template the message is sent as
      template: cart_reminder
      parameters: ["{{customer_name|您}}", "{{cart_items}}"]   # {{1}}, {{2}}, ... (or a mapping for named ones)
      buttons: [{type: quick_reply, value: STOP}]
    locales:
      zh-TW:
        language: zh_TW                 # the template's language at WhatsApp (default: the locale with _)
        parameters: ["{{customer_name|您}}", "{{cart_items}}"]   # optional: this language's own parameters
        text: |                         # the free-form text (and, for a template, what it renders: lint compares)
          {{customer_name|您好}},為您保留的{{cart_items}}還需要嗎?
        tiers:                          # optional, per customer tier
          vip: {template: cart_reminder_vip, text: "..."}   # a template message's tier needs its own template
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from engagement.config.loader import (
    ConfigProblem,
    InvalidConfig,
    line_of,
    parse_yaml,
    plain_message,
    read_config_text,
)
from engagement.config.template_registry import HELD, REGISTRY_FILE, RegistryError, load_registry
from engagement.core.catalog import (
    Answer,
    ButtonSpec,
    KeywordAnswer,
    LineWording,
    LocaleFallbacks,
    MessageCatalog,
    MessageSpec,
    Parameters,
    Tier,
    WhatsAppTemplate,
    Wording,
    canonical_locale,
)
from engagement.core.text_template import TextTemplate

LOCALES_FILE = "_locales.yaml"
ANSWERS_FILE = "_answers.yaml"


def _bcp47_case(tag: str) -> str:
    canonical = canonical_locale(tag)
    if tag != canonical:
        raise ValueError(f"write {canonical!r}: locale tags are case-sensitive here (BCP 47 case)")
    return tag


Locale = Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"), AfterValidator(_bcp47_case)]
Text = Annotated[str, Field(min_length=1, max_length=1024)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


ParametersFile = list[Text] | dict[Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$")], Text]


Label = Annotated[str, Field(min_length=1, max_length=25)]


class ButtonFile(_Strict):
    type: Literal["quick_reply", "url"]
    value: Annotated[
        str, Field(min_length=1, max_length=256, description="payload, or URL suffix; placeholders allowed")
    ]
    label: Label | dict[Locale, Label] | None = Field(
        default=None,
        description="the text customers see on the button, or one per locale (default: the value)",
    )


class WhatsAppFile(_Strict):
    template: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,512}$", description="the approved template's name")]
    parameters: ParametersFile = []
    buttons: Annotated[list[ButtonFile], Field(max_length=10)] = []


class ReplyFile(_Strict):
    id: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^\S(.*\S)?$")]
    title: Annotated[str, Field(min_length=1, max_length=20)]


TemplateName = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,512}$", description="the approved template's name")]


class TierFile(_Strict):
    template: TemplateName | None = Field(
        default=None, description="the tier's own approved template (a template message's tier needs one)"
    )
    parameters: ParametersFile | None = Field(default=None, description="its parameters (default: the locale's)")
    text: Text = Field(description="what the tier's customers read (for a template: its approved body filled in)")


class WordingFile(_Strict):
    language: Annotated[str, Field(pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")] | None = None
    parameters: ParametersFile | None = Field(
        default=None, description="this language's template parameters, in place of whatsapp.parameters"
    )
    text: Text
    tiers: dict[Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,64}$")], Text | TierFile] = Field(
        default={},
        description="per customer tier: a text (free-form messages), or {template, parameters, text}",
    )
    replies: Annotated[
        list[ReplyFile], Field(max_length=3, description="reply buttons when sent as free-form text (no template)")
    ] = []


class QuickReplyFile(_Strict):
    value: Annotated[str, Field(min_length=1, max_length=300, pattern=r"^\S(.*\S)?$")] = Field(
        description="what a tap sends back (a postback's data: the answers' key)"
    )
    label: Annotated[str, Field(min_length=1, max_length=20)] = Field(description="the text on the button")


FLEX_MAX_BYTES = 30_000


class LineFile(_Strict):
    text: Annotated[str, Field(min_length=1, max_length=5000)] = Field(
        description="the LINE text (with a Flex bubble: its alternative text, at most 400 characters)"
    )
    quick_replies: Annotated[list[QuickReplyFile], Field(max_length=13)] = Field(
        default=[], description="up to 13 quick-reply buttons (postbacks)"
    )
    flex: dict[str, Any] | None = Field(default=None, description="a Flex bubble ({type: bubble, ...}) sent instead")

    @model_validator(mode="after")
    def _flex_limits(self) -> LineFile:
        if self.flex is None:
            return self
        if self.flex.get("type") != "bubble":
            raise ValueError("flex must be a bubble: {type: bubble, body: ...}")
        try:
            json.dumps(self.flex, allow_nan=False)
        except (TypeError, ValueError):
            raise ValueError(
                "a Flex bubble holds JSON values only: text, numbers (not .nan or .inf), true, false, null, "
                "lists and mappings with text keys (no dates or YAML tags)"
            ) from None
        if len(self.text) > 400:
            raise ValueError("with a Flex bubble, text is its alternative text: at most 400 characters")
        if len(json.dumps(self.flex, ensure_ascii=False).encode()) > FLEX_MAX_BYTES:
            raise ValueError(f"a Flex bubble is at most {FLEX_MAX_BYTES:,} bytes of JSON")
        return self


SmsText = Annotated[str, Field(min_length=1, max_length=1600)]


AnswerText = Annotated[str, Field(min_length=1, max_length=1024)]
Action = Literal["opt_out", "not_me", "handoff"]


class AnswerFile(_Strict):
    text: Annotated[dict[Locale, AnswerText], Field(min_length=1, description="the answer per locale")]


AnswerKey = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^\S(.*\S)?$")]


class MessageFile(_Strict):
    trigger: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="a trigger id or kind")]
    category: Literal["marketing", "utility", "security"]
    whatsapp: WhatsAppFile | None = None
    locales: Annotated[dict[Locale, WordingFile], Field(min_length=1)]
    line: dict[Locale, LineFile] = Field(
        default={}, description="per locale: the LINE form (default: the locale's text and buttons)"
    )
    sms: dict[Locale, SmsText] = Field(default={}, description="per locale: the SMS text (default: the locale's text)")
    answers: Annotated[
        dict[AnswerKey, AnswerFile | Action],
        Field(
            max_length=50,
            description="what a reply to this message gets: per button value or keyword (the whole reply, "
            "any case), and `default` for any other; a text per locale, or opt_out, not_me, handoff",
        ),
    ] = {}


class KeywordFile(_Strict):
    match: Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]], Field(min_length=1, max_length=50)]
    text: Annotated[dict[Locale, AnswerText], Field(min_length=1)] | None = None
    action: Action | None = None


class AnswersFile(_Strict):
    keywords: Annotated[list[KeywordFile], Field(max_length=100)] = []


class LocalesFile(_Strict):
    fallbacks: dict[Locale, list[Locale]] = {}
    default: Locale = "en"


def default_messages_dir() -> Path:
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "messages", here / "defaults" / "messages"):
        if candidate.is_dir():
            return candidate
    return here.parent / "messages"


def load_messages(directory: Path) -> MessageCatalog:
    """Every message file of `directory`; raises `InvalidConfig` listing every problem."""
    if not directory.is_dir():
        raise InvalidConfig([ConfigProblem(str(directory), 0, "-", "not a directory")])
    problems: list[ConfigProblem] = []
    messages: dict[str, MessageSpec] = {}
    locales = LocaleFallbacks()
    keywords: tuple[KeywordAnswer, ...] = ()
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()):
        raw, unreadable = read_config_text(path)
        digest.update(path.name.encode() + b"\0" + raw.encode() + b"\0")
        if unreadable is not None:
            problems.append(unreadable)
            continue
        if path.name == ANSWERS_FILE:
            keywords = _keyword_answers(path, raw, problems)
            continue
        if path.name.startswith("_") and path.name != LOCALES_FILE:
            continue  # the tools' own settings, such as _lint.yaml
        if path.name == LOCALES_FILE:
            locales = _locale_fallbacks(path, raw, problems)
            continue
        parsed = _validate(MessageFile, path, raw, problems)
        if not isinstance(parsed, MessageFile):
            continue
        if parsed.trigger in messages:
            problems.append(
                ConfigProblem(str(path), 1, "trigger", f"{parsed.trigger!r} also has {messages[parsed.trigger].source}")
            )
            continue
        spec = _message_spec(parsed, path, raw, problems)
        if spec is not None:
            messages[parsed.trigger] = spec
    problems.extend(_unknown_fallbacks(directory / LOCALES_FILE, locales, messages))
    held = _held_templates(directory, problems)
    for name, language in sorted(held):  # what WhatsApp holds back is part of what goes live
        digest.update(f"held\0{name}\0{language}\0".encode())
    if problems:
        raise InvalidConfig(problems)
    return MessageCatalog(messages, locales, digest.hexdigest()[:12], held, keywords)


def _locale_fallbacks(path: Path, raw: str, problems: list[ConfigProblem]) -> LocaleFallbacks:
    parsed = _validate(LocalesFile, path, raw, problems)
    if not isinstance(parsed, LocalesFile):
        return LocaleFallbacks()
    return LocaleFallbacks({k: tuple(v) for k, v in parsed.fallbacks.items()}, parsed.default)


def _keyword_answers(path: Path, raw: str, problems: list[ConfigProblem]) -> tuple[KeywordAnswer, ...]:
    """`_answers.yaml`: each keyword entry has a text or an action, never both."""
    parsed = _validate(AnswersFile, path, raw, problems)
    if not isinstance(parsed, AnswersFile):
        return ()
    node = yaml.compose(raw, Loader=yaml.SafeLoader)
    out: list[KeywordAnswer] = []
    for i, entry in enumerate(parsed.keywords):
        loc: list[str | int] = ["keywords", i]
        if (entry.text is None) == (entry.action is None):
            problems.append(ConfigProblem(str(path), line_of(node, loc), f"keywords.{i}", "give a text or an action"))
            continue
        texts = {}
        for locale, text in (entry.text or {}).items():
            try:
                texts[locale] = TextTemplate.parse(text)
            except ValueError as exc:
                where = [*loc, "text", locale]
                problems.append(ConfigProblem(str(path), line_of(node, where), ".".join(map(str, where)), str(exc)))
        terms = tuple(dict.fromkeys(term.strip().casefold() for term in entry.match if term.strip()))
        out.append(KeywordAnswer(terms, Answer(f"keyword:{entry.match[0].strip()}", entry.action, texts)))
    return tuple(out)


def _held_templates(directory: Path, problems: list[ConfigProblem]) -> frozenset[tuple[str, str]]:
    """(template, language) the registry says WhatsApp paused or disabled."""
    try:
        registry = load_registry(directory)
    except RegistryError as exc:
        problems.append(ConfigProblem(str(directory / REGISTRY_FILE), 1, "-", str(exc)))
        return frozenset()
    if registry is None:
        return frozenset()
    return frozenset(key for key, record in registry.records.items() if record.status.upper() in HELD)


def _unknown_fallbacks(path: Path, locales: LocaleFallbacks, messages: dict[str, MessageSpec]) -> list[ConfigProblem]:
    """A fallback must name a locale some message is written in, or one that falls back further."""
    if not path.is_file():
        return []
    known = {locale for spec in messages.values() for locale in spec.locales} | set(locales.fallbacks)
    node, _, _ = parse_yaml(str(path), path.read_text(encoding="utf-8", errors="replace"))
    problems = []
    for source, targets in locales.fallbacks.items():
        for n, target in enumerate(targets):
            if target not in known:
                problems.append(
                    ConfigProblem(
                        str(path),
                        line_of(node, ["fallbacks", source, n]),
                        f"fallbacks.{source}.{n}",
                        f"no message is written in {target!r}; known locales: {', '.join(sorted(known))}",
                    )
                )
    return problems


def _validate(
    model: type[MessageFile] | type[LocalesFile] | type[AnswersFile],
    path: Path,
    raw: str,
    problems: list[ConfigProblem],
) -> MessageFile | LocalesFile | AnswersFile | None:
    node, data, broken = parse_yaml(str(path), raw)
    if broken is not None:
        problems.append(broken)
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            skipped = ("list[constrained-str]", "dict[constrained-str,constrained-str]", "[key]")
            loc = [p for p in err["loc"] if p not in skipped]
            where = ".".join(str(p) for p in loc) or "-"
            problems.append(ConfigProblem(str(path), line_of(node, list(loc)), where, plain_message(err)))
        return None


def _message_spec(parsed: MessageFile, path: Path, raw: str, problems: list[ConfigProblem]) -> MessageSpec | None:
    built = _SpecBuilder(parsed, path, yaml.compose(raw, Loader=yaml.SafeLoader), problems)
    return built.spec()


class _SpecBuilder:
    """A parsed message file into a `MessageSpec`, each problem with its line (None if any)."""

    def __init__(self, parsed: MessageFile, path: Path, node: yaml.Node | None, problems: list[ConfigProblem]) -> None:
        self.parsed, self.path, self.node, self.problems = parsed, path, node, problems
        self.failed = False

    def problem(self, loc: list[str | int], message: str) -> None:
        self.failed = True
        self.problems.append(ConfigProblem(str(self.path), line_of(self.node, loc), ".".join(map(str, loc)), message))

    def template(self, text: str, loc: list[str | int]) -> TextTemplate:
        try:
            return TextTemplate.parse(text)
        except ValueError as exc:
            self.problem(loc, str(exc))
            return TextTemplate(text, ())

    def parameters(self, given: list[str] | dict[str, str], loc: list[str | int]) -> Parameters:
        if isinstance(given, dict):
            return tuple((name, self.template(text, [*loc, name])) for name, text in given.items())
        return tuple((None, self.template(text, [*loc, i])) for i, text in enumerate(given))

    def tier(self, given: str | TierFile, loc: list[str | int]) -> Tier:
        if isinstance(given, str):
            return Tier(self.template(given, loc))
        if given.template is not None and self.parsed.whatsapp is None:
            self.problem([*loc, "template"], "a tier's template needs the message's whatsapp section")
        if given.parameters is not None and given.template is None:
            self.problem([*loc, "parameters"], "tier parameters without a template of the tier's own to fill")
        own = None if given.parameters is None else self.parameters(given.parameters, [*loc, "parameters"])
        return Tier(self.template(given.text, [*loc, "text"]), given.template, own)

    def wording(self, locale: str, wording: WordingFile) -> Wording:
        loc: list[str | int] = ["locales", locale]
        if wording.parameters is not None and self.parsed.whatsapp is None:
            self.problem([*loc, "parameters"], "template parameters without a whatsapp template to fill")
        return Wording(
            wording.language or locale.replace("-", "_"),
            self.template(wording.text, [*loc, "text"]),
            {name: self.tier(given, [*loc, "tiers", name]) for name, given in wording.tiers.items()},
            tuple((reply.id, reply.title) for reply in wording.replies),
            None if wording.parameters is None else self.parameters(wording.parameters, [*loc, "parameters"]),
        )

    def spec(self) -> MessageSpec | None:
        parsed = self.parsed
        locales = {locale: self.wording(locale, wording) for locale, wording in parsed.locales.items()}
        whatsapp = None
        if parsed.whatsapp is not None:
            wa = parsed.whatsapp
            buttons = tuple(
                ButtonSpec(
                    b.type,
                    self.template(b.value, ["whatsapp", "buttons", i, "value"]),
                    b.label if isinstance(b.label, str) else b.value,
                    b.label if isinstance(b.label, dict) else {},
                )
                for i, b in enumerate(wa.buttons)
            )
            whatsapp = WhatsAppTemplate(
                wa.template, self.parameters(wa.parameters, ["whatsapp", "parameters"]), buttons
            )
        answers: dict[str, Answer] = {}
        default = None
        for key, given in parsed.answers.items():
            loc: list[str | int] = ["answers", key]
            if isinstance(given, str):
                answer = Answer(key, given)
            else:
                texts = {locale: self.template(text, [*loc, "text", locale]) for locale, text in given.text.items()}
                answer = Answer(key, None, texts)
            if key.casefold() == "default":
                default = Answer("default", answer.action, answer.texts)
            elif key.casefold() in answers:
                self.problem(loc, f"{key!r} is answered twice (answers match in any case)")
            else:
                answers[key.casefold()] = answer
        line = {locale: self.line(locale, given) for locale, given in parsed.line.items()}
        sms = {locale: self.template(text, ["sms", locale]) for locale, text in parsed.sms.items()}
        if self.failed:
            return None
        return MessageSpec(
            parsed.trigger, parsed.category, locales, whatsapp, str(self.path), answers, default, line, sms
        )

    def line(self, locale: str, given: LineFile) -> LineWording:
        loc: list[str | int] = ["line", locale]
        flex = None if given.flex is None else self.flex(given.flex, [*loc, "flex"])
        replies = tuple((reply.value, reply.label) for reply in given.quick_replies)
        return LineWording(self.template(given.text, [*loc, "text"]), replies, flex)

    def flex(self, node: Any, loc: list[str | int]) -> Any:
        """A Flex bubble with each string a template (placeholders allowed in any of them)."""
        if isinstance(node, str):
            return self.template(node, loc)
        if isinstance(node, dict):
            return {name: self.flex(value, [*loc, name]) for name, value in node.items()}
        if isinstance(node, list):
            return [self.flex(item, [*loc, i]) for i, item in enumerate(node)]
        return node
