"""One test per fault class, per upstream protocol (the ``chain`` fixture: openai, anthropic, gemini).

Each test scripts the fake primary to misbehave, drives the gateway with an official SDK (``max_retries=0``)
and asserts what the caller saw *and* how often each upstream was asked (``fake.count``): no hammering.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time

import anthropic
import openai
import pytest

from detour.testing import B
from tests.faults.conftest import FAST_TIMEOUTS, Answer, ask, wait_until

APIError = (openai.APIError, anthropic.APIError)


def served_by(answer: Answer, model_id: str) -> None:
    assert answer.model == model_id, f"served by {answer.model}, expected {model_id}"
    assert answer.headers is not None and answer.headers.get("x-detour-model") == model_id


# ---------------------------------------------------------------- 429 rate limits


def bare_429():
    """A 429 with no reset hint at all: no Retry-After, blank x-ratelimit/anthropic reset headers, no RetryInfo,
    no "try again in" in the message. Only the policy's own backoff and ladder can space what follows."""
    blank = {"x-ratelimit-reset-requests": "", "x-ratelimit-reset-tokens": "",
             **{f"anthropic-ratelimit-{f}-reset": "" for f in ("requests", "tokens", "input-tokens", "output-tokens")}}
    body = {"type": "error", "error": {"type": "rate_limit_error", "code": "rate_limit_exceeded",
                                       "message": "Rate limit reached for requests", "status": "RESOURCE_EXHAUSTED"}}
    return B.status(429, body=body, headers=blank)


@pytest.mark.parametrize("retry_after", [20.0, None], ids=["retry-after", "no-retry-after"])
def test_429_auto_switch_one_attempt_then_cooldown(make_gateway, fake, chain, retry_after):
    fake.script(chain.primary, B.rate_limit(retry_after=retry_after) if retry_after else bare_429())
    fake.script(chain.fallback, B.text("from the fallback"))
    gw = make_gateway()
    first = ask(gw.url, chain.door)
    served_by(first, chain.fallback_id)
    assert first.text == "from the fallback"
    assert first.headers["x-detour-fallback-reason"] == "rate_limited"
    assert fake.count(chain.primary) == 1
    for _ in range(3):  # the limited model is cooling: not asked again
        served_by(ask(gw.url, chain.door, stream=True), chain.fallback_id)
    assert fake.count(chain.primary) == 1
    assert fake.count(chain.fallback) == 4
    health = gw.get("/status").json()["models"][chain.primary_id]
    assert health["state"] == "cooling" and health["last_error"] == "rate_limited"
    assert health["until"] - time.time() > (15 if retry_after else 3), "cooling for the hint, else the 5 s ladder"


def test_429_retry_mode_spaced_by_reset_then_only_the_probe(make_gateway, fake, chain):
    hint = 0.4
    # four short hints (three for the first request, one for the probe), then a long one
    fake.script(chain.primary, *[B.rate_limit(retry_after=hint)] * 4, B.rate_limit(retry_after=30))
    fake.script(chain.fallback, B.text("fallback"))
    gw = make_gateway(model={"onRateLimit": "retry", "retryAttempts": 2, "maxRetryWait": "5s"})
    served_by(ask(gw.url, chain.door), chain.fallback_id)
    sent = [r.t for r in fake.requests if r.model == chain.primary]
    assert len(sent) == 3, "one attempt + retryAttempts retries, no more"
    gaps = [b - a for a, b in zip(sent, sent[1:])]
    assert all(g >= hint * 0.9 for g in gaps), f"retries not spaced by the reset hint: {gaps}"
    # cooling for the reported reset: not asked while it runs
    served_by(ask(gw.url, chain.door), chain.fallback_id)
    assert fake.count(chain.primary) in (3, 4)  # 4 only if the 0.4 s cooldown already ended (the probe)
    wait_until(lambda: gw.get("/status").json()["models"][chain.primary_id]["state"] == "probing", 10, "half-open")
    served_by(ask(gw.url, chain.door), chain.fallback_id)
    assert fake.count(chain.primary) == 4, "the half-open probe is one request, not a new retry burst"
    for _ in range(3):
        served_by(ask(gw.url, chain.door), chain.fallback_id)
    assert fake.count(chain.primary) in (4, 5)  # at most one more probe, which meets the 30 s reset


