"""The policy table, over real sockets against the fake provider."""

from __future__ import annotations

import asyncio

import pytest

from detour.router import AllFailed
from detour.testing import B, FakeProvider

from .conftest import Catalog, Clock, Sleeps, info, providers, request


async def test_served_by_primary(fake: FakeProvider, make) -> None:
    fake.script("a", B.text("hello"))
    result = await make("p1/a", "p2/b").chat(request())
    assert result.response.text() == "hello" and result.model == "p1/a"
    assert result.fallback_reason is None and [a.kind for a in result.attempts] == ["ok"]


async def test_retry_after_3600_switches_at_once_and_avoids_primary_until_reset(fake: FakeProvider, make, clock: Clock, sleeps: Sleeps) -> None:
    fake.script("a", B.rate_limit(retry_after=3600), B.text("primary back"))
    fake.script("b", B.text("from b"))
    router = make("p1/a", "p2/b")
    first = await router.chat(request())
    assert first.model == "p2/b" and first.fallback_reason == "rate_limited" and sleeps.waits == []
    assert [(a.model, a.kind, a.retry_after) for a in first.attempts] == [("p1/a", "rate_limited", 3600), ("p2/b", "ok", None)]
    for _ in range(5):
        clock.t += 600
        assert (await router.chat(request())).model == "p2/b"
    assert fake.count("a") == 1
    clock.t += 1000  # past the reset: the primary is probed and serves again
    back = await router.chat(request())
    assert back.model == "p1/a" and fake.count("a") == 2


async def test_on_rate_limit_retry_honours_retry_after(fake: FakeProvider, make, sleeps: Sleeps) -> None:
    fake.script("a", B.rate_limit(retry_after=2), B.text("after retry"))
    result = await make("p1/a", "p2/b", on_rate_limit="retry", retry_attempts=2, max_retry_wait=5).chat(request())
    assert result.model == "p1/a" and sleeps.waits == [2]


async def test_on_rate_limit_retry_never_waits_past_max(fake: FakeProvider, make, sleeps: Sleeps) -> None:
    fake.script("a", B.rate_limit(retry_after=60))
    fake.script("b", B.text("b"))
    result = await make("p1/a", "p2/b", on_rate_limit="retry", max_retry_wait=5).chat(request())
    assert result.model == "p2/b" and sleeps.waits == []


async def test_on_rate_limit_wait(fake: FakeProvider, make, sleeps: Sleeps) -> None:
    fake.script("a", B.rate_limit(retry_after=3), B.text("waited"))
    result = await make("p1/a", "p2/b", on_rate_limit="wait", max_retry_wait=5).chat(request())
    assert result.model == "p1/a" and sleeps.waits == [3]


async def test_on_rate_limit_fail(fake: FakeProvider, make) -> None:
    fake.script("a", B.rate_limit(retry_after=30))
    with pytest.raises(AllFailed) as err:
        await make("p1/a", "p2/b", on_rate_limit="fail").chat(request())
    assert err.value.status == 429 and fake.count("b") == 0


@pytest.mark.parametrize("behavior", [B.overloaded(), B.server_error(500)], ids=["overloaded", "server_error"])
async def test_transient_errors_retry_with_backoff_then_switch(fake: FakeProvider, make, sleeps: Sleeps, behavior) -> None:
    fake.script("a", behavior)
    fake.script("b", B.text("b"))
    result = await make("p1/a", "p2/b", retry_attempts=2).chat(request())
    assert result.model == "p2/b" and fake.count("a") == 3
    assert len(sleeps.waits) == 2 and all(0 <= w <= 8 for w in sleeps.waits)
    assert sleeps.waits == [0.25, 0.5]  # full jitter with rand=0.5: 0.5 * min(8, 0.5 * 2^n)


