"""One shared async HTTP client, and the per-protocol URL + auth + codec glue around it.

The router hands over a neutral Request and a Target; this module encodes it with the right codec,
sends it, and gives back a neutral Response or a stream of neutral Events. HTTP errors are mapped
through ``errors.classify`` and exceptions through ``errors.classify_exception`` into ``UpstreamError``.
Keys go into headers only: never into messages, reprs or logs.

The client is ``detour._http.HttpClient``, a lean pooled HTTP/1.1 client on asyncio + httptools: httpx
cost more CPU per request than the gateway's whole budget (bench/bench_routing.py --transport).
httpx remains the path for proxied hosts (HTTP(S)_PROXY / ALL_PROXY) and for an injected
``httpx.AsyncClient``.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import orjson

from detour._http import HttpClient, HTTPError, HttpxFallback
from detour._http import Response as HttpResponse
from detour.protocol import errors as _errors
from detour.protocol import history
from detour.protocol.errors import Failure
from detour.protocol.messages import Credential, Event, Request, Response

ANTHROPIC_VERSION = "2023-06-01"
CODECS = {"openai": "detour.protocol.openai_chat", "anthropic": "detour.protocol.anthropic", "gemini": "detour.protocol.gemini",
          "openai-responses": "detour.protocol.openai_responses"}
FLAVORS = frozenset({"openai", "deepseek", "groq", "mistral", "ollama", "lmstudio", "openrouter", "xai"})


class UpstreamError(Exception):
    """A failed attempt, already classified. ``after_content`` is set by the router, not here."""

    def __init__(self, failure: Failure, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{failure.kind}: {failure.message}")
        self.failure = failure
        self.headers = headers or {}


_LOADED: dict[str, ModuleType] = {}


def codec(protocol: str) -> ModuleType:
    mod = _LOADED.get(protocol)
    if mod is None:  # imported on first use; import_module per request costs more than the lookup
        mod = _LOADED[protocol] = importlib.import_module(CODECS[protocol])
    return mod


def flavor_for(provider: str) -> str:
    return provider if provider in FLAVORS else "generic"


@dataclass(frozen=True, slots=True)
class Wire:
    """Everything needed to put one request on the wire; ``notes``: what history repair changed."""

    url: str
    headers: dict[str, str]
    body: bytes
    notes: tuple[str, ...] = ()


def build(protocol: str, base_url: str, provider: str, model: str, secret: str, req: Request,
          extra_headers: dict[str, str] | None = None) -> Wire:
    """URL + auth headers + encoded body for one protocol, from the history repaired for this target."""
    mod = codec(protocol)
    thinking = protocol == "anthropic" and mod.thinking_on(req)
    prepared = history.prepare(req, protocol, flavor_for(provider), thinking)
    req = prepared.request
    base = base_url.rstrip("/")
    headers = {"content-type": "application/json", **(extra_headers or {})}
    if protocol == "anthropic":
        body = mod.encode_request(req, model)
        url = f"{base}/messages"
        headers["anthropic-version"] = ANTHROPIC_VERSION
        headers.update(getattr(mod, "request_headers", lambda _r: {})(req))
        if secret:
            headers["x-api-key"] = secret
    elif protocol == "gemini":
        body = mod.encode_request(req, model)
        url = base + mod.request_path(model, req.stream)
        if secret:
            headers["x-goog-api-key"] = secret
    elif protocol == "openai-responses":
        body = mod.encode_request(req, model)
        url = f"{base}/responses"
        if secret:
            headers["authorization"] = f"Bearer {secret}"
    else:
        body = mod.encode_request(req, model, flavor=flavor_for(provider))
        url = f"{base}/chat/completions"
        if secret:
            headers["authorization"] = f"Bearer {secret}"
    if secret == CLIENT_KEY:
        _pass_through(protocol, headers, req.credential)
    elif "anthropic-beta" in headers:  # the client's OAuth marker belongs to its own credential only
        kept = [b for b in headers["anthropic-beta"].split(",") if not b.strip().startswith("oauth-")]
        if kept:
            headers["anthropic-beta"] = ",".join(kept)
        else:
            del headers["anthropic-beta"]
    if req.stream:
        headers["accept"] = "text/event-stream"
    return Wire(url, headers, orjson.dumps(body), prepared.notes)


CLIENT_KEY = "client"  # apiKey: "client": this provider takes the credential the client sent


def _pass_through(protocol: str, headers: dict[str, str], credential: Credential | None) -> None:
    """The client's own credential, in the form it came (an OAuth bearer token stays a bearer token)."""
    for name in ("x-api-key", "authorization", "x-goog-api-key"):
        headers.pop(name, None)  # "client" is a marker, never a key
    if credential is None:
        raise UpstreamError(Failure("auth_failed", 'this provider uses the client\'s credentials (apiKey: "client") '
                                    "and the request carried none: send Authorization or x-api-key", status=401))
    if protocol == "gemini":
        headers["x-goog-api-key"] = credential.value
    elif protocol == "anthropic" and credential.scheme == "api-key":
        headers["x-api-key"] = credential.value
    else:
        headers["authorization"] = f"Bearer {credential.value}"
    if protocol == "anthropic" and credential.oauth_beta:
        beta = [b for b in headers.get("anthropic-beta", "").split(",") if b.strip()]
        headers["anthropic-beta"] = ",".join(dict.fromkeys([*beta, *credential.oauth_beta]))


def lower_headers(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _failure_from_status(protocol: str, provider: str, status: int, headers: dict[str, str], raw: bytes) -> Failure:
    try:
        body: Any = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        body = {"error": {"message": raw[:500].decode("utf-8", "replace")}}
    wire = "openai" if protocol == "openai-responses" else protocol  # one OpenAI error envelope for both APIs
    return _errors.classify(wire, status, headers, body, provider=provider)  # type: ignore[arg-type]


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


class Transport:
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

    async def complete(self, protocol: str, provider: str, wire: Wire) -> tuple[Response, dict[str, str]]:
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
            raise UpstreamError(_failure_from_status(protocol, provider, resp.status, headers, resp.content), headers)
        try:
            return codec(protocol).decode_response(orjson.loads(resp.content)), headers
        except Exception as exc:  # noqa: BLE001 - an undecodable 200 is a broken upstream, not our crash
            raise UpstreamError(Failure("server_error", f"undecodable response: {exc}", status=resp.status), headers) from None

    async def open_stream(self, protocol: str, provider: str, wire: Wire) -> UpstreamStream:
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
            raise UpstreamError(_failure_from_status(protocol, provider, resp.status, headers, raw), headers)
        return UpstreamStream(resp, codec(protocol).StreamDecoder(), headers)


class UpstreamStream:
    """An open upstream SSE response: read decoded events chunk by chunk, each read bounded in time."""

    def __init__(self, resp: HttpResponse, decoder: Any, headers: dict[str, str]) -> None:
        self._resp = resp
        self._decoder = decoder
        self.headers = headers
        self.eof = False

    @property
    def finished(self) -> bool:
        """The upstream declared the end (finish reason or [DONE]); trailing usage may still come."""
        return bool(getattr(self._decoder, "done", False))

    @property
    def data_events(self) -> int:
        return int(getattr(self._decoder, "data_events", 0))

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
