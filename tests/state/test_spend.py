"""Spend per attempt, budgets ("*", "total", daily/monthly, 80% warning) and `detour usage`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from detour.config import parse_config
from detour.health.spend import Budgets, SpendBook, charge_rows, summarize
from detour.health.sqlite import SqliteStore
from detour.health.store import SpendRow
from detour.protocol.messages import Message, Request, TextPart
from detour.router import AllFailed, Router
from detour.testing import B, FakeProvider

DETOUR = Path(sys.executable).with_name("detour")
CAPS = {"cost_input": 1.0, "cost_output": 4.0, "cost_cache_read": 0.1}


def test_star_and_total_limits() -> None:
    book = SpendBook(Budgets(daily={"openai": 5, "*": 2, "total": 6.4}, monthly={"openai": 7}))
    book.reset("2026-11-03", [SpendRow("2026-11-03", "provider", "openai", 4.0), SpendRow("2026-11-03", "provider", "groq", 2.0),
                              SpendRow("2026-11-03", "total", "total", 6.0), SpendRow("2026-11-01", "provider", "openai", 3.0),
                              SpendRow("2026-11-01", "total", "total", 3.0), SpendRow("2026-10-31", "provider", "groq", 9.0)])
    assert book.over("groq") == "daily"  # "*": 2 for each provider not listed
    assert book.over("openai") == "monthly"  # 4 today + 3 earlier this month >= 7
    assert book.over("mistral") is None
    book.add("2026-11-03", "mistral", 0.5)  # today's total is now 6.5 >= 6.4: everything is over
    assert book.over("mistral") == "daily"


def test_a_new_day_resets_daily_but_not_monthly_totals() -> None:
    book = SpendBook(Budgets(daily={"p": 1}, monthly={"p": 10}))
    book.add("2026-11-03", "p", 1.5)
    assert book.over("p") == "daily"
    book.add("2026-11-04", "p", 0.1)
    assert book.over("p") is None and book.totals["monthly"]["p"] == pytest.approx(1.6)
    book.add("2026-12-01", "p", 0.1)
    assert book.totals["monthly"]["p"] == pytest.approx(0.1)


def test_warning_at_80_percent_once_per_period() -> None:
    book = SpendBook(Budgets(daily={"p": 1, "total": 10}))
    assert book.add("2026-11-03", "p", 0.5) == []
    assert book.add("2026-11-03", "p", 0.3) == [("daily", "p", pytest.approx(0.8), 1)]
    assert book.add("2026-11-03", "p", 0.3) == []
    assert book.add("2026-11-04", "p", 0.9) == [("daily", "p", pytest.approx(0.9), 1)]


def test_rows_and_summary() -> None:
    rows = charge_rows("2026-11-03", "openai", "openai/gpt-5", "KEY#2", "coding", 0.25, 1000, 100)
    assert [(r.dim, r.name) for r in rows] == [("provider", "openai"), ("model", "openai/gpt-5"), ("key", "openai:KEY#2"),
                                              ("chain", "coding"), ("total", "total")]
    report = summarize(rows + charge_rows("2026-11-04", "openai", "openai/gpt-5", "KEY#2", "coding", 0.5, 10, 1))
    assert report["total"] == {"usd": 0.75, "requests": 2, "input_tokens": 1010, "output_tokens": 101}
    assert report["days"] == {"2026-11-03": 0.25, "2026-11-04": 0.5}
    assert report["by"]["key"]["openai:KEY#2"]["requests"] == 2


def _router(fake: FakeProvider, path: Path, **extra: Any) -> Router:
    models = {"a": dict(CAPS), "b": dict(CAPS)}
    config = parse_config({
        "model": {"primary": "p1/a", "fallback": ["p2/b"]},
        "provider": {p: {"baseURL": fake.openai_base, "apiKey": "sk-test", "models": models} for p in ("p1", "p2")},
        "state": f"sqlite://{path}", **extra,
    }).config
    return Router(config, catalog=False)


def usage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DETOUR), "usage", *args], capture_output=True, text=True, check=False, timeout=60)


def _req() -> Request:
    return Request(model="detour", messages=[Message("user", [TextPart("hi")])])


@pytest.fixture
async def fake() -> Any:
    async with FakeProvider() as f:
        yield f


async def test_chat_and_stream_record_spend(fake: FakeProvider, tmp_path: Path) -> None:
    fake.script("a", B.text("one", usage=(1000, 100)))
    async with _router(fake, tmp_path / "s.db") as router:
        result = await router.chat(_req())
        async with router.stream(_req()) as s:
            async for _event in s:
                pass
    assert result.cost == pytest.approx((1000 * 1.0 + 100 * 4.0) / 1e6)
    rows = await SqliteStore(tmp_path / "s.db").load_spend("1970-01-01")
    by = summarize(rows)["by"]
    assert by["provider"]["p1"]["requests"] == 2 and by["provider"]["p1"]["usd"] == pytest.approx(2 * result.cost)
    assert set(by["chain"]) == {"default"} and set(by["key"]) == {"p1:" + result.key}


async def test_over_budget_is_skipped_without_a_request(fake: FakeProvider, tmp_path: Path) -> None:
    fake.script("a", B.text("primary", usage=(1000, 1000)))
    fake.script("b", B.text("fallback", usage=(1000, 1000)))
    async with _router(fake, tmp_path / "s.db", budget={"daily": {"p1": 0.001}}) as router:
        assert (await router.chat(_req())).model == "p1/a"
        second = await router.chat(_req())
    assert second.model == "p2/b" and ("p1/a", "budget") in second.skipped and second.fallback_reason == "budget"
    assert fake.count("a") == 1


async def test_everything_over_budget_is_a_429(fake: FakeProvider, tmp_path: Path) -> None:
    fake.script("a", B.text("primary", usage=(1000, 1000)))
    async with _router(fake, tmp_path / "s.db", budget={"monthly": {"total": 0.001}}) as router:
        await router.chat(_req())
        with pytest.raises(AllFailed) as info:
            await router.chat(_req())
    assert info.value.status == 429 and info.value.skipped == [("p1/a", "budget"), ("p2/b", "budget")]
    assert fake.count() == 1


async def test_usage_command_reads_the_store(fake: FakeProvider, tmp_path: Path) -> None:
    fake.script("a", B.text("one", usage=(1000, 100)))
    state = tmp_path / "s.db"
    async with _router(fake, state, budget={"daily": {"p1": 1}}) as router:
        for _ in range(3):
            await router.chat(_req())
    config = tmp_path / "detour.json"
    config.write_text(json.dumps({"state": f"sqlite://{state}", "budget": {"daily": {"p1": 1}}}))
    out = usage("--since", "7d", "--json", "--config", str(config))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["total"]["requests"] == 3 and report["total"]["usd"] == pytest.approx(3 * 0.0014)
    assert report["by"]["model"]["p1/a"]["input_tokens"] == 3000
    assert report["budgets"] == [{"period": "daily", "scope": "p1", "limit_usd": 1, "spent_usd": 0.0042, "used": 0.0042}]
    text = usage("--config", str(config))
    assert text.returncode == 0 and "By model" in text.stdout and "p1/a" in text.stdout and "0.0042" in text.stdout
    bad = usage("--since", "lately", "--config", str(config))
    assert bad.returncode == 1 and bad.stderr.startswith("error: --since 'lately'") and "Traceback" not in bad.stderr


def test_utc_day_matches_gmtime_at_day_boundaries() -> None:
    import time

    from detour.health.spend import utc_day

    for ts in (0.0, 86399.999, 86400.0, 1764201599.5, 1764201600.0, 1767225599.999, 1767225600.0, -0.5):
        assert utc_day(ts) == time.strftime("%Y-%m-%d", time.gmtime(ts)), ts