async def test_transient_error_recovers_on_retry(fake: FakeProvider, make, sleeps: Sleeps) -> None:
    fake.script("a", B.overloaded(), B.text("second time"))
    result = await make("p1/a", "p2/b").chat(request())
    assert result.model == "p1/a" and [a.kind for a in result.attempts] == ["overloaded", "ok"]


async def test_quota_tries_next_key_before_leaving_provider(fake: FakeProvider, make) -> None:
    fake.script("a", B.quota(), B.text("second key"))
    router = make("p1/a", "p2/b", provider=providers(fake, p1=("openai", ["k1", "k2"])))
    result = await router.chat(request())
    assert result.model == "p1/a" and [a.key for a in result.attempts] == ["key1", "key2"]
    assert [a.kind for a in result.attempts] == ["quota_exhausted", "ok"]
    assert "k1" not in repr(result) and "k2" not in repr(result.attempts)
    auths = [r.headers.get("authorization") for r in fake.requests]
    assert auths == ["Bearer k1", "Bearer k2"]


async def test_auth_failed_on_every_key_switches_provider(fake: FakeProvider, make) -> None:
    fake.script("a", B.status(401))
    fake.script("b", B.text("b"))
    router = make("p1/a", "p2/b", provider=providers(fake, p1=("openai", ["k1", "k2"])))
    result = await router.chat(request())
    assert result.model == "p2/b" and [a.kind for a in result.attempts] == ["auth_failed", "auth_failed", "ok"]
    again = await router.chat(request())
    assert again.model == "p2/b" and fake.count("a") == 2  # keys stay cooled until a config reload


async def test_not_found_switches_and_cools_without_retry(fake: FakeProvider, make, sleeps: Sleeps) -> None:
    fake.script("a", B.status(404))
    fake.script("b", B.text("b"))
    router = make("p1/a", "p2/b")
    result = await router.chat(request())
    assert result.model == "p2/b" and [a.kind for a in result.attempts] == ["not_found", "ok"] and sleeps.waits == []
    await router.chat(request())
    assert fake.count("a") == 1


async def test_reset_after_sending_is_retried_once_on_a_fresh_connection_then_switches(
        fake: FakeProvider, make, sleeps: Sleeps) -> None:
    fake.script("a", B.reset())
    fake.script("b", B.text("b"))
    router = make("p1/a", "p2/b")
    result = await router.chat(request())
    assert result.model == "p2/b" and [a.kind for a in result.attempts] == ["connection_lost"] * 2 + ["ok"]
    assert sleeps.waits == [0.0], "the one retry is immediate: nothing was received, nothing to wait for"
    assert fake.count("a") == 2
    scopes = {c.scope: c for c in router.ledger.cooldowns()}
    assert set(scopes) == {"key:p1:key1|p1/a"}, "only the route cools: not the model's other keys, not p1"


async def test_reset_once_then_healthy_is_answered_by_the_same_model(fake: FakeProvider, make) -> None:
    fake.script("a", B.reset(), B.text("second try"))
    router = make("p1/a", "p2/b")
    result = await router.chat(request())
    assert result.model == "p1/a" and result.response.text() == "second try"
    assert [a.kind for a in result.attempts] == ["connection_lost", "ok"] and router.ledger.cooldowns() == []


async def test_timeout_switches_without_retry(fake: FakeProvider, make) -> None:
    fake.script("a", B.silent())
    fake.script("b", B.text("b"))
    router = make("p1/a", "p2/b", timeouts={"total": 0.3, "first_token": 0.3})
    result = await router.chat(request())
    assert result.model == "p2/b" and [a.kind for a in result.attempts] == ["timeout", "ok"]


async def test_context_too_long_moves_to_larger_context(fake: FakeProvider, make) -> None:
    fake.script("a", B.context_length())
    fake.script("b", B.text("small"))
    fake.script("c", B.text("big"))
    cat = Catalog(info("p1/a", context=8000), info("p2/b", context=4000), info("p3/c", context=200_000))
    result = await make("p1/a", "p2/b", "p3/c", catalog=cat).chat(request())
    assert result.model == "p3/c" and ("p2/b", "context_too_small") in result.skipped
    assert fake.count("a") == 1 and fake.count("b") == 0


