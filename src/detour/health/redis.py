"""Redis state store: several machines share cooldowns, probe leases, speeds, spend and events.

Every multi-key update is one Lua script (atomic); probe leases are ``SET NX PX``-style (exactly one holder
across processes). Entries expire by TTL. Each write bumps ``<prefix>v``; the ledger polls it to reload.
Connection errors propagate; backends.Resilient serves from local state meanwhile and reconnects with backoff.
Scripts build keys from the prefix, so this targets a single Redis (or a cluster with one hash tag in the prefix).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis import exceptions as rx
from redis.asyncio import Redis

from detour.health.store import Cooldown, Speed, SpendRow

COOLDOWN_GRACE_MS = 86_400_000  # an ended cooldown keeps its strikes a day, then expires
KEEP_S = 30 * 86400  # speeds, facts and events
SPEND_DAY_S = 400 * 86400
MAX_EVENTS = 500
FIELDS = ("usd", "requests", "input_tokens", "output_tokens")

# KEYS: cooldown key, scope set, version. ARGV: scope, cooldown json, grace ms. The later end wins; strikes never drop.
PUT_COOLDOWN = """
local new = cjson.decode(ARGV[2])
local raw = redis.call('GET', KEYS[1])
if raw then
  local old = cjson.decode(raw)
  if old['until'] > new['until'] then
    new['until'] = old['until']; new['kind'] = old['kind']; new['reason'] = old['reason']; new['stated'] = old['stated']
  end
  if old['strikes'] > new['strikes'] then new['strikes'] = old['strikes'] end
end
local ttl = math.floor((new['until'] - new['since']) * 1000) + tonumber(ARGV[3])
redis.call('SET', KEYS[1], cjson.encode(new), 'PX', math.max(ttl, 1000))
redis.call('SADD', KEYS[2], ARGV[1])
return redis.call('INCR', KEYS[3])
"""

CLEAR_COOLDOWN = """
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return redis.call('INCR', KEYS[4])
"""

# KEYS: scope set. ARGV: cooldown key prefix. Expired members are dropped from the set on the way.
LOAD_COOLDOWNS = """
local out = {}
for _, scope in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local raw = redis.call('GET', ARGV[1] .. scope)
  if raw then table.insert(out, raw) else redis.call('SREM', KEYS[1], scope) end
end
return out
"""

ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: hash, version. ARGV: field, json, ttl seconds.
PUT_HASH = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return redis.call('INCR', KEYS[2])
"""

# KEYS: day hash, version. ARGV: ttl, then field, usd, requests, in, out per row.
ADD_SPEND = """
local key = KEYS[1]
for i = 2, #ARGV, 5 do
  redis.call('HINCRBYFLOAT', key, 'usd\\t' .. ARGV[i], ARGV[i + 1])
  redis.call('HINCRBY', key, 'requests\\t' .. ARGV[i], ARGV[i + 2])
  redis.call('HINCRBY', key, 'input_tokens\\t' .. ARGV[i], ARGV[i + 3])
  redis.call('HINCRBY', key, 'output_tokens\\t' .. ARGV[i], ARGV[i + 4])
end
redis.call('EXPIRE', key, ARGV[1])
return redis.call('INCR', KEYS[2])
"""

# KEYS: day hashes. ARGV: dims. Only the wanted dimensions cross the wire (budgets need provider + total).
LOAD_SPEND = """
local out = {}
for i, key in ipairs(KEYS) do
  local flat = redis.call('HGETALL', key)
  for j = 1, #flat, 2 do
    for _, dim in ipairs(ARGV) do
      if string.find(flat[j], '\\t' .. dim .. '\\t', 1, true) then
        table.insert(out, i); table.insert(out, flat[j]); table.insert(out, flat[j + 1]); break
      end
    end
  end
end
return out
"""

ADD_EVENT = """
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 0
"""


