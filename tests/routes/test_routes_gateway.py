"""Routes over real sockets: realistic requests through the official SDKs reach the chain their kind of work names,
and the x-detour-route header, /status and the usage report say which rule matched."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai

from detour.testing import B

FIXTURE = Path(__file__).parents[1] / "protocol" / "fixtures" / "anthropic" / "claude_code_request.json"
CAPS = {"tools": True, "image": True, "reasoning": True, "thinking": True, "context": 200000, "max_output": 8192}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image-bytes").decode()


def routed(make_gateway: Any, fake: Any) -> Any:
    models = {name: {**CAPS, "cost_input": price, "cost_output": 4 * price}
              for name, price in (("main-x", 3.0), ("cheap-x", 0.25), ("deep-x", 15.0), ("long-x", 1.25),
                                  ("vision-x", 2.0), ("strict-x", 5.0))}
    provider = {"oai": {"baseURL": fake.openai_base, "protocol": "openai", "apiKey": "sk-oai-fake", "models": models},
                "ant": {"baseURL": fake.anthropic_base, "protocol": "anthropic", "apiKey": "sk-ant-fake",
                        "models": {"claude-x": {**CAPS, "cost_input": 3.0, "cost_output": 15.0}}}}
    chains = {"cheap": {"primary": "oai/cheap-x", "fallback": ["oai/main-x"]}, "deep": {"primary": "oai/deep-x"},
              "long": {"primary": "oai/long-x"}, "vision": {"primary": "oai/vision-x"},
              "strict": {"primary": "oai/strict-x"}}
    routes = [{"when": "background", "chain": "cheap"}, {"when": "longContext", "chain": "long", "minTokens": 5000},
              {"when": "image", "chain": "vision"}, {"when": "think", "chain": "deep"},
              {"tags": ["strict"], "chain": "strict", "name": "strict-tasks"}, {"when": "default", "chain": "default"}]
    return make_gateway(provider=provider, chains=chains, routes=routes,
                        model={"primary": "oai/main-x", "fallback": ["oai/deep-x"]})


def oai(gw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def ant(gw: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0)


def test_claude_code_background_request_goes_to_the_cheap_chain(make_gateway, fake) -> None:
    gw = routed(make_gateway, fake)
    body = json.loads(FIXTURE.read_text())
    body.update(model="claude-haiku-4-5-20251001", max_tokens=512, stream=False)
    for key in ("tools", "thinking", "output_config", "context_management"):
        body.pop(key)
    resp = httpx.post(gw.url + "/v1/messages", json=body, headers={"x-api-key": "unused", "anthropic-version": "2023-06-01"},
                      timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-detour-route"] == "background -> cheap"
    assert resp.headers["x-detour-model"] == "oai/cheap-x" and fake.requests[-1].model == "cheap-x"


def test_opencode_title_request_is_background(make_gateway, fake) -> None:
    gw = routed(make_gateway, fake)
    raw = oai(gw).chat.completions.with_raw_response.create(model="detour", messages=[
        {"role": "system", "content": "You are a title generator. You output ONLY a thread title. Nothing else."},
        {"role": "user", "content": "Generate a title for this conversation:"},
        {"role": "user", "content": "fix the failing test"}])
    assert raw.headers["x-detour-route"] == "background -> cheap" and fake.requests[-1].model == "cheap-x"


def test_image_long_prompt_and_thinking_turns(make_gateway, fake) -> None:
    gw = routed(make_gateway, fake)
    raw = oai(gw).chat.completions.with_raw_response.create(model="detour", messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is in this picture?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}])
    assert raw.headers["x-detour-route"] == "image -> vision" and fake.requests[-1].model == "vision-x"
    raw = oai(gw).chat.completions.with_raw_response.create(
        model="detour", messages=[{"role": "user", "content": "Summarise this log:\n" + "GET /index.html 200\n" * 1500}])
    assert raw.headers["x-detour-route"] == "longContext -> long" and fake.requests[-1].model == "long-x"
    fake.script("deep-x", B.thinking("let me think", "42"))
    raw = ant(gw).messages.with_raw_response.create(
        model="detour", max_tokens=20000, thinking={"type": "enabled", "budget_tokens": 16000},
        messages=[{"role": "user", "content": "Think hard: what is six times seven?"}])
    assert raw.headers["x-detour-route"] == "think -> deep" and fake.requests[-1].model == "deep-x"
    assert [b.type for b in raw.parse().content] == ["thinking", "text"]
    raw = oai(gw).chat.completions.with_raw_response.create(model="detour", messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-detour-route"] == "default -> default" and fake.requests[-1].model == "main-x"
    status = gw.get("/status").json()  # each routed turn moved its own chain's view; none of them is a switch
    assert status["switches"] == [] and status["chains"]["default"]["current"] == "oai/main-x"
    assert status["chains"]["vision"]["current"] == "oai/vision-x" and status["chains"]["deep"]["current"] == "oai/deep-x"


def test_tags_and_status_and_a_named_chain_is_not_routed(make_gateway, fake) -> None:
    gw = routed(make_gateway, fake)
    client = oai(gw)
    raw = client.chat.completions.with_raw_response.create(
        model="detour", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-detour-tags": "strict"})
    assert raw.headers["x-detour-route"] == "strict-tasks -> strict" and fake.requests[-1].model == "strict-x"
    raw = client.chat.completions.with_raw_response.create(
        model="detour", messages=[{"role": "user", "content": "hi"}], extra_body={"detour": {"tags": ["strict"]}})
    assert raw.headers["x-detour-route"] == "strict-tasks -> strict"
    raw = client.chat.completions.with_raw_response.create(model="cheap", messages=[{"role": "user", "content": "hi"}])
    assert "x-detour-route" not in raw.headers and fake.requests[-1].model == "cheap-x"  # the client named the chain
    usage = gw.get("/status").json()["usage"]
    strict = usage["routes"]["strict-tasks"]
    assert strict["requests"] == 2 and strict["share"] == {"oai/strict-x": 1.0} and strict["escalations"] == {}
    assert usage["chains"]["strict"]["requests"] == 2 and usage["chains"]["cheap"]["requests"] == 1
    # the strict chain's only model is its priciest: nothing saved; the cheap chain saved against oai/main-x
    assert strict["saving_usd"] == 0.0 and usage["chains"]["cheap"]["saving_usd"] > 0
