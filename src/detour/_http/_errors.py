"""Exceptions of the lean HTTP client.

Every class subclasses a stdlib ``OSError`` type and is named like its httpx counterpart, so
``detour.protocol.errors.classify_exception`` (which matches class names along the MRO) maps them
without knowing this module::

    HTTPError                        the base of this package's own errors
    ├── ConnectTimeout(TimeoutError)      no connection in time         -> unreachable
    ├── ReadTimeout(TimeoutError)         nothing read in time          -> timeout
    ├── ConnectError(ConnectionError)     could not connect             -> unreachable
    ├── ReadError(ConnectionError)        reset / closed after sending  -> connection_lost, stream_broken after headers
    ├── RemoteProtocolError(ConnectionError)  bad or truncated HTTP      -> connection_lost, stream_broken after headers
    └── InvalidURL(ValueError)            not an http(s) URL with a host -> unreachable

Connection refused, DNS failures (``socket.gaierror``) and TLS failures (``ssl.SSLError``) propagate as
the stdlib raises them: the classifier already knows those. Any other OSError while connecting becomes a
ConnectError, so only the connect phase (nothing sent) ever reads as ``unreachable``.
"""

from __future__ import annotations


class HTTPError(Exception):
    """Base of the errors this client raises itself (stdlib connect errors pass through as they are)."""


class ConnectTimeout(HTTPError, TimeoutError):
    """The TCP (or TLS) connection was not established within the connect timeout."""


class ReadTimeout(HTTPError, TimeoutError):
    """No response bytes arrived within the per-read timeout."""


class ConnectError(HTTPError, ConnectionError):
    """The connection could not be established."""


class ReadError(HTTPError, ConnectionError):
    """The connection was reset or closed while a response was expected."""


class RemoteProtocolError(HTTPError, ConnectionError):
    """The server broke HTTP/1.1: malformed response, or closed before the message was complete."""


class InvalidURL(HTTPError, ValueError):
    """The URL is not ``http://`` or ``https://`` with a host."""
