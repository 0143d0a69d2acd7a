"""Spend and budgets: each attempt's cost, totalled per provider, model, key, chain and UTC day/month.

    budget: {"daily": {"openai": 5, "*": 20, "total": 50}, "monthly": {...}}     # USD

``"*"`` is the limit of each provider not listed, ``"total"`` of all of them together. A provider at or over a
limit is skipped (reason ``budget``); crossing 80% of a limit raises a warning once per period.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from detour.health.store import SpendRow

if TYPE_CHECKING:  # pragma: no cover
    from detour.config import BudgetConfig

DIMS = ("provider", "model", "key", "chain", "total")
BUDGET_DIMS = ("provider", "total")
PERIODS = ("daily", "monthly")
WARN_AT = 0.8
TOTAL = "total"


def utc_day(ts: float) -> str:
    return _day_of(int(ts // 86400))


@functools.lru_cache(maxsize=4)
def _day_of(days: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(days * 86400))  # POSIX days are exactly 86400 s


def month_start(day: str) -> str:
    return day[:8] + "01"


def charge_names(provider: str, model: str, key: str, chain: str) -> tuple[str, ...]:
    """The name of one attempt on each of DIMS (the key is named ``provider:alias``)."""
    return (provider, model, f"{provider}:{key}" if key else provider, chain or "default", TOTAL)


def charge_rows(day: str, provider: str, model: str, key: str, chain: str, usd: float,
                input_tokens: int = 0, output_tokens: int = 0) -> list[SpendRow]:
    """One attempt's spend as one row per dimension (the key is named ``provider:alias``)."""
    names = charge_names(provider, model, key, chain)
    return [SpendRow(day, dim, name, usd, 1, input_tokens, output_tokens) for dim, name in zip(DIMS, names)]


@dataclass(frozen=True, slots=True)
class Budgets:
    daily: dict[str, float] = field(default_factory=dict)
    monthly: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_config(cls, budget: BudgetConfig | None) -> Budgets:
        if budget is None:  # no config at all (``detour usage`` without one): no limits
            return cls()
        return cls(dict(budget.daily), dict(budget.monthly))

    def __bool__(self) -> bool:
        return bool(self.daily or self.monthly)

    def limits(self, period: str) -> dict[str, float]:
        return self.daily if period == "daily" else self.monthly

    def limit(self, period: str, provider: str) -> float | None:
        """The provider's own limit, else the ``"*"`` one (``"total"`` is separate)."""
        table = self.limits(period)
        value = table.get(provider)
        return value if value is not None else table.get("*")


class SpendBook:
    """Today's and this month's totals per provider and overall: the hot-path budget check is dict lookups."""

    def __init__(self, budgets: Budgets | None = None) -> None:
        self.budgets = budgets or Budgets()
        self.day = ""
        self.totals: dict[str, dict[str, float]] = {"daily": {}, "monthly": {}}
        self._warned: set[tuple[str, str, str]] = set()

    def reset(self, day: str, rows: Iterable[SpendRow]) -> None:
        """Replace the totals with the store's rows since the start of ``day``'s month."""
        daily: dict[str, float] = {}
        monthly: dict[str, float] = {}
        for row in rows:
            if row.dim not in ("provider", "total") or row.day[:7] != day[:7]:
                continue
            name = TOTAL if row.dim == "total" else row.name
            monthly[name] = monthly.get(name, 0.0) + row.usd
            if row.day == day:
                daily[name] = daily.get(name, 0.0) + row.usd
        self.day, self.totals = day, {"daily": daily, "monthly": monthly}

    def roll(self, day: str) -> None:
        """A new UTC day: today's totals start at 0, and the month's too when the month changed."""
        month = self.totals["monthly"] if day[:7] == self.day[:7] else {}
        self.day, self.totals = day, {"daily": {}, "monthly": month}

    def add(self, day: str, provider: str, usd: float) -> list[tuple[str, str, float, float]]:
        """Count spend locally; returns the (period, scope, spent, limit) warnings newly due."""
        if day != self.day:
            self.roll(day)
        for table in self.totals.values():
            table[provider] = table.get(provider, 0.0) + usd
            table[TOTAL] = table.get(TOTAL, 0.0) + usd
        return self.warnings(provider) if self.budgets else []

    def over(self, provider: str) -> str | None:
        """``"daily"`` / ``"monthly"`` when the provider (or everything) is at its limit, else None."""
        if not self.budgets:
            return None
        for period in PERIODS:
            spent = self.totals[period]
            limit = self.budgets.limit(period, provider)
            if limit is not None and spent.get(provider, 0.0) >= limit:
                return period
            total = self.budgets.limits(period).get(TOTAL)
            if total is not None and spent.get(TOTAL, 0.0) >= total:
                return period
        return None

    def warnings(self, provider: str) -> list[tuple[str, str, float, float]]:
        due = []
        for period in PERIODS:
            stamp = self.day if period == "daily" else self.day[:7]
            for scope, limit in ((provider, self.budgets.limit(period, provider)),
                                 (TOTAL, self.budgets.limits(period).get(TOTAL))):
                spent = self.totals[period].get(scope, 0.0)
                if limit is None or spent < WARN_AT * limit or (period, scope, stamp) in self._warned:
                    continue
                self._warned.add((period, scope, stamp))
                due.append((period, scope, spent, limit))
        return due

    def snapshot(self) -> dict[str, Any]:
        """For /status and /metrics: totals by provider per period, and each limit with how much is used."""
        limits = []
        for period in PERIODS:
            for scope, limit in self.budgets.limits(period).items():
                names = [scope] if scope != "*" else [p for p in self.totals[period] if p != TOTAL
                                                      and p not in self.budgets.limits(period)]
                for name in names or [scope]:
                    spent = self.totals[period].get(name, 0.0)
                    limits.append({"period": period, "scope": name, "limit_usd": limit, "spent_usd": round(spent, 6),
                                   "used": round(spent / limit, 4) if limit else None})
        return {"day": self.day, "month": self.day[:7],
                "today_usd": _rounded(self.totals["daily"]), "month_usd": _rounded(self.totals["monthly"]),
                "budgets": limits}


