"""``Response``: status and headers first, then the body whole or chunk by chunk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Self

from detour._http._conn import Connection
from detour._http._pool import Pool


class Response:
    """Status and lowercased headers as soon as they arrive; the body read whole or chunk by chunk.

    Read to the end, the connection goes back to the pool; closed early (``aclose``), it is closed.
    """

    __slots__ = ("_conn", "_pool", "content", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], conn: Connection | None, pool: Pool | None,
                 content: bytes = b"") -> None:
        self.status, self.headers, self.content = status, headers, content
        self._conn, self._pool = conn, pool

    @property
    def status_code(self) -> int:
        return self.status

    @property
    def closed(self) -> bool:
        return self._conn is None

    async def read_chunk(self, timeout: float | None = None) -> bytes:
        """The body bytes that arrived since the last read (waiting up to ``timeout`` s); b"" at the end.

        Raises ReadTimeout when nothing arrives in time (the response stays open), ReadError /
        RemoteProtocolError when the connection breaks before the body is complete.
        """
        conn = self._conn
        if conn is None:
            return b""
        while True:
            if conn.chunks:
                return conn.take()
            if conn.complete:
                self._finish()
                return b""
            if conn.closed:
                self._drop()
                raise conn.broken()
            await conn.wait(timeout)

    async def aread(self, timeout: float | None = None) -> bytes:
        """The rest of the body (``timeout`` bounds each wait for more bytes, not the whole read)."""
        if self._conn is None:
            return self.content
        parts = [self.content] if self.content else []
        try:
            while chunk := await self.read_chunk(timeout):
                parts.append(chunk)
        except BaseException:
            self._drop()
            raise
        self.content = b"".join(parts)
        return self.content

    async def aiter_bytes(self, timeout: float | None = None) -> AsyncIterator[bytes]:
        """Body chunks as they arrive; ``timeout`` bounds each wait."""
        try:
            while chunk := await self.read_chunk(timeout):
                yield chunk
        finally:
            if self._conn is not None:
                self._drop()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.aiter_bytes()

    async def aclose(self) -> None:
        """Release the connection: back to the pool when the body was read to the end, else closed."""
        if self._conn is not None:
            if self._conn.complete and not self._conn.chunks:
                self._finish()
            else:
                self._drop()

    def _finish(self) -> None:
        conn, pool = self._conn, self._pool
        self._conn = None
        if pool is not None and conn is not None:
            pool.release(conn)

    def _drop(self) -> None:
        conn, pool = self._conn, self._pool
        self._conn = None
        if pool is not None and conn is not None:
            pool.discard(conn)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()