def test_429_retry_mode_without_hint_uses_backoff(make_gateway, fake, chain):
    fake.script(chain.primary, bare_429())
    fake.script(chain.fallback, B.text("fallback"))
    gw = make_gateway(model={"onRateLimit": "retry", "retryAttempts": 2})
    served_by(ask(gw.url, chain.door), chain.fallback_id)
    assert fake.count(chain.primary) == 3
    health = gw.get("/status").json()["models"][chain.primary_id]
    assert health["state"] == "cooling" and health["until"] - time.time() > 3, "the short ladder (5 s), no hint"
    served_by(ask(gw.url, chain.door), chain.fallback_id)
    assert fake.count(chain.primary) == 3


# ---------------------------------------------------------------- quota


def test_quota_tries_the_next_key_then_switches_and_rests_the_keys(make_gateway, fake, chain):
    fake.script(chain.primary, B.quota())
    fake.script(chain.fallback, B.text("fallback"))
    provider = chain.primary_id.split("/")[0]
    gw = make_gateway(provider={**_providers(fake, chain), provider: {
        **_providers(fake, chain)[provider], "apiKey": ["sk-quota-one", "sk-quota-two"]}})
    answer = ask(gw.url, chain.door)
    served_by(answer, chain.fallback_id)
    assert answer.headers["x-detour-fallback-reason"] == "quota_exhausted"
    sent = [r for r in fake.requests if r.model == chain.primary]
    assert len(sent) == 2, "each key once"
    creds = {r.headers.get("authorization") or r.headers.get("x-api-key") or r.headers.get("x-goog-api-key") for r in sent}
    assert len(creds) == 2
    for stream in (False, True):
        served_by(ask(gw.url, chain.door, stream=stream), chain.fallback_id)
    assert fake.count(chain.primary) == 2  # both keys rest for the quota window


def _providers(fake, chain):
    from tests.faults.conftest import providers

    return providers(fake.url)


# ---------------------------------------------------------------- 5xx, 503, 529


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_5xx_once_then_healthy_retries_the_same_model_once(make_gateway, fake, chain, stream):
    fake.script(chain.primary, B.server_error(500), B.text("primary recovered"))
    fake.script(chain.fallback, B.text("fallback"))
    gw = make_gateway()
    answer = ask(gw.url, chain.door, stream=stream)
    served_by(answer, chain.primary_id)
    assert answer.text == "primary recovered"
    assert fake.count(chain.primary) == 2 and fake.count(chain.fallback) == 0


@pytest.mark.parametrize("code", [503, 529])
def test_persistent_overload_retries_then_switches_and_cools(make_gateway, fake, chain, code):
    fake.script(chain.primary, B.status(code))
    fake.script(chain.fallback, B.text("fallback"))
    gw = make_gateway(model={"retryAttempts": 1})
    answer = ask(gw.url, chain.door)
    served_by(answer, chain.fallback_id)
    assert fake.count(chain.primary) == 2, "one attempt + retryAttempts (1)"
    served_by(ask(gw.url, chain.door, stream=True), chain.fallback_id)
    assert fake.count(chain.primary) == 2


