"""The upstream call: one neutral request, encoded by its codec, sent over ``detour._http``, decoded back.

    build(codec, ...) ── codec.prepare ── codec.path / codec.headers / codec.encode_request ──▶ Wire
    Upstream.complete(codec, provider, wire) ──▶ Response        (codec.decode_response)
    Upstream.open_stream(codec, provider, wire) ──▶ UpstreamStream (codec.stream_decoder)

Every protocol detail comes from the ``Codec`` (``detour.protocol.codec``); this module only moves bytes,
bounds reads in time, and turns HTTP errors (``codec.decode_error``) and exceptions
(``errors.classify_exception``) into ``UpstreamError``. Keys go into headers only: never into messages,
reprs or logs.

The client is ``detour._http.HttpClient``, a lean pooled HTTP/1.1 client on asyncio + httptools: httpx
cost more CPU per request than the gateway's whole budget (bench/bench_routing.py --transport).
httpx remains the path for proxied hosts (HTTP(S)_PROXY / ALL_PROXY) and for an injected
``httpx.AsyncClient``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import orjson

from detour._http import HttpClient, HTTPError, HttpxFallback
from detour._http import Response as HttpResponse
from detour.protocol import errors as _errors
from detour.protocol.codec import Codec, StreamDecoder
from detour.protocol.errors import Failure
from detour.protocol.messages import Event, Request, Response


class UpstreamError(Exception):
    """A failed attempt, already classified; ``headers`` are the upstream's (lower-cased), for rate state."""

    def __init__(self, failure: Failure, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{failure.kind}: {failure.message}")
        self.failure = failure
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class Wire:
    """Everything needed to put one request on the wire; the repr leaves out the headers (keys) and body.

    ``notes``: what the codec's ``prepare`` (history repair) changed, for the attempt to record.
    """

    url: str
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    notes: tuple[str, ...] = ()


def build(codec: Codec, base_url: str, provider: str, model: str, secret: str, req: Request,
          extra_headers: dict[str, str] | None = None) -> Wire:
    """URL + headers + encoded body for one attempt, from the history the codec repaired for this target.

    The codec's headers win over configured ones.
    """
    prepared = codec.prepare(req, provider=provider, model=model)
    req = prepared.request
    if secret == CLIENT_KEY:  # the client's own credential, in the form it came
        if req.credential is None:
            raise UpstreamError(Failure("auth_failed", 'this provider uses the client\'s credentials (apiKey: "client") '
                                        "and the request carried none: send Authorization or x-api-key", status=401))
        extra = {k: v for k, v in (extra_headers or {}).items() if k.lower() not in _AUTH_HEADERS}
        auth = codec.client_headers(req.credential, req)
    else:
        extra, auth = extra_headers or {}, codec.headers(secret, req)
    headers = {"content-type": "application/json", **extra, **auth}
    if req.stream:
        headers["accept"] = "text/event-stream"
    body = orjson.dumps(codec.encode_request(req, model, provider=provider))
    return Wire(base_url.rstrip("/") + codec.path(model, stream=req.stream), headers, body, prepared.notes)


CLIENT_KEY = "client"  # apiKey: "client": this provider takes the credential the client sent
_AUTH_HEADERS = frozenset({"x-api-key", "authorization", "x-goog-api-key"})  # "client" is a marker, never a key


def _failure_from_status(codec: Codec, provider: str, status: int, headers: dict[str, str], raw: bytes) -> Failure:
    try:
        body: Any = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        body = {"error": {"message": raw[:500].decode("utf-8", "replace")}}
    return codec.decode_error(status, headers, body, provider=provider)


def _failure_from_exception(exc: BaseException, *, after_headers: bool) -> Failure:
    return _errors.classify_exception(exc, after_headers=after_headers)


def windows(headers: dict[str, str] | None) -> list[_errors.Window]:
    """Subscription windows (Anthropic unified, Codex) the response headers report."""
    return _errors.windows(headers) if headers else []


def rate_state(headers: dict[str, str]) -> tuple[dict[str, float], dict[str, float]] | None:
    """(remaining, reset_in) from the response headers, when the provider sends them."""
    state = _errors.rate_state(headers)
    if state is None:
        return None
    return dict(state.remaining), dict(state.reset_in)


_NET_ERRORS = (OSError, HTTPError)


class Upstream:
    """A pooled keep-alive client shared by every request of a Router.

    ``client`` may be an ``HttpClient`` (shared, not closed here), an ``httpx.AsyncClient`` (sent through
    httpx, e.g. with a MockTransport), or None for an own ``HttpClient`` with ``max_connections`` per origin.
    """

    def __init__(self, client: Any = None, *, connect_timeout: float = 5.0, max_connections: int = 100) -> None:
        self._own = client is None
        if client is None:
            client = HttpClient(connect_timeout=connect_timeout, max_connections=max_connections, keepalive_expiry=60.0)
        elif hasattr(client, "build_request"):  # an httpx.AsyncClient
            client = HttpxFallback(client, connect_timeout=connect_timeout)
        self.client = client
        self.connect_timeout = connect_timeout

    async def aclose(self) -> None:
        if self._own:
            await self.client.aclose()

    async def connect(self, base_url: str) -> None:
        """Open (and pool) a connection to ``base_url``'s origin without sending anything; raises
        UpstreamError (classified, e.g. ``unreachable``) when it cannot. A no-op for an httpx client."""
        connect = getattr(self.client, "connect", None)
        if connect is None:
            return
        try:
            await connect(base_url)
        except _NET_ERRORS as exc:
            raise UpstreamError(_failure_from_exception(exc, after_headers=False)) from None

    async def complete(self, codec: Codec, provider: str, wire: Wire) -> tuple[Response, dict[str, str]]:
        """Send a non-streaming request; the caller bounds the total time."""
        try:
            resp = await self.client.send("POST", wire.url, headers=wire.headers, body=wire.body)
        except _NET_ERRORS as exc:
            raise UpstreamError(_failure_from_exception(exc, after_headers=False)) from None
        try:
            await resp.aread()
        except _NET_ERRORS as exc:  # the response had started: a broken answer, not a lost request
            await resp.aclose()
            raise UpstreamError(_failure_from_exception(exc, after_headers=True), resp.headers) from None
        headers = resp.headers
        if resp.status >= 400:
            raise UpstreamError(_failure_from_status(codec, provider, resp.status, headers, resp.content), headers)
        try:
            return codec.decode_response(orjson.loads(resp.content)), headers
        except Exception as exc:  # noqa: BLE001 - an undecodable 200 is a broken upstream, not our crash
            raise UpstreamError(Failure("server_error", f"undecodable response: {exc}", status=resp.status), headers) from None

    async def open_stream(self, codec: Codec, provider: str, wire: Wire) -> UpstreamStream:
        """Send a streaming request and wait for the status line + headers."""
        try:
            resp = await self.client.send("POST", wire.url, headers=wire.headers, body=wire.body)
        except _NET_ERRORS as exc:
            raise UpstreamError(_failure_from_exception(exc, after_headers=False)) from None
        headers = resp.headers
        if resp.status >= 400:
            try:
                raw = await resp.aread()
            except _NET_ERRORS:
                raw = b""
            finally:
                await resp.aclose()
            raise UpstreamError(_failure_from_status(codec, provider, resp.status, headers, raw), headers)
        return UpstreamStream(resp, codec.stream_decoder(), headers)


class UpstreamStream:
    """An open upstream SSE response: read decoded events chunk by chunk, each read bounded in time."""

    def __init__(self, resp: HttpResponse, decoder: StreamDecoder, headers: dict[str, str]) -> None:
        self._resp = resp
        self._decoder = decoder
        self.headers = headers
        self.eof = False

    @property
    def finished(self) -> bool:
        """The upstream declared the end (finish reason or [DONE]); trailing usage may still come."""
        return self._decoder.done

    @property
    def data_events(self) -> int:
        return self._decoder.data_events

    async def read(self, timeout: float) -> list[Event]:
        """Events from the next raw chunk ([] for a keep-alive); at EOF the decoder's final events.

        Raises UpstreamError(timeout) when nothing arrives in ``timeout`` s, stream_broken on a cut.
        """
        if self.eof:
            return []
        try:
            chunk = await self._resp.read_chunk(timeout)
        except TimeoutError:
            raise UpstreamError(Failure("timeout", f"no data for {timeout:.1f}s"), self.headers) from None
        except _NET_ERRORS as exc:
            self.eof = True
            raise UpstreamError(_failure_from_exception(exc, after_headers=True), self.headers) from None
        if not chunk:
            self.eof = True
            return self._decoder.close()
        try:
            return self._decoder.feed(chunk)
        except Exception as exc:  # noqa: BLE001 - a decoder crash on garbage is a broken stream
            raise UpstreamError(Failure("stream_broken", f"malformed chunk: {exc}"), self.headers) from None

    def close_events(self) -> list[Event]:
        """Finalise now (e.g. a finished stream that never sent [DONE])."""
        self.eof = True
        return self._decoder.close()

    async def aclose(self) -> None:
        """Release the connection: pooled again when the body was read to the end, closed otherwise."""
        await self._resp.aclose()


def with_stream(req: Request, stream: bool) -> Request:
    if req.stream == stream and (not stream or req.include_usage):
        return req
    return dataclasses.replace(req, stream=stream, include_usage=stream or req.include_usage)
