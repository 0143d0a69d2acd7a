"""Two real `detour serve` processes share one state (a SQLite file, or Redis) in front of one fake provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from detour.testing import B, FakeProvider
from tests.faults.conftest import ServeProcess
from tests.server.conftest import gateway_config

from .conftest import poll

CHAT = {"model": "detour", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(params=["sqlite", "redis"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "sqlite":
        return {"url": f"sqlite://{tmp_path / 'shared.db'}"}
    return {"url": request.getfixturevalue("redis_url"), "prefix": request.getfixturevalue("prefix")}


def _serve(tmp_path: Path, fake: FakeProvider, state: dict[str, str], name: str) -> ServeProcess:
    config = tmp_path / f"{name}.json"
    config.write_text(json.dumps(gateway_config(fake, state=state)))
    return ServeProcess(config, tmp_path / f"{name}.log").wait_ready()


def test_a_429_seen_by_process_a_keeps_process_b_off_the_model(tmp_path: Path, fake: FakeProvider,
                                                                state: dict[str, Any]) -> None:
    fake.script("claude-x", B.rate_limit(retry_after=60), B.text("primary"))
    fake.script("gpt-x", B.text("fallback"))
    a, b = _serve(tmp_path, fake, state, "a"), _serve(tmp_path, fake, state, "b")
    try:
        first = httpx.post(a.url + "/v1/chat/completions", json=CHAT, timeout=20)
        assert first.status_code == 200 and first.json()["model"] == "oai/gpt-x"
        poll(lambda: b.get("/status").json()["models"]["ant/claude-x"]["state"] == "cooling")
        second = httpx.post(b.url + "/v1/chat/completions", json=CHAT, timeout=20)
        assert second.status_code == 200 and second.json()["model"] == "oai/gpt-x"
        assert fake.count("claude-x") == 1  # process b never sent to the model process a saw rate-limited
    finally:
        a.stop()
        b.stop()