async def test_content_blocked_fails_by_default(fake: FakeProvider, make) -> None:
    fake.script("a", B.status(400, {"error": {"message": "Invalid prompt: violating our usage policy",
                                             "type": "invalid_request_error", "code": "content_policy_violation"}}))
    with pytest.raises(AllFailed) as err:
        await make("p1/a", "p2/b").chat(request())
    assert err.value.status == 400 and "usage policy" in str(err.value) and fake.count("b") == 0


async def test_content_filter_switch_prefers_uncensored(fake: FakeProvider, make) -> None:
    fake.script("a", B.content_filter())
    fake.script("c", B.text("uncensored answer"))
    cat = Catalog(info("p2/b", uncensored=False), info("p3/c", uncensored=True))
    result = await make("p1/a", "p2/b", "p3/c", catalog=cat, on_content_block="switch").chat(request())
    assert result.model == "p3/c" and fake.count("b") == 0
    assert [a.kind for a in result.attempts] == ["content_blocked", "ok"]


async def test_bad_request_neither_retries_nor_falls_back(fake: FakeProvider, make) -> None:
    fake.script("a", B.status(400))
    with pytest.raises(AllFailed) as err:
        await make("p1/a", "p2/b").chat(request())
    assert err.value.status == 400 and fake.count("a") == 1 and fake.count("b") == 0


async def test_unsupported_param_skips_and_is_remembered(fake: FakeProvider, make) -> None:
    from detour.protocol.messages import Tool

    body = {"error": {"message": "Unsupported parameter: 'tools' is not supported with this model.",
                      "type": "invalid_request_error", "param": "tools", "code": "unsupported_parameter"}}
    fake.script("a", B.status(400, body))
    fake.script("b", B.text("b"))
    router = make("p1/a", "p2/b")  # both unknown for tools: tried in chain order
    req = request()
    req.tools = [Tool("lookup")]
    result = await router.chat(req)
    assert result.model == "p2/b" and ("p1/a", "unsupported:tools") in result.skipped
    again = await router.chat(req)
    assert ("p1/a", "missing:tools") in again.skipped and fake.count("a") == 1


async def test_all_failed_aggregates(fake: FakeProvider, make, clock: Clock) -> None:
    fake.script("a", B.rate_limit(retry_after=100))
    fake.script("b", B.rate_limit(retry_after=40))
    router = make("p1/a", "p2/b")
    with pytest.raises(AllFailed) as err:
        await router.chat(request())
    assert err.value.status == 429 and err.value.retry_after == pytest.approx(40)
    assert [a.kind for a in err.value.attempts] == ["rate_limited", "rate_limited"]
    with pytest.raises(AllFailed) as again:  # both cooling: no request is sent
        await router.chat(request())
    assert again.value.status == 429 and fake.count("a") == fake.count("b") == 1


async def test_all_timed_out_is_504_and_server_errors_502(fake: FakeProvider, make) -> None:
    fake.script("a", B.silent())
    fake.script("b", B.silent())
    with pytest.raises(AllFailed) as err:
        await make("p1/a", "p2/b", timeouts={"total": 0.2}).chat(request())
    assert err.value.status == 504
    fake.script("c", B.server_error(500))
    fake.script("d", B.status(404))
    with pytest.raises(AllFailed) as err2:
        await make("p1/c", "p2/d", retry_attempts=0).chat(request())
    assert err2.value.status == 502


