"""The official openai SDK parses every success and stream shape of the fake, and raises its own error classes."""

from __future__ import annotations

import json

import openai
import pytest

from detour.testing import B, FakeProvider

MSGS = [{"role": "user", "content": "hi"}]


async def test_text(fake: FakeProvider, oai: openai.AsyncOpenAI) -> None:
    fake.script("gpt-5", B.text("hello there", usage=(7, 3)))
    out = await oai.chat.completions.create(model="gpt-5", messages=MSGS)  # type: ignore[arg-type]
    assert out.model == "gpt-5"
    assert out.choices[0].message.content == "hello there"
    assert out.choices[0].finish_reason == "stop"
    assert (out.usage.prompt_tokens, out.usage.completion_tokens, out.usage.total_tokens) == (7, 3, 10)


async def test_tool_call(fake: FakeProvider, oai: openai.AsyncOpenAI) -> None:
    fake.default = B.tool_call("get_weather", {"city": "Oslo"}, id="call_1")
    out = await oai.chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    call = out.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name) == ("call_1", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    assert out.choices[0].finish_reason == "tool_calls"


async def test_stream_with_usage(fake: FakeProvider, oai: openai.AsyncOpenAI) -> None:
    fake.default = B.text("abcdefghij", chunks=5, usage=(4, 5))
    stream = await oai.chat.completions.create(
        model="m", messages=MSGS, stream=True, stream_options={"include_usage": True}  # type: ignore[arg-type]
    )
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "abcdefghij"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 9
    assert all(c.usage is None for c in chunks[:-1])
    assert fake.requests[-1].stream is True


async def test_stream_without_usage_has_no_usage_chunk(fake: FakeProvider, oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(model="m", messages=MSGS, stream=True)  # type: ignore[arg-type]
    chunks = [c async for c in stream]
    assert all(c.choices for c in chunks)


async def test_stream_tool_call(fake: FakeProvider, oai: openai.AsyncOpenAI) -> None:
    fake.default = B.tool_call("f", {"a": 1, "b": "two"})
    stream = await oai.chat.completions.create(model="m", messages=MSGS, stream=True)  # type: ignore[arg-type]
    calls = [tc for c in [c async for c in stream] for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].function.name == "f" and calls[0].id
    assert json.loads("".join(tc.function.arguments or "" for tc in calls)) == {"a": 1, "b": "two"}


async def test_reasoning_content(fake: FakeProvider, oai: openai.AsyncOpenAI) -> None:
    fake.default = B.thinking("step by step", "42")
    out = await oai.chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    assert out.choices[0].message.content == "42"
    assert out.choices[0].message.reasoning_content == "step by step"  # type: ignore[attr-defined]
    stream = await oai.chat.completions.create(model="m", messages=MSGS, stream=True)  # type: ignore[arg-type]
    deltas = [c.choices[0].delta async for c in stream]
    assert "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) == "step by step"


async def test_content_filter(fake: FakeProvider, oai: openai.AsyncOpenAI) -> None:
    fake.default = B.content_filter()
    out = await oai.chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    assert out.choices[0].finish_reason == "content_filter"


async def test_rate_limit(fake: FakeProvider, oai: openai.AsyncOpenAI) -> None:
    fake.default = B.rate_limit(retry_after=20)
    with pytest.raises(openai.RateLimitError) as info:
        await oai.chat.completions.create(model="gpt-5", messages=MSGS)  # type: ignore[arg-type]
    assert info.value.code == "rate_limit_exceeded"
    headers = info.value.response.headers
    assert headers["retry-after"] == "20" and headers["x-ratelimit-reset-requests"] == "20s"
    assert headers["x-ratelimit-remaining-requests"] == "0"


async def test_quota_is_429_with_insufficient_quota(fake: FakeProvider, oai: openai.AsyncOpenAI) -> None:
    fake.default = B.quota()
    with pytest.raises(openai.RateLimitError) as info:
        await oai.chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    assert info.value.code == "insufficient_quota" and info.value.type == "insufficient_quota"


@pytest.mark.parametrize(
    ("behavior", "error"),
    [
        (B.overloaded(), openai.InternalServerError),
        (B.server_error(), openai.InternalServerError),
        (B.server_error(502), openai.InternalServerError),
        (B.context_length(), openai.BadRequestError),
        (B.status(401), openai.AuthenticationError),
        (B.status(404), openai.NotFoundError),
    ],
)
async def test_error_classes(fake: FakeProvider, oai: openai.AsyncOpenAI, behavior: object, error: type) -> None:
    fake.default = behavior  # type: ignore[assignment]
    with pytest.raises(error):
        await oai.chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]


async def test_context_length_code(fake: FakeProvider, oai: openai.AsyncOpenAI) -> None:
    fake.default = B.context_length()
    with pytest.raises(openai.BadRequestError) as info:
        await oai.chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    assert info.value.code == "context_length_exceeded" and info.value.param == "messages"


async def test_midstream_error_raises_api_error(fake: FakeProvider, oai: openai.AsyncOpenAI) -> None:
    fake.default = B.midstream_error(after=2)
    stream = await oai.chat.completions.create(model="m", messages=MSGS, stream=True)  # type: ignore[arg-type]
    got: list[str] = []
    with pytest.raises(openai.APIError):
        async for c in stream:
            got.append(c.choices[0].delta.content or "")
    assert len([g for g in got if g]) == 2


async def test_status_body_and_headers_override(fake: FakeProvider, oai: openai.AsyncOpenAI) -> None:
    fake.default = B.status(429, body={"error": {"message": "custom", "type": "t", "code": "c"}}, headers={"X-A": "1"})
    with pytest.raises(openai.RateLimitError) as info:
        await oai.chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    assert info.value.code == "c" and info.value.response.headers["x-a"] == "1"


async def test_silent_times_out(fake: FakeProvider) -> None:
    fake.default = B.silent()
    client = openai.AsyncOpenAI(base_url=fake.openai_base, api_key="x", max_retries=0, timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    assert fake.count("m") == 1


async def test_reset_is_connection_error(fake: FakeProvider, oai: openai.AsyncOpenAI) -> None:
    fake.default = B.reset()
    with pytest.raises(openai.APIConnectionError):
        await oai.chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    assert fake.count("m") == 1
