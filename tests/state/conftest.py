"""Real state stores for the shared-state tests: SQLite files in tmp_path and a real redis-server.

Redis: a redis-server of our own on a free port when the binary exists (so tests may stop and restart it),
else the one answering at 127.0.0.1:6379; skipped, with the reason, only when there is neither.
Every test gets its own key prefix.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import Gateway, fake, free_port, gateway_config, make_gateway  # noqa: F401 - shared fixtures

__all__ = ["Gateway", "RedisServer", "free_port", "gateway_config", "poll"]


def poll(check: Any, timeout: float = 10.0, every: float = 0.02) -> Any:
    """Wait until ``check()`` is truthy (returned), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {check}")
        time.sleep(every)


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A redis-server child process on one port; stop() and start() again to simulate an outage."""

    def __init__(self, port: int, binary: str | None) -> None:
        self.port = port
        self.binary = binary
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        assert self.binary is not None
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        poll(lambda: answers(self.port), timeout=10)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)
    if binary is not None:
        server = RedisServer(free_port(), binary).start()
        try:
            yield server
        finally:
            server.stop()
    elif answers(6379):
        yield RedisServer(6379, None)
    else:
        pytest.skip("no redis-server binary and nothing answers at 127.0.0.1:6379")


@pytest.fixture
def prefix() -> str:
    return f"detour-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


