"""The official anthropic SDK parses every success and stream shape of the fake, and raises its own error classes."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from detour.testing import B, FakeProvider

MSGS = [{"role": "user", "content": "hi"}]


async def test_text(fake: FakeProvider, ant: anthropic.AsyncAnthropic) -> None:
    fake.script("claude-x", B.text("hello", usage=(11, 2)))
    out = await ant.messages.create(model="claude-x", max_tokens=100, messages=MSGS)  # type: ignore[arg-type]
    assert out.model == "claude-x" and out.stop_reason == "end_turn"
    assert out.content[0].type == "text" and out.content[0].text == "hello"
    assert (out.usage.input_tokens, out.usage.output_tokens) == (11, 2)
    assert fake.requests[-1].headers["anthropic-version"]


async def test_tool_use(fake: FakeProvider, ant: anthropic.AsyncAnthropic) -> None:
    fake.default = B.tool_call("get_weather", {"city": "Oslo"}, text="Let me check.")
    out = await ant.messages.create(model="m", max_tokens=100, messages=MSGS)  # type: ignore[arg-type]
    assert [b.type for b in out.content] == ["text", "tool_use"]
    assert out.content[1].input == {"city": "Oslo"} and out.stop_reason == "tool_use"  # type: ignore[union-attr]
    assert out.content[1].id.startswith("toolu_")  # type: ignore[union-attr]


async def test_stream_thinking_signature_and_tool(fake: FakeProvider, ant: anthropic.AsyncAnthropic) -> None:
    fake.default = B.thinking("Let me see how this goes", "The answer", signature="sig-123")
    async with ant.messages.stream(model="m", max_tokens=2000, messages=MSGS) as stream:  # type: ignore[arg-type]
        final = await stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "Let me see how this goes"  # type: ignore[union-attr]
    assert final.content[0].signature == "sig-123"  # type: ignore[union-attr]
    assert final.content[1].text == "The answer" and final.stop_reason == "end_turn"  # type: ignore[union-attr]


async def test_stream_tool_use_accumulates_json(fake: FakeProvider, ant: anthropic.AsyncAnthropic) -> None:
    fake.default = B.tool_call("f", {"a": [1, 2], "b": "x"})
    async with ant.messages.stream(model="m", max_tokens=10, messages=MSGS) as stream:  # type: ignore[arg-type]
        final = await stream.get_final_message()
    assert final.content[0].input == {"a": [1, 2], "b": "x"}  # type: ignore[union-attr]


async def test_raw_stream_has_ping_and_event_order(fake: FakeProvider, ant: anthropic.AsyncAnthropic) -> None:
    stream = await ant.messages.create(model="m", max_tokens=10, messages=MSGS, stream=True)  # type: ignore[arg-type]
    kinds = [e.type async for e in stream]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    async with httpx.AsyncClient() as client:
        raw = await client.post(f"{fake.url}/v1/messages", json={"model": "m", "stream": True, "messages": MSGS})
    assert "event: ping\n" in raw.text


async def test_refusal(fake: FakeProvider, ant: anthropic.AsyncAnthropic) -> None:
    fake.default = B.content_filter()
    out = await ant.messages.create(model="m", max_tokens=10, messages=MSGS)  # type: ignore[arg-type]
    assert out.stop_reason == "refusal"


async def test_rate_limit_headers(fake: FakeProvider, ant: anthropic.AsyncAnthropic) -> None:
    fake.default = B.rate_limit(retry_after=20)
    with pytest.raises(anthropic.RateLimitError) as info:
        await ant.messages.create(model="m", max_tokens=10, messages=MSGS)  # type: ignore[arg-type]
    headers = info.value.response.headers
    assert headers["retry-after"] == "20"
    assert headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    assert info.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert info.value.request_id and info.value.request_id.startswith("req_")


async def test_quota_is_spend_limit_429(fake: FakeProvider, ant: anthropic.AsyncAnthropic) -> None:
    fake.default = B.quota()
    with pytest.raises(anthropic.RateLimitError) as info:
        await ant.messages.create(model="m", max_tokens=10, messages=MSGS)  # type: ignore[arg-type]
    assert info.value.body["error"]["details"]["error_code"] == "enforced_spend_limit_reached"  # type: ignore[index]
    assert "retry-after" not in info.value.response.headers


@pytest.mark.parametrize(
    ("behavior", "error"),
    [
        (B.overloaded(), anthropic.OverloadedError),
        (B.server_error(), anthropic.InternalServerError),
        (B.context_length(), anthropic.BadRequestError),
        (B.status(401), anthropic.AuthenticationError),
        (B.status(404), anthropic.NotFoundError),
    ],
)
async def test_error_classes(fake: FakeProvider, ant: anthropic.AsyncAnthropic, behavior: object, error: type) -> None:
    fake.default = behavior  # type: ignore[assignment]
    with pytest.raises(error):
        await ant.messages.create(model="m", max_tokens=10, messages=MSGS)  # type: ignore[arg-type]


async def test_overloaded_is_529(fake: FakeProvider, ant: anthropic.AsyncAnthropic) -> None:
    fake.default = B.overloaded()
    with pytest.raises(anthropic.OverloadedError) as info:
        await ant.messages.create(model="m", max_tokens=10, messages=MSGS)  # type: ignore[arg-type]
    assert info.value.status_code == 529
    assert info.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


async def test_midstream_error_is_api_status_error(fake: FakeProvider, ant: anthropic.AsyncAnthropic) -> None:
    fake.default = B.midstream_error(after=1, kind="overloaded")
    with pytest.raises(anthropic.APIStatusError) as info:
        async with ant.messages.stream(model="m", max_tokens=10, messages=MSGS) as stream:  # type: ignore[arg-type]
            await stream.get_final_message()
    assert not isinstance(info.value, anthropic.OverloadedError)  # HTTP status stayed 200
    assert info.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


async def test_reject_prefill(fake: FakeProvider, ant: anthropic.AsyncAnthropic) -> None:
    fake.default = B.reject_prefill()
    prefill = [*MSGS, {"role": "assistant", "content": "Sure"}]
    with pytest.raises(anthropic.BadRequestError) as info:
        await ant.messages.create(model="m", max_tokens=10, messages=prefill)  # type: ignore[arg-type]
    assert "prefill" in info.value.message
    ok = await ant.messages.create(model="m", max_tokens=10, messages=MSGS)  # type: ignore[arg-type]
    assert ok.content[0].text == "ok"  # type: ignore[union-attr]


async def test_silent_times_out(fake: FakeProvider) -> None:
    fake.default = B.silent()
    client = anthropic.AsyncAnthropic(base_url=fake.url, api_key="x", max_retries=0, timeout=0.3)
    with pytest.raises(anthropic.APITimeoutError):
        await client.messages.create(model="m", max_tokens=10, messages=MSGS)  # type: ignore[arg-type]


async def test_reset_is_connection_error(fake: FakeProvider, ant: anthropic.AsyncAnthropic) -> None:
    fake.default = B.reset()
    with pytest.raises(anthropic.APIConnectionError):
        await ant.messages.create(model="m", max_tokens=10, messages=MSGS)  # type: ignore[arg-type]
