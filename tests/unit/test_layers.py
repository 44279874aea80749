"""The house has no import running upward (`engagement.layers`): every import of every module, at
any depth (inside functions too), goes to the module's own package or to a lower floor, never to a
sibling on the same floor; every package is on a floor, and every package says what it may import."""

from __future__ import annotations

import ast
from pathlib import Path

from engagement.layers import FLOORS, floor_of

PACKAGE = Path(__file__).resolve().parents[2] / "engagement"


def unit_of(module: str) -> str:
    """The top-level package (or module) of `engagement.x.y`: `x`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports() -> list[tuple[str, str, int]]:
    """(importing unit, imported unit, line) for every import of an engagement module."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        if "defaults" in path.parts:
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        importer = unit_of(".".join(p for p in parts if p != "__init__"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("engagement"):
                if node.module == "engagement":
                    found += [(importer, alias.name, node.lineno) for alias in node.names]
                else:
                    found.append((importer, unit_of(node.module), node.lineno))
            elif isinstance(node, ast.Import):
                found += [
                    (importer, unit_of(a.name), node.lineno) for a in node.names if a.name.startswith("engagement.")
                ]
    return found


def test_no_import_runs_upward_or_sideways() -> None:
    wrong = []
    for importer, imported, line in imports():
        if importer == imported:
            continue
        if floor_of(imported) >= floor_of(importer):
            wrong.append(
                f"{importer} (floor {floor_of(importer)}) imports {imported} (floor {floor_of(imported)}), line {line}"
            )
    assert wrong == []


def test_every_package_is_on_a_floor_and_says_what_it_may_import() -> None:
    units = {
        p.stem if p.is_file() else p.name
        for p in PACKAGE.iterdir()
        if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    units -= {"__init__", "defaults"}
    placed = {name for floor in FLOORS for name in floor}
    assert sorted(units - placed) == []
    for name in sorted(units):
        path = PACKAGE / name / "__init__.py" if (PACKAGE / name).is_dir() else PACKAGE / f"{name}.py"
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if floor_of(name) > 0 and name not in ("__main__", "layers", "demo"):
            assert "May import:" in doc, f"{path.name}: its docstring does not say what it may import"


def test_the_floors_in_the_docstring_are_the_floors_checked() -> None:
    from engagement import layers  # noqa: PLC0415

    doc = layers.__doc__ or ""
    for floor in FLOORS[:-1]:
        for name in floor:
            assert f"`{name}`" in doc, name
