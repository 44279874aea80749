"""The console sessions of README.md and docs/*.md: every ```console block, its `$ ` commands (a
line ending in `\\` goes on) and the output shown after each. An output line may hold `...` for
any text, and a line that is only `...` stands for any number of lines.

The docs test (tests/integration/test_docs_commands.py) runs each block in one bash, in a working
directory of its page that sees the checkout's `triggers`, `messages`, `engagement` and `tests`,
with a live `engagement run` on a free port (`127.0.0.1:8080` in the docs is that port), its
admin key in `$KEY`; and compares. A command shown with `# exits N` at its end must exit N;
every other must exit 0.

`python -m tests.docs_sessions --update` writes what each command prints now into the docs, for
a person to read over, put `...` where output changes from run to run, and commit.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.integration.processes import running

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHOWN_PORT = "8080"
_EXITS = re.compile(r"#\s*exits\s+(\d+)\s*$")


@dataclass
class Command:
    text: str  # as bash runs it (continuations joined)
    shown: list[str]  # the output the docs show
    exits: int = 0


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence
    commands: list[Command]


def blocks(page: Path) -> list[Block]:
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```console":
            start = i
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            found.append(Block(page, start + 1, _commands(body)))
        i += 1
    return found


def _commands(body: list[str]) -> list[Command]:
    commands: list[Command] = []
    i = 0
    while i < len(body):
        if not body[i].startswith("$ "):
            raise ValueError(f"output before any command: {body[i]!r}")
        text = body[i][2:]
        while text.endswith("\\") and i + 1 < len(body):
            i += 1
            text = text + "\n" + body[i]
        i += 1
        shown = []
        while i < len(body) and not body[i].startswith("$ "):
            shown.append(body[i].rstrip())
            i += 1
        match = _EXITS.search(text)
        commands.append(Command(text, shown, int(match.group(1)) if match else 0))
    return commands


def matches(shown: list[str], printed: list[str]) -> bool:
    """Whether what was printed is what the docs show (`...` for any text or lines)."""
    pattern = []
    for line in shown:
        if line.strip() == "...":
            pattern.append(r"(?:[^\n]*\n)*?")
        else:
            pattern.append(".*".join(re.escape(part) for part in line.split("...")) + r"\n")
    return re.fullmatch("".join(pattern), "".join(line + "\n" for line in printed)) is not None


# what the docs' own examples use: the Shopify secret of Shopify's documented test vector
SERVER_ENV = {
    "ENGAGEMENT_SHOPIFY_SECRET": "hush",
    "ENGAGEMENT_SEGMENT_SECRET": "segment-secret",
    "ENGAGEMENT_SHOPLINE_TOKEN": "shopline-token-0123456789",
}
SHARED = ("engagement", "tests", "deploy", "pyproject.toml")  # seen through links
COPIED = ("triggers", "messages")  # copied: a page's commands may change them


@contextmanager
def session() -> Iterator[tuple[Callable[[Path], Path], dict[str, str], str]]:
    """A live run, and for each page a working directory that sees the checkout."""
    base = Path(tempfile.mkdtemp(prefix="engagement-docs-"))
    try:
        with running(base / "run", SERVER_ENV) as run:
            env = {**os.environ, "KEY": run.key, "HOME": str(base), "ENGAGEMENT_STATE_DIR": str(base / "state"),
                   "ENGAGEMENT_API_KEY": run.key, "NO_COLOR": "1", "COLUMNS": "100"}  # fmt: skip
            env.pop("ENGAGEMENT_HTTP_PORT", None)

            def cwd_of(page: Path) -> Path:
                where = base / page.stem
                if not where.exists():
                    where.mkdir()
                    for name in SHARED:
                        (where / name).symlink_to(ROOT / name)
                    for name in COPIED:
                        shutil.copytree(ROOT / name, where / name)
                return where

            yield cwd_of, env, str(run.port)
    finally:
        shutil.rmtree(base, ignore_errors=True)


MARK = "@@docs-session@@"


def run_block(block: Block, cwd: Path, env: dict[str, str], port: str) -> list[tuple[list[str], int]]:
    """What each command of the block printed (its output and standard error, trailing spaces
    trimmed) and its exit status."""
    script = []
    for n, command in enumerate(block.commands):
        text = command.text.replace(f"127.0.0.1:{SHOWN_PORT}", f"127.0.0.1:{port}")
        text = text.replace(f"localhost:{SHOWN_PORT}", f"localhost:{port}")
        script.append(f"echo '{MARK} {n}'\n{text}\necho \"{MARK} rc $?\"")
    done = subprocess.run(  # noqa: S603 (the docs' own commands)
        ["bash", "-c", "exec 2>&1\n" + "\n".join(script)],  # noqa: S607
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    results: list[tuple[list[str], int]] = []
    current: list[str] = []
    for line in done.stdout.splitlines():
        if line.startswith(f"{MARK} rc "):
            results.append((current, int(line.rsplit(" ", 1)[1])))
            current = []
        elif line.startswith(MARK):
            current = []
        else:
            current.append(line.rstrip().replace(f":{port}", f":{SHOWN_PORT}"))
    return results


VOLATILE = [  # what changes from one run or checkout to the next, written as `...` by --update
    (re.compile(r"(?<=version )[0-9a-f]{12}\b"), "..."),
    (re.compile(r"(?<=config )[0-9a-f]{12}\b"), "..."),
    (re.compile(r"(?<=configuration )[0-9a-f]{12}\b"), "..."),
    (re.compile(r'(?<="config_version":")[0-9a-f]{12}'), "..."),
    (re.compile(r"\begk_[A-Za-z0-9_-]+"), "egk_..."),
    (re.compile(r"(?<=X-Last-Seq: )\d+"), "..."),
    (re.compile(r"(?<=3\.1\.0 )\d+(?= paths)"), "..."),
    (re.compile(r"(?<=console: )console-test-[0-9a-f]+|(?<=78: )console-test-[0-9a-f]+"), "..."),
    (re.compile(r"/\S*/(?=messages\b|api_keys\b)"), ".../"),
]


def stable(line: str) -> str:
    for pattern, shown in VOLATILE:
        line = pattern.sub(shown, line)
    return line


def update(page: Path, block: Block, printed: list[list[str]]) -> None:
    """Write what was printed into the block, below each command (`...` where it varies)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    end = block.line
    while lines[end].strip() != "```":
        end += 1
    body = []
    for command, output in zip(block.commands, printed, strict=True):
        first, *rest = command.text.split("\n")
        body += [f"$ {first}", *rest, *map(stable, output)]
    lines[block.line : end] = body
    page.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if "--update" not in sys.argv:
        sys.exit("run the docs test with pytest; --update writes what the commands print into the docs")
    with session() as (cwd_of, env, port):
        for page in PAGES:
            found = blocks(page)
            printed = [[output for output, _ in run_block(block, cwd_of(page), env, port)] for block in found]
            for block, outputs in reversed(list(zip(found, printed, strict=True))):  # the later lines first
                update(page, block, outputs)
                print(f"{page.name}:{block.line}: {len(outputs)} commands")