# ---------------------------------------------------------------- connection-level faults


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_tcp_reset_before_headers_is_retried_once_then_switches(make_gateway, fake, chain, stream):
    fake.script(chain.primary, B.reset())
    fake.script(chain.fallback, B.text("fallback"))
    gw = make_gateway()
    first = ask(gw.url, chain.door, stream=stream)
    served_by(first, chain.fallback_id)
    assert first.headers["x-detour-fallback-reason"] == "connection_lost"
    assert first.headers["x-detour-attempts"] == "3"
    assert fake.count(chain.primary) == 2, "one retry on a fresh connection: nothing was received"
    served_by(ask(gw.url, chain.door, stream=stream), chain.fallback_id)
    assert fake.count(chain.primary) == 2, "then the route cools"


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_silent_upstream_is_bounded_by_the_timeouts_and_then_skipped(make_gateway, fake, chain, stream):
    fake.script(chain.primary, B.silent())
    fake.script(chain.fallback, B.text("fallback"))
    gw = make_gateway(timeouts=FAST_TIMEOUTS)
    # the client would wait 20 s; the gateway's own deadlines (1 s first token, 2 s total) answer first
    answer = ask(gw.url, chain.door, stream=stream, timeout=20)
    served_by(answer, chain.fallback_id)
    assert answer.headers["x-detour-fallback-reason"] == "timeout"
    for _ in range(2):
        served_by(ask(gw.url, chain.door, stream=stream, timeout=20), chain.fallback_id)
    assert fake.count(chain.primary) == 1


def test_slow_first_token_fails_over_on_the_ttft_deadline(make_gateway, fake, chain):
    fake.script(chain.primary, B.slow_first_token(30))
    fake.script(chain.fallback, B.text("fast fallback"))
    gw = make_gateway(timeouts=FAST_TIMEOUTS)
    answer = ask(gw.url, chain.door, stream=True, timeout=20)
    served_by(answer, chain.fallback_id)
    assert answer.text == "fast fallback"
    assert fake.count(chain.primary) == 1


# ---------------------------------------------------------------- stream faults


@pytest.mark.parametrize("fault", ["cut", "stall", "malformed", "midstream"])
def test_stream_fault_before_content_is_a_transparent_fallback(make_gateway, fake, chain, fault):
    behaviours = {"cut": B.cut(after=0), "stall": B.stall(after=0, seconds=30), "malformed": B.malformed(after=0),
                  "midstream": B.midstream_error(after=0)}
    fake.script(chain.primary, behaviours[fault])
    fake.script(chain.fallback, B.text("whole answer"))
    gw = make_gateway(timeouts=FAST_TIMEOUTS)
    answer = ask(gw.url, chain.door, stream=True, timeout=20)
    served_by(answer, chain.fallback_id)
    assert answer.text == "whole answer"
    assert answer.finish in ("stop", "end_turn")


@pytest.mark.parametrize("fault", ["cut", "stall", "malformed", "midstream"])
def test_stream_fault_after_content_is_rescued_with_a_prefill(make_gateway, fake, chain, fault):
    text = "The quick brown fox jumps over the lazy dog."
    behaviours = {"cut": B.cut(after=2, text=text), "stall": B.stall(after=2, seconds=30, text=text),
                  "malformed": B.malformed(after=2, text=text), "midstream": B.midstream_error(after=2, text=text)}
    fake.script(chain.primary, behaviours[fault])
    fake.script(chain.fallback, B.text(" CONTINUED"))
    gw = make_gateway(timeouts=FAST_TIMEOUTS)
    answer = ask(gw.url, chain.door, stream=True, timeout=20)
    assert answer.finish in ("stop", "end_turn"), "a rescued stream ends normally"
    assert answer.text.endswith(" CONTINUED")
    partial = answer.text[: -len(" CONTINUED")]
    assert partial and text.startswith(partial), "the partial answer is kept, not repeated"
    rescue = [r for r in fake.requests if r.model == chain.fallback]
    assert len(rescue) == 1
    last = _last_message(rescue[0])
    assert last[0] == "assistant" and last[1] == partial, "the fallback was given the partial answer as a prefill"
    assert fake.count(chain.primary) == 1


def _last_message(rec) -> tuple[str, str]:
    body = rec.body
    if rec.protocol == "gemini":
        m = body["contents"][-1]
        return ("assistant" if m["role"] == "model" else m["role"]), "".join(p.get("text", "") for p in m["parts"])
    m = body["messages"][-1]
    content = m["content"]
    text = content if isinstance(content, str) else "".join(b.get("text", "") for b in content)
    return m["role"], text


