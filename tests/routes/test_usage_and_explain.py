"""Cost you can see (`detour usage` from a real SQLite file) and `detour route --explain` as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from detour.config import parse_config
from detour.protocol.messages import Message, Request, ResponseFormat, TextPart
from detour.router import Router
from detour.testing import B, FakeProvider

DETOUR = Path(sys.executable).with_name("detour")
FIXTURE = Path(__file__).parents[1] / "protocol" / "fixtures" / "anthropic" / "claude_code_request.json"
PRICES = {"cheap": (0.25, 1.0), "strong": (3.0, 15.0), "deep": (15.0, 75.0)}
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


def config(fake: Any, state: Path) -> dict[str, Any]:
    models = {m: {"cost_input": i, "cost_output": o, "tools": True, "reasoning": True, "structured_output": True}
              for m, (i, o) in PRICES.items()}
    return {
        "provider": {"p": {"baseURL": fake.openai_base, "apiKey": "sk-test", "models": models}},
        "model": {"primary": "p/strong"},
        "chains": {"json": {"primary": "p/cheap", "fallback": ["p/strong"], "escalate": ["json"]},
                   "deep": {"primary": "p/deep"}},
        "routes": [{"tags": ["json"], "chain": "json", "name": "json-tasks"}, {"when": "think", "chain": "deep"}],
        "state": f"sqlite://{state}",
    }


@pytest.fixture
async def fake() -> Any:
    async with FakeProvider() as f:
        yield f


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DETOUR), *args], capture_output=True, text=True, check=False, timeout=60)


async def test_usage_shows_routes_shares_escalations_and_saving(fake: FakeProvider, tmp_path: Path) -> None:
    fake.script("cheap", B.text('{"n": 1}', usage=(1000, 100)), B.text("oops", usage=(1000, 100)),
                B.text('{"n": 3}', usage=(1000, 100)))
    fake.script("strong", B.text('{"n": 2}', usage=(1000, 100)))
    state = tmp_path / "s.db"
    cfg = config(fake, state)
    async with Router(parse_config(cfg).config, catalog=False) as router:
        for _ in range(3):
            req = Request("detour", [Message("user", [TextPart("n?")])], detour={"tags": ["json"]},
                          response_format=ResponseFormat("json_schema", SCHEMA, "n"))
            result = await router.chat(req)
        live = router.ledger.uses.snapshot()
    assert {a.route for a in result.attempts} == {"json-tasks -> json"}  # the attempt record names the route
    path = tmp_path / "detour.json"
    path.write_text(json.dumps(cfg))
    out = run("usage", "--json", "--config", str(path))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    route = report["routes"]["json-tasks"]
    assert route == live["routes"]["json-tasks"]  # /status (this process) and the store agree
    assert route["requests"] == 3 and route["escalations"] == {"json": 1}
    assert route["share"] == {"p/cheap": pytest.approx(2 / 3, abs=1e-4), "p/strong": pytest.approx(1 / 3, abs=1e-4)}
    cheap, strong = (1000 * 0.25 + 100 * 1.0) / 1e6, (1000 * 3.0 + 100 * 15.0) / 1e6
    assert route["usd"] == pytest.approx(3 * cheap + strong)  # the turned-down answer was paid for too
    assert route["baseline_usd"] == pytest.approx(3 * strong) and route["saving_usd"] == pytest.approx(3 * strong - 3 * cheap - strong)
    assert report["chains"]["json"]["requests"] == 3
    text = run("usage", "--config", str(path))
    assert text.returncode == 0 and "By route" in text.stdout and "json-tasks" in text.stdout and "json 1" in text.stdout


def test_route_explain_names_the_rule_the_reason_and_the_plan(tmp_path: Path) -> None:
    cfg = config(type("F", (), {"openai_base": "http://127.0.0.1:9/v1"})(), tmp_path / "s.db")
    path = tmp_path / "detour.json"
    path.write_text(json.dumps(cfg))
    request = tmp_path / "req.json"
    request.write_text(FIXTURE.read_text())  # Claude Code's agent turn: adaptive thinking, effort high
    out = run("route", "--explain", str(request), "--config", str(path))
    assert out.returncode == 0, out.stderr
    assert "request (anthropic): model 'claude-opus-4-8'" in out.stdout
    assert "routes[1] think -> deep" in out.stdout and "MATCH: reasoning effort 'high' >= 'high'" in out.stdout
    assert "route: think -> chain 'deep'" in out.stdout and "1. p/deep" in out.stdout
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"model": "detour", "messages": [{"role": "user", "content": "hi"}]}))
    out = run("route", "--explain", str(plain), "--config", str(path), "--header", "x-detour-tags: json", "--json")
    report = json.loads(out.stdout)
    assert report["route"]["rule"] == "json-tasks" and report["candidates"] == ["p/cheap", "p/strong"]
    assert report["checks"] == ["json"] and report["max_escalations"] == 2
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    bad = run("route", "--explain", str(broken), "--config", str(path))
    assert bad.returncode == 1 and "is not valid JSON" in bad.stderr and "Traceback" not in bad.stderr
