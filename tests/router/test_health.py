from __future__ import annotations

import asyncio

from detour.health import (
    COOLING,
    HALF_OPEN,
    OK,
    Cooldown,
    Ledger,
    MemoryStore,
    backoff,
    cooldown_seconds,
    ladder_step,
)


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def ledger(clock: Clock) -> Ledger:
    return Ledger(MemoryStore(), clock=clock, rand=lambda: 0.0)


async def test_cooldown_uses_reported_reset_then_half_open() -> None:
    clock = Clock()
    led = ledger(clock)
    await led.cool("model:a/x", "rate_limited", reported=3600)
    assert led.state("model:a/x", clock()) == COOLING
    clock.t += 3599
    assert led.state("model:a/x", clock()) == COOLING
    clock.t += 2
    assert led.state("model:a/x", clock()) == HALF_OPEN


async def test_probe_lease_is_exclusive_and_success_closes() -> None:
    clock = Clock()
    led = ledger(clock)
    await led.cool("model:a/x", "overloaded")
    clock.t += 100
    wins = await asyncio.gather(*(led.try_probe("model:a/x", f"h{i}") for i in range(20)))
    assert sum(wins) == 1
    await led.close("model:a/x")
    assert led.state("model:a/x", clock()) == OK


async def test_probe_failure_climbs_ladder_but_concurrent_failures_do_not() -> None:
    clock = Clock()
    led = ledger(clock)
    first = await led.cool("model:a/x", "server_error")
    again = await led.cool("model:a/x", "server_error")  # same window: no extra strike
    assert again.strikes == first.strikes == 1
    clock.t = first.until + 1
    second = await led.cool("model:a/x", "server_error")  # half-open probe failed
    assert second.strikes == 2
    assert second.until - clock() == ladder_step("server_error", 2)


async def test_proactive_avoidance_on_zero_remaining() -> None:
    clock = Clock()
    led = ledger(clock)
    assert not await led.observe_rate("key:p:k", {"requests": 3}, {"requests": 10})
    assert await led.observe_rate("key:p:k", {"requests": 0, "tokens": 500}, {"requests": 42, "tokens": 1})
    c = led.cooldown("key:p:k")
    assert c is not None and c.kind == "proactive" and c.until == clock() + 42


async def test_speed_ewma_facts_and_reload_from_store() -> None:
    clock = Clock()
    store = MemoryStore()
    led = Ledger(store, clock=clock)
    await led.record_speed("a/x", 1.0, 100.0)
    await led.record_speed("a/x", 2.0, None)
    s = led.speed("a/x")
    assert s is not None and s.ttft == 1.3 and s.tps == 100.0
    await led.learn_missing("a/x", "tools")
    await led.set_current("default", "b/y")
    await led.cool("model:a/x", "not_found")
    again = Ledger(store, clock=clock)
    await again.load()
    assert again.missing("a/x") == {"tools"} and again.current("default") == "b/y"
    assert again.state("model:a/x", clock()) == COOLING


def test_ladders_are_bounded() -> None:
    assert cooldown_seconds("overloaded", 99, rand=lambda: 1.0) <= 33.0
    assert cooldown_seconds("quota_exhausted", 1, rand=lambda: 0.0) == 3600.0
    assert cooldown_seconds("rate_limited", 1, 12.5) == 12.5
    assert all(0 <= backoff(n) <= 8.0 for n in range(1, 20))
    assert Cooldown.from_dict(Cooldown("s", "k", 1.0).to_dict()) == Cooldown("s", "k", 1.0)


async def test_events_reach_hooks_and_subscribers() -> None:
    clock = Clock()
    led = ledger(clock)
    seen: list[str] = []
    led.bus.add_hook(lambda e: seen.append(e.type))
    led.bus.add_hook(lambda e: 1 / 0)  # a broken hook never breaks routing
    sub = led.bus.subscribe()
    task = asyncio.ensure_future(sub.__anext__())
    await asyncio.sleep(0)
    await led.cool("model:a/x", "timeout")
    assert (await task).type == "cooldown_start"
    await sub.aclose()
    assert seen == ["cooldown_start"]
