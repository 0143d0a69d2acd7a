"""Stream and connection faults, observed with raw httpx and raw sockets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from detour.testing import B, FakeProvider

PROTOCOLS = ["openai", "anthropic", "gemini"]
USER = [{"role": "user", "content": "hi"}]


def request(fake: FakeProvider, protocol: str, stream: bool = True) -> tuple[str, dict[str, Any]]:
    if protocol == "openai":
        return f"{fake.openai_base}/chat/completions", {"model": "m", "stream": stream, "messages": USER}
    if protocol == "anthropic":
        return f"{fake.url}/v1/messages", {"model": "m", "stream": stream, "max_tokens": 9, "messages": USER}
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"{fake.gemini_base}/models/m:{method}", {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def payloads(raw: str) -> list[Any]:
    """JSON payloads of the ``data:`` lines that parse (keep-alives, [DONE] and junk skipped)."""
    out = []
    for line in raw.splitlines():
        if line.startswith("data: "):
            try:
                out.append(json.loads(line[6:]))
            except ValueError:
                pass
    return out


def deltas(protocol: str, raw: str) -> list[str]:
    """The text deltas of a raw stream."""
    out = []
    for p in payloads(raw):
        if protocol == "openai" and p.get("choices") and p["choices"][0]["delta"].get("content"):
            out.append(p["choices"][0]["delta"]["content"])
        elif protocol == "anthropic" and p.get("type") == "content_block_delta":
            out.append(p["delta"]["text"])
        elif protocol == "gemini" and p.get("candidates") and p["candidates"][0]["content"]["parts"][0]["text"]:
            out.append(p["candidates"][0]["content"]["parts"][0]["text"])
    return out


def finished(protocol: str, raw: str) -> bool:
    """Whether a raw stream carries its protocol's end marker."""
    if protocol == "openai":
        return "data: [DONE]" in raw
    if protocol == "anthropic":
        return "event: message_stop" in raw
    return any(c.get("finishReason") for p in payloads(raw) for c in p.get("candidates", []))


async def read_stream(fake: FakeProvider, protocol: str, timeout: float = 5.0) -> tuple[str, Exception | None]:
    url, body = request(fake, protocol)
    got: list[bytes] = []
    async with httpx.AsyncClient(timeout=timeout) as client:
        try:
            async with client.stream("POST", url, json=body) as resp:
                assert resp.status_code == 200
                async for piece in resp.aiter_bytes():
                    got.append(piece)
        except httpx.TransportError as exc:
            return b"".join(got).decode(), exc
    return b"".join(got).decode(), None


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_full_stream_is_finished(fake: FakeProvider, protocol: str) -> None:
    fake.default = B.text("The quick brown fox", chunks=4)
    raw, exc = await read_stream(fake, protocol)
    assert exc is None and finished(protocol, raw)
    assert "".join(deltas(protocol, raw)) == "The quick brown fox"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_cut_closes_after_n_deltas(fake: FakeProvider, protocol: str) -> None:
    fake.default = B.cut(after=2)
    raw, exc = await read_stream(fake, protocol)
    assert isinstance(exc, httpx.RemoteProtocolError)
    assert len(deltas(protocol, raw)) == 2 and not finished(protocol, raw)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_stall_times_out_after_n_deltas(fake: FakeProvider, protocol: str) -> None:
    fake.default = B.stall(after=2)
    raw, exc = await read_stream(fake, protocol, timeout=0.3)
    assert isinstance(exc, httpx.ReadTimeout)
    assert len(deltas(protocol, raw)) == 2 and not finished(protocol, raw)


async def test_stall_with_keepalive_sends_comments(fake: FakeProvider) -> None:
    fake.default = B.stall(after=1, keepalive=True, keepalive_every=0.01)
    url, body = request(fake, "openai")
    async with httpx.AsyncClient(timeout=5) as client, client.stream("POST", url, json=body) as resp:
        text = ""
        async for piece in resp.aiter_text():
            text += piece
            if text.count(": keep-alive") >= 3:
                break
    assert len(deltas("openai", text)) == 1 and not finished("openai", text)


