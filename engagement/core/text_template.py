"""Message texts with placeholders, parsed once when the message files load.

A placeholder names a personalization value (see `personalize.VARIABLES`):

* `{{customer_name}}`: required; when the value is missing the message cannot be filled
  (the decision is then `suppress` with reason `template_error`);
* `{{customer_name|您}}`: with a fallback, used when the value is missing;
* `{{tracking_url?}}`: optional; when the value is missing, the whole line that holds it is left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

PLACEHOLDER = re.compile(r"\{\{\s*([a-z][a-z0-9_]*)\s*(\?|\|([^{}]*))?\s*\}\}")
_STRAY = re.compile(r"\{\{|\}\}")


class TemplateError(Exception):
    """A message that cannot be filled for this customer (a required value is missing)."""


@dataclass(frozen=True, slots=True)
class Placeholder:
    name: str
    optional: bool = False
    fallback: str | None = None


Part = str | Placeholder


@dataclass(frozen=True, slots=True)
class TextTemplate:
    """A text as lines of literal parts and placeholders."""

    source: str
    lines: tuple[tuple[Part, ...], ...]

    @classmethod
    def parse(cls, source: str) -> TextTemplate:
        """Raises ValueError naming the problem (an unclosed or malformed placeholder)."""
        lines: list[tuple[Part, ...]] = []
        for number, line in enumerate(source.rstrip("\n").split("\n"), 1):
            parts: list[Part] = []
            last = 0
            for match in PLACEHOLDER.finditer(line):
                literal = line[last : match.start()]
                _check_literal(literal, number)
                if literal:
                    parts.append(literal)
                name, marker, fallback = match.group(1), match.group(2), match.group(3)
                parts.append(Placeholder(name, marker == "?", fallback.strip() if fallback is not None else None))
                last = match.end()
            _check_literal(line[last:], number)
            if line[last:]:
                parts.append(line[last:])
            lines.append(tuple(parts))
        return cls(source, tuple(lines))

    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.name for line in self.lines for p in line if isinstance(p, Placeholder)))

    def required(self) -> tuple[str, ...]:
        """Values without which the text cannot be filled (no fallback, not optional)."""
        return tuple(
            dict.fromkeys(
                p.name
                for line in self.lines
                for p in line
                if isinstance(p, Placeholder) and not p.optional and p.fallback is None
            )
        )

    def render(self, values: Mapping[str, str | None]) -> str:
        out: list[str] = []
        for line in self.lines:
            pieces: list[str] = []
            for part in line:
                if isinstance(part, str):
                    pieces.append(part)
                    continue
                value = values.get(part.name)
                if value is None or value == "":
                    if part.optional:
                        pieces = []
                        break
                    if part.fallback is None:
                        raise TemplateError(f"no value for {{{{{part.name}}}}}")
                    value = part.fallback
                pieces.append(value)
            else:
                out.append("".join(pieces))
                continue
        text = "\n".join(out)
        return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def _check_literal(literal: str, line: int) -> None:
    if _STRAY.search(literal):
        forms = "{{name}}, {{name|fallback}} or {{name?}}"
        raise ValueError(f"line {line}: a placeholder is malformed (write {forms})")
