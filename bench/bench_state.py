"""Per-request overhead of each state backend: the ledger/store work one routed request does.

    .venv/bin/python bench/bench_state.py                      # memory, sqlite (temp file), redis at 127.0.0.1:6379
    .venv/bin/python bench/bench_state.py --redis redis://127.0.0.1:6380/0 -n 5000

One "request" = the version check ``ensure_loaded`` does (polled every 0.3 s), the health lookups of a walk
(provider, model and key scopes, the budget check) for 3 candidates, then a success record (EWMA speed)
and a spend record (5 dimension rows). Inputs vary per iteration: model, key, chain, token counts, speeds,
and one in 20 requests also ends a cooldown. Also reported: one full reload (what another process's write costs).
Target: p50 < 0.5 ms per request for every backend.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from detour.health import Ledger, MemoryStore, key_scope, model_scope, provider_scope
from detour.health.spend import Budgets

PROVIDERS = ["anthropic", "openai", "google", "deepseek", "groq"]
MODELS = [f"{p}/model-{i}" for p in PROVIDERS for i in range(4)]
KEYS = ["KEY", "KEY#2", "KEY#3"]
CHAINS = ["default", "coding", "vision"]


async def one_request(ledger: Ledger, rng: random.Random, i: int) -> None:
    await ledger.ensure_loaded()
    now = ledger.clock()
    for model in rng.sample(MODELS, 3):
        provider = model.partition("/")[0]
        ledger.over_budget(provider)
        ledger.state(provider_scope(provider), now)
        ledger.state(model_scope(model), now)
        for key in KEYS[:2]:
            ledger.state(key_scope(provider, key), now)
    model = rng.choice(MODELS)
    provider = model.partition("/")[0]
    if i % 20 == 0:
        await ledger.close(model_scope(model))
    await ledger.record_speed(model, rng.uniform(0.1, 2.0), rng.uniform(20, 300))
    await ledger.record_spend(provider, model, rng.choice(KEYS), rng.choice(CHAINS), rng.uniform(0.0001, 0.05),
                              rng.randint(10, 50_000), rng.randint(1, 4000))


async def seed(ledger: Ledger, rng: random.Random) -> None:
    await ledger.ensure_loaded()
    for model in rng.sample(MODELS, 6):
        await ledger.cool(model_scope(model), "rate_limited", reported=3600)


async def run(store: Any, n: int) -> dict[str, float]:
    rng = random.Random(11)
    ledger = Ledger(store)
    ledger.spend.budgets = Budgets(daily={"openai": 1e9, "*": 1e9, "total": 1e9}, monthly={"total": 1e9})
    await seed(ledger, rng)
    for i in range(200):  # warm-up: connections, prepared statements, scripts loaded
        await one_request(ledger, rng, i)
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        await one_request(ledger, rng, i)
        times.append(time.perf_counter() - t0)
    reloads = []
    for _ in range(50):
        t0 = time.perf_counter()
        await ledger.load()
        reloads.append(time.perf_counter() - t0)
    times.sort()
    return {"p50": times[n // 2] * 1e3, "p90": times[int(n * 0.9)] * 1e3, "p99": times[int(n * 0.99)] * 1e3,
            "reload_p50": statistics.median(reloads) * 1e3}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=3000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    rows: list[tuple[str, dict[str, float] | str]] = [("memory", await run(MemoryStore(), args.n))]
    from detour.health.sqlite import SqliteStore

    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "state.db")
        rows.append(("sqlite", await run(store, args.n)))
        await store.aclose()
    rows.append(("redis", await _redis(args.redis, args.n)))
    print(f"{'backend':8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'reload p50 ms':>14}   (n={args.n}, target p50 < 0.5 ms)")
    for name, r in rows:
        if isinstance(r, str):
            print(f"{name:8} skipped: {r}")
        else:
            print(f"{name:8} {r['p50']:8.3f} {r['p90']:8.3f} {r['p99']:8.3f} {r['reload_p50']:14.3f}")


async def _redis(url: str, n: int) -> dict[str, float] | str:
    from redis.asyncio import Redis

    from detour.health.redis import RedisStore

    prefix = f"detour-bench:{uuid.uuid4().hex[:8]}:"
    client = Redis.from_url(url)
    try:
        await client.ping()
    except Exception as exc:  # noqa: BLE001 - a bench without Redis still reports the others
        return f"no Redis at {url} ({exc})"
    store = RedisStore(url, prefix)
    try:
        return await run(store, n)
    finally:
        await store.aclose()
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
