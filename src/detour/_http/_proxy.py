"""Proxy selection from the environment, and the httpx fallback that carries proxied requests.

The lean client speaks plain HTTP/1.1 to the origin only. When ``https_proxy`` / ``http_proxy`` /
``all_proxy`` (either case; lowercase wins) names a proxy for a request's scheme and the host is not
excluded by ``no_proxy``, that request goes through ``httpx.AsyncClient(trust_env=True)`` instead, which
does CONNECT tunnels, SOCKS (with its extra) and proxy auth. Loopback hosts (localhost, 127.0.0.0/8,
::1) never use a proxy: a gateway in front of a local Ollama or LM Studio should not hairpin through one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any

from detour._http._errors import (
    ConnectError,
    ConnectTimeout,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
)
from detour._http._response import Response


def _env(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or env.get(name.upper()) or "").strip()


class Proxies:
    """A snapshot of the proxy variables; ``proxy_for`` answers per origin (and caches)."""

    def __init__(self, by_scheme: Mapping[str, str], no_proxy: str = "") -> None:
        self.by_scheme = {k: v for k, v in by_scheme.items() if v}
        self.no_proxy = [e.strip().lower() for e in no_proxy.split(",") if e.strip()]
        self.active = bool(self.by_scheme) and "*" not in self.no_proxy
        self._cache: dict[tuple[str, str, int], str | None] = {}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Proxies:
        env = os.environ if env is None else env
        every = _env(env, "all_proxy")
        return cls({"http": _env(env, "http_proxy") or every, "https": _env(env, "https_proxy") or every},
                   _env(env, "no_proxy"))

    @classmethod
    def none(cls) -> Proxies:
        return cls({})

    def proxy_for(self, scheme: str, host: str, port: int) -> str | None:
        """The proxy URL to use for this origin, or None to connect directly."""
        key = (scheme, host, port)
        if key not in self._cache:
            proxy = self.by_scheme.get(scheme) if self.active else None
            self._cache[key] = None if proxy is None or bypass(host, port, self.no_proxy) else proxy
        return self._cache[key]


def bypass(host: str, port: int, no_proxy: list[str]) -> bool:
    """True when ``host`` is loopback or matches a ``no_proxy`` entry (name suffix, host:port, IP or CIDR)."""
    host = host.lower().strip("[]")
    ip = _ip(host)
    if host == "localhost" or host.endswith(".localhost") or (ip is not None and ip.is_loopback):
        return True
    for entry in no_proxy:
        if entry == "*":
            return True
        name, want_port = _split_port(entry)
        if want_port is not None and want_port != port:
            continue
        if "/" in name and ip is not None:
            try:
                if ip in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = name.removeprefix("*").lstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _split_port(entry: str) -> tuple[str, int | None]:
    entry = entry.strip()
    if entry.startswith("["):  # [v6]:port
        addr, _, rest = entry[1:].partition("]")
        return addr, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        return name, int(port) if port.isdigit() else None
    return entry, None


# ---------------------------------------------------------------- the httpx path

def _mapped(exc: Exception) -> Exception:
    """An httpx exception as this package's equivalent (raise it ``from`` the original)."""
    import httpx

    table: list[tuple[type[Exception], type[Exception]]] = [
        (httpx.ConnectTimeout, ConnectTimeout), (httpx.TimeoutException, ReadTimeout),
        (httpx.ConnectError, ConnectError), (httpx.ProxyError, ConnectError),
        (httpx.RemoteProtocolError, RemoteProtocolError), (httpx.TransportError, ReadError),
    ]
    for src, dst in table:
        if isinstance(exc, src):
            return dst(f"{type(exc).__name__}: {exc}")
    return exc


class HttpxResponse(Response):
    """An httpx response behind the ``Response`` interface."""

    __slots__ = ("_chunks", "_resp")

    def __init__(self, resp: Any) -> None:
        super().__init__(resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, None, None)
        self._resp = resp
        self._chunks: AsyncIterator[bytes] | None = _raw(resp)

    @property
    def closed(self) -> bool:
        return self._chunks is None

    async def read_chunk(self, timeout: float | None = None) -> bytes:
        if self._chunks is None:
            return b""
        try:
            return await asyncio.wait_for(self._chunks.__anext__(), timeout)
        except StopAsyncIteration:
            await self.aclose()
            return b""
        except TimeoutError:
            raise ReadTimeout(f"no data for {timeout:.1f}s") from None
        except Exception as exc:
            await self.aclose()
            mapped = _mapped(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    async def aread(self, timeout: float | None = None) -> bytes:
        parts = [self.content] if self.content else []
        while chunk := await self.read_chunk(timeout):
            parts.append(chunk)
        self.content = b"".join(parts)
        return self.content

    async def aclose(self) -> None:
        if self._chunks is not None:
            self._chunks = None
            await self._resp.aclose()


async def _once(data: bytes) -> AsyncIterator[bytes]:
    if data:
        yield data


def _raw(resp: Any) -> AsyncIterator[bytes]:
    """The body iterator; a response built in memory (e.g. by httpx.MockTransport) has its content already."""
    import httpx

    try:
        return _once(resp.content)
    except httpx.ResponseNotRead:
        chunks: AsyncIterator[bytes] = resp.aiter_raw()
        return chunks


class HttpxFallback:
    """``send`` / ``request`` through an ``httpx.AsyncClient``: the proxied path, or an injected client."""

    def __init__(self, client: Any = None, *, connect_timeout: float | None = 5.0, max_connections: int = 100,
                 verify: ssl.SSLContext | bool = True, proxies: Proxies | None = None) -> None:
        """Wrap ``client``, or make one that sends through ``proxies`` (the caller already applied no_proxy)."""
        import httpx

        self._own = client is None
        if client is None:
            limits = httpx.Limits(max_connections=max_connections, keepalive_expiry=60.0)
            mounts = {f"{scheme}://": httpx.AsyncHTTPTransport(proxy=url, verify=verify, limits=limits)
                      for scheme, url in (proxies.by_scheme if proxies is not None else {}).items()}
            client = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=connect_timeout), limits=limits,
                                       verify=verify, mounts=mounts, trust_env=False)
        self.client = client
        self.connect_timeout = connect_timeout

    async def send(self, method: str, url: str, *, headers: Mapping[str, str] | None = None, body: bytes = b"",
                   timeout: float | None = None) -> Response:
        """Send and wait for the headers, like ``HttpClient.send``; httpx errors come out as this package's."""
        import httpx

        request = self.client.build_request(method, url, headers=dict(headers or {}), content=body,
                                            timeout=httpx.Timeout(None, connect=self.connect_timeout, read=timeout))
        try:
            resp = await self.client.send(request, stream=True)
        except Exception as exc:
            mapped = _mapped(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        return HttpxResponse(resp)

    async def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None, body: bytes = b"",
                      timeout: float | None = None) -> Response:
        resp = await self.send(method, url, headers=headers, body=body, timeout=timeout)
        await resp.aread(timeout)
        return resp

    async def aclose(self) -> None:
        if self._own:
            await self.client.aclose()
