"""SQLite state: shared by real processes on one file, kept across restarts, and never fatal when broken."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from detour.health import COOLING, Ledger
from detour.health.backends import open_store
from detour.health.sqlite import SqliteStore
from detour.testing import B, FakeProvider

from .conftest import poll

CHAT = {"model": "detour", "messages": [{"role": "user", "content": "hi"}]}
DETOUR = Path(sys.executable).with_name("detour")

CHILD = textwrap.dedent("""
    import asyncio, json, sys
    from detour.health import Ledger
    from detour.health.sqlite import SqliteStore

    async def main(path, action, scope):
        ledger = Ledger(SqliteStore(path))
        await ledger.ensure_loaded()
        if action == "cool":
            await ledger.cool(scope, "rate_limited", reported=600)
        print(json.dumps({c.scope: c.kind for c in ledger.cooldowns()}))

    asyncio.run(main(*sys.argv[1:]))
""")


def child(path: Path, action: str, scope: str = "") -> dict[str, str]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), action, scope], capture_output=True, text=True,
                         check=True, timeout=60)
    return json.loads(out.stdout)


async def test_two_processes_share_cooldowns_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    here = Ledger(SqliteStore(path))
    await here.ensure_loaded()
    child(path, "cool", "model:p/x")  # another process writes...
    assert await here.maybe_refresh()  # ...and this one notices at its next check
    assert here.state("model:p/x", here.clock()) == COOLING
    await here.cool("model:p/y", "timeout")
    assert child(path, "read") == {"model:p/x": "rate_limited", "model:p/y": "timeout"}
    assert not await here.maybe_refresh()  # nothing changed since: no reload


async def test_a_restart_keeps_cooldowns_speeds_and_spend(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first = Ledger(SqliteStore(path))
    await first.ensure_loaded()
    await first.cool("model:p/x", "quota_exhausted")
    await first.record_speed("p/x", 0.2, 50.0)
    await first.record_spend("p", "p/x", "k1", "default", 0.125, 100, 10)
    await first.flush()  # what Router.aclose does on shutdown
    await first.store.aclose()  # type: ignore[attr-defined]
    again = Ledger(SqliteStore(path))
    await again.ensure_loaded()
    assert again.cooldown("model:p/x").kind == "quota_exhausted"  # type: ignore[union-attr]
    assert again.speed("p/x").tps == 50.0  # type: ignore[union-attr]
    assert again.spend.totals["daily"] == {"p": 0.125, "total": 0.125}


def test_a_corrupt_file_is_moved_aside_and_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database, just garbage " * 200)
    store = open_store(_state(path))
    with caplog.at_level(logging.WARNING, logger="detour.state"):
        import asyncio

        assert asyncio.run(store.load_cooldowns()) == []
    assert store.status()["ok"] and "moved it to state.db.corrupt-" in store.status()["note"]
    assert any(p.name.startswith("state.db.corrupt-") for p in tmp_path.iterdir())
    assert "started a new one" in caplog.text and "Traceback" not in caplog.text
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_corrupt_file_behind_a_gateway_and_usage(make_gateway: Any, fake: FakeProvider, tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"\x00\xffnot sqlite" * 1000)
    gw = make_gateway(state=f"sqlite://{path}")
    fake.script("claude-x", B.text("fine", usage=(10, 10)))
    assert httpx.post(gw.url + "/v1/chat/completions", json=CHAT, timeout=20).status_code == 200
    storage = gw.get("/status").json()["storage"]
    assert storage["backend"] == "sqlite" and "unreadable" in storage["note"]
    other = tmp_path / "other.db"
    other.write_bytes(b"garbage again" * 100)
    config = tmp_path / "usage.json"
    config.write_text(json.dumps({"state": f"sqlite://{other}"}))
    out = subprocess.run([str(DETOUR), "usage", "--config", str(config)], capture_output=True, text=True, check=False, timeout=60)
    assert out.returncode == 0 and "Traceback" not in out.stderr
    assert "warning: state file" in out.stderr and "$0.0000 over 0 request(s)" in out.stdout


def test_a_locked_file_serves_from_local_state_then_merges_back(make_gateway: Any, fake: FakeProvider, tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "locked.db"
    gw = make_gateway(state=f"sqlite://{path}")
    fake.script("claude-x", B.rate_limit(retry_after=600))
    fake.script("gpt-x", B.text("fallback"))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        with caplog.at_level(logging.WARNING, logger="detour.state"):
            reply = httpx.post(gw.url + "/v1/chat/completions", json=CHAT, timeout=20)
        assert reply.status_code == 200 and reply.json()["model"] == "oai/gpt-x"
        storage = gw.get("/status").json()["storage"]
        assert storage["ok"] is False and "database is locked" in storage["note"]
        assert "serving from local state" in storage["note"] and "serving from local state" in caplog.text
        assert gw.get("/status").json()["models"]["ant/claude-x"]["state"] == "cooling"  # still known locally
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    poll(lambda: gw.get("/status").json()["storage"]["ok"], timeout=30)
    rows = sqlite3.connect(path).execute("SELECT scope FROM cooldowns").fetchall()
    assert ("model:ant/claude-x",) in rows  # learned while locked, merged back


def test_usage_with_an_exclusively_locked_file_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("CREATE TABLE t(x)")  # takes and keeps the exclusive lock: nobody else can even read
    config = tmp_path / "usage.json"
    config.write_text(json.dumps({"state": f"sqlite://{path}"}))
    try:
        out = subprocess.run([str(DETOUR), "usage", "--config", str(config)], capture_output=True, text=True, check=False, timeout=60)
    finally:
        holder.close()
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith("error: cannot read spend from sqlite state at") and "locked" in out.stderr


def _state(path: Path) -> Any:
    from detour.config import StateConfig

    return StateConfig(url=f"sqlite://{path}")
