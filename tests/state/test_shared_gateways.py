"""Two gateways (separate Router and store each) share one state, SQLite file or Redis, in front of one fake."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path
from typing import Any

import httpx
import pytest

from detour.testing import B, FakeProvider

from .conftest import poll

CHAT = {"model": "detour", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(params=["sqlite", "redis"])
def shared_state(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "sqlite":
        return {"url": f"sqlite://{tmp_path / 'shared.db'}"}
    return {"url": request.getfixturevalue("redis_url"), "prefix": request.getfixturevalue("prefix")}


def chat(gw: Any) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", json=CHAT, timeout=20)


def model_state(gw: Any, model: str = "ant/claude-x") -> str:
    return gw.get("/status").json()["models"][model]["state"]


def test_a_429_seen_by_one_keeps_the_other_off(make_gateway: Any, fake: FakeProvider, shared_state: dict[str, str]) -> None:
    a, b = make_gateway(state=shared_state), make_gateway(state=shared_state)
    fake.script("claude-x", B.rate_limit(retry_after=60), B.text("primary"))
    fake.script("gpt-x", B.text("fallback"))
    first = chat(a)
    assert first.status_code == 200 and first.json()["model"] == "oai/gpt-x"
    assert fake.count("claude-x") == 1
    poll(lambda: model_state(b) == "cooling")
    second = chat(b)
    assert second.status_code == 200 and second.json()["model"] == "oai/gpt-x"
    assert fake.count("claude-x") == 1  # b never sent to the cooling model


def test_half_open_sends_exactly_one_probe_across_gateways(make_gateway: Any, fake: FakeProvider,
                                                           shared_state: dict[str, str]) -> None:
    a, b = make_gateway(state=shared_state), make_gateway(state=shared_state)
    fake.script("claude-x", B.rate_limit(retry_after=1), B.text("probe ok", delay=0.5))
    fake.script("gpt-x", B.text("fallback"))
    assert chat(a).json()["model"] == "oai/gpt-x"
    poll(lambda: model_state(a) == "probing" and model_state(b) == "probing")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(chat, [a, b]))
    assert [r.status_code for r in replies] == [200, 200]
    assert sorted(r.json()["model"] for r in replies) == ["ant/claude-x", "oai/gpt-x"]
    assert fake.count("claude-x") == 2  # the 429, then exactly one probe
    poll(lambda: model_state(a) == "ok" and model_state(b) == "ok")


def test_budgets_are_shared(make_gateway: Any, fake: FakeProvider, shared_state: dict[str, str]) -> None:
    budget = {"daily": {"ant": 0.004}}  # one ant reply below costs 1000 x $1 + 1000 x $4 per Mtok = $0.005
    a = make_gateway(state=shared_state, budget=budget)
    b = make_gateway(state=shared_state, budget=budget)
    fake.script("claude-x", B.text("primary", usage=(1000, 1000)))
    fake.script("gpt-x", B.text("fallback", usage=(10, 10)))
    assert chat(a).json()["model"] == "ant/claude-x"
    poll(lambda: b.get("/status").json()["spend"]["today_usd"].get("ant") == pytest.approx(0.005))
    reply = chat(b)
    assert reply.status_code == 200 and reply.json()["model"] == "oai/gpt-x"
    assert reply.headers.get("x-detour-fallback-reason") in ("budget", None)
    assert fake.count("claude-x") == 1  # b skipped ant without sending
    budgets = b.get("/status").json()["spend"]["budgets"]
    assert budgets == [{"period": "daily", "scope": "ant", "limit_usd": 0.004, "spent_usd": 0.005, "used": 1.25}]
    metrics = b.get("/metrics").text
    assert 'detour_spend_period_usd{period="daily",provider="ant"} 0.005' in metrics
    assert 'detour_budget_usd{period="daily",scope="ant"} 0.004' in metrics
