"""Starting and stopping `engagement` processes for the integration tests (by pid, always bounded)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from engagement.embedded import demo
from engagement.live.api_keys import SCOPES, create_key

ROOT = Path(__file__).resolve().parents[2]
DEMO_TRIGGERS = ROOT / "engagement" / "demo" / "triggers"
DEMO_STREAM = ROOT / "engagement" / "demo" / "stream.jsonl"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_key(state_dir: Path, scopes: tuple[str, ...] = SCOPES) -> tuple[Path, str]:
    """A keys file in `state_dir` with one key of `scopes`: (the file, the key)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "api_keys"
    return path, create_key(path, f"tests-{len(scopes)}-{os.getpid()}-{time.monotonic_ns()}", scopes)


def retimed_lines(path: Path, start: float, prefix: str) -> list[str]:
    """The lines of an event file moved so that its first event happens at `start`."""
    return demo.retimed_lines(path.read_text(encoding="utf-8").splitlines(), start, prefix)


class RunProcess:
    def __init__(self, state_dir: Path, port: int, extra_env: dict[str, str] | None = None) -> None:
        self.state_dir, self.port = state_dir, port
        keys_file, self.key = api_key(state_dir)
        self.headers = {"Authorization": f"Bearer {self.key}"}
        self.env = {
            **os.environ,
            "ENGAGEMENT_API_KEYS_FILE": str(keys_file),
            "ENGAGEMENT_STATE_DIR": str(state_dir),
            "ENGAGEMENT_HTTP_PORT": str(port),
            "ENGAGEMENT_TRIGGERS_DIR": str(DEMO_TRIGGERS),
            "ENGAGEMENT_ALLOWED_LATENESS": "1s",
            "ENGAGEMENT_PROVIDER": "file",
            "ENGAGEMENT_PROVIDER_FILE": str(state_dir / "sent.jsonl"),
            **(extra_env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        with (self.state_dir / "run.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "engagement", "run"], env=self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"engagement run exited: {(self.state_dir / 'run.log').read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("engagement run did not answer /healthz within 30 s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(timeout=30)
        self.proc = None

    def post_lines(self, lines: list[str]) -> dict[str, object]:
        body = ("\n".join(lines) + "\n").encode()
        response = httpx.post(
            f"{self.url}/v1/events",
            content=body,
            headers={"Content-Type": "application/x-ndjson", **self.headers},
            timeout=30,
        )
        assert response.status_code == 202, response.text
        result: dict[str, object] = response.json()
        return result

    def decisions(self) -> list[dict[str, object]]:
        response = httpx.get(f"{self.url}/v1/decisions", params={"limit": 10_000}, headers=self.headers, timeout=10)
        return [json.loads(line) for line in response.text.splitlines()]

    def log(self) -> str:
        path = self.state_dir / "run.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def sent(self) -> list[dict[str, object]]:
        path = self.state_dir / "sent.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@contextmanager
def running(state_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[RunProcess]:
    process = RunProcess(state_dir, free_port(), extra_env)
    process.start()
    try:
        yield process
    finally:
        process.kill(signal.SIGTERM)


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def failed(request: object) -> bool:
    """Whether the requesting test's call failed (the report conftest keeps on the test item)."""
    report = getattr(getattr(request, "node", None), "report_call", None)
    return report is None or bool(report.failed)


async def until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """`wait_for` for async tests: the predicate (which may block) runs in a thread."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