async def test_stall_ends_with_close_after_seconds(fake: FakeProvider) -> None:
    fake.default = B.stall(after=1, seconds=0.05)
    raw, exc = await read_stream(fake, "anthropic")
    assert isinstance(exc, httpx.RemoteProtocolError) and len(deltas("anthropic", raw)) == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_malformed_line_mid_stream(fake: FakeProvider, protocol: str) -> None:
    fake.default = B.malformed(after=1)
    raw, exc = await read_stream(fake, protocol)
    assert exc is None and "data: {this is not json" in raw
    before = raw.split("data: {this is not json")[0]
    assert len(deltas(protocol, before)) == 1 and finished(protocol, raw)


@pytest.mark.parametrize(("protocol", "marker"), [("openai", "[DONE]"), ("anthropic", "message_stop")])
async def test_no_done(fake: FakeProvider, protocol: str, marker: str) -> None:
    fake.default = B.no_done()
    raw, exc = await read_stream(fake, protocol)
    assert exc is None and marker not in raw
    assert "".join(deltas(protocol, raw)) == "The quick brown fox jumps over the lazy dog."
    if protocol == "openai":
        assert payloads(raw)[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_slow_first_token_sends_headers_first(fake: FakeProvider, protocol: str) -> None:
    fake.default = B.slow_first_token(60)
    url, body = request(fake, protocol)
    async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=0.2)) as client:
        async with client.stream("POST", url, json=body) as resp:
            assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
            with pytest.raises(httpx.ReadTimeout):
                await resp.aread()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_midstream_error_frames(fake: FakeProvider, protocol: str) -> None:
    fake.default = B.midstream_error(after=1, kind="rate_limit")
    raw, exc = await read_stream(fake, protocol)
    assert exc is None and len(deltas(protocol, raw)) == 1 and not finished(protocol, raw)
    error = payloads(raw)[-1]
    assert next(iter(error)) == ("type" if protocol == "anthropic" else "error")
    if protocol == "anthropic":
        assert "event: error\n" in raw and error["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_reset_sends_rst_before_headers(fake: FakeProvider, protocol: str) -> None:
    fake.default = B.reset()
    url, body = request(fake, protocol)
    async with httpx.AsyncClient(timeout=5) as client:
        with pytest.raises(httpx.ReadError):
            await client.post(url, json=body)
    assert fake.count("m") == 1


async def test_silent_holds_until_client_leaves(fake: FakeProvider) -> None:
    fake.default = B.silent()
    url, body = request(fake, "openai", stream=False)
    async with httpx.AsyncClient(timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(url, json=body)
    assert fake.count("m") == 1
    for _ in range(200):  # the server notices the disconnect and lets go
        if not fake._http.conns:
            break
        await asyncio.sleep(0.01)
    assert not fake._http.conns


async def test_silent_connection_closed_on_stop() -> None:
    fake = await FakeProvider(default=B.silent()).start()
    reader, writer = await asyncio.open_connection("127.0.0.1", fake.port)
    body = b'{"model":"m","messages":[]}'
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%b" % (len(body), body))
    await writer.drain()
    while not fake.requests:
        await asyncio.sleep(0.01)
    await fake.aclose()
    try:
        assert await reader.read() == b""
    except ConnectionResetError:
        pass  # an abort may arrive as RST
    writer.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_non_stream_faults(fake: FakeProvider, protocol: str) -> None:
    url, body = request(fake, protocol, stream=False)
    async with httpx.AsyncClient(timeout=5) as client:
        fake.default = B.cut()
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(url, json=body)
        fake.default = B.malformed()
        resp = await client.post(url, json=body)
        assert resp.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            resp.json()
        fake.default = B.midstream_error(kind="overloaded")
        resp = await client.post(url, json=body)
        assert resp.status_code == (529 if protocol == "anthropic" else 503)


async def test_delay_holds_the_response(fake: FakeProvider) -> None:
    fake.default = B.text(delay=60)
    url, body = request(fake, "openai", stream=False)
    async with httpx.AsyncClient(timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(url, json=body)