def _rounded(table: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 6) for k, v in sorted(table.items())}


def summarize(rows: Iterable[SpendRow]) -> dict[str, Any]:
    """``detour usage``: totals by dimension and by day, then per route and per chain (requests, shares, saving)."""
    rows = list(rows)
    by: dict[str, dict[str, dict[str, float]]] = {dim: {} for dim in DIMS if dim != "total"}
    days: dict[str, float] = {}
    total = {"usd": 0.0, "requests": 0, "input_tokens": 0, "output_tokens": 0}
    for row in rows:
        if row.dim == "total":
            days[row.day] = days.get(row.day, 0.0) + row.usd
            _add(total, row)
        elif row.dim in by:
            _add(by[row.dim].setdefault(row.name, {"usd": 0.0, "requests": 0, "input_tokens": 0, "output_tokens": 0}), row)
    use = use_report((r.dim, r.name, r.usd, r.requests) for r in rows if r.dim in USE_DIMS)
    return {"by": by, "days": dict(sorted(days.items())), "total": total, **use}


def _add(into: dict[str, Any], row: SpendRow) -> None:
    into["usd"] += row.usd
    into["requests"] += row.requests
    into["input_tokens"] += row.input_tokens
    into["output_tokens"] += row.output_tokens


# ---------------------------------------------------------------- routes and chains: shares, escalations, saving

# One row set per served request, beside the per-attempt rows above. ``name`` is the route (or chain), or
# "route|model" / "route|check" for the served model and the checks that escalated; the ``saving`` rows hold
# what the same answer would have cost on the chain's most expensive model, less what it cost.
USE_DIMS = ("route", "route.model", "route.escalation", "route.saving",
            "chain.request", "chain.model", "chain.escalation", "chain.saving")
SEP = "|"


def request_names(route: str | None, chain: str, model: str, checks: Iterable[str]) -> list[tuple[str, str, bool]]:
    """(dim, name, counts the request's cost) for one served request; escalation rows count checks, not USD."""
    out: list[tuple[str, str, bool]] = []
    for prefix, name in (("route", route), ("chain", chain or "default")):
        if name is None:
            continue
        out.append((prefix if prefix == "route" else "chain.request", name, True))
        out.append((f"{prefix}.model", f"{name}{SEP}{model}", True))
        out += [(f"{prefix}.escalation", f"{name}{SEP}{check}", False) for check in checks]
    return out


class UseBook:
    """Per route and per chain since this process started, for /status: requests, shares, escalations, saving."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], list[float]] = {}

    def add(self, route: str | None, chain: str, model: str, usd: float, baseline: float | None,
            checks: Iterable[str]) -> list[tuple[str, str, float, int]]:
        """Count one request; returns the (dim, name, usd, requests) rows to persist."""
        checks = list(checks)
        rows = [(dim, name, usd if costs else 0.0, 1) for dim, name, costs in request_names(route, chain, model, checks)]
        if baseline is not None:
            rows += [(f"{p}.saving", n, baseline - usd, 1) for p, n in (("route", route), ("chain", chain or "default")) if n]
        for dim, name, value, count in rows:
            have = self.rows.setdefault((dim, name), [0.0, 0])
            have[0] += value
            have[1] += count
        return rows

    def snapshot(self) -> dict[str, Any]:
        return use_report((dim, name, usd, int(n)) for (dim, name), (usd, n) in self.rows.items())


def use_report(rows: Iterable[tuple[str, str, float, int]]) -> dict[str, Any]:
    """{"routes": {...}, "chains": {...}}: per name, requests, USD, the share served by each model, escalations by
    check, and the saving against the chain's most expensive model (for the requests whose prices are known)."""
    out: dict[str, dict[str, dict[str, Any]]] = {"routes": {}, "chains": {}}
    for dim, name, usd, count in rows:
        prefix, _, kind = dim.partition(".")
        if prefix not in ("route", "chain") or dim == "chain":
            continue
        table = out["routes" if prefix == "route" else "chains"]
        key, _, sub = name.partition(SEP)
        entry = table.setdefault(key, {"requests": 0, "usd": 0.0, "models": {}, "escalations": {},
                                       "saving_usd": 0.0, "priced_requests": 0})
        if kind in ("", "request"):
            entry["requests"] += count
            entry["usd"] += usd
        elif kind == "model":
            entry["models"][sub] = entry["models"].get(sub, 0) + count
        elif kind == "escalation":
            entry["escalations"][sub] = entry["escalations"].get(sub, 0) + count
        elif kind == "saving":
            entry["saving_usd"] += usd
            entry["priced_requests"] += count
    for table in out.values():
        for entry in table.values():
            total = entry["requests"] or 1
            entry["share"] = {m: round(n / total, 4) for m, n in sorted(entry["models"].items(), key=lambda kv: -kv[1])}
            priced = entry["priced_requests"]
            entry["baseline_usd"] = round(entry["usd"] + entry["saving_usd"], 6) if priced else None
            entry["saving_usd"] = round(entry["saving_usd"], 6) if priced else None
            entry["usd"] = round(entry["usd"], 6)
            del entry["models"]
    return out
