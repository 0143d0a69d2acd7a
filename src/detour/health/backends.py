"""Opening the configured state store, and keeping a request path alive when it fails.

    state: "memory" | "sqlite" (default file) | "sqlite:///path/to/state.db" | {"url": "redis://…", "prefix": "detour:"}

``open_store`` never raises: a SQLite or Redis store is wrapped in ``Resilient``, which serves from local
(memory) state while the shared one is unreachable, locked or corrupt, says so in ``status()`` and the log,
retries with backoff, and on recovery merges what it learned meanwhile back into the shared store.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from detour.health.store import Cooldown, MemoryStore, Speed, SpendRow, StateStore

log = logging.getLogger("detour.state")
STATE_FILE = "state.db"
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("DETOUR_STATE_DIR"):
        return Path(env["DETOUR_STATE_DIR"])
    from platformdirs import user_state_dir

    return Path(user_state_dir("detour"))


def sqlite_path(url: str, env: Mapping[str, str] | None = None) -> Path:
    if url.startswith("sqlite://") and len(url) > len("sqlite://"):
        return Path(url[len("sqlite://"):])
    return state_dir(env) / STATE_FILE


def open_remote(state: Any, env: Mapping[str, str] | None = None) -> Any:
    """The SQLite/Redis store itself, without the local fallback (None for memory)."""
    url = getattr(state, "url", None) or "sqlite"
    if url == "memory":
        return None
    if url.startswith(("redis://", "rediss://")):
        from detour.health.redis import RedisStore

        return RedisStore(url, getattr(state, "prefix", None) or "detour:")
    from detour.health.sqlite import SqliteStore

    return SqliteStore(sqlite_path(url, env))


def open_store(state: Any = None, env: Mapping[str, str] | None = None) -> StateStore:
    try:
        remote = open_remote(state, env)
    except Exception as exc:  # noqa: BLE001 - a bad state store must not stop routing
        log.warning("state store unavailable (%s); serving from local state", exc)
        return MemoryStore()
    return MemoryStore() if remote is None else Resilient(remote)


class Resilient:
    """A shared store with a local fallback: on a store error, serve from memory and retry with backoff."""

    def __init__(self, remote: Any) -> None:
        self.remote = remote
        self.local = MemoryStore()
        self.errors: tuple[type[BaseException], ...] = remote.errors
        self.down_since: float | None = None
        self.error = ""
        self._retry_at = 0.0
        self._backoff = BACKOFF_FIRST
        self._version: Any = None

    # ------------------------------------------------------------ the switch

    async def _call(self, name: str, *args: Any) -> Any:
        if self.down_since is None or time.monotonic() >= self._retry_at:
            try:
                result = await getattr(self.remote, name)(*args)
            except self.errors as exc:
                self._fail(exc)
            else:
                if self.down_since is not None:
                    await self._recover()
                return result
        return await getattr(self.local, name)(*args)

    def _fail(self, exc: BaseException) -> None:
        now = time.monotonic()
        self.error = f"{type(exc).__name__}: {exc}"
        if self.down_since is None:
            self.down_since = time.time()
            log.warning("%s: serving from local state; retrying in the background", self.note())
        else:
            self._backoff = min(self._backoff * 2, BACKOFF_MAX)
        self._retry_at = now + self._backoff
        broken = getattr(self.remote, "broken", None)
        if broken is not None:
            broken(exc)

    async def _recover(self) -> None:
        """Merge what was learned while away, then go back to the shared store."""
        local, self.local = self.local, MemoryStore()
        down = self.down_since
        self.down_since, self.error, self._backoff = None, "", BACKOFF_FIRST
        try:
            for c in await local.load_cooldowns():
                await self.remote.put_cooldown(c)
            await self.remote.add_spend(await local.load_spend(""))
        except self.errors as exc:
            self.local = local
            self._fail(exc)
            return
        log.warning("%s is reachable again after %.0f s; local state merged back", self._name(), time.time() - (down or 0))

    def _name(self) -> str:
        info = self.remote.status()
        return f"{info['backend']} state ({info['where']})"

    def note(self) -> str:
        kind = self.remote.status()["backend"]
        problem = "unreachable" if kind == "redis" else "unavailable"
        return f"{kind} {problem} ({self.error}), serving from local state"

    # ------------------------------------------------------------ SharedStore

    async def version(self) -> Any:
        if self.down_since is not None and time.monotonic() < self._retry_at:
            return self._version  # frozen: reloading the small local store would forget what we knew
        version = await self._call("version")
        if self.down_since is None:
            self._version = version
        return self._version

    async def load_cooldowns(self) -> list[Cooldown]:
        found: list[Cooldown] = await self._call("load_cooldowns")
        return found

    async def put_cooldown(self, cooldown: Cooldown) -> None:
        await self._call("put_cooldown", cooldown)

    async def clear_cooldown(self, scope: str) -> None:
        await self._call("clear_cooldown", scope)

    async def acquire_probe(self, scope: str, holder: str, ttl: float, now: float) -> bool:
        return bool(await self._call("acquire_probe", scope, holder, ttl, now))

    async def release_probe(self, scope: str, holder: str) -> None:
        await self._call("release_probe", scope, holder)

    async def put_speed(self, speed: Speed) -> None:
        await self._call("put_speed", speed)

    async def load_speeds(self) -> list[Speed]:
        found: list[Speed] = await self._call("load_speeds")
        return found

    async def put_fact(self, key: str, value: Any) -> None:
        await self._call("put_fact", key, value)

    async def load_facts(self) -> dict[str, Any]:
        found: dict[str, Any] = await self._call("load_facts")
        return found

    async def add_event(self, event: dict[str, Any]) -> None:
        await self._call("add_event", event)

    async def recent_events(self, limit: int = 50) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await self._call("recent_events", limit)
        return found

    async def add_spend(self, rows: list[SpendRow]) -> None:
        await self._call("add_spend", rows)

    async def load_spend(self, since: str, until: str = "9999-12-31", dims: tuple[str, ...] = ()) -> list[SpendRow]:
        found: list[SpendRow] = await self._call("load_spend", since, until, dims)
        return found

    def status(self) -> dict[str, Any]:
        info = dict(self.remote.status())
        if self.down_since is not None:
            info.update(ok=False, note=self.note(), since=self.down_since)
        return info

    async def aclose(self) -> None:
        try:
            await self.remote.aclose()
        except self.errors:
            pass  # closing a dead connection: nothing to save
