"""The gateway's ASGI app: three front doors (OpenAI Chat, Anthropic, OpenAI Responses), model listing, status, metrics."""

from __future__ import annotations

import asyncio
import gc
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from detour.catalog.model import capability_names
from detour.protocol.messages import Credential, Request
from detour.routing import names
from detour.routing.keys import session_identity
from detour.routing.sessions import from_headers
from detour.server import asgi
from detour.server.asgi import Receive, Scope, Send
from detour.server.doors import ANTHROPIC, OPENAI, RESPONSES, Door
from detour.server.state import GatewayState

log = logging.getLogger("detour.server")
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


class Gateway:
    """A plain ASGI callable; routing is one dict lookup on (method, path)."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state
        chat_openai = self._door(OPENAI)
        chat_anthropic = self._door(ANTHROPIC)
        responses = self._door(RESPONSES)
        self.routes: dict[tuple[str, str], Handler] = {}
        for prefix in ("/v1", ""):
            self.routes[("POST", f"{prefix}/chat/completions")] = chat_openai
            self.routes[("POST", f"{prefix}/messages")] = chat_anthropic
            self.routes[("POST", f"{prefix}/responses")] = responses
            self.routes[("POST", f"{prefix}/messages/count_tokens")] = self._count_tokens
            self.routes[("GET", f"{prefix}/models")] = self._models
        self.routes[("GET", "/status")] = self._status
        self.routes[("GET", "/status/line")] = self._status_line
        self.routes[("GET", "/healthz")] = self._healthz
        self.routes[("GET", "/metrics")] = self._metrics
        self.routes[("GET", "/")] = self._dashboard
        self.routes[("GET", "/events")] = self._events
        self.routes[("POST", "/reset")] = self._reset
        for (method, path), handler in list(self.routes.items()):  # HEAD wherever GET answers (Claude Code sends
            if method == "GET" and path != "/events":           # HEAD / to check the base URL); the server drops
                self.routes[("HEAD", path)] = handler           # the body. /events is a stream: GET only.

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            handler = self.routes.get((scope["method"], scope["path"]))
            if handler is None:
                await self._not_found(scope, send)
                return
            started = False

            async def tracked(message: dict[str, Any]) -> None:
                nonlocal started
                started = True
                await send(message)

            try:
                await handler(scope, receive, tracked)
            except Exception as exc:
                log.exception("internal error on %s %s", scope["method"], scope["path"])
                if not started:
                    door = ANTHROPIC if scope["path"].startswith("/v1/messages") else OPENAI
                    await self._error(send, door, 500, f"internal gateway error ({type(exc).__name__}); see the gateway log")
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    # ------------------------------------------------------------------ front doors

    def _door(self, door: Door) -> Handler:
        async def handle(scope: Scope, receive: Receive, send: Send) -> None:
            started = time.perf_counter()
            headers = asgi.header_map(scope)
            req = await self._decode(door, headers, receive, send)
            if req is None:
                return
            if req.stream:
                await self._run_stream(door, req, headers, receive, send, started)
            else:
                await self._run_complete(door, req, headers, send, started)

        return handle

    async def _decode(self, door: Door, headers: dict[str, str], receive: Receive, send: Send) -> Request | None:
        if not self._authorized(headers):
            await self._error(send, door, 401, "missing or wrong API key for this gateway: send it as "
                              "'Authorization: Bearer <key>' or 'x-api-key: <key>' (server.apiKeys)")
            return None
        try:
            declared = headers.get("content-length")
            body = await asgi.read_body(receive, self.state.max_body, int(declared) if declared and declared.isdigit() else None)
        except asgi.BodyTooLarge:
            await self._error(send, door, 413, f"request body is larger than the gateway's limit of "
                              f"{self.state.max_body} bytes (server.maxBodySize)")
            return None
        except asgi.ClientGone:
            return None
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            await self._error(send, door, 400, f"request body is not valid JSON: {exc}")
            return None
        if not isinstance(data, dict):
            await self._error(send, door, 400, f"request body must be a JSON object, not {type(data).__name__}")
            return None
        try:
            req: Request = door.codec.decode_request(data, headers)
            req.credential = self._client_credential(headers)
            _check_require(headers, req)
            req.headers = _route_headers(headers, self.state.config)
            hint = req.detour.get("chain")
            req.resolved = self.state.router.resolve(req.model, chain=hint if isinstance(hint, str) else None)
        except names.NoModels as exc:
            await self._error(send, door, 503, str(exc), kind="not_found")
            return None
        except names.UnknownModel as exc:
            await self._error(send, door, 404, str(exc), kind="not_found")
            self.state.observe_refusal(door.name, 404, f"unknown model {data.get('model')!r}")
            return None
        except (ValueError, TypeError, KeyError) as exc:
            await self._error(send, door, 400, _clean(exc))
            return None
        return req

    async def _run_complete(self, door: Door, req: Request, headers: dict[str, str], send: Send, started: float) -> None:
        from detour.routing.result import AllFailed

        try:
            result = await self.state.router.chat(req, require=_require(headers), session=session_of(headers))
        except AllFailed as exc:
            await self._all_failed(send, door, req, exc, started)
            return
        except Exception as exc:
            log.exception("internal error while routing %s", req.model)
            await self._error(send, door, 500, f"internal gateway error ({type(exc).__name__}); see the gateway log")
            return
        body = orjson.dumps(door.codec.encode_response(result.response, shown_model(door, result.model, req), req))
        await asgi.send_bytes(send, 200, body, [asgi.JSON, *_served_headers(result, req)])
        self.state.observe(door.name, req, result, 200, started, named_session(req, headers))

    async def _run_stream(self, door: Door, req: Request, headers: dict[str, str], receive: Receive, send: Send, started: float) -> None:
        task = asyncio.ensure_future(self._stream(door, req, headers, send, started))
        watcher = asyncio.ensure_future(_wait_disconnect(receive))
        done, _pending = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if task not in done:
            task.cancel()  # the client went away: cancel the upstream request at once
            log.info("client disconnected; upstream request cancelled")
        watcher.cancel()
        await asyncio.gather(task, watcher, return_exceptions=True)

    async def _stream(self, door: Door, req: Request, headers: dict[str, str], send: Send, started: float) -> None:
        from detour.routing.result import AllFailed

        encoder = door.codec.stream_encoder(req)
        stream = self.state.router.stream(req, require=_require(headers), session=session_of(headers))
        session = named_session(req, headers)
        sent_headers = False
        try:
            broke = False
            async with stream as s:
                async for event in s:
                    if not sent_headers:
                        encoder.model = shown_model(door, s.model, req)
                        await asgi.start_stream(send, _served_headers(s, req))
                        sent_headers = True
                    if event.kind == "error":
                        await asgi.send_chunk(send, encoder.error(event.failure), more=False)
                        broke = True
                        break
                    chunk = encoder.encode(event)
                    if chunk:
                        await asgi.send_chunk(send, chunk)
            if not broke:
                await asgi.send_chunk(send, b"", more=False)
            self.state.observe(door.name, req, s.result, 200, started, session)  # closed: s.result has every attempt
        except AllFailed as exc:
            if sent_headers:
                from detour.protocol.errors import Failure

                await asgi.send_chunk(send, encoder.error(exc.failure or Failure("stream_broken", str(exc))), more=False)
            else:
                await self._all_failed(send, door, req, exc, started)

    async def _all_failed(self, send: Send, door: Door, req: Request, exc: Any, started: float) -> None:
        extra: list[tuple[bytes, bytes]] = [(b"x-detour-attempts", str(len(exc.attempts)).encode())]
        if exc.retry_after is not None:
            extra.append((b"retry-after", str(max(1, round(exc.retry_after))).encode()))
        kind = exc.failure.kind if exc.failure is not None else None
        status, body = door.error(exc.status, str(exc), kind=kind, retry_after=exc.retry_after)
        await asgi.send_json(send, status, body, extra)
        self.state.observe_failure(door.name, req, exc, status, started)

    # ------------------------------------------------------------------ other routes

    async def _count_tokens(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = asgi.header_map(scope)
        req = await self._decode(ANTHROPIC, headers, receive, send)
        if req is not None:
            from detour.server.state import estimate_tokens

            await asgi.send_json(send, 200, {"input_tokens": estimate_tokens(req)})

    async def _models(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._authorized(asgi.header_map(scope)):
            await self._error(send, OPENAI, 401, "missing or wrong API key for this gateway")
            return
        await asgi.send_json(send, 200, self.state.models_listing())

    async def _status(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``?session=ID`` adds that session's view even when it is not among the most recent ones."""
        await asgi.send_json(send, 200, self.state.status(session=asgi.query_param(scope, "session")))

    async def _status_line(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The one-liner of `detour status --line` as text/plain: ``?session=ID`` for that client session
        (Claude Code's status line asks for it), else ``?chain=NAME`` (default ``default``)."""
        from detour._cli.statusline import session_line

        session = asgi.query_param(scope, "session")
        line = session_line(self.state.status(session=session), session, asgi.query_param(scope, "chain") or "default")
        await asgi.send_bytes(send, 200, line.encode(), [(b"content-type", b"text/plain; charset=utf-8")])

    async def _reset(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Clear cooldowns by hand: ``{"model": "provider/model"}`` for one model, ``{}`` for all."""
        headers = asgi.header_map(scope)
        if not self._authorized(headers):
            await self._error(send, OPENAI, 401, "missing or wrong API key for this gateway")
            return
        try:
            data = orjson.loads(await asgi.read_body(receive, 65536, None) or b"{}")
        except (orjson.JSONDecodeError, asgi.BodyTooLarge, asgi.ClientGone):
            await self._error(send, OPENAI, 400, 'body must be JSON like {"model": "provider/model"} or {}')
            return
        model = data.get("model") if isinstance(data, dict) else None
        cleared = await self.state.reset(model)
        await asgi.send_json(send, 200, {"cleared": cleared})

    async def _healthz(self, scope: Scope, receive: Receive, send: Send) -> None:
        await asgi.send_bytes(send, 200, b'{"status":"ok"}', [asgi.JSON])

    async def _metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, content_type = self.state.metrics.render()
        await asgi.send_bytes(send, 200, body, [(b"content-type", content_type.encode())])

    async def _dashboard(self, scope: Scope, receive: Receive, send: Send) -> None:
        from detour.server.dashboard import page

        await asgi.send_bytes(send, 200, page(), [(b"content-type", b"text/html; charset=utf-8")])

    async def _events(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Server-Sent Events until the client leaves: ``state`` on connect, then every feed event as it
        happens (switch, cooldown_start/end, probe, recover, ...), and a ``status`` snapshot once a second.

        ``?session=ID`` keeps only that session's events (and those of no session); ``state`` then also
        holds the session's view. Gateway keys apply, as on the front doors.
        """
        from detour.server.events import matches, sse

        if not self._authorized(asgi.header_map(scope)):
            await self._error(send, OPENAI, 401, "missing or wrong API key for this gateway: send it as "
                              "'Authorization: Bearer <key>' or 'x-api-key: <key>' (server.apiKeys)")
            return
        session = asgi.query_param(scope, "session")
        feed = self.state.events.subscribe()
        await asgi.start_stream(send, [])
        gone = asyncio.ensure_future(_wait_disconnect(receive))
        nxt: asyncio.Future[Any] = asyncio.ensure_future(anext(feed))
        try:
            state: dict[str, Any] = {"status": self.state.status(),
                                     "recent": [e for e in self.state.events.recent if matches(e, session)]}
            if session:
                state["session"] = self.state.session_status(session)
            await asgi.send_chunk(send, sse("state", state))
            tick = time.monotonic() + 1.0
            while not gone.done():
                await asyncio.wait({gone, nxt}, timeout=max(0.0, tick - time.monotonic()), return_when=asyncio.FIRST_COMPLETED)
                if nxt.done():
                    try:
                        event = nxt.result()
                    except StopAsyncIteration:  # the gateway is shutting down: end the stream
                        await asgi.send_chunk(send, b"", more=False)
                        return
                    nxt = asyncio.ensure_future(anext(feed))
                    if matches(event, session):
                        await asgi.send_chunk(send, sse(event["type"], event, event["id"]))
                if time.monotonic() >= tick:
                    await asgi.send_chunk(send, sse("status", self.state.status()))
                    tick = time.monotonic() + 1.0
        except OSError:
            pass
        finally:
            gone.cancel()
            nxt.cancel()
            await asyncio.gather(gone, nxt, return_exceptions=True)
            await feed.aclose()

    async def _not_found(self, scope: Scope, send: Send) -> None:
        door = ANTHROPIC if scope["path"].startswith("/v1/messages") else OPENAI
        what = f"no route {scope['method']} {scope['path']}"
        if scope["path"].startswith(("/v1/responses/", "/responses/")):  # retrieve, delete, cancel, input_items
            what += "; detour is stateless and stores no responses: keep the response you received, and send the whole conversation in `input`"
        status, body = door.no_route(f"{what}; detour serves POST "
                                     "/v1/chat/completions, POST /v1/messages, POST /v1/responses, GET /v1/models, GET /status")
        await asgi.send_json(send, status, body)
        self.state.observe_refusal("-", 404, f"no route {scope['method']} {scope['path'][:200]}")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.state.start()
                gc.freeze()  # the catalog and config built at start-up are kept; no collection walks them again
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.state.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ------------------------------------------------------------------ helpers

    def _client_credential(self, headers: dict[str, str]) -> Credential | None:
        """What the client authenticated with, for providers that pass it through (apiKey: "client").
        A gateway key (server.apiKeys) is the gateway's own and is never passed on."""
        own = set(self.state.api_keys)
        beta = tuple(b.strip() for b in headers.get("anthropic-beta", "").split(",") if b.strip().startswith("oauth-"))
        bearer = headers.get("authorization", "")
        if bearer[:7].lower() == "bearer " and (token := bearer[7:].strip()) and token not in own:
            return Credential("bearer", token, beta)
        key = headers.get("x-api-key", "").strip()
        if key and key not in own:
            return Credential("api-key", key, beta)
        return None

    def _authorized(self, headers: dict[str, str]) -> bool:
        keys = self.state.api_keys
        if not keys:
            return True
        given = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ").strip()
        ok = False
        for key in keys:  # compare with every key, in constant time, so timing reveals nothing
            ok |= hmac.compare_digest(given.encode(), key.encode())
        return ok

    async def _error(self, send: Send, door: Door, status: int, message: str, *, kind: str | None = None) -> None:
        status, body = door.error(status, message, kind=kind)
        await asgi.send_json(send, status, body)


def shown_model(door: Door, served: str, req: Request) -> str:
    """The model a response body names: the served ``provider/model`` id, except on the Anthropic door when it
    is the very model the client asked for by its own name (``claude-opus-4-8`` served as ``ant/claude-opus-4-8``):
    then that name. Claude Code strips the thinking blocks of every turn whose model differs from the one it
    requested, which would disable thinking mid tool loop on each step. ``x-detour-model`` always has the id."""
    if door is ANTHROPIC and served.partition("/")[2] == req.model:
        return req.model
    return served


def named_session(req: Request, headers: dict[str, str]) -> str | None:
    """The session the gateway tracks for this request: the one the router keys it by, when the client named
    it (headers or body: Claude Code's metadata, prompt_cache_key...); None for an unnamed conversation."""
    key, named = session_identity(req, session_of(headers))
    return key if named else None


def session_of(headers: dict[str, str]) -> str | None:
    """The session the client's headers name (detour.routing.sessions.from_headers: x-detour-session, Claude
    Code's x-claude-code-session-id, OpenCode's x-session-id, Codex's session_id)."""
    return from_headers(headers)


def _route_headers(headers: dict[str, str], config: Any) -> dict[str, str]:
    """Only the headers route rules look at travel on the Request (never credentials)."""
    from detour.routing.routes import header_names

    keep = header_names(config.routes)
    return {k: v for k, v in headers.items() if k in keep}


def _require(headers: dict[str, str]) -> list[str] | None:
    return capability_names(headers.get("x-detour-require")) or None


def _check_require(headers: dict[str, str], req: Request) -> None:
    """Requirement words by the one vocabulary; an unknown one is the client's 400, naming the accepted words."""
    from detour.catalog.model import UnknownCapability

    for where, value in (("x-detour-require header", headers.get("x-detour-require")),
                         ("detour.require", req.detour.get("require"))):
        try:
            capability_names(value)
        except UnknownCapability as exc:
            raise ValueError(f"{where}: {exc}") from None


def _served_headers(result: Any, req: Request) -> list[tuple[bytes, bytes]]:
    out = [(b"x-detour-model", result.model.encode()), (b"x-detour-attempts", str(len(result.attempts)).encode())]
    if req.resolved is not None:  # what the model name the client sent was read as
        out.append((b"x-detour-resolved", req.resolved.header().encode()))
    if result.fallback_reason:  # one of routing.result.FALLBACK_REASONS' documented forms
        out.append((b"x-detour-fallback-reason", result.fallback_reason.encode()))
    if result.route is not None:
        out.append((b"x-detour-route", result.route.header().encode()))
    escalations = [f"{check}@{model}" for model, check in result.escalations]
    if escalations:
        out.append((b"x-detour-escalations", ", ".join(escalations).encode()))
    return out


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _clean(exc: BaseException) -> str:
    # a KeyError's str() is the repr of its key; other messages keep their quotes ("role 'wizard'")
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return text or type(exc).__name__
