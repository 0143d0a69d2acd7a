"""`detour usage`: spend per provider, model, key and chain, read straight from the configured state store."""

from __future__ import annotations

import re
import sys
import time
from typing import Any

import typer

from detour._cli.common import CONFIG_HELP, fail, fail_from, print_json, state, table

SINCE_HELP = "A number of days (7d, 30d; 1d = today) or a date (2026-11-01). Default: this month (UTC)."
DIM_TITLES = {"provider": "By provider", "model": "By model", "key": "By key", "chain": "By chain"}


def since_day(since: str | None, now: float) -> str:
    today = time.strftime("%Y-%m-%d", time.gmtime(now))
    if since is None:
        return today[:8] + "01"
    since = since.strip()
    if m := re.fullmatch(r"(\d+)d", since):
        days = max(int(m.group(1)), 1) - 1
        return time.strftime("%Y-%m-%d", time.gmtime(now - days * 86400))
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", since):
        return since
    fail(f"--since {since!r} is not a number of days or a date", "use e.g. 7d, 30d or 2026-11-01")


def register(app: typer.Typer) -> None:
    @app.command("usage")
    def usage_cmd(
        ctx: typer.Context,
        since: str | None = typer.Option(None, "--since", help=SINCE_HELP, metavar="7d|DATE"),
        json_out: bool = typer.Option(False, "--json", help="Print the totals as JSON."),
        config: str | None = typer.Option(None, "--config", help=CONFIG_HELP, metavar="PATH"),
    ) -> None:
        """Spend so far (USD from usage x catalog prices), with budget use for today and this month."""
        cfg = _config(config or state(ctx).config)
        now = time.time()
        first = since_day(since, now)
        today = time.strftime("%Y-%m-%d", time.gmtime(now))
        rows, month_rows, where = _read(cfg.state, first, today)
        report = _report(cfg, rows, month_rows, first, today, where)
        if json_out:
            print_json(report)
        else:
            _print(report)


def _config(path: str | None) -> Any:
    from detour.config import ConfigError, load_config

    try:
        return load_config(path).config
    except ConfigError as exc:
        fail_from(exc)
    except FileNotFoundError:
        fail(f"config file not found: {path}", "check the path given to --config")


def _read(state_cfg: Any, first: str, today: str) -> tuple[list[Any], list[Any], str]:
    import asyncio

    from detour.health.backends import open_remote

    store = open_remote(state_cfg)
    if store is None:
        fail("the config keeps state in memory (\"state\": \"memory\"): there is no stored spend to read",
             "use \"sqlite\" (the default) or a redis:// URL to keep spend across runs")

    async def read() -> tuple[list[Any], list[Any]]:
        try:
            rows = await store.load_spend(first, today)
            month = await store.load_spend(today[:8] + "01", today)
            return rows, month
        finally:
            await store.aclose()

    where = store.status()["where"]
    try:
        rows, month = asyncio.run(read())
    except store.errors as exc:
        fail(f"cannot read spend from {store.status()['backend']} state at {where}: {exc}",
             "check that the store is running and reachable (state.url in the config)")
    note = store.status().get("note")
    if note:
        print(f"warning: {note}", file=sys.stderr)
    return rows, month, where


def _report(cfg: Any, rows: list[Any], month_rows: list[Any], first: str, today: str, where: str) -> dict[str, Any]:
    from detour.health.spend import Budgets, SpendBook, summarize

    book = SpendBook(Budgets.from_config(getattr(cfg, "budget", None)))
    book.reset(today, month_rows)
    return {"since": first, "until": today, "store": where, **summarize(rows), "budgets": book.snapshot()["budgets"]}


def usd(value: float) -> str:
    """Cents for real money, six decimals for the fractions a few test requests cost."""
    return f"{value:.4f}" if value >= 0.01 or value == 0 else f"{value:.6f}"


def _print(report: dict[str, Any]) -> None:
    total = report["total"]
    print(f"Spend {report['since']} .. {report['until']} (UTC) from {report['store']}: "
          f"${usd(total['usd'])} over {total['requests']} request(s)")
    columns = ("name", "requests", "input tokens", "output tokens", "USD")
    for dim, title in DIM_TITLES.items():
        items = sorted(report["by"][dim].items(), key=lambda kv: -kv[1]["usd"])
        if items:
            print()
            table(columns, [[name, str(v["requests"]), str(v["input_tokens"]), str(v["output_tokens"]),
                             usd(v["usd"])] for name, v in items], title=title)
    for key, title in (("routes", "By route"), ("chains", "By chain (served requests)")):
        items = sorted(report.get(key, {}).items(), key=lambda kv: -kv[1]["requests"])
        if items:
            print()
            table(("name", "requests", "served by", "escalations", "USD", "on priciest", "saving"),
                  [[name, str(v["requests"]), ", ".join(f"{m} {100 * s:.0f}%" for m, s in v["share"].items()),
                    ", ".join(f"{c} {n}" for c, n in v["escalations"].items()) or "-", usd(v["usd"]),
                    "-" if v["baseline_usd"] is None else usd(v["baseline_usd"]),
                    "-" if v["saving_usd"] is None else usd(v["saving_usd"])] for name, v in items], title=title)
    if report["budgets"]:
        print()
        table(("period", "scope", "spent", "limit", "used"),
              [[b["period"], b["scope"], usd(b["spent_usd"]), f"{b['limit_usd']:.2f}",
                "-" if b["used"] is None else f"{100 * b['used']:.0f}%"] for b in report["budgets"]], title="Budgets")