async def test_concurrent_requests_after_cooldown_probe_once(fake: FakeProvider, make, clock: Clock) -> None:
    fake.script("a", B.overloaded(), B.text("a is back", delay=0.05))
    fake.script("b", B.text("b"))
    router = make("p1/a", "p2/b", retry_attempts=0)
    assert (await router.chat(request())).model == "p2/b"
    clock.t += 3600
    results = await asyncio.gather(*(router.chat(request()) for _ in range(20)))
    assert fake.count("a") == 2  # the first failure + exactly one half-open probe
    assert sorted(r.model for r in results).count("p1/a") == 1
    assert (await router.chat(request())).model == "p1/a"  # the probe succeeded: closed


async def test_flapping_primary_is_probed_once_per_window(fake: FakeProvider, make, clock: Clock) -> None:
    fake.script("a", B.server_error(500))
    fake.script("b", B.text("b"))
    router = make("p1/a", "p2/b", retry_attempts=0)
    await router.chat(request())
    for window in range(3):
        c = router.ledger.cooldown("model:p1/a")
        assert c is not None and c.strikes == window + 1
        for _ in range(3):
            await router.chat(request())
        clock.t = c.until + 0.001
        await asyncio.gather(*(router.chat(request()) for _ in range(5)))
        assert fake.count("a") == window + 2
    assert router.ledger.cooldown("model:p1/a").until - clock.t > 20  # the ladder climbed


def completion(text: str, model: str) -> dict:
    return {"id": "c1", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}


async def test_proactive_avoidance_on_remaining_zero(fake: FakeProvider, make, clock: Clock) -> None:
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "20s",
               "x-ratelimit-limit-requests": "100"}
    fake.script("a", B.status(200, completion("last of the budget", "a"), headers), B.text("after reset"))
    fake.script("b", B.text("b"))
    router = make("p1/a", "p2/b")
    assert (await router.chat(request())).response.text() == "last of the budget"
    avoided = await router.chat(request())  # budget 0: not even sent to the primary
    assert avoided.model == "p2/b" and fake.count("a") == 1 and ("p1/a", "cooling:proactive") in avoided.skipped
    clock.t += 21
    assert (await router.chat(request())).model == "p1/a"


async def test_a_per_model_gemini_quota_cools_that_model_not_the_key(fake: FakeProvider, make) -> None:
    """Gemini's ``…PerDayPerProjectPerModel`` quota: the sibling model on the same key still serves."""
    fake.script("a", B.quota())
    fake.script("b", B.text("sibling"))
    router = make("gem/a", "gem/b", provider=providers(fake, gem="gemini"))
    result = await router.chat(request())
    assert result.model == "gem/b" and [a.kind for a in result.attempts] == ["quota_exhausted", "ok"]
    assert [c.scope for c in router.ledger.cooldowns()] == ["model:gem/a"]
    again = await router.chat(request())
    assert again.model == "gem/b" and fake.count("a") == 1 and fake.count("b") == 2


# ---------------------------------------------------------------- last resort (guessed cooldowns)


async def test_when_every_candidate_cools_on_a_guess_the_soonest_is_tried_once(fake: FakeProvider, make, clock: Clock) -> None:
    fake.script("a", B.server_error(500), B.text("a is back"))
    fake.script("b", B.server_error(500))
    router = make("p1/a", "p2/b", retry_attempts=0)
    with pytest.raises(AllFailed):
        await router.chat(request())
    assert {c.scope: c.guessed for c in router.ledger.cooldowns()} == {"model:p1/a": True, "model:p2/b": True}
    clock.t += 1.0  # both still cooling (5 s ladder steps, guesses); a is first in the chain
    result = await router.chat(request())
    assert result.model == "p1/a" and result.response.text() == "a is back"
    assert [(a.model, a.kind, a.mode) for a in result.attempts] == [("p1/a", "ok", "last_resort")]
    assert [c.scope for c in router.ledger.cooldowns()] == ["model:p2/b"], "success closes the cooldown cut short"
    assert fake.count("a") == 2 and fake.count("b") == 1


