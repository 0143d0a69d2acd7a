"""Planning over real sockets: capability skips, guardrails, equivalent routes, keys, chains, events."""

from __future__ import annotations

import pytest

from detour.health import HealthEvent
from detour.protocol.messages import ImagePart, Message, Request, TextPart, Tool
from detour.router import AllFailed
from detour.testing import B, FakeProvider

from .conftest import Catalog, Clock, info, providers, request


def models_hit(fake: FakeProvider) -> list[str | None]:
    return [r.model for r in fake.requests]


async def test_image_request_skips_text_only_fallback(fake: FakeProvider, make) -> None:
    fake.script("a", B.rate_limit(retry_after=60))
    fake.script("c", B.text("I see a cat"))
    cat = Catalog(info("p1/a", image=True), info("p2/b", image=False), info("p3/c", image=True))
    req = Request(model="detour", messages=[Message("user", [TextPart("what is this?"), ImagePart(data="iVBOR", media_type="image/png")])])
    result = await make("p1/a", "p2/b", "p3/c", catalog=cat).chat(req)
    assert result.model == "p3/c" and ("p2/b", "missing:image") in result.skipped and fake.count("b") == 0


async def test_tool_request_skips_model_without_tools(fake: FakeProvider, make) -> None:
    fake.script("b", B.text("tools ok"))
    cat = Catalog(info("p1/a", tools=False), info("p2/b", tools=True))
    req = request("call it")
    req.tools = [Tool("lookup")]
    result = await make("p1/a", "p2/b", catalog=cat).chat(req)
    assert result.model == "p2/b" and result.skipped == [("p1/a", "missing:tools")] and fake.count("a") == 0
    assert result.fallback_reason == "missing:tools"


async def test_long_prompt_skips_small_context_models(fake: FakeProvider, make) -> None:
    cat = Catalog(info("p1/a", context=8_000), info("p2/b", context=1_000_000))
    result = await make("p1/a", "p2/b", catalog=cat).chat(request("lorem ipsum " * 10_000))
    assert result.model == "p2/b" and result.skipped == [("p1/a", "context_too_small")]


async def test_explicit_require_and_unknown_capability_last(fake: FakeProvider, make) -> None:
    cat = Catalog(info("p1/a", thinking=False), info("p3/c", thinking=True))  # p2/b unknown
    router = make("p1/a", "p2/b", "p3/c", catalog=cat)
    result = await router.chat(request(), require=["thinking"])
    assert result.model == "p3/c"
    req = request()
    req.detour = {"require": ["thinking"]}
    fake.script("c", B.overloaded())
    fallback = await make("p1/a", "p2/b", "p3/c", catalog=cat, retry_attempts=0).chat(req)
    assert fallback.model == "p2/b"  # the unknown one is tried after the known-capable one failed


async def test_image_url_unsupported_on_gemini(fake: FakeProvider, make) -> None:
    cat = Catalog(info("p1/g", image=True), info("p2/o", image=True))
    req = Request(model="detour", messages=[Message("user", [ImagePart(url="https://example.com/cat.png")])])
    result = await make("p1/g", "p2/o", catalog=cat, provider=providers(fake, p1="gemini")).chat(req)
    assert result.model == "p2/o" and result.skipped == [("p1/g", "image_url_unsupported")]


async def test_cost_guardrail_refuses_pricey_fallback(fake: FakeProvider, make) -> None:
    fake.script("a", B.rate_limit(retry_after=60))
    cat = Catalog(info("p1/a", cost_input=1.0, cost_output=4.0), info("p2/b", cost_input=15.0, cost_output=75.0),
                  info("p3/c", cost_input=0.5, cost_output=1.5))
    result = await make("p1/a", "p2/b", "p3/c", catalog=cat, max_price_ratio=2.0).chat(request())
    assert result.model == "p3/c" and ("p2/b", "price_ratio") in result.skipped and fake.count("b") == 0
    assert result.cost is not None and result.cost > 0
    tiered = await make("p1/a", "p2/b", "p3/c", catalog=cat, max_cost_tier="medium").chat(request())
    assert ("p2/b", "cost_tier") in tiered.skipped


async def test_cost_strategy_tries_cheapest_first(fake: FakeProvider, make) -> None:
    cat = Catalog(info("p1/a", cost_input=3.0, cost_output=15.0), info("p2/b", cost_input=0.1, cost_output=0.4))
    result = await make("p1/a", "p2/b", catalog=cat, strategy="cost").chat(request())
    assert result.model == "p2/b" and models_hit(fake) == ["b"]


async def test_equivalent_route_before_a_different_model(fake: FakeProvider, make) -> None:
    fake.script("a", B.overloaded())
    fake.script("vendor/a", B.text("same model via a router"))
    router = make("p1/a", "p3/b", retry_attempts=0, routes={"p1/a": ["p2/vendor/a"]})
    result = await router.chat(request())
    assert result.model == "p2/vendor/a" and fake.count("b") == 0 and models_hit(fake) == ["a", "vendor/a"]


