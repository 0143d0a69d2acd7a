"""One HTTP/1.1 connection: an ``asyncio.Protocol`` feeding bytes straight into ``httptools``.

No StreamReader in between: ``data_received`` parses, parser callbacks buffer the status, headers and
body chunks, and a single waiter future wakes the reader. One request at a time (no pipelining).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import httptools

from detour._http._errors import ReadError, ReadTimeout, RemoteProtocolError

HIGH_WATER = 1 << 20  # pause reading once this much body is buffered and unread


class Connection(asyncio.Protocol):
    """A keep-alive connection to one origin. ``requests`` counts requests sent on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.requests = 0
        self.idle_since = 0.0
        self.closed = False  # connection_lost ran (or we closed it)
        self.error: BaseException | None = None  # why the connection died, when it did
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._paused = False
        self._reset_message()

    def _reset_message(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.received = 0  # response bytes since the request was sent
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.until_eof = False  # no length, not chunked: the body ends when the server closes

    # ------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # asyncio.Transport is declared BaseTransport by Protocol.connection_made

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        if self.complete or self.requests == 0:  # bytes nobody asked for: this connection is unusable
            self.keep_alive = False
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(RemoteProtocolError(f"malformed HTTP response: {exc}"))
            return
        if self.buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.until_eof and self.headers_done and exc is None:
            self.complete = True
        elif self.error is None:
            self.error = exc
        self._wake()
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        self._drain = self.loop.create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._drain = None

    # ------------------------------------------------------------ httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        old = self.headers.get(key)
        self.headers[key] = text if old is None else f"{old}, {text}"

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim response (100 Continue): the real one follows
            self.headers = {}
            return
        self.status = status
        self.headers_done = True
        self.keep_alive = self.parser.should_keep_alive()
        headers = self.headers
        if status not in (204, 304) and "content-length" not in headers and "chunked" not in headers.get("transfer-encoding", ""):
            self.until_eof = True
            self.keep_alive = False

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)

    def on_message_complete(self) -> None:
        if self.headers_done:
            self.complete = True

    # ------------------------------------------------------------ used by the client

    @property
    def usable(self) -> bool:
        """Idle, open and not expecting anything: may carry the next request."""
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def is_closed(self) -> bool:
        return self.closed or self.transport is None or self.transport.is_closing()

    def begin(self) -> None:
        self._reset_message()
        self.requests += 1

    async def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ReadError("connection closed before the request was sent")
        transport.write(data)
        if self._drain is not None:
            await self._drain
            if self.closed:
                raise ReadError("connection closed while sending the request") from self.error

    async def wait(self, timeout: float | None) -> None:
        """Sleep until the parser or the socket has news; ReadTimeout after ``timeout`` s of silence."""
        fut = self.loop.create_future()
        self._waiter = fut
        handle = self.loop.call_later(timeout, _expire, fut, timeout) if timeout is not None else None
        try:
            await fut
        finally:
            self._waiter = None
            if handle is not None:
                handle.cancel()

    def take(self) -> bytes:
        """Everything buffered so far, as one bytes object."""
        chunks = self.chunks
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.buffered = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    def broken(self) -> BaseException:
        """The error to raise for a connection that died before its message was complete."""
        err = self.error
        if isinstance(err, RemoteProtocolError):
            return err
        if err is not None:
            wrapped = ReadError(f"{type(err).__name__}: {err}" if str(err) else type(err).__name__)
            wrapped.__cause__ = err
            return wrapped
        if not self.headers_done:
            return RemoteProtocolError("server disconnected without sending a response")
        return RemoteProtocolError("peer closed connection without sending the complete message body")

    def close(self) -> None:
        self.keep_alive = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        self.closed = True
        self._wake()

    def abort(self) -> None:
        self.keep_alive = False
        if self.transport is not None:
            self.transport.abort()
        self.closed = True
        self._wake()

    def _fail(self, exc: BaseException) -> None:
        self.error = exc
        self.abort()

    def _wake(self) -> None:
        fut = self._waiter
        if fut is not None and not fut.done():
            fut.set_result(None)


def _expire(fut: asyncio.Future[Any], timeout: float) -> None:
    if not fut.done():
        fut.set_exception(ReadTimeout(f"no data for {timeout:.1f}s"))
