"""Every command the docs show is run and prints what the docs say it prints (tests/docs_sessions.py
says how a session is written). A live `engagement run` answers the HTTP examples."""

from __future__ import annotations

import pytest

from tests.docs_sessions import PAGES, ROOT, Block, blocks, matches, run_block, session

pytestmark = pytest.mark.integration

ALL = [block for page in PAGES for block in blocks(page)]


def test_the_docs_show_sessions() -> None:
    assert len(ALL) >= 8
    assert {block.page.name for block in ALL} >= {"README.md", "shop-developer.md", "marketer.md", "operator.md"}


def test_every_command_in_the_docs_prints_what_they_show() -> None:
    wrong: list[str] = []
    with session() as (cwd_of, env, port):
        for block in ALL:
            wrong += _differences(block, run_block(block, cwd_of(block.page), env, port))
    assert wrong == [], "\n\n".join(wrong)


def _differences(block: Block, results: list[tuple[list[str], int]]) -> list[str]:
    where = f"{block.page.relative_to(ROOT)}:{block.line}"
    if len(results) != len(block.commands):
        return [f"{where}: {len(results)} of {len(block.commands)} commands ran"]
    found = []
    for command, (printed, status) in zip(block.commands, results, strict=True):
        if status != command.exits:
            found.append(f"{where}: `{command.text}` exited {status}:\n" + "\n".join(printed[-20:]))
        elif not matches(command.shown, printed):
            shown, got = "\n".join(command.shown), "\n".join(printed[:60])
            found.append(f"{where}: `{command.text}` printed\n{got}\n--- the docs show ---\n{shown}")
    return found
