"""SQLite state store: one file shared by every process on this machine (WAL mode, short busy timeout).

Calls are synchronous and sub-millisecond (no executor: measured in bench/bench_state.py). Another process's
commits change ``PRAGMA data_version``, which the ledger polls to reload. Errors (a locked or corrupt file)
propagate as ``sqlite3.Error``; backends.Resilient turns them into local state plus a warning.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from detour.health.store import Cooldown, Speed, SpendRow

log = logging.getLogger("detour.state")
BUSY_TIMEOUT_MS = 250  # a write waits this long for another process, then we serve from local state
COOLDOWN_GRACE_S = 86400.0  # an ended cooldown keeps its strikes this long, then is dropped
MAX_EVENTS = 500

SCHEMA = """
CREATE TABLE IF NOT EXISTS cooldowns(scope TEXT PRIMARY KEY, kind TEXT, until REAL, strikes INTEGER, since REAL, reason TEXT,
    stated INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS leases(scope TEXT PRIMARY KEY, holder TEXT, until REAL);
CREATE TABLE IF NOT EXISTS speeds(model TEXT PRIMARY KEY, ttft REAL, tps REAL, samples INTEGER);
CREATE TABLE IF NOT EXISTS facts(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS events(id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT);
CREATE TABLE IF NOT EXISTS spend(day TEXT, dim TEXT, name TEXT, usd REAL, requests INTEGER, input_tokens INTEGER,
    output_tokens INTEGER, PRIMARY KEY(day, dim, name)) WITHOUT ROWID;
"""

# Two processes may cool one scope at once: the later end wins, strikes never go down.
PUT_COOLDOWN = """
INSERT INTO cooldowns(scope, kind, until, strikes, since, reason, stated) VALUES(?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(scope) DO UPDATE SET
  kind = CASE WHEN excluded.until >= cooldowns.until THEN excluded.kind ELSE cooldowns.kind END,
  stated = CASE WHEN excluded.until >= cooldowns.until THEN excluded.stated ELSE cooldowns.stated END,
  reason = CASE WHEN excluded.until >= cooldowns.until THEN excluded.reason ELSE cooldowns.reason END,
  since = CASE WHEN cooldowns.until > excluded.since THEN min(cooldowns.since, excluded.since) ELSE excluded.since END,
  strikes = max(cooldowns.strikes, excluded.strikes),
  until = max(cooldowns.until, excluded.until)
"""

# One statement, so exactly one process wins: a free, expired or own lease is taken, any other is not.
ACQUIRE = """
INSERT INTO leases(scope, holder, until) VALUES(?, ?, ?)
ON CONFLICT(scope) DO UPDATE SET holder = excluded.holder, until = excluded.until
WHERE leases.until <= ? OR leases.holder = excluded.holder
"""

ADD_SPEND = """
INSERT INTO spend(day, dim, name, usd, requests, input_tokens, output_tokens) VALUES(?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(day, dim, name) DO UPDATE SET usd = usd + excluded.usd, requests = requests + excluded.requests,
  input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens
"""


class SqliteStore:
    """A SharedStore in one SQLite file."""

    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, path: str | Path, *, clock: Any = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        self.note = ""  # set when a corrupt file was moved aside
        self._lock = threading.Lock()  # one connection; chat_sync may use it from several threads
        self._db: sqlite3.Connection | None = None
        self._inserts = 0

    # ------------------------------------------------------------ connection

    def _conn(self) -> sqlite3.Connection:
        db = self._db
        if db is None:
            db = self._db = self._open()
        return db

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return _connect(self.path)
        except sqlite3.DatabaseError as exc:
            if _is_busy(exc):
                raise
            self._move_aside(exc)
            return _connect(self.path)

    def _move_aside(self, exc: BaseException) -> None:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        os.replace(self.path, aside)
        for suffix in ("-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        self.note = f"state file {self.path} was unreadable ({exc}); moved it to {aside.name} and started a new one"
        log.warning("%s", self.note)

    def broken(self, exc: BaseException) -> None:
        """After an error: a corrupt file gets a fresh connection (and is moved aside) on the next try."""
        if not _is_busy(exc):
            with self._lock:
                if self._db is not None:
                    self._db.close()
                self._db = None

    def _write(self, sql: str, params: tuple[Any, ...]) -> int:
        with self._lock:
            return self._conn().execute(sql, params).rowcount

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            return self._conn().execute(sql, params).fetchall()

    # ------------------------------------------------------------ SharedStore

    async def version(self) -> Any:
        with self._lock:
            return self._conn().execute("PRAGMA data_version").fetchone()[0]

    async def load_cooldowns(self) -> list[Cooldown]:
        rows = self._read("SELECT scope, kind, until, strikes, since, reason, stated FROM cooldowns WHERE until > ?",
                          (self.clock() - COOLDOWN_GRACE_S,))
        return [Cooldown(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6])) for r in rows]

    async def put_cooldown(self, cooldown: Cooldown) -> None:
        c = cooldown
        self._write(PUT_COOLDOWN, (c.scope, c.kind, c.until, c.strikes, c.since, c.reason, int(c.stated)))

    async def clear_cooldown(self, scope: str) -> None:
        with self._lock:
            db = self._conn()
            with _transaction(db):
                db.execute("DELETE FROM cooldowns WHERE scope = ?", (scope,))
                db.execute("DELETE FROM leases WHERE scope = ?", (scope,))

    async def acquire_probe(self, scope: str, holder: str, ttl: float, now: float) -> bool:
        return self._write(ACQUIRE, (scope, holder, now + ttl, now)) == 1

    async def release_probe(self, scope: str, holder: str) -> None:
        self._write("DELETE FROM leases WHERE scope = ? AND holder = ?", (scope, holder))

    async def put_speed(self, speed: Speed) -> None:
        s = speed
        self._write("INSERT OR REPLACE INTO speeds(model, ttft, tps, samples) VALUES(?, ?, ?, ?)",
                    (s.model, s.ttft, s.tps, s.samples))

    async def load_speeds(self) -> list[Speed]:
        return [Speed(*row) for row in self._read("SELECT model, ttft, tps, samples FROM speeds")]

    async def put_fact(self, key: str, value: Any) -> None:
        self._write("INSERT OR REPLACE INTO facts(key, value) VALUES(?, ?)", (key, json.dumps(value)))

    async def load_facts(self) -> dict[str, Any]:
        return {key: json.loads(value) for key, value in self._read("SELECT key, value FROM facts")}

    async def add_event(self, event: dict[str, Any]) -> None:
        with self._lock:
            db = self._conn()
            cur = db.execute("INSERT INTO events(body) VALUES(?)", (json.dumps(event),))
            self._inserts += 1
            if self._inserts % 50 == 0:
                db.execute("DELETE FROM events WHERE id <= ?", ((cur.lastrowid or 0) - MAX_EVENTS,))

    async def recent_events(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self._read("SELECT body FROM events ORDER BY id DESC LIMIT ?", (limit,))
        return [json.loads(body) for (body,) in reversed(rows)]

    async def add_spend(self, rows: list[SpendRow]) -> None:
        params = [(r.day, r.dim, r.name, r.usd, r.requests, r.input_tokens, r.output_tokens) for r in rows]
        with self._lock:
            db = self._conn()
            with _transaction(db):
                db.executemany(ADD_SPEND, params)

    async def load_spend(self, since: str, until: str = "9999-12-31", dims: tuple[str, ...] = ()) -> list[SpendRow]:
        sql = "SELECT day, dim, name, usd, requests, input_tokens, output_tokens FROM spend WHERE day >= ? AND day <= ?"
        if dims:
            sql += f" AND dim IN ({', '.join('?' * len(dims))})"
        return [SpendRow(*row) for row in self._read(sql, (since, until, *dims))]

    def status(self) -> dict[str, Any]:
        return {"backend": "sqlite", "where": str(self.path), "ok": True, "note": self.note}

    async def aclose(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _migrate(db: sqlite3.Connection) -> None:
    """Columns added after a state file may have been created (CREATE TABLE IF NOT EXISTS keeps old tables)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(cooldowns)")}
    if "stated" not in columns:
        try:
            db.execute("ALTER TABLE cooldowns ADD COLUMN stated INTEGER NOT NULL DEFAULT 0")
        except sqlite3.OperationalError as exc:  # another process added it first
            if "duplicate column" not in str(exc):
                raise


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable across process crashes, no fsync per commit
        db.executescript(SCHEMA)
        _migrate(db)
        db.execute("SELECT count(*) FROM cooldowns").fetchone()
    except BaseException:
        db.close()
        raise
    return db


def _is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class _transaction:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error) on an autocommit connection."""

    __slots__ = ("db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, et: object, e: object, tb: object) -> None:
        if et is None:
            try:
                self.db.execute("COMMIT")
                return
            except sqlite3.Error:
                self.db.execute("ROLLBACK")
                raise
        self.db.execute("ROLLBACK")
