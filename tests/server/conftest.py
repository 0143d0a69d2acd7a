"""A real gateway on a loopback port (uvicorn in a thread) in front of detour.testing fakes."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from detour.testing import FakeProvider

CAPS = {"tools": True, "image": True, "context": 200000, "max_output": 8192, "cost_input": 1.0, "cost_output": 4.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gateway_config(fake: FakeProvider, **overrides: Any) -> dict[str, Any]:
    """Three providers on one fake: 'ant' (Anthropic), 'oai' (OpenAI) and 'gem' (Gemini)."""
    config: dict[str, Any] = {
        "provider": {
            "ant": {"baseURL": fake.anthropic_base, "protocol": "anthropic", "apiKey": "sk-ant-fake",
                    "models": {"claude-x": dict(CAPS)}},
            "oai": {"baseURL": fake.openai_base, "protocol": "openai", "apiKey": "sk-oai-fake",
                    "models": {"gpt-x": dict(CAPS), "gpt-text": {**CAPS, "image": False}}},
            "gem": {"baseURL": fake.gemini_base, "protocol": "gemini", "apiKey": "gem-fake",
                    "models": {"gem-x": dict(CAPS)}},
        },
        "model": {"primary": "ant/claude-x", "fallback": ["oai/gpt-x", "gem/gem-x"]},
        "state": "memory",
    }
    config.update(overrides)
    return config


class Gateway:
    def __init__(self, config_path: Path) -> None:
        from detour.server.run import create_app

        self.config_path = config_path
        self.app = create_app(str(config_path), discover=False)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> Gateway:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("gateway did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10)


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    fake = FakeProvider.start_in_thread()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def make_gateway(tmp_path: Path, fake: FakeProvider) -> Iterator[Any]:
    started: list[Gateway] = []

    def make(**overrides: Any) -> Gateway:
        path = tmp_path / f"detour-{len(started)}.json"
        path.write_text(json.dumps(gateway_config(fake, **overrides)))
        gw = Gateway(path).start()
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.stop()