async def test_a_failed_last_resort_is_one_attempt_then_the_aggregated_error(fake: FakeProvider, make, clock: Clock) -> None:
    fake.script("a", B.server_error(500))
    router = make("p1/a", retry_attempts=0)
    with pytest.raises(AllFailed):
        await router.chat(request())
    with pytest.raises(AllFailed) as err:
        await router.chat(request())
    assert [(a.kind, a.mode) for a in err.value.attempts] == [("server_error", "last_resort")] and fake.count("a") == 2
    assert "no attempt" not in str(err.value)


async def test_stated_cooldowns_are_never_cut_short(fake: FakeProvider, make, clock: Clock) -> None:
    fake.script("a", B.rate_limit(retry_after=60))
    fake.script("b", B.server_error(500), B.text("b"))
    router = make("p1/a", "p2/b", retry_attempts=0)
    with pytest.raises(AllFailed):
        await router.chat(request())
    result = await router.chat(request())  # a said 60 s; b's 5 s is a guess: only b is tried
    assert result.model == "p2/b" and fake.count("a") == 1
    fake.script("b", B.rate_limit(retry_after=30))
    await router.ledger.close("model:p1/a")
    await router.ledger.cool("model:p1/a", "rate_limited", reported=60)
    await router.ledger.cool("model:p2/b", "quota_exhausted", reported=3600)
    with pytest.raises(AllFailed) as err:  # every cooldown was stated: no request is sent
        await router.chat(request())
    assert err.value.attempts == [] and fake.count("a") == 1 and fake.count("b") == 2


# ---------------------------------------------------------------- hedged probes (a black-holed primary)


@pytest.fixture
def black_hole():  # type: ignore[no-untyped-def]
    """A loopback port whose accept queue is full: a connect's SYN is dropped and it hangs (a black-holed host)."""
    import socket
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(c)
    time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/v1"
    for c in fillers:
        c.close()
    server.close()


async def test_a_black_holed_primary_costs_one_connect_wait_not_one_per_probe(fake: FakeProvider, make, clock: Clock,
                                                                             black_hole: str) -> None:
    import time

    fake.script("b", B.text("b"))
    provider = providers(fake)
    provider["p1"]["baseURL"] = black_hole
    router = make("p1/a", "p2/b", provider=provider, timeouts={"connect": 1.5})
    first = await router.chat(request())
    assert first.model == "p2/b" and [a.kind for a in first.attempts] == ["unreachable", "ok"]
    assert router.ledger.cooldown("provider:p1").strikes == 1

    clock.t += 60  # the provider cooldown is over: the next request holds the one recovery probe
    started = time.monotonic()
    second = await router.chat(request())
    waited = time.monotonic() - started
    assert second.model == "p2/b" and [a.model for a in second.attempts] == ["p2/b"]
    assert ("p1/a", "cooling:probe_in_flight") in second.skipped
    assert waited < 1.0, f"held {waited:.2f}s: a probe must not hold the request for the 1.5 s connect timeout"
    third = await router.chat(request())  # the probe is still connecting: skipped at once, no second probe
    assert third.model == "p2/b" and ("p1/a", "cooling:probe_in_flight") in third.skipped

    await asyncio.gather(*router._engine.shared.background)  # the background connect gives up after timeouts.connect
    cooled = router.ledger.cooldown("provider:p1")
    assert (cooled.kind, cooled.strikes) == ("unreachable", 2), "the failed probe starts the next ladder step"
    assert fake.count("b") == 3


async def test_the_only_candidate_is_probed_without_a_hedge(fake: FakeProvider, make, clock: Clock, black_hole: str) -> None:
    provider = providers(fake)
    provider["p1"]["baseURL"] = black_hole
    router = make("p1/a", provider=provider, timeouts={"connect": 0.5})
    with pytest.raises(AllFailed):
        await router.chat(request())
    clock.t += 60
    with pytest.raises(AllFailed) as err:  # nothing else to serve it: the request waits for its own probe
        await router.chat(request())
    assert [a.kind for a in err.value.attempts] == ["unreachable"] and not router._engine.shared.background