def test_missing_done_is_finalised_without_fallback(make_gateway, fake, chain):
    text = "complete answer without a terminator"
    fake.script(chain.primary, B.no_done(text))
    gw = make_gateway(timeouts=FAST_TIMEOUTS)
    answer = ask(gw.url, chain.door, stream=True, timeout=20)
    served_by(answer, chain.primary_id)
    assert answer.text == text and answer.finish in ("stop", "end_turn")
    assert fake.count(chain.fallback) == 0


def test_non_streaming_truncated_body_falls_back(make_gateway, fake, chain):
    fake.script(chain.primary, B.cut())
    fake.script(chain.fallback, B.text("fallback"))
    gw = make_gateway(timeouts=FAST_TIMEOUTS)
    served_by(ask(gw.url, chain.door, timeout=20), chain.fallback_id)
    assert fake.count(chain.primary) == 1


# ---------------------------------------------------------------- client-side errors


def test_context_length_is_not_retried_on_the_same_model(make_gateway, fake, chain):
    fake.script(chain.primary, B.context_length())
    fake.script(chain.fallback, B.text("bigger context"))
    gw = make_gateway()
    answer = ask(gw.url, chain.door)
    served_by(answer, chain.fallback_id)  # the fallback's context is larger
    assert answer.headers["x-detour-fallback-reason"] == "context_too_long"
    assert fake.count(chain.primary) == 1


def test_context_length_without_a_larger_model_is_the_clients_400(make_gateway, fake, chain):
    from tests.faults.conftest import providers

    fake.script(chain.primary, B.context_length())
    provs = providers(fake.url)
    fb_provider, fb_model = chain.fallback_id.split("/")
    provs[fb_provider]["models"][fb_model]["context"] = 100000  # smaller than the primary's
    gw = make_gateway(provider=provs)
    with pytest.raises(APIError) as info:
        ask(gw.url, chain.door)
    assert info.value.status_code == 400
    assert "context" in str(info.value).lower()
    assert fake.count(chain.primary) == 1 and fake.count(chain.fallback) == 0


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_content_filter_is_passed_on_not_retried(make_gateway, fake, chain, stream):
    fake.script(chain.primary, B.content_filter("partial"))
    fake.script(chain.fallback, B.text("fallback"))
    gw = make_gateway()
    answer = ask(gw.url, chain.door, stream=stream)
    served_by(answer, chain.primary_id)
    assert answer.finish in ("content_filter", "refusal"), "the provider's reason reaches the client"
    assert fake.count(chain.primary) == 1 and fake.count(chain.fallback) == 0


def test_content_filter_with_switch_moves_on_without_retrying(make_gateway, fake, chain):
    fake.script(chain.primary, B.content_filter())
    fake.script(chain.fallback, B.text("fallback"))
    gw = make_gateway(model={"onContentBlock": "switch"})
    answer = ask(gw.url, chain.door)
    served_by(answer, chain.fallback_id)
    assert answer.headers["x-detour-fallback-reason"] == "content_blocked"
    assert fake.count(chain.primary) == 1


def test_fallback_rejecting_the_prefill_reports_the_real_failure(make_gateway, fake, chain):
    fake.script(chain.primary, B.cut(after=2))
    # the fallback rejects the prefill, and the replay without it fails too
    fake.script(chain.fallback, B.reject_prefill(otherwise=B.overloaded()))
    gw = make_gateway(timeouts=FAST_TIMEOUTS, model={"retryAttempts": 0})
    with pytest.raises(APIError) as info:
        ask(gw.url, chain.door, stream=True, timeout=20)
    message = str(info.value).lower()
    assert "prefill" not in message, message
    assert "overloaded" not in message, "the replay's own failure is secondary"
    assert any(w in message for w in ("stream", "closed", "incomplete", "ended")), message
    sent = [r for r in fake.requests if r.model == chain.fallback]
    assert len(sent) == 2  # the prefill (rejected), then the replay


