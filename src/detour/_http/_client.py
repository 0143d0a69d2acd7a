"""``HttpClient``: HTTP/1.1 over per-origin pools of asyncio connections, with the retry-once rule."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import urlsplit

from detour._http import _proxy
from detour._http._conn import Connection
from detour._http._errors import InvalidURL, ReadError, RemoteProtocolError
from detour._http._pool import Pool
from detour._http._response import Response

_DEFAULT_PORTS = {"http": 80, "https": 443}
_RESERVED = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_BODYLESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})


class _Stale(Exception):
    """A reused connection died before any response byte: nothing was processed, retry once."""


class Origin:
    """A parsed URL: the pool key, the Host header and the request target."""

    __slots__ = ("host", "host_header", "key", "port", "scheme", "target")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        try:
            port = parts.port
        except ValueError:
            port = -1
        if scheme not in _DEFAULT_PORTS or not parts.hostname or port == -1:
            raise InvalidURL(f"unsupported URL: {url!r}")
        self.scheme, self.host = scheme, parts.hostname
        self.port = port or _DEFAULT_PORTS[scheme]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{self.port}"
        self.key = (scheme, self.host, self.port)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class ProxyClient(Protocol):
    """The fallback used for proxied requests (``detour._http._proxy.HttpxFallback``)."""

    async def send(self, method: str, url: str, *, headers: Mapping[str, str] | None = None, body: bytes = b"",
                   timeout: float | None = None) -> Response: ...

    async def aclose(self) -> None: ...


class HttpClient:
    """A minimal HTTP/1.1 client for the gateway's hot path: one pool per (scheme, host, port).

    - keep-alive reuse, at most ``max_connections`` per origin, idle connections dropped after
      ``keepalive_expiry`` s;
    - a reused connection that turns out closed before any response byte is retried once on a fresh one
      (when idle long enough to be the keep-alive race, or the method is idempotent); any other connection
      that dies without a byte raises, and drops the origin's idle connections so a retry connects afresh;
    - ``connect_timeout`` bounds TCP + TLS set-up; read timeouts are passed per read;
    - https uses ``ssl_context`` (default: ``ssl.create_default_context()``, the system trust store) with SNI;
    - with ``trust_env`` and HTTP(S)_PROXY / ALL_PROXY set for a host (not in NO_PROXY, not loopback),
      that request goes through httpx instead (``proxy_client``, created on first use).

    Responses are never decompressed: requests carry ``accept-encoding: identity``.
    """

    def __init__(self, *, connect_timeout: float | None = 5.0, max_connections: int = 100,
                 keepalive_expiry: float = 60.0, ssl_context: ssl.SSLContext | None = None,
                 trust_env: bool = True, env: Mapping[str, str] | None = None,
                 proxy_client: ProxyClient | None = None, stale_idle: float = 1.0) -> None:
        self.connect_timeout = connect_timeout
        self.stale_idle = stale_idle
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self._ssl = ssl_context
        self._pools: dict[tuple[str, str, int], Pool] = {}
        self._origins: dict[str, Origin] = {}
        self._proxies = _proxy.Proxies.from_env(env) if trust_env else _proxy.Proxies.none()
        self._proxy_client = proxy_client
        self._closed = False

    # ------------------------------------------------------------ requests

    async def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                      body: bytes = b"", timeout: float | None = None) -> Response:
        """Send and read the whole body into ``Response.content``; ``timeout`` bounds each wait for bytes."""
        resp = await self.send(method, url, headers=headers, body=body, timeout=timeout)
        await resp.aread(timeout)
        return resp

    def stream(self, method: str, url: str, *, headers: Mapping[str, str] | None = None, body: bytes = b"",
               timeout: float | None = None) -> _StreamContext:
        """``async with client.stream(...) as resp``: the response closes (or returns to the pool) on exit."""
        return _StreamContext(self.send(method, url, headers=headers, body=body, timeout=timeout))

    async def send(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                   body: bytes = b"", timeout: float | None = None) -> Response:
        """Send and wait for the status line and headers (``timeout`` bounds that wait); the body stays unread.

        The caller must read the body to the end or ``aclose()`` the response.
        """
        origin = self._origin(url)
        if self._proxies.active and self._proxies.proxy_for(origin.scheme, origin.host, origin.port):
            return await self._via_proxy(method, url, headers or {}, body, timeout)
        data = _encode(method, origin, headers, body)
        pool = self._pools.get(origin.key) or self._pool(origin)
        try:
            return await self._exchange(pool, data, method, timeout, fresh=False)
        except _Stale:
            try:
                return await self._exchange(pool, data, method, timeout, fresh=True)
            except _Stale as exc:  # a fresh connection is never stale; kept for completeness
                raise RemoteProtocolError("server disconnected without sending a response") from exc

    async def _exchange(self, pool: Pool, data: bytes, method: str, timeout: float | None, *, fresh: bool) -> Response:
        conn = await pool.acquire(fresh=fresh)
        # Only the keep-alive race is retried: a connection idle long enough for the server to drop it, or a
        # request safe to repeat. A POST the server may have read is never sent twice (no double billing).
        reused = conn.requests > 0 and (method in _IDEMPOTENT or conn.loop.time() - conn.idle_since >= self.stale_idle)
        conn.begin()
        try:
            try:
                await conn.write(data)
            except ReadError:
                if reused:
                    raise _Stale from None
                raise
            while not conn.headers_done:
                if conn.closed:
                    if reused and conn.received == 0:
                        raise _Stale
                    if conn.received == 0:  # died without a byte: its idle siblings are suspect, so the
                        pool.drop_idle()    # router's one retry of a lost connection opens a fresh one
                    raise conn.broken()
                await conn.wait(timeout)
        except BaseException:
            pool.discard(conn)
            raise
        resp = Response(conn.status, conn.headers, conn, pool)
        if method == "HEAD":
            conn.keep_alive = False  # the parser cannot tell a HEAD response has no body
            resp._drop()
        elif conn.complete and not conn.chunks:
            resp._finish()
        return resp

    async def connect(self, url: str) -> None:
        """Make sure an idle connection to ``url``'s origin is open, opening one if none is (a connect-only
        probe: nothing is sent). Raises what a request's connect would; a no-op for proxied hosts."""
        origin = self._origin(url)
        if self._proxies.active and self._proxies.proxy_for(origin.scheme, origin.host, origin.port):
            return
        pool = self._pools.get(origin.key) or self._pool(origin)
        if any(c.usable for c in pool.idle):
            return
        conn = await pool.acquire()
        conn.keep_alive = True  # nothing was sent on it: it may carry the next request
        pool.release(conn)

    async def _via_proxy(self, method: str, url: str, headers: Mapping[str, str], body: bytes,
                         timeout: float | None) -> Response:
        if self._proxy_client is None:
            self._proxy_client = _proxy.HttpxFallback(connect_timeout=self.connect_timeout,
                                                      max_connections=self.max_connections,
                                                      verify=self._ssl or True, proxies=self._proxies)
        return await self._proxy_client.send(method, url, headers=headers, body=body, timeout=timeout)

    # ------------------------------------------------------------ pools

    def _origin(self, url: str) -> Origin:
        origin = self._origins.get(url)
        if origin is None:
            if len(self._origins) > 4096:
                self._origins.clear()
            origin = self._origins[url] = Origin(url)
        return origin

    def _pool(self, origin: Origin) -> Pool:
        if self._closed:
            raise RuntimeError("HttpClient is closed")
        tls = None
        if origin.scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            tls = self._ssl
        pool = self._pools[origin.key] = Pool(origin.host, origin.port, tls, limit=self.max_connections,
                                              expiry=self.keepalive_expiry, connect_timeout=self.connect_timeout)
        return pool

    def connections(self, url: str | None = None) -> list[Connection]:
        """The open connections (idle and in use), for one origin or all: for tests and stats."""
        pools = self._pools.values() if url is None else [p for k, p in self._pools.items() if k == Origin(url).key]
        return [c for p in pools for c in (*p.idle, *p.active)]

    def stats(self) -> dict[str, dict[str, int]]:
        """Per origin: idle, active and connecting connection counts."""
        return {f"{s}://{h}:{p}": {"idle": len(pool.idle), "active": len(pool.active), "opening": pool.opening}
                for (s, h, p), pool in self._pools.items()}

    async def aclose(self) -> None:
        self._closed = True
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        if self._proxy_client is not None:
            await self._proxy_client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()


class _StreamContext:
    __slots__ = ("_pending", "_resp")

    def __init__(self, pending: Any) -> None:
        self._pending = pending
        self._resp: Response | None = None

    async def __aenter__(self) -> Response:
        self._resp = await self._pending
        return self._resp

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._resp is not None:
            await self._resp.aclose()


def _encode(method: str, origin: Origin, headers: Mapping[str, str] | None, body: bytes) -> bytes:
    """The request head plus body, ready for one write. Header names are sent lowercased."""
    lines = [f"{method} {origin.target} HTTP/1.1\r\nhost: {origin.host_header}\r\n"]
    if body or method not in _BODYLESS:
        lines.append(f"content-length: {len(body)}\r\n")
    encoding = False
    for name, value in (headers or {}).items():
        name = name.lower()
        if name in _RESERVED:
            continue
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
            raise ValueError(f"invalid header {name!r}: CR or LF")
        encoding = encoding or name == "accept-encoding"
        lines.append(f"{name}: {value}\r\n")
    if not encoding:
        lines.append("accept-encoding: identity\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("utf-8") + body
