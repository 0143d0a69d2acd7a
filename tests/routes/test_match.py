"""Route rules matched against what detour infers from a request (pure: no sockets here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from detour.config import ConfigError, parse_config
from detour.protocol import anthropic, openai_chat
from detour.routing import routes
from detour.routing.needs import infer_needs

FIXTURES = Path(__file__).parents[1] / "protocol" / "fixtures" / "anthropic"
CHAINS = {name: {"primary": f"p1/{name}"} for name in ("cheap", "deep", "long", "vision", "agent", "web", "sub", "strict")}
RULES: list[dict[str, Any]] = [
    {"when": "background", "chain": "cheap"},
    {"when": "subagent", "chain": "sub"},
    {"when": "longContext", "chain": "long", "minTokens": 20000},
    {"when": "image", "chain": "vision"},
    {"when": "webSearch", "chain": "web"},
    {"when": "think", "chain": "deep"},
    {"tags": ["json"], "chain": "strict", "name": "json-tasks"},
    {"when": "tools", "chain": "agent"},
    {"when": "default", "chain": "default"},
]


def config(rules: list[dict[str, Any]] = RULES) -> Any:
    return parse_config({"model": {"primary": "p1/main"}, "chains": CHAINS, "routes": rules}).config


def matched(req: Any, rules: list[dict[str, Any]] = RULES, **kw: Any) -> routes.RouteMatch | None:
    cfg = config(rules)
    return routes.match(cfg.routes, req, infer_needs(req), **kw)


def claude_code(**changes: Any) -> dict[str, Any]:
    body = json.loads((FIXTURES / "claude_code_request.json").read_text())
    body.update(changes)
    return body


def test_claude_code_haiku_request_is_background() -> None:
    # Claude Code's small-model slot: its usual body shape, sent to the haiku-class model, no thinking
    body = claude_code(model="claude-haiku-4-5-20251001", max_tokens=512, tools=[])
    body.pop("thinking"), body.pop("output_config")
    found = matched(anthropic.decode_request(body))
    assert found is not None and (found.rule, found.chain) == ("background", "cheap")
    assert "haiku" in found.why and found.header() == "background -> cheap"


def test_opencode_title_agent_is_background() -> None:
    body = {"model": "detour", "messages": [
        {"role": "system", "content": "You are a title generator. You output ONLY a thread title. Nothing else."},
        {"role": "user", "content": "Generate a title for this conversation:"},
        {"role": "user", "content": "fix the failing test in src"}]}
    found = matched(openai_chat.decode_request(body))
    assert found is not None and found.chain == "cheap" and "title generator" in found.why


def test_claude_code_main_turn_is_think_by_its_effort() -> None:
    found = matched(anthropic.decode_request(claude_code()))  # thinking adaptive + effort high, 24 tools
    assert found is not None and found.chain == "deep" and "effort 'high'" in found.why


def test_thinking_budget_threshold() -> None:
    body = claude_code(thinking={"type": "enabled", "budget_tokens": 16000})
    body.pop("output_config")
    found = matched(anthropic.decode_request(body))
    assert found is not None and found.chain == "deep" and "16000 >= 10000" in found.why
    low = claude_code(thinking={"type": "enabled", "budget_tokens": 2000})
    low.pop("output_config")
    found = matched(anthropic.decode_request(low))
    assert found is not None and found.chain == "agent"  # below the threshold: the tools rule is next


def test_long_prompt_image_and_web_search() -> None:
    long = openai_chat.decode_request({"model": "detour", "max_tokens": 100000,
                                       "messages": [{"role": "user", "content": "word " * 20000}]})
    found = matched(long)
    assert found is not None and found.chain == "long" and ">= 20000" in found.why  # max_tokens is not input
    image = openai_chat.decode_request({"model": "detour", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]})
    assert (matched(image) or routes.RouteMatch("", "", "", 0)).chain == "vision"
    search = anthropic.decode_request({"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [
        {"role": "user", "content": "news today?"}], "tools": [{"type": "web_search_20250305", "name": "web_search"}]})
    assert search.web_search and (matched(search) or routes.RouteMatch("", "", "", 0)).chain == "web"


def test_subagent_tags_headers_model_and_default() -> None:
    sub = anthropic.decode_request({"model": "claude-sonnet-4-5", "max_tokens": 100, "system": "You are an agent for "
                                    "Claude Code, Anthropic's official CLI for Claude.", "messages": [{"role": "user", "content": "go"}]})
    assert (matched(sub) or routes.RouteMatch("", "", "", 0)).chain == "sub"
    tagged = openai_chat.decode_request({"model": "detour", "detour": {"tags": ["JSON"]},
                                         "messages": [{"role": "user", "content": "hi"}]})
    found = matched(tagged)
    assert found is not None and (found.rule, found.chain) == ("json-tasks", "strict")
    plain = openai_chat.decode_request({"model": "detour", "messages": [{"role": "user", "content": "hi"}]})
    assert matched(plain, headers={"x-detour-tags": "json, other"}).chain == "strict"  # type: ignore[union-attr]
    found = matched(plain)
    assert found is not None and (found.rule, found.chain) == ("default", "default")
    rules = [{"header": {"x-task": "sum*"}, "model": "gpt-*", "chain": "cheap"}]
    assert matched(plain, rules, model="gpt-5", headers={"x-task": "summary"}).chain == "cheap"  # type: ignore[union-attr]
    assert matched(plain, rules, model="gpt-5", headers={"x-task": "code"}) is None  # every condition must hold
    assert matched(plain, rules, model="claude", headers={"x-task": "summary"}) is None


def test_explicit_model_or_chain_is_not_routed() -> None:
    plain = openai_chat.decode_request({"model": "detour", "messages": [{"role": "user", "content": "hi"}]})
    assert routes.routable(plain, "detour") and routes.routable(plain, "claude-haiku-4-5")
    assert not routes.routable(plain, "openai/gpt-5")
    plain.detour["chain"] = "cheap"
    assert not routes.routable(plain, "detour")


def test_explain_lists_every_rule() -> None:
    req = anthropic.decode_request(claude_code())
    lines = routes.explain(config().routes, req, infer_needs(req))
    assert [why is not None for _rule, why in lines] == [False, False, False, False, False, True, False, True, True]
    assert lines[5][0] == "routes[5] think -> deep"


def test_a_rule_naming_an_unknown_chain_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"chains": {"cheap": {"primary": "p1/a"}}, "routes": [{"when": "think", "chain": "cheep"}]})
    issue = err.value.issues[0]
    assert issue.path == "routes[0].chain" and "no chain named 'cheep'" in issue.message and "cheap" in (issue.hint or "")
    with pytest.raises(ConfigError) as err:
        parse_config({"routes": [{"when": "thinking", "chain": "default"}]})
    assert err.value.issues[0].path == "routes[0].when" and "think" in (err.value.issues[0].hint or "")


def test_the_object_form_of_routes_still_means_equivalent_routes() -> None:
    cfg = parse_config({"routes": {"openai/gpt-5": ["openrouter/openai/gpt-5"]}}).config
    assert cfg.equivalents == {"openai/gpt-5": ["openrouter/openai/gpt-5"]} and cfg.routes == []