def test_fallback_rejecting_the_prefill_replays_without_it(make_gateway, fake, chain):
    text = "The quick brown fox jumps over the lazy dog."
    fake.script(chain.primary, B.cut(after=2, text=text))
    fake.script(chain.fallback, B.reject_prefill(otherwise=B.text(text)))
    gw = make_gateway(timeouts=FAST_TIMEOUTS)
    answer = ask(gw.url, chain.door, stream=True, timeout=20)
    assert answer.text == text and answer.finish in ("stop", "end_turn")


# ---------------------------------------------------------------- flapping and accounting


def test_flapping_primary(make_gateway, fake, chain):
    """Down: served by the fallback, at most one probe per cooldown window. Up: back within one cooldown."""
    window = 1.0
    down = threading.Event()
    down.set()
    overloaded = B.status(503, headers={"retry-after": "1"})
    up = B.text("primary")
    fake.script(chain.primary, B.fn(lambda req: overloaded if down.is_set() else up))
    fake.script(chain.fallback, B.text("fallback", delay=0.05))
    gw = make_gateway(model={"retryAttempts": 0})
    url = gw.url

    served_by(ask(url, chain.door), chain.fallback_id)
    assert fake.count(chain.primary) == 1
    # a burst of concurrent requests while down: all succeed on the fallback, no hammering
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for _ in range(3):
            answers = list(pool.map(lambda i: ask(url, chain.door), range(16)))
            assert {a.model for a in answers} <= {chain.fallback_id, chain.primary_id}
            assert all(a.model == chain.fallback_id for a in answers)
        status = gw.get("/status").json()["models"][chain.primary_id]
        assert status["state"] in ("cooling", "probing")
    times = [r.t for r in fake.requests if r.model == chain.primary]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(g >= window * 0.9 for g in gaps), f"more than one probe per cooldown window: {gaps}"

    down.clear()  # the primary recovers
    wait_until(lambda: gw.get("/status").json()["models"][chain.primary_id]["state"] != "cooling", 5, "cooldown end")
    first = ask(url, chain.door)  # the first request after the cooldown is the probe, and it succeeds
    served_by(first, chain.primary_id)
    for _ in range(3):
        served_by(ask(url, chain.door), chain.primary_id)
    status = gw.get("/status").json()
    assert status["models"][chain.primary_id]["state"] == "ok"
    assert status["chains"]["default"]["current"] == chain.primary_id


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_accounting_names_the_fallback_and_its_usage(make_gateway, fake, chain, stream):
    fake.script(chain.primary, B.overloaded())
    fake.script(chain.fallback, B.text("counted", usage=(11, 7)))
    gw = make_gateway(model={"retryAttempts": 0})
    answer = ask(gw.url, chain.door, stream=stream)
    served_by(answer, chain.fallback_id)
    assert (answer.input_tokens, answer.output_tokens) == (11, 7)
    metrics = gw.get("/metrics").text
    door = chain.door
    assert f'detour_requests_total{{door="{door}",model="{chain.fallback_id}",status="200"}} 1.0' in metrics
    assert f'model="{chain.primary_id}",status="200"' not in metrics
    assert f'detour_attempts_total{{kind="overloaded",model="{chain.primary_id}"}} 1.0' in metrics


def test_rescue_that_meets_a_content_filter_moves_on_when_switching(make_gateway, fake, chain):
    """onContentBlock "switch": a rescue candidate that only answers with a content filter is switched away from
    too; the answer is completed by the next candidate instead of ending as a filtered half-answer."""
    third_id = "gem/gem-x" if chain.protocol != "gemini" else "oai/gpt-x"
    third = third_id.split("/")[1]
    text = "The quick brown fox jumps over the lazy dog."
    fake.script(chain.primary, B.cut(after=2, text=text))
    fake.script(chain.fallback, B.content_filter())
    fake.script(third, B.text(" COMPLETED"))
    gw = make_gateway(model={"fallback": [chain.fallback_id, third_id], "onContentBlock": "switch"},
                      timeouts=FAST_TIMEOUTS)
    answer = ask(gw.url, chain.door, stream=True, timeout=20)
    assert answer.text.endswith(" COMPLETED"), answer
    assert answer.finish in ("stop", "end_turn")
    assert fake.count(chain.fallback) == 1 and fake.count(third) == 1
