"""A minimal, fast HTTP/1.1 server on raw asyncio + httptools (keep-alive, Content-Length and chunked bodies).

A handler turns a request into a list of steps: bytes to write, waits, and connection signals. Steps run
synchronously until the first wait, so zero-latency responses never create a task.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import socket
import struct
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from itertools import chain
from typing import NamedTuple

import httptools

log = logging.getLogger("detour.testing")


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


class Sleep(NamedTuple):
    """Wait ``seconds`` (ends early if the client goes away)."""

    seconds: float


class Hold(NamedTuple):
    """Keep the connection open for ``seconds``, writing ``keepalive`` every ``every`` seconds if given."""

    seconds: float = math.inf
    keepalive: bytes | None = None
    every: float = 1.0


class Signal(enum.Enum):
    CLOSE = "close"  # flush, then FIN: a cut stream
    RESET = "reset"  # RST at once (SO_LINGER 0)


Step = bytes | Sleep | Hold | Signal
Handler = Callable[[Request], list[Step]]

_REASONS = {529: "Overloaded", 499: "Client Closed Request"}
LAST_CHUNK = b"0\r\n\r\n"


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return _REASONS.get(status, "Unknown")


def head(status: int, headers: Iterable[tuple[str, str]], length: int | None) -> bytes:
    """Status line and headers; ``length=None`` means a chunked body."""
    lines = [f"HTTP/1.1 {status} {_reason(status)}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append(f"content-length: {length}" if length is not None else "transfer-encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def response(status: int, headers: Iterable[tuple[str, str]], body: bytes) -> bytes:
    return head(status, headers, len(body)) + body


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body."""
    return b"%x\r\n%b\r\n" % (len(data), data)


class _Conn(asyncio.Protocol):
    """One client connection: parse requests, run their steps in order."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._parser = httptools.HttpRequestParser(self)
        self._queue: deque[Request] = deque()
        self._busy = False
        self._lost = False
        self._lost_fut: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # asyncio.Transport is declared BaseTransport by Protocol.connection_made
        self._server.conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._server.conns.discard(self)
        if self._lost_fut is not None and not self._lost_fut.done():
            self._lost_fut.set_result(None)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._write(response(400, [("content-type", "text/plain")], b"bad request"))
            self._close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url, self._headers, self._body = b"", {}, []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        path, _, query = self._url.decode("latin-1").partition("?")
        method = self._parser.get_method().decode("latin-1")
        body = b"".join(self._body)
        self._queue.append(Request(method, path, query, self._headers, body, self._parser.should_keep_alive()))
        if not self._busy:
            self._drain()

    # running steps
    def _drain(self) -> None:
        while self._queue and not self._lost and not self._busy:
            req = self._queue.popleft()
            self._run_sync(req, iter(self._steps(req)))

    def _steps(self, req: Request) -> list[Step]:
        try:
            return self._server.handler(req)
        except Exception:  # a bug in a behaviour must not kill the server
            log.exception("fake provider handler failed")
            return [response(500, [("content-type", "text/plain")], traceback.format_exc().encode())]

    def _run_sync(self, req: Request, steps: Iterator[Step]) -> None:
        for step in steps:
            if type(step) is bytes:
                self._write(step)
            elif isinstance(step, Signal):
                self._signal(step)
                return
            else:
                self._busy = True
                self._task = asyncio.get_running_loop().create_task(self._run_async(req, chain([step], steps)))
                return
        self._done(req)

    async def _run_async(self, req: Request, steps: Iterator[Step]) -> None:
        try:
            for step in steps:
                if self._lost:
                    return
                if isinstance(step, bytes):
                    self._write(step)
                elif isinstance(step, Signal):
                    self._signal(step)
                    return
                elif isinstance(step, Sleep):
                    await self._wait_lost(step.seconds)
                else:
                    await self._hold(step)
            self._done(req)
        finally:
            self._busy = False
        self._drain()

    async def _wait_lost(self, seconds: float) -> bool:
        """Wait up to ``seconds``; True if the client went away meanwhile."""
        if self._lost:
            return True
        if self._lost_fut is None:
            self._lost_fut = asyncio.get_running_loop().create_future()
        timeout = None if math.isinf(seconds) else max(0.0, seconds)
        done, _ = await asyncio.wait({self._lost_fut}, timeout=timeout)
        return bool(done)

    async def _hold(self, hold: Hold) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + hold.seconds
        while not self._lost:
            if hold.keepalive is not None:
                self._write(hold.keepalive)
            left = deadline - loop.time()
            if left <= 0:
                return
            wait = min(left, hold.every) if hold.keepalive is not None else left
            if await self._wait_lost(wait):
                return

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _done(self, req: Request) -> None:
        if not req.keep_alive:
            self._close()

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _signal(self, signal: Signal) -> None:
        if signal is Signal.RESET:
            self.reset()
        else:
            self._close()
        self._queue.clear()

    def reset(self) -> None:
        """Abort with RST: SO_LINGER on with a zero timeout."""
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.transport.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        if self._task is not None:
            self._task.cancel()


class HttpServer:
    """Listens on host:port and hands each request to ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.conns: set[_Conn] = set()
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Conn(self), host, port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self.conns):
            conn.abort()
        self.conns.clear()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
