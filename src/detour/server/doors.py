"""The front doors: which codec decodes the client's request, encodes its answer, and how errors look."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from detour.protocol import anthropic, openai_chat, openai_responses
from detour.protocol.errors import Failure
from detour.protocol.messages import Request, Response

_KIND_BY_STATUS = {
    400: "bad_request",
    401: "auth_failed",
    403: "auth_failed",
    404: "not_found",
    413: "bad_request",
    429: "rate_limited",
    503: "overloaded",
    504: "timeout",
    529: "overloaded",
}


@dataclass(frozen=True, slots=True)
class Door:
    name: str  # the client's protocol: "openai" | "anthropic" | "openai-responses"
    codec: ModuleType
    echoes_request: bool = False  # the answer repeats the request's settings (Responses)

    def error(self, status: int, message: str, *, kind: str | None = None, retry_after: float | None = None) -> tuple[int, dict[str, Any]]:
        """An error body in this door's protocol; ``status`` is what the client receives."""
        failure = Failure(kind or _KIND_BY_STATUS.get(status, "server_error"), message, status, retry_after)  # type: ignore[arg-type]
        _status, body = self.codec.encode_error(failure, message)
        return status, body


    def no_route(self, message: str) -> tuple[int, dict[str, Any]]:
        """A 404 for a path the gateway does not serve, with the code this protocol uses for an unknown URL
        (OpenAI ``unknown_url``, Anthropic ``not_found_error``), never the unknown-model one."""
        return self.codec.encode_error(404, message)  # type: ignore[no-any-return]

    def body(self, resp: Response, model: str, req: Request) -> dict[str, Any]:
        """A complete answer in this door's protocol."""
        if self.echoes_request:
            return self.codec.encode_response(resp, model, req)  # type: ignore[no-any-return]
        return self.codec.encode_response(resp, model)  # type: ignore[no-any-return]

    def stream_encoder(self, req: Request) -> Any:
        """The SSE encoder for one streamed answer."""
        if self.echoes_request:
            return self.codec.StreamEncoder(req.model, request=req)
        if self.codec is openai_chat:
            return self.codec.StreamEncoder(req.model, include_usage=req.include_usage)
        return self.codec.StreamEncoder(req.model)


OPENAI = Door("openai", openai_chat)
ANTHROPIC = Door("anthropic", anthropic)
RESPONSES = Door("openai-responses", openai_responses, echoes_request=True)
