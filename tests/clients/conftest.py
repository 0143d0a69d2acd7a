"""Real client CLIs (OpenCode, Claude Code) against a real `detour serve` process in front of fake providers.

The npm packages are installed beforehand by .ci/install-clients.sh into .ci/node; nothing downloads here.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from detour.testing import FakeProvider

REPO = Path(__file__).resolve().parents[2]
NODE_BIN = REPO / ".ci" / "node" / "node_modules" / ".bin"
CLIENT_TIMEOUT = 240  # seconds; a first start of a client may unpack or index for a while
CAPS = {"tools": True, "image": True, "context": 200000, "max_output": 8192, "cost_input": 1.0, "cost_output": 4.0}


def client_binary(name: str) -> Path:
    """The pinned CLI from .ci/node, or a visible skip saying how to install it."""
    path = NODE_BIN / name
    if not path.exists():
        pytest.skip(f"{path} is absent: run .ci/install-clients.sh (needs npm) to test against the real {name} CLI")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def client_env(tmp_path: Path) -> dict[str, str]:
    """A private HOME and XDG tree, no provider keys or detour settings from the outer shell, no update checks."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_", "OPENCODE", "DETOUR_",
                                                                     "CLAUDE", "XDG_", "GEMINI_", "GOOGLE_"))}
    dirs = {"HOME": home, "XDG_CONFIG_HOME": home / ".config", "XDG_DATA_HOME": home / ".local" / "share",
            "XDG_CACHE_HOME": home / ".cache", "XDG_STATE_HOME": home / ".local" / "state",
            "DETOUR_CACHE_DIR": home / ".cache" / "detour"}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    env.update({k: str(v) for k, v in dirs.items()})
    env.update(NO_COLOR="1", CI="1", OPENCODE_DISABLE_MODELS_FETCH="1", OPENCODE_DISABLE_AUTOUPDATE="1",
               DISABLE_TELEMETRY="1", DISABLE_AUTOUPDATER="1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1")
    return env


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    fake = FakeProvider.start_in_thread()
    try:
        yield fake
    finally:
        fake.stop()


@dataclass
class Served:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def serve(tmp_path: Path, client_env: dict[str, str]) -> Iterator[object]:
    """serve(config_path, cwd, port) runs `detour serve --config P --port N` as a process and waits until it answers."""
    started: list[Served] = []

    def start(config: Path, cwd: Path, port: int | None = None) -> Served:
        port = port or free_port()
        log = tmp_path / f"gateway-{port}.log"
        cmd = [sys.executable, "-m", "detour", "serve", "--config", str(config), "--port", str(port)]
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, cwd=cwd, env=client_env, stdout=out, stderr=subprocess.STDOUT)
        served = Served(f"http://127.0.0.1:{port}", proc, log)
        started.append(served)
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"detour serve exited with {proc.returncode}:\n{served.output()}")
            try:
                if httpx.get(served.url + "/healthz", timeout=2).status_code == 200:
                    return served
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"detour serve did not answer on {served.url}:\n{served.output()}")
            time.sleep(0.1)

    yield start
    for served in started:
        served.proc.terminate()
        try:
            served.proc.wait(15)
        except subprocess.TimeoutExpired:
            served.proc.kill()
            served.proc.wait(5)


def run(cmd: list[str], *, cwd: Path, env: dict[str, str],
        timeout: float = CLIENT_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run a client CLI to completion with stdin closed; a hang fails the test with what it printed so far."""
    try:
        return subprocess.run(cmd, check=False, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr
        pytest.fail(f"{cmd[0]} did not finish in {timeout}s\nstdout:\n{out}\nstderr:\n{err}")


def explain(proc: subprocess.CompletedProcess[str], served: Served) -> str:
    """Everything needed to see why a client run failed."""
    return (f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr[-20000:]}\n"
            f"--- gateway\n{served.output()[-20000:]}")
