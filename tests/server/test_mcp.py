"""`detour mcp` through the MCP SDK's own stdio client, checked against the library and a real gateway."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from detour.catalog.store import load_catalog
from detour.config import load_config
from detour.selection import Requirements, configured_chain, smart_model_select
from detour.testing import B, FakeProvider
from tests.server.conftest import Gateway, free_port

DETOUR = Path(sys.executable).with_name("detour")
CHAIN = ["ant/claude-x", "oai/gpt-x", "oai/gpt-text", "gem/gem-x"]


def _model(mid: str, inputs: list[str], cost: tuple[float, float], limit: tuple[int, int], **caps: Any) -> dict[str, Any]:
    return {"id": mid, "name": mid.title(), "modalities": {"input": inputs, "output": ["text"]},
            "cost": {"input": cost[0], "output": cost[1]}, "limit": {"context": limit[0], "output": limit[1]}, **caps}


CATALOG = {  # models.dev format; gem-x leaves tool_call out, so its tool support is unknown
    "ant": {"id": "ant", "name": "Ant", "env": ["ANT_API_KEY"], "npm": "@ai-sdk/anthropic", "models": {
        "claude-x": _model("claude-x", ["text", "image", "pdf"], (3.0, 15.0), (200_000, 64_000), tool_call=True,
                           reasoning=True, reasoning_options=[{"type": "effort", "values": ["low", "high"]}])}},
    "oai": {"id": "oai", "name": "Oai", "env": ["OAI_API_KEY"], "npm": "@ai-sdk/openai", "models": {
        "gpt-x": _model("gpt-x", ["text", "image"], (1.25, 10.0), (400_000, 128_000), tool_call=True, reasoning=True),
        "gpt-text": _model("gpt-text", ["text"], (0.1, 0.4), (128_000, 16_000), tool_call=True, reasoning=False),
        "gpt-huge": _model("gpt-huge", ["text", "image"], (10.0, 40.0), (2_000_000, 32_000), tool_call=True)}},
    "gem": {"id": "gem", "name": "Gem", "env": ["GEM_API_KEY"], "npm": "@ai-sdk/google", "models": {
        "gem-x": _model("gem-x", ["text", "image"], (0.3, 2.5), (1_000_000, 65_000), reasoning=True)}},
}


@dataclass
class World:
    config: Path
    catalog: Path
    cwd: Path

    def expected(self, needs: list[str] = [], min_context: int | None = None, candidates: str = "chain",  # noqa: B006
                 **kw: Any) -> list[dict[str, Any]]:
        """What the library says, in this process, for the same config, catalog and inputs."""
        loaded = load_config(self.config)
        catalog = load_catalog(loaded, catalog=str(self.catalog))
        pool: Any = "all" if candidates == "all" else configured_chain(loaded)
        picks = smart_model_select(Requirements.from_names(needs, min_context=min_context), candidates=pool,
                                   catalog=catalog, **kw)
        return [{"model_id": s.model_id, "record": s.info.record(), "score": s.score, "reasons": s.reasons,
                 "excluded": s.excluded, "failed": s.failed} for s in picks]

    def info(self, model_id: str) -> Any:
        return load_catalog(load_config(self.config), catalog=str(self.catalog)).info(model_id)


@pytest.fixture
def world(tmp_path: Path, fake: FakeProvider) -> World:
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(CATALOG))
    config = tmp_path / "detour.json"
    config.write_text(json.dumps({
        "provider": {
            "ant": {"baseURL": fake.anthropic_base, "protocol": "anthropic", "apiKey": "sk-ant-fake"},
            "oai": {"baseURL": fake.openai_base, "protocol": "openai", "apiKey": "sk-oai-fake"},
            "gem": {"baseURL": fake.gemini_base, "protocol": "gemini", "apiKey": "gem-fake"},
        },
        "model": {"primary": CHAIN[0], "fallback": CHAIN[1:]},
        "catalog": str(catalog),
        "state": "memory",
    }))
    return World(config, catalog, tmp_path)


@pytest.fixture
def gateway(world: World) -> Iterator[Gateway]:
    gw = Gateway(world.config).start()
    try:
        yield gw
    finally:
        gw.stop()


@asynccontextmanager
async def mcp_session(world: World, url: str) -> AsyncIterator[ClientSession]:
    args = ["mcp", "--config", str(world.config), "--catalog", str(world.catalog), "--url", url]
    params = StdioServerParameters(command=str(DETOUR), args=args, cwd=str(world.cwd),
                                   env={"DETOUR_CACHE_DIR": str(world.cwd / "cache")})
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> Any:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content


def offline() -> str:
    return f"http://127.0.0.1:{free_port()}"


def ask(url: str) -> str:
    client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
    return client.chat.completions.create(model="detour", messages=[{"role": "user", "content": "hi"}]).model


async def test_lists_the_three_tools(world: World):
    async with mcp_session(world, offline()) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
    assert set(tools) == {"smart_model_select", "list_models", "fallback_status"}
    props = tools["smart_model_select"].input_schema["properties"]
    assert {"needs", "min_context", "min_output", "prefer", "limit", "candidates", "explain"} <= set(props)


async def test_smart_model_select_answers_what_the_library_answers(world: World):
    cases = [
        {"needs": ["image"], "explain": True},
        {"needs": ["tools"], "prefer": "cost"},
        {"needs": ["thinking"], "explain": True},
        {"min_context": 300_000, "candidates": "all", "prefer": "context", "limit": 3},
        {"candidates": "all", "prefer": "cost", "explain": True},
    ]
    async with mcp_session(world, offline()) as session:
        answers = [(await call(session, "smart_model_select", **case))["models"] for case in cases]
    for case, answer in zip(cases, answers):
        assert answer == world.expected(**case), case
    image, tools, thinking, context, _ = answers
    assert [m["model_id"] for m in image if not m["excluded"]] == ["ant/claude-x", "oai/gpt-x", "gem/gem-x"]
    assert image[-1]["model_id"] == "oai/gpt-text" and image[-1]["failed"] == ["image: not supported"]
    assert [m["model_id"] for m in tools] == ["oai/gpt-text", "oai/gpt-x", "ant/claude-x", "gem/gem-x"]
    assert tools[-1]["reasons"] == ["tools: unknown"] and tools[-1]["score"] < tools[0]["score"]
    assert thinking[0]["model_id"] == "ant/claude-x" and thinking[0]["record"]["thinking"] is True
    assert [m["model_id"] for m in context] == ["oai/gpt-huge", "gem/gem-x", "oai/gpt-x"]


async def test_smart_model_select_bad_input_is_an_error_result(world: World):
    async with mcp_session(world, offline()) as session:
        result = await session.call_tool("smart_model_select", {"needs": ["wings"]})
    assert result.is_error and "unknown capability 'wings'" in result.content[0].text


async def test_list_models_carries_gateway_health(world: World, gateway: Gateway, fake: FakeProvider):
    fake.script("claude-x", B.rate_limit(retry_after=600))
    assert ask(gateway.url) == "oai/gpt-x"
    async with mcp_session(world, gateway.url) as session:
        listing = await call(session, "list_models")
    health = gateway.get("/status").json()["models"]
    assert health["ant/claude-x"]["state"] == "cooling"
    assert listing["gateway"] == {"url": gateway.url, "reachable": True, "error": None}
    assert listing["models"] == [world.info(m).record(health[m]) for m in CHAIN]


async def test_list_models_without_a_gateway_has_null_health(world: World):
    url = offline()
    async with mcp_session(world, url) as session:
        listing = await call(session, "list_models")
    assert listing["models"] == [world.info(m).record(None) for m in CHAIN]
    assert listing["gateway"]["reachable"] is False and "detour serve" in listing["gateway"]["error"]


async def test_fallback_status_is_the_gateways_status(world: World, gateway: Gateway, fake: FakeProvider):
    fake.script("claude-x", B.text("first"), B.rate_limit(retry_after=600))
    ask(gateway.url), ask(gateway.url)
    async with mcp_session(world, gateway.url) as session:
        ours = await call(session, "fallback_status")
    theirs = gateway.get("/status").json()
    ours.pop("uptime_s"), theirs.pop("uptime_s")
    assert ours == theirs
    assert ours["chains"]["default"]["current"] == "oai/gpt-x" and ours["switches"][-1]["reason"] == "rate_limited"


async def test_fallback_status_when_the_gateway_is_down(world: World):
    url = offline()
    async with mcp_session(world, url) as session:
        result = await session.call_tool("fallback_status", {})
    text = result.content[0].text
    assert result.is_error and f"gateway at {url} is not reachable" in text and "detour serve" in text


def test_bad_config_is_a_one_line_error(tmp_path: Path):
    res = subprocess.run([str(DETOUR), "mcp", "--config", str(tmp_path / "missing.json")], check=False,
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert res.returncode == 1 and res.stderr.startswith("error: ") and "Traceback" not in res.stderr
