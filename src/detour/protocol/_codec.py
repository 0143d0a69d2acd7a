"""The ``Codec`` interface (re-exported by ``detour.protocol.codec``, which also holds ``CODECS``).

It lives apart from the registry so codec modules can subclass it without importing the registry,
which imports them: the import graph stays a tree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from detour.protocol import errors, history
from detour.protocol.errors import Failure
from detour.protocol.history import Prepared
from detour.protocol.messages import Credential, Event, Request, Response

__all__ = ["Codec", "StreamDecoder", "StreamEncoder"]


class StreamDecoder(Protocol):
    """Upstream SSE bytes -> neutral events, chunk by chunk."""

    done: bool  # the upstream declared the end (a finish, [DONE] or an error); trailing usage may follow
    data_events: int  # data-bearing SSE messages seen; keep-alive comments and pings do not count

    def feed(self, chunk: bytes) -> list[Event]: ...

    def close(self) -> list[Event]:
        """The final events at EOF (an ErrorEvent when the stream ended before its finish)."""
        ...


class StreamEncoder(Protocol):
    """Neutral events -> a client's SSE bytes."""

    model: str  # the model name shown to the client; set once the serving model is known

    def encode(self, event: Event) -> bytes: ...

    def error(self, failure: Failure) -> bytes:
        """A mid-stream error in this protocol; nothing follows it."""
        ...


class Codec(Protocol):
    """One wire protocol, whole. Instances are stateless and shared; streams get their own coder objects.

    Codec classes subclass this explicitly, so ``prepare`` and ``decode_error`` have working defaults
    and mypy refuses to instantiate a codec that leaves a member out.
    """

    name: str  # the registry key and the config's ``provider.<id>.protocol`` value
    hosted_tools: bool = False  # as an upstream it runs its provider's built-in tools (OpenAI web_search...)
    image_types: frozenset[str] | None = None  # the image media types it takes; None: not known to refuse any
    # the protocol refuses a request without an output limit (Anthropic): what is sent when neither the client
    # nor the catalog gives one; None: the limit may be left out
    default_max_tokens: int | None = None

    def path(self, model: str, *, stream: bool) -> str:
        """The request path below the provider's base URL."""
        ...

    def headers(self, secret: str, req: Request) -> dict[str, str]:
        """Auth and protocol headers for one request (``secret`` may be empty: no auth header)."""
        ...

    def client_headers(self, credential: Credential, req: Request) -> dict[str, str]:
        """``headers`` for a provider configured with ``apiKey: "client"``: the client's own credential, in the
        form it came (an OAuth bearer token stays a bearer token). The default: ``Authorization: Bearer``."""
        return {"authorization": f"Bearer {credential.value}"}

    def image_urls(self, provider: str) -> bool:
        """Whether images given by http(s) URL can be sent to this provider (else data only)."""
        ...

    def prepare(self, req: Request, *, provider: str, model: str) -> Prepared:
        """The request to encode for this target, repaired by ``detour.protocol.history`` for this protocol.

        ``req`` itself is never changed (other candidates still need it); an unchanged request comes back
        as the same object. See ``detour.protocol.codec``.
        """
        return history.prepare(req, self.name, "")

    def encode_request(self, req: Request, model: str, *, provider: str) -> dict[str, Any]: ...

    def decode_request(self, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> Request:
        """A client's body -> neutral; bad input raises ValueError naming the JSON path."""
        ...

    def encode_response(self, resp: Response, model: str, req: Request) -> dict[str, Any]:
        """A whole answer for the client that sent ``req`` (Responses echoes its settings)."""
        ...

    def decode_response(self, body: Any) -> Response: ...

    def stream_decoder(self) -> StreamDecoder: ...

    def stream_encoder(self, req: Request) -> StreamEncoder:
        """The SSE encoder for the answer to ``req``, named ``req.model`` until the serving model is known.

        What the client asked of the stream travels on the request: ``req.include_usage`` (OpenAI Chat's
        ``stream_options``; protocols that always send usage ignore it), and the settings Responses echoes.
        """
        ...

    def decode_error(self, status: int, headers: Mapping[str, str], body: Any, *, provider: str) -> Failure:
        """An upstream's error answer (parsed JSON body) -> a Failure, through the one shared classifier."""
        return errors.classify(self.name, status, headers, body, provider=provider)

    def encode_error(self, failure: Failure | int, message: str | None = None, /) -> tuple[int, dict[str, Any]]:
        """(HTTP status, error body) as this protocol's clients expect them, for a Failure or a bare status."""
        ...
