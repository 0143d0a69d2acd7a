"""Streaming: transparent fallback before the first content; rescue after it (issue item 6)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from detour.protocol.messages import ErrorEvent, Event, Finish, Tool
from detour.router import AllFailed, Router
from detour.testing import B, FakeProvider

from .conftest import Catalog, info, providers, request

FOX = "The quick brown fox jumps over the lazy dog."


async def collect(router: Router, req: Any = None, **kw: Any) -> tuple[list[Event], Any]:
    async with router.stream(req or request(FOX), **kw) as s:
        events = [ev async for ev in s]
    return events, s.result


def text(events: list[Event]) -> str:
    return "".join(e.text for e in events if e.kind == "text")  # type: ignore[union-attr]


def last_user_or_assistant(fake: FakeProvider, model: str) -> dict[str, Any]:
    return [r for r in fake.requests if r.model == model][-1].body["messages"][-1]


async def test_stream_happy_path_openai_anthropic_gemini(fake: FakeProvider, make) -> None:
    for model in ("a", "b", "c"):
        fake.script(model, B.text(f"hello from {model}", chunks=3, usage=(10, 4)))
    cat = Catalog(info("p1/a", cost_input=1.0, cost_output=2.0))
    prov = providers(fake, p2="anthropic", p3="gemini")
    for primary in ("p1/a", "p2/b", "p3/c"):
        events, result = await collect(make(primary, catalog=cat, provider=prov))
        assert events[0].kind == "start" and isinstance(events[-1], Finish)
        assert text(events) == f"hello from {primary[-1]}" and result.complete and result.model == primary
    events, result = await collect(make("p1/a", catalog=cat, provider=prov))
    assert result.cost == pytest.approx((10 * 1.0 + 4 * 2.0) / 1e6)


@pytest.mark.parametrize("behavior", [B.rate_limit(retry_after=60), B.overloaded(), B.cut(after=0), B.reset(),
                                      B.midstream_error(after=0), B.malformed(after=0)],
                         ids=["429", "overloaded", "cut-before-content", "reset", "midstream-before", "malformed-before"])
async def test_failure_before_first_content_falls_back_transparently(fake: FakeProvider, make, behavior) -> None:
    fake.script("a", behavior)
    fake.script("b", B.text("from b", chunks=2))
    events, result = await collect(make("p1/a", "p2/b", retry_attempts=0))
    assert text(events) == "from b" and isinstance(events[-1], Finish)
    assert not any(isinstance(e, ErrorEvent) for e in events)
    assert [e.kind for e in events].count("start") == 1 and result.model == "p2/b"


async def test_slow_first_token_times_out_and_falls_back(fake: FakeProvider, make) -> None:
    fake.script("a", B.slow_first_token(5))
    fake.script("b", B.text("quick"))
    events, result = await collect(make("p1/a", "p2/b", timeouts={"first_token": 0.3}))
    assert text(events) == "quick" and [a.kind for a in result.attempts] == ["timeout", "ok"]


def test_first_token_deadline_scales_with_the_prompt_and_reasoning() -> None:
    from detour.config import TimeoutsConfig
    from detour.routing.attempt import Timeouts as _Timeouts

    def Timeouts(**fields: float) -> _Timeouts:  # the router's timeouts come through the config schema
        return _Timeouts.from_config(TimeoutsConfig(**fields))

    t = Timeouts()
    short, long = request("hi"), request("x" * 4 * 200_000)  # ~200k input tokens
    assert t.first(short) == pytest.approx(10.0, abs=0.01) and t.first(long) == pytest.approx(30.0, abs=0.01)
    assert t.first(request("x" * 4 * 200_000, reasoning_effort="high")) == pytest.approx(60.0, abs=0.01)
    fixed = Timeouts(first_token=45.0)
    assert fixed.first(long) == 45.0 and fixed.first(request("hi", reasoning_effort="low")) == 90.0
    assert Timeouts(first_token=45.0, first_token_reasoning=50.0).first(request("hi", thinking="enabled")) == 50.0
    assert Timeouts(total=20.0).first(long) == 20.0, "never beyond the attempt's total"


async def test_scaled_first_token_deadline_waits_longer_for_a_long_prompt(fake: FakeProvider, make, monkeypatch) -> None:
    from detour.routing import attempt

    monkeypatch.setattr(attempt, "FIRST_TOKEN_BASE", 0.3)  # the real formula, with a test-sized base
    fake.script("a", B.slow_first_token(1.0, "slow but sure"))
    fake.script("b", B.text("quick"))
    router = make("p1/a", "p2/b")
    events, result = await collect(router, request("hi"))
    assert text(events) == "quick" and [a.kind for a in result.attempts] == ["timeout", "ok"]
    await router.ledger.close("model:p1/a")
    events, result = await collect(router, request("x" * 4 * 40_000))  # ~40k tokens: 0.3 s + 4 s
    assert text(events) == "slow but sure" and [a.kind for a in result.attempts] == ["ok"]


async def test_keepalive_comments_do_not_count_as_tokens(fake: FakeProvider, make) -> None:
    fake.script("a", B.stall(after=2, seconds=5, keepalive=True, keepalive_every=0.05))
    fake.script("b", B.text(FOX, chunks=8))
    cat = Catalog(info("p2/b", prefill=False))
    events, result = await collect(make("p1/a", "p2/b", catalog=cat, timeouts={"idle": 0.4}))
    assert text(events) == FOX and result.complete and "stalled" in result.attempts[0].message
    assert result.attempts[0].kind == "timeout"


async def test_cut_after_content_continues_with_prefill(fake: FakeProvider, make) -> None:
    fake.script("a", B.cut(after=2, text=FOX, chunks=8))
    fake.script("b", B.text(" CONTINUED.", chunks=2))
    cat = Catalog(info("p2/b", prefill=True))
    events, result = await collect(make("p1/a", "p2/b", catalog=cat))
    sent_before = text(events).removesuffix(" CONTINUED.")
    assert FOX.startswith(sent_before) and sent_before  # the cut part, then only the continuation
    tail = last_user_or_assistant(fake, "b")
    assert tail["role"] == "assistant" and sent_before in str(tail["content"])
    assert isinstance(events[-1], Finish) and result.complete and result.model == "p2/b"
    assert result.response.text() == sent_before + " CONTINUED." and len(result.response.content) == 1
    assert [(a.model, a.kind, a.mode) for a in result.attempts] == [("p1/a", "stream_broken", ""), ("p2/b", "ok", "prefill")]


async def test_prefill_rejected_is_remembered_then_replayed_with_holdback(fake: FakeProvider, make) -> None:
    fake.script("a", B.cut(after=3, text=FOX, chunks=8))
    fake.script("b", B.reject_prefill(B.text(FOX, chunks=5)))
    router = make("p1/a", "p2/b")  # p2/b: prefill support unknown
    events, result = await collect(router)
    assert text(events) == FOX and isinstance(events[-1], Finish) and result.complete
    assert [(a.model, a.kind, a.mode) for a in result.attempts][-2:] == [("p2/b", "bad_request", "prefill"), ("p2/b", "ok", "replay")]
    assert "prefill" in router.ledger.missing("p2/b")
    assert fake.count("b") == 2


async def test_replay_that_diverges_ends_with_the_original_error(fake: FakeProvider, make) -> None:
    fake.script("a", B.cut(after=3, text=FOX, chunks=8))
    fake.script("b", B.text("Something else entirely, a different answer.", chunks=4))
    cat = Catalog(info("p2/b", prefill=False))
    events, result = await collect(make("p1/a", "p2/b", catalog=cat))
    assert isinstance(events[-1], ErrorEvent) and events[-1].failure.kind == "stream_broken"
    assert not any(isinstance(e, Finish) for e in events)
    assert FOX.startswith(text(events)) and not result.complete and result.error.kind == "stream_broken"


@pytest.mark.parametrize("behavior,kind", [
    (B.stall(after=2, seconds=5, text=FOX, chunks=8), "timeout"),
    (B.malformed(after=2, text=FOX, chunks=8), "stream_broken"),
    (B.midstream_error(after=2, kind="overloaded", text=FOX, chunks=8), "overloaded"),
    (B.cut(after=2, text=FOX, chunks=8), "stream_broken"),
], ids=["stall", "malformed", "midstream", "cut"])
async def test_broken_after_content_is_rescued_or_ends_with_original_error(fake: FakeProvider, make, behavior, kind: str) -> None:
    fake.script("a", behavior)
    fake.script("b", B.overloaded())  # the rescue fails too: the error still names the first failure
    router = make("p1/a", "p2/b", retry_attempts=0, timeouts={"idle": 0.3})
    events, result = await collect(router)
    assert isinstance(events[-1], ErrorEvent) and events[-1].failure.kind == kind
    assert not any(isinstance(e, Finish) for e in events) and result.error.kind == kind
    fake.script("c", B.text(FOX, chunks=8))  # and with a candidate that can replay, it is rescued
    events, result = await collect(make("p1/a", "p3/c", retry_attempts=0, timeouts={"idle": 0.3},
                                        catalog=Catalog(info("p3/c", prefill=False))))
    assert text(events) == FOX and result.complete


async def test_finish_without_done_finalises(fake: FakeProvider, make) -> None:
    fake.script("a", B.no_done(text=FOX))
    events, result = await collect(make("p1/a", "p2/b"))
    assert text(events) == FOX and isinstance(events[-1], Finish) and result.complete and fake.count("b") == 0


async def test_tool_calls_are_never_delivered_in_halves(fake: FakeProvider, make) -> None:
    fake.script("a", B.tool_call("lookup", {"city": "Oslo", "days": 3}, chunks=4))
    req = request("weather?")
    req.tools = [Tool("lookup")]
    events, result = await collect(make("p1/a"), req)
    kinds = [e.kind for e in events]
    start, end = kinds.index("tool_call_start"), kinds.index("tool_call_end")
    assert kinds[start:end] == ["tool_call_start"] + ["tool_call_delta"] * (end - start - 1)
    assert result.response.tool_calls()[0].arguments.replace(" ", "") == '{"city":"Oslo","days":3}'


async def test_all_failed_before_content_raises(fake: FakeProvider, make) -> None:
    fake.script("a", B.rate_limit(retry_after=30))
    fake.script("b", B.rate_limit(retry_after=10))
    with pytest.raises(AllFailed) as err:
        await collect(make("p1/a", "p2/b"))
    assert err.value.status == 429


async def test_client_disconnect_closes_upstream(fake: FakeProvider, make) -> None:
    fake.script("a", B.stall(after=2, seconds=1, text=FOX, chunks=8))
    router = make("p1/a", timeouts={"idle": 30})
    got: list[Event] = []
    async with router.stream(request()) as s:
        async for ev in s:
            got.append(ev)
            if ev.kind == "text":
                conns = router.upstream.client.connections()
                assert [c.is_closed() for c in conns] == [False]
                break
    await asyncio.sleep(0)
    assert got[-1].kind == "text" and all(c.is_closed() for c in conns) and router.upstream.client.connections() == []


async def test_stream_content_filter_before_content_switches(fake: FakeProvider, make) -> None:
    fake.script("a", B.content_filter())
    fake.script("b", B.text("fine"))
    events, result = await collect(make("p1/a", "p2/b", on_content_block="switch"))
    assert text(events) == "fine" and [a.kind for a in result.attempts] == ["content_blocked", "ok"]
    fake.script("c", B.content_filter())
    events, result = await collect(make("p3/c", "p2/b"))  # default: the provider's own verdict stands
    assert events[-1].reason == "content_filter" and result.model == "p3/c"  # type: ignore[union-attr]


async def test_stream_exposes_served_model_while_streaming(fake: FakeProvider, make) -> None:
    fake.script("a", B.rate_limit(retry_after=5))
    async with make("p1/a", "p2/b").stream(request()) as s:
        assert s.model == "" and s.attempts == []
        async for _ev in s:
            assert s.model == "p2/b" and s.fallback_reason == "rate_limited" and len(s.attempts) == 2
    assert s.result is not None and s.result.model == "p2/b"
