"""The ledger's cache follows other processes' writes; strategy "speed" uses persisted measured speeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from detour.config import parse_config
from detour.health import COOLING, OK, HealthEvent, Ledger
from detour.health.redis import RedisStore
from detour.health.sqlite import SqliteStore
from detour.protocol.messages import Message, Request, TextPart
from detour.router import Router


@pytest.fixture(params=["sqlite", "redis"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        return lambda: SqliteStore(tmp_path / "state.db")
    url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("prefix")
    return lambda: RedisStore(url, prefix)


async def test_a_cooldown_and_its_end_reach_the_other_ledger(open_store: Any) -> None:
    a, b = Ledger(open_store()), Ledger(open_store())
    await a.ensure_loaded()
    await b.ensure_loaded()
    await a.cool("model:p/x", "rate_limited", reported=600)
    assert await b.maybe_refresh() and b.state("model:p/x", b.clock()) == COOLING
    await a.close("model:p/x")
    assert await b.maybe_refresh() and b.state("model:p/x", b.clock()) == OK
    assert not await b.maybe_refresh()


async def test_spend_and_budget_warnings_cross_ledgers(open_store: Any) -> None:
    from detour.health.spend import Budgets

    a, b = Ledger(open_store()), Ledger(open_store())
    for ledger in (a, b):
        ledger.spend.budgets = Budgets(daily={"p": 1.0})
        await ledger.ensure_loaded()
    events: list[HealthEvent] = []
    b.bus.add_hook(events.append)
    await a.record_spend("p", "p/x", "k", "default", 0.5)
    await a.flush()  # spend is written in batches, at most REFRESH_S apart
    assert await b.maybe_refresh() and b.spend.totals["daily"]["p"] == 0.5
    await b.record_spend("p", "p/x", "k", "default", 0.35)  # 0.85 of 1.0: the 80% warning, once
    await b.record_spend("p", "p/x", "k", "default", 0.01)
    assert [(e.type, e.scope, e.reason) for e in events] == [("budget", "p", "daily")]
    assert b.over_budget("p") is None
    await a.record_spend("p", "p/x", "k", "default", 0.2)
    await a.flush()
    await b.maybe_refresh()
    assert b.over_budget("p") == "daily" and b.over_budget("q") is None


async def test_speed_strategy_orders_by_persisted_speeds(open_store: Any) -> None:
    writer = Ledger(open_store())
    await writer.ensure_loaded()
    await writer.record_speed("p1/slow", 0.5, 20.0)
    await writer.record_speed("p2/fast", 0.1, 200.0)
    assert await writer.store.load_speeds() == []  # type: ignore[attr-defined]  # batched: written by the next flush
    await writer.flush()
    config = parse_config({
        "model": {"primary": "p1/slow", "fallback": ["p2/fast"], "strategy": "speed"},
        "provider": {p: {"baseURL": "http://127.0.0.1:9/v1", "apiKey": "sk-test"} for p in ("p1", "p2")},
    }).config
    router = Router(config, catalog=False, store=open_store())  # a fresh process: only the store knows the speeds
    await router.ledger.ensure_loaded()
    req = Request(model="detour", messages=[Message("user", [TextPart("hi")])])
    _name, plan, _settings = router.plan(req)
    assert [c.target.model_id for c in plan.candidates] == ["p2/fast", "p1/slow"]