async def test_keys_round_robin_across_sessions_and_stick_within_one(fake: FakeProvider, make) -> None:
    router = make("p1/a", provider=providers(fake, p1=("openai", ["k1", "k2", "k3"])))
    for session in ("s1", "s2", "s3"):
        await router.chat(request(), session=session)
    first_keys = [r.headers["authorization"] for r in fake.requests]
    assert sorted(first_keys) == ["Bearer k1", "Bearer k2", "Bearer k3"]
    fake.reset()
    for _ in range(3):
        for session in ("s1", "s2", "s3"):
            await router.chat(request(), session=session)
    again = [r.headers["authorization"] for r in fake.requests]
    assert again == first_keys * 3
    convo = request("same conversation")  # no explicit session: system + first user message
    results = [await router.chat(convo) for _ in range(3)]
    assert len({r.key for r in results}) == 1


async def test_sticky_key_moves_when_its_key_cools(fake: FakeProvider, make) -> None:
    router = make("p1/a", provider=providers(fake, p1=("openai", ["k1", "k2"])))
    first = await router.chat(request(), session="s")
    fake.script("a", B.quota(), B.text("other key"))
    second = await router.chat(request(), session="s")
    assert second.key != first.key and [a.kind for a in second.attempts] == ["quota_exhausted", "ok"]
    third = await router.chat(request(), session="s")
    assert third.key == second.key and fake.count("a") == 4 and len(third.attempts) == 1


async def test_named_chain_and_model_named_in_request(fake: FakeProvider, make) -> None:
    router = make("p1/a", "p2/b", chains={"cheap": {"primary": "p3/c"}})
    req = request()
    req.detour = {"chain": "cheap"}
    assert (await router.chat(req)).model == "p3/c"
    named = await router.chat(request(model="p2/b"))
    assert named.model == "p2/b" and named.fallback_reason is None
    fake.script("z", B.status(404))
    rescued = await router.chat(request(model="p3/z"))
    assert rescued.model == "p1/a" and rescued.fallback_reason == "not_found"


async def test_events_switch_cooldown_probe_recover(fake: FakeProvider, make, clock: Clock) -> None:
    fake.script("a", B.rate_limit(retry_after=10), B.text("back"))
    router = make("p1/a", "p2/b")
    seen: list[HealthEvent] = []
    router.on_event(seen.append)
    await router.chat(request())
    clock.t += 11
    await router.chat(request())
    types = [e.type for e in seen]
    assert types == ["cooldown_start", "switch", "probe", "cooldown_end", "recover", "switch"]
    assert seen[1].model == "p2/b" and seen[1].from_model == "p1/a" and seen[1].reason == "rate_limited"
    assert router.ledger.current("default") == "p1/a"
    assert router.health()["current"] == {"default": "p1/a"}


async def test_nothing_can_serve_is_a_client_error(fake: FakeProvider, make) -> None:
    cat = Catalog(info("p1/a", image=False))
    req = Request(model="detour", messages=[Message("user", [ImagePart(data="AA", media_type="image/png")])])
    with pytest.raises(AllFailed) as err:
        await make("p1/a", catalog=cat).chat(req)
    assert err.value.status == 400 and err.value.skipped == [("p1/a", "missing:image")]


async def test_anthropic_and_gemini_auth_headers(fake: FakeProvider, make) -> None:
    prov = providers(fake, p1=("anthropic", ["ant-key"]), p2=("gemini", ["gem-key"]))
    await make("p1/a", provider=prov).chat(request())
    await make("p2/g", provider=prov).chat(request())
    ant, gem = fake.requests
    assert ant.headers["x-api-key"] == "ant-key" and ant.headers["anthropic-version"] == "2023-06-01"
    assert gem.headers["x-goog-api-key"] == "gem-key" and gem.path.endswith("/models/g:generateContent")


async def test_require_header_form_and_event_iterator(fake: FakeProvider, make) -> None:
    import asyncio

    cat = Catalog(info("p1/a", image=False, thinking=True), info("p2/b", image=True, thinking=True))
    router = make("p1/a", "p2/b", catalog=cat)
    events = router.events()
    first = asyncio.ensure_future(events.__anext__())
    await asyncio.sleep(0)
    result = await router.chat(request(), require="thinking, image")  # the x-detour-require header value
    assert result.model == "p2/b" and result.skipped == [("p1/a", "missing:image")]
    event = await asyncio.wait_for(first, 5)
    assert event.type == "switch" and event.model == "p2/b" and event.reason == "missing:image"
    await events.aclose()
    assert [e["type"] for e in await router.recent_events()] == ["switch"]
    assert router.route(request()) == [("p1/a", "ok"), ("p2/b", "ok")]


async def test_route_reports_health_without_io(fake: FakeProvider, make, clock: Clock) -> None:
    from detour.health import model_scope, provider_scope

    router = make("p1/a", "p2/b", "p3/c", provider=providers(fake, p3=("openai", ["k1", "k2"])))
    await router.ledger.cool(model_scope("p1/a"), "overloaded")
    await router.ledger.cool(provider_scope("p2"), "unreachable", reported=100)
    await router.ledger.cool("key:p3:key1", "quota_exhausted")
    clock.t += 40  # p1/a: half-open; p2: still cooling; p3: one key left
    assert router.route(request()) == [("p1/a", "half_open"), ("p2/b", "cooling"), ("p3/c", "ok")]
    assert fake.requests == []
