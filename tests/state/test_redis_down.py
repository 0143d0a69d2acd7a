"""Redis down: the gateway keeps serving from local state, /status says so, and it merges back on return."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest

from detour.health.redis import RedisStore
from detour.testing import B, FakeProvider

from .conftest import RedisServer, free_port, poll

CHAT = {"model": "detour", "messages": [{"role": "user", "content": "hi"}]}


def chat(gw: Any) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", json=CHAT, timeout=20)


def test_unreachable_redis_serves_from_local_state(make_gateway: Any, fake: FakeProvider, prefix: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens here
    with caplog.at_level(logging.WARNING, logger="detour.state"):
        gw = make_gateway(state={"url": url, "prefix": prefix})
        fake.script("claude-x", B.rate_limit(retry_after=600))
        fake.script("gpt-x", B.text("fallback"))
        assert chat(gw).json()["model"] == "oai/gpt-x"
        assert chat(gw).json()["model"] == "oai/gpt-x"
    assert fake.count("claude-x") == 1  # the cooldown holds in local state
    storage = gw.get("/status").json()["storage"]
    assert storage["backend"] == "redis" and storage["ok"] is False
    assert storage["note"].startswith("redis unreachable (") and storage["note"].endswith("serving from local state")
    assert "redis unreachable" in caplog.text and "Traceback" not in caplog.text


def test_redis_outage_and_return(make_gateway: Any, fake: FakeProvider, prefix: str, redis_server: RedisServer) -> None:
    if redis_server.binary is None:
        pytest.skip("needs a redis-server binary to stop and restart (only a shared one at :6379 answers)")
    own = RedisServer(free_port(), redis_server.binary).start()
    try:
        gw = make_gateway(state={"url": own.url, "prefix": prefix})
        fake.script("gpt-x", B.text("fallback"))
        fake.script("claude-x", B.text("primary"))
        assert chat(gw).json()["model"] == "ant/claude-x"
        own.stop()
        fake.script("claude-x", B.rate_limit(retry_after=600))
        assert chat(gw).json()["model"] == "oai/gpt-x"  # served while Redis is down
        poll(lambda: gw.get("/status").json()["storage"]["ok"] is False)
        own.start()
        poll(lambda: gw.get("/status").json()["storage"]["ok"], timeout=60)
        stored = asyncio.run(RedisStore(own.url, prefix).load_cooldowns())
        assert [c.scope for c in stored] == ["model:ant/claude-x"]  # learned during the outage, merged back
    finally:
        own.stop()
