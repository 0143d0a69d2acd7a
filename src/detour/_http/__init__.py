"""A lean asyncio HTTP/1.1 client for the gateway's hot path (httpx stays for proxies and injection).

``HttpClient`` keeps one connection pool per (scheme, host, port), parses responses with ``httptools``
straight from an ``asyncio.Protocol`` and hands back a ``Response`` whose headers are ready before the
body, which is then read whole (``aread``) or chunk by chunk (``read_chunk(timeout)``, ``aiter_bytes``).
Errors subclass stdlib ``OSError`` types (see ``_errors``) so ``protocol.errors.classify_exception`` maps
them. Requests for a host behind HTTP(S)_PROXY / ALL_PROXY go through httpx (see ``_proxy``).
"""

from detour._http._client import HttpClient, Origin
from detour._http._errors import (
    ConnectError,
    ConnectTimeout,
    HTTPError,
    InvalidURL,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
)
from detour._http._proxy import HttpxFallback, HttpxResponse, Proxies, bypass
from detour._http._response import Response

__all__ = [
    "ConnectError",
    "ConnectTimeout",
    "HTTPError",
    "HttpClient",
    "HttpxFallback",
    "HttpxResponse",
    "InvalidURL",
    "Origin",
    "Proxies",
    "ReadError",
    "ReadTimeout",
    "RemoteProtocolError",
    "Response",
    "bypass",
]