class RedisStore:
    """A SharedStore in Redis under ``prefix``. One client per event loop (asyncio clients are loop-bound)."""

    errors: tuple[type[BaseException], ...] = (rx.ConnectionError, rx.TimeoutError, rx.BusyLoadingError, OSError)

    def __init__(self, url: str, prefix: str = "detour:", *, connect_timeout: float = 0.25, timeout: float = 0.5) -> None:
        self.url = url
        self.p = prefix
        self._timeouts = (connect_timeout, timeout)
        self._client: Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scripts: dict[str, Any] = {}
        self._mine = -1  # the version our own writes brought the counter to
        self._seen = -1  # the version last reported to the ledger

    def _r(self) -> Redis:
        loop = asyncio.get_running_loop()
        if self._client is None or loop is not self._loop:
            connect, timeout = self._timeouts
            self._client = Redis.from_url(self.url, socket_connect_timeout=connect, socket_timeout=timeout,
                                          decode_responses=True)
            self._loop = loop
            self._scripts = {name: self._client.register_script(src) for name, src in SCRIPTS.items()}
        return self._client

    async def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        self._r()
        return await self._scripts[name](keys=keys, args=args)

    async def _bump(self, name: str, keys: list[str], args: list[Any]) -> None:
        """Run a write script that returns the new version; our own writes alone do not trigger a reload."""
        n = await self._run(name, keys, args)
        if n == self._mine + 1:
            self._mine = n

    # ------------------------------------------------------------ SharedStore

    async def version(self) -> Any:
        v = int(await self._r().get(self.p + "v") or 0)
        if v != self._mine:
            self._mine = self._seen = v
        return self._seen

    async def load_cooldowns(self) -> list[Cooldown]:
        raw = await self._run("load_cooldowns", [self.p + "cds"], [self.p + "cd:"])
        return [Cooldown.from_dict(json.loads(item)) for item in raw]

    async def put_cooldown(self, cooldown: Cooldown) -> None:
        await self._bump("put_cooldown", [self.p + "cd:" + cooldown.scope, self.p + "cds", self.p + "v"],
                         [cooldown.scope, json.dumps(cooldown.to_dict()), COOLDOWN_GRACE_MS])

    async def clear_cooldown(self, scope: str) -> None:
        await self._bump("clear_cooldown", [self.p + "cd:" + scope, self.p + "lease:" + scope, self.p + "cds",
                                            self.p + "v"], [scope])

    async def acquire_probe(self, scope: str, holder: str, ttl: float, now: float) -> bool:
        return bool(await self._run("acquire", [self.p + "lease:" + scope], [holder, max(int(ttl * 1000), 1)]))

    async def release_probe(self, scope: str, holder: str) -> None:
        await self._run("release", [self.p + "lease:" + scope], [holder])

    async def put_speed(self, speed: Speed) -> None:
        await self._bump("put_hash", [self.p + "speeds", self.p + "v"], [speed.model, json.dumps(speed.to_dict()), KEEP_S])

    async def load_speeds(self) -> list[Speed]:
        return [Speed(**json.loads(v)) for v in (await self._r().hgetall(self.p + "speeds")).values()]

    async def put_fact(self, key: str, value: Any) -> None:
        await self._bump("put_hash", [self.p + "facts", self.p + "v"], [key, json.dumps(value), KEEP_S])

    async def load_facts(self) -> dict[str, Any]:
        found: dict[str, str] = await self._r().hgetall(self.p + "facts")  # type: ignore[assignment]  # redis-py types hgetall as Awaitable[dict] | dict
        return {k: json.loads(v) for k, v in found.items()}

    async def add_event(self, event: dict[str, Any]) -> None:
        await self._run("add_event", [self.p + "events"], [json.dumps(event), MAX_EVENTS, KEEP_S])

    async def recent_events(self, limit: int = 50) -> list[dict[str, Any]]:
        raw = await self._r().lrange(self.p + "events", 0, limit - 1)
        return [json.loads(item) for item in reversed(raw)]

    async def add_spend(self, rows: list[SpendRow]) -> None:
        by_day: dict[str, list[Any]] = {}
        for r in rows:
            by_day.setdefault(r.day, [SPEND_DAY_S]).extend(
                [f"{r.dim}\t{r.name}", repr(r.usd), r.requests, r.input_tokens, r.output_tokens])
        for day, args in by_day.items():
            await self._bump("add_spend", [self.p + "spend:d:" + day, self.p + "v"], args)

    async def load_spend(self, since: str, until: str = "9999-12-31", dims: tuple[str, ...] = ()) -> list[SpendRow]:
        """Day hashes from ``since`` to ``until`` (at most ~400 days back: older ones have expired)."""
        days = _days(since, until)
        if dims:
            flat = await self._run("load_spend", [self.p + "spend:d:" + day for day in days], list(dims))
            fields: list[dict[str, str]] = [{} for _ in days]
            for i in range(0, len(flat), 3):
                fields[int(flat[i]) - 1][flat[i + 1]] = flat[i + 2]
            return [row for day, f in zip(days, fields) for row in _rows(day, f)]
        pipe = self._r().pipeline(transaction=False)
        for day in days:
            pipe.hgetall(self.p + "spend:d:" + day)
        out: list[SpendRow] = []
        for day, found in zip(days, await pipe.execute()):
            out += _rows(day, found)
        return out

    def status(self) -> dict[str, Any]:
        return {"backend": "redis", "where": redact(self.url), "prefix": self.p, "ok": True, "note": ""}

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.aclose()


SCRIPTS = {"put_cooldown": PUT_COOLDOWN, "clear_cooldown": CLEAR_COOLDOWN, "load_cooldowns": LOAD_COOLDOWNS,
           "acquire": ACQUIRE, "release": RELEASE, "put_hash": PUT_HASH, "add_spend": ADD_SPEND, "add_event": ADD_EVENT,
           "load_spend": LOAD_SPEND}


def redact(url: str) -> str:
    """The URL without its password, for /status and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username + ':***@' if parts.username else ':***@'}{host}{':' + str(parts.port) if parts.port else ''}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _days(since: str, until: str) -> list[str]:
    import datetime as dt

    first = dt.date.fromisoformat(since)
    end = dt.date.fromisoformat(until) if until < "9999" else dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    start = max(first, end - dt.timedelta(days=SPEND_DAY_S // 86400))
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def _rows(day: str, fields: dict[str, str]) -> list[SpendRow]:
    rows: dict[str, SpendRow] = {}
    for field, value in fields.items():
        what, _, dim_name = field.partition("\t")
        dim, _, name = dim_name.partition("\t")
        row = rows.get(dim_name)
        if row is None:
            row = rows[dim_name] = SpendRow(day, dim, name)
        setattr(row, what, float(value) if what == "usd" else int(value))
    return list(rows.values())
