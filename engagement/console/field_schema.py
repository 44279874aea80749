"""What the console's form shows for each setting of a trigger file: its label and help (the
descriptions of the configuration models, the same text `engagement schema triggers` prints) and
the widget that fits its type: a duration with a unit, a switch, a bounded number, a choice, a
list of words as chips, quiet hours as a weekly time range."""

from __future__ import annotations

import types
from datetime import timedelta
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from engagement.core.specs import TRIGGER_KINDS, TriggerSpec

Widget = dict[str, Any]


def trigger_widgets(kind: str) -> dict[str, Widget]:
    """Path (`policies.quiet_hours.allowed`) -> widget, for a trigger file of `kind`."""
    model = _model_of(kind)
    if model is None:
        return {}
    found: dict[str, Widget] = {}
    _walk(model, "", found)
    return found


def _model_of(kind: str) -> type[BaseModel] | None:
    if kind not in TRIGGER_KINDS:
        return None
    for model in get_args(get_args(TriggerSpec)[0]):
        if get_args(model.model_fields["kind"].annotation)[0] == kind:
            return model  # type: ignore[no-any-return]
    return None


def _walk(model: type[BaseModel], prefix: str, found: dict[str, Widget]) -> None:
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = _unoptional(info.annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            _walk(annotation, f"{path}.", found)
            continue
        widget = _widget(path, annotation, info)
        if widget is not None:
            found[path] = {"label": _label(name), "help": info.description or "", "nullable": _optional(info), **widget}


def _widget(path: str, annotation: Any, info: FieldInfo) -> Widget | None:
    if path.endswith("quiet_hours.allowed"):
        return {"widget": "hours"}
    if annotation is timedelta or _is_duration(info):
        return {"widget": "duration"}
    if annotation is bool:
        return {"widget": "switch"}
    if get_origin(annotation) is Literal:
        options = [str(o) for o in get_args(annotation)]
        return {"widget": "choice", "options": options} if len(options) > 1 else {"widget": "fixed"}
    if annotation in (int, float):
        low, high = _bounds(info)
        return {"widget": "number", "min": low, "max": high, "step": 1 if annotation is int else "any"}
    if get_origin(annotation) in (tuple, list):
        item = get_args(annotation)[0] if get_args(annotation) else str
        choices = [str(o) for o in get_args(item)] if get_origin(item) is Literal else None
        return {"widget": "chips", "options": choices}
    if annotation is str:
        return {"widget": "text"}
    return None


def _unoptional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        kept = [a for a in get_args(annotation) if a is not type(None)]
        if len(kept) == 1:
            return _unoptional(kept[0])
    if get_origin(annotation) is Annotated:
        return _unoptional(get_args(annotation)[0])
    return annotation


def _optional(info: FieldInfo) -> bool:
    return get_origin(info.annotation) in (Union, types.UnionType) and type(None) in get_args(info.annotation)


def _is_duration(info: FieldInfo) -> bool:
    return any(getattr(getattr(m, "func", None), "__name__", "") == "parse_duration" for m in info.metadata)


def _bounds(info: FieldInfo) -> tuple[float | None, float | None]:
    low = high = None
    metadata = list(info.metadata)
    for part in get_args(info.annotation):  # the bounds of an optional number sit in its Annotated
        if get_origin(part) is Annotated:
            for extra in get_args(part)[1:]:
                metadata.extend(getattr(extra, "metadata", [extra]))
    for item in metadata:
        if isinstance(item, Ge | Gt):
            low = float(item.ge if isinstance(item, Ge) else item.gt)  # type: ignore[arg-type]
        if isinstance(item, Le | Lt):
            high = float(item.le if isinstance(item, Le) else item.lt)  # type: ignore[arg-type]
    return low, high


def _label(name: str) -> str:
    words = name.replace("_", " ").capitalize()
    return words.removesuffix(" kmh").removesuffix(" km") + (
        " (km/h)" if name.endswith("_kmh") else " (km)" if name.endswith("_km") else ""
    )
