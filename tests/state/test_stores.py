"""Every backend behind the same StateStore contract; SQLite and Redis also across two store instances."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from detour.health.redis import RedisStore
from detour.health.sqlite import SqliteStore
from detour.health.store import Cooldown, MemoryStore, SharedStore, Speed, SpendRow


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Two handles on one state: for memory the same object, otherwise two connections (two 'processes')."""
    if request.param == "memory":
        store = MemoryStore()
        yield request.param, store, store
        return
    if request.param == "sqlite":
        a, b = SqliteStore(tmp_path / "state.db"), SqliteStore(tmp_path / "state.db")
    else:
        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("prefix")
        a, b = RedisStore(url, prefix), RedisStore(url, prefix)
    yield request.param, a, b
    await a.aclose()
    await b.aclose()


async def test_every_backend_is_a_shared_store(pair: Any) -> None:
    _kind, a, b = pair
    assert isinstance(a, SharedStore) and isinstance(b, SharedStore)


async def test_cooldowns_round_trip_and_clear(pair: Any) -> None:
    _kind, a, b = pair
    await a.put_cooldown(Cooldown("model:p/x", "rate_limited", 2_000_000_000.0, 2, 1_999_999_990.0, "429 from p"))
    assert await b.load_cooldowns() == [Cooldown("model:p/x", "rate_limited", 2_000_000_000.0, 2, 1_999_999_990.0, "429 from p")]
    await b.clear_cooldown("model:p/x")
    assert await a.load_cooldowns() == []


async def test_concurrent_cooldowns_keep_the_later_end_and_the_most_strikes(pair: Any) -> None:
    _kind, a, b = pair
    await a.put_cooldown(Cooldown("key:p:k1", "quota_exhausted", 2_000_003_600.0, 1, 2_000_000_000.0, "quota"))
    await b.put_cooldown(Cooldown("key:p:k1", "rate_limited", 2_000_000_030.0, 3, 2_000_000_000.0, "429"))
    [merged] = await a.load_cooldowns()
    assert (merged.kind, merged.until, merged.strikes, merged.reason) == ("quota_exhausted", 2_000_003_600.0, 3, "quota")


async def test_probe_lease_has_exactly_one_holder(pair: Any) -> None:
    _kind, a, b = pair
    now = 2_000_000_000.0
    results = await asyncio.gather(*[s.acquire_probe("model:p/x", f"h{i}", 60.0, now) for i, s in enumerate([a, b] * 5)])
    assert sum(results) == 1
    winner = f"h{results.index(True)}"
    assert await a.acquire_probe("model:p/x", winner, 60.0, now)  # the holder may renew
    await b.release_probe("model:p/x", "someone-else")  # not the holder: no effect
    assert not await a.acquire_probe("model:p/x", "late", 60.0, now)
    await b.release_probe("model:p/x", winner)
    assert await a.acquire_probe("model:p/x", "late", 60.0, now)


async def test_a_lease_expires(pair: Any) -> None:
    kind, a, b = pair
    if kind == "redis":  # Redis expires by its own clock (PX)
        assert await a.acquire_probe("model:p/y", "h1", 0.05, 0.0)
        await asyncio.sleep(0.2)
        assert await b.acquire_probe("model:p/y", "h2", 60.0, 0.0)
    else:
        assert await a.acquire_probe("model:p/y", "h1", 10.0, 100.0)
        assert not await b.acquire_probe("model:p/y", "h2", 10.0, 105.0)
        assert await b.acquire_probe("model:p/y", "h2", 10.0, 111.0)


async def test_speeds_facts_and_events(pair: Any) -> None:
    _kind, a, b = pair
    await a.put_speed(Speed("p/x", 0.25, 80.0, 3))
    await a.put_fact("missing:p/x", ["image"])
    for i in range(3):
        await a.add_event({"type": "switch", "at": float(i), "model": f"m{i}"})
    assert await b.load_speeds() == [Speed("p/x", 0.25, 80.0, 3)]
    assert await b.load_facts() == {"missing:p/x": ["image"]}
    assert [e["model"] for e in await b.recent_events(2)] == ["m1", "m2"]


async def test_spend_adds_up_per_day(pair: Any) -> None:
    _kind, a, b = pair
    rows = [SpendRow("2026-11-01", "provider", "openai", 0.25, 1, 100, 10), SpendRow("2026-11-01", "total", "total", 0.25, 1, 100, 10)]
    await a.add_spend(rows)
    await b.add_spend([SpendRow("2026-11-01", "provider", "openai", 0.5, 1, 200, 20), SpendRow("2026-11-02", "provider", "openai", 1.0, 1, 1, 1)])
    got = {(r.day, r.dim, r.name): (round(r.usd, 9), r.requests, r.input_tokens, r.output_tokens)
           for r in await a.load_spend("2026-11-01", "2026-11-01")}
    assert got == {("2026-11-01", "provider", "openai"): (0.75, 2, 300, 30), ("2026-11-01", "total", "total"): (0.25, 1, 100, 10)}
    assert len(await b.load_spend("2026-11-02", "2026-11-30")) == 1


async def test_version_changes_for_the_other_process_only(pair: Any) -> None:
    kind, a, b = pair
    before_a, before_b = await a.version(), await b.version()
    await a.put_cooldown(Cooldown("model:p/z", "timeout", 2_000_000_000.0))
    assert await a.version() == before_a  # our own write: no reload needed
    if kind == "memory":
        assert await b.version() == before_b  # one process, one cache: never a reload
    else:
        assert await b.version() != before_b
