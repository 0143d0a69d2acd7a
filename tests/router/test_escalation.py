"""Escalation through the library Router against real fake-provider sockets: the cap, the cost guardrails, the
hold-back limits, the attempt record, custom checks, and a passing stream reaching the client unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from detour.protocol.messages import Event, ResponseFormat
from detour.router import AllFailed, Router
from detour.testing import B, FakeProvider

from .conftest import Catalog, info, request

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


def json_request(**kw: Any) -> Any:
    return request("give me n", response_format=ResponseFormat("json_schema", SCHEMA, "n"), **kw)


async def collect(router: Router, req: Any) -> tuple[list[Event], Any]:
    async with router.stream(req) as s:
        events = [ev async for ev in s]
    return events, s.result


@pytest.mark.parametrize("stream", [False, True])
async def test_the_cap_stops_escalation_and_the_record_says_so(fake: FakeProvider, make, stream: bool) -> None:
    for model in ("a", "b", "c"):
        fake.script(model, B.text(f"not json from {model}"))
    router = make("p1/a", "p2/b", "p3/c", escalate=["json"], max_escalations=1)
    req = json_request(stream=stream)
    result = (await collect(router, req))[1] if stream else await router.chat(req)
    assert result.model == "p2/b" and result.response.text() == "not json from b"
    assert [(a.model, a.kind) for a in result.attempts] == [("p1/a", "bad_answer"), ("p2/b", "ok")]
    assert result.attempts[0].check == "json" and "not valid JSON" in result.attempts[0].message
    assert result.attempts[1].check == "json failed; served: maxEscalations (1) reached"
    assert result.escalations == [("p1/a", "json")]
    assert [r.model for r in fake.requests] == ["a", "b"]  # c was never asked


@pytest.mark.parametrize("stream", [False, True])
async def test_the_price_guardrail_stops_escalation(fake: FakeProvider, make, stream: bool) -> None:
    fake.script("a", B.text(""))
    fake.script("b", B.text("expensive answer"))
    cat = Catalog(info("p1/a", cost_input=0.1, cost_output=0.4), info("p2/b", cost_input=15.0, cost_output=75.0))
    router = make("p1/a", "p2/b", escalate=["empty"], max_price_ratio=3.0, catalog=cat)
    req = request("hi", stream=stream)
    result = (await collect(router, req))[1] if stream else await router.chat(req)
    assert result.model == "p1/a" and result.skipped == [("p2/b", "price_ratio")]
    assert result.attempts[-1].check == "empty failed; served: no stronger candidate left"
    assert [r.model for r in fake.requests] == ["a"]


async def test_a_budget_stops_escalation_and_the_bad_answer_is_charged(fake: FakeProvider, make) -> None:
    fake.script("a", B.text("", usage=(1000, 10)), B.text("", usage=(1000, 10)))
    fake.script("b", B.text("good"))
    cat = Catalog(info("p1/a", cost_input=1.0, cost_output=1.0), info("p2/b", cost_input=1.0, cost_output=1.0))
    router = make("p1/a", "p2/b", escalate=["empty"], catalog=cat)
    router.ledger.spend.budgets = type(router.ledger.spend.budgets)({"p2": 0.0})
    result = await router.chat(request("hi"))
    assert result.model == "p1/a" and ("p2/b", "budget") in result.skipped
    assert result.cost == pytest.approx(1010 / 1e6)
    assert router.ledger.spend.totals["daily"]["p1"] == pytest.approx(1010 / 1e6)  # charged once, not twice


async def test_every_stronger_candidate_failing_serves_the_kept_answer(fake: FakeProvider, make) -> None:
    fake.script("a", B.text("not json"))
    fake.script("b", B.server_error(500))
    router = make("p1/a", "p2/b", escalate=["json"], retry_attempts=0)
    result = await router.chat(json_request())
    assert result.model == "p1/a" and result.response.text() == "not json"
    assert [a.kind for a in result.attempts] == ["bad_answer", "server_error"]
    assert result.attempts[0].check == "json; json failed; served: every stronger candidate failed"
    events, streamed = await collect(router, json_request(stream=True))
    assert streamed.model == "p1/a" and "".join(e.text for e in events if e.kind == "text") == "not json"  # type: ignore[union-attr]
    assert events[-1].kind == "finish" and streamed.complete


async def test_a_passing_streamed_answer_reaches_the_client_unchanged(fake: FakeProvider, make) -> None:
    answer = '{"n": 42, "why": "' + "forty-two " * 20 + '"}'
    fake.script("a", B.text(answer, chunks=12, usage=(9, 30)), B.text(answer, chunks=12, usage=(9, 30)))
    plain = make("p1/a", "p2/b")
    checked = make("p1/a", "p2/b", escalate=["json", "empty"])
    without, _ = await collect(plain, json_request(stream=True))
    held, result = await collect(checked, json_request(stream=True))
    strip = lambda events: [e for e in events if e.kind != "start"]
    assert strip(held) == strip(without) and len([e for e in held if e.kind == "text"]) == 12
    assert result.attempts[-1].check == "" and [r.model for r in fake.requests] == ["a", "a"]


async def test_past_the_time_limit_the_answer_is_released_unchecked(fake: FakeProvider, make) -> None:
    fake.script("a", B.paced("not json, and slow", every=0.1, chunks=8))
    router = make("p1/a", "p2/b", escalate=["json"], hold_back_time="250ms")
    events, result = await collect(router, json_request(stream=True))
    assert result.model == "p1/a" and "".join(e.text for e in events if e.kind == "text") == "not json, and slow"  # type: ignore[union-attr]
    assert result.attempts[-1].check == "checks skipped: the answer was released unchecked after the hold-back limit of 0.25s"
    assert [r.model for r in fake.requests] == ["a"]


async def test_past_the_size_limit_the_answer_is_released_unchecked(fake: FakeProvider, make) -> None:
    fake.script("a", B.text("x" * 400, chunks=8))
    router = make("p1/a", "p2/b", escalate=["json"], hold_back_size=100)
    events, result = await collect(router, json_request(stream=True))
    assert "".join(e.text for e in events if e.kind == "text") == "x" * 400  # type: ignore[union-attr]
    assert "hold-back limit of 100 characters" in result.attempts[-1].check


async def test_a_custom_check_escalates_in_library_use(fake: FakeProvider, make) -> None:
    fake.script("a", B.text("TODO"))
    fake.script("b", B.text("done properly"))
    router = make("p1/a", "p2/b")
    router.add_check("noTodo", lambda req, resp: "the answer is a TODO" if "TODO" in resp.text() else None)
    result = await router.chat(request("hi"))
    assert result.model == "p2/b" and result.escalations == [("p1/a", "noTodo")]
    assert result.attempts[0].message == "noTodo: the answer is a TODO"


async def test_no_escalation_without_checks_and_no_other_candidate(fake: FakeProvider, make) -> None:
    fake.script("a", B.text(""))
    router = make("p1/a")
    result = await router.chat(request("hi"))
    assert result.model == "p1/a" and result.escalations == [] and [a.kind for a in result.attempts] == ["ok"]
    one = make("p1/a", escalate=["empty"])
    fake.script("a", B.server_error(500))
    with pytest.raises(AllFailed):
        await one.chat(request("hi"))


def test_an_empty_only_check_lets_the_stream_through_at_its_first_text() -> None:
    from detour.protocol.messages import Finish, Start, TextDelta
    from detour.routing.gate import Gate, Hold, Sent

    judged: list[object] = []
    gate = Gate(Sent(), hold=Hold(lambda resp, events: judged.append(resp), 1 << 20, float("inf"), early=True))
    assert gate.feed(Start("u1", "m")) == [] and gate.feed(TextDelta(0, "  ")) == []  # whitespace is still empty
    first = gate.feed(TextDelta(0, "hello"))
    assert [e.kind for e in first] == ["text", "text"] and gate.hold is not None and gate.hold.released == "checked"
    assert gate.feed(TextDelta(0, " world")) == [TextDelta(0, " world")]  # then it streams as usual
    assert gate.feed(Finish("stop")) == [Finish("stop")] and judged == []
    whole = Gate(Sent(), hold=Hold(lambda resp, events: judged.append(resp), 1 << 20, float("inf")))
    assert whole.feed(TextDelta(0, "hello")) == [] and whole.feed(Finish("stop"))[-1] == Finish("stop") and judged


@pytest.mark.parametrize("stream", [False, True])
async def test_an_empty_answer_escalates_with_the_empty_check_alone(fake: FakeProvider, make, stream: bool) -> None:
    fake.script("a", B.text(""))
    fake.script("b", B.text("something"))
    router = make("p1/a", "p2/b", escalate=["empty"])
    req = request("hi", stream=stream)
    result = (await collect(router, req))[1] if stream else await router.chat(req)
    assert result.model == "p2/b" and result.escalations == [("p1/a", "empty")] and result.response.text() == "something"
