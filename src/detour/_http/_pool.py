"""Connections to one origin (scheme, host, port): idle keep-alive reuse, a cap, idle expiry."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque

from detour._http._conn import Connection
from detour._http._errors import ConnectError, ConnectTimeout


class Pool:
    """At most ``limit`` connections to one origin; callers beyond that wait for one to come back.

    ``acquire`` prefers the most recently used idle connection, dropping those the server closed
    meanwhile or idle for longer than ``expiry`` seconds. ``release`` hands a reusable connection to
    the next waiter or parks it; ``discard`` frees the slot of a closed one.
    """

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None, *, limit: int, expiry: float,
                 connect_timeout: float | None) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.limit, self.expiry, self.connect_timeout = limit, expiry, connect_timeout
        self.idle: list[Connection] = []
        self.active: set[Connection] = set()
        self.opening = 0
        self._waiters: deque[asyncio.Future[Connection | None]] = deque()

    @property
    def size(self) -> int:
        return len(self.idle) + len(self.active) + self.opening

    async def acquire(self, *, fresh: bool = False) -> Connection:
        loop = asyncio.get_running_loop()
        if not fresh:
            conn = self._idle_conn(loop.time())
            if conn is not None:
                self.active.add(conn)
                return conn
        elif self.idle and self.size >= self.limit:
            self.idle.pop(0).close()  # make room for the fresh one
        while self.size >= self.limit:
            fut: asyncio.Future[Connection | None] = loop.create_future()
            self._waiters.append(fut)
            try:
                handed = await fut
            except BaseException:
                self._abandon(fut)
                raise
            if handed is not None:
                if handed.usable and not fresh:
                    return handed  # release() already counted it as active
                self.active.discard(handed)
                handed.close()  # its slot is ours now: connect below
        return await self._connect(loop)

    def _abandon(self, fut: asyncio.Future[Connection | None]) -> None:
        """A waiter was cancelled: pass on whatever it was handed."""
        if not fut.done() or fut.cancelled():
            if fut in self._waiters:
                self._waiters.remove(fut)
            return
        handed = fut.result()
        if handed is None:
            self._wake_one()
        else:
            self.release(handed)

    def _idle_conn(self, now: float) -> Connection | None:
        idle = self.idle
        while idle:
            conn = idle.pop()
            if conn.usable and now - conn.idle_since < self.expiry:
                return conn
            conn.close()
        return None

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> Connection:
        self.opening += 1
        conn = Connection(loop)
        try:
            async with asyncio.timeout(self.connect_timeout):
                await loop.create_connection(
                    lambda: conn, self.host, self.port, ssl=self.tls,
                    server_hostname=self.host if self.tls is not None else None,
                )
        except TimeoutError:
            self._wake_one()
            raise ConnectTimeout(f"no connection to {self.host}:{self.port} in {self.connect_timeout}s") from None
        except (ConnectionRefusedError, socket.gaierror, ssl.SSLError):
            self._wake_one()
            raise  # the classifier knows these as connect failures already
        except OSError as exc:  # e.g. ENETUNREACH, or a reset during the TLS handshake: still nothing was sent
            self._wake_one()
            raise ConnectError(f"cannot connect to {self.host}:{self.port}: {type(exc).__name__}: {exc}") from exc
        except BaseException:
            self._wake_one()
            raise
        finally:
            self.opening -= 1
        _nodelay(conn)
        self.active.add(conn)
        return conn

    def release(self, conn: Connection) -> None:
        """Back from a request whose response was read to the end."""
        self.active.discard(conn)
        if not (conn.keep_alive and conn.usable):
            conn.close()
            self._wake_one()
            return
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                self.active.add(conn)
                fut.set_result(conn)
                return
        now = conn.loop.time()
        idle = self.idle
        while idle and now - idle[0].idle_since >= self.expiry:  # reap the stalest while we are here
            idle.pop(0).close()
        conn.idle_since = now
        idle.append(conn)

    def drop_idle(self) -> None:
        """Close every idle connection (they may be as dead as one that just failed)."""
        idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()
            self._wake_one()

    def discard(self, conn: Connection) -> None:
        """Close ``conn`` (early stream close, error, cancellation) and free its slot."""
        conn.close()
        self.active.discard(conn)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def close(self) -> None:
        for conn in [*self.idle, *self.active]:
            conn.close()
        self.idle.clear()
        self.active.clear()
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)


def _nodelay(conn: Connection) -> None:
    sock = conn.transport.get_extra_info("socket") if conn.transport is not None else None
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
