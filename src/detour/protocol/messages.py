"""The neutral message model: every front door decodes into it, every codec encodes from it.

Wire JSON never gets past a codec. The router, health and server code only see these types.

    Request ── messages: [Message(role, content: [Part])], tools, tool_choice, generation params
    Response ── content: [Part], finish_reason, usage
    Event ── the stream: Start, TextDelta, ThinkingDelta, ToolCallStart/Delta/End, UsageEvent, Finish, ErrorEvent

Each part has an opaque ``provider_details`` slot for data that must round-trip through one
provider (Anthropic ``cache_control``, Gemini ``thoughtSignature``...); other codecs ignore it.
Tool-call arguments are kept as the JSON *text* so a same-protocol pass-through never re-serialises.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

Role: TypeAlias = Literal["system", "user", "assistant", "tool"]
FinishReason: TypeAlias = Literal["stop", "length", "tool_calls", "content_filter", "error"]




def random_hex(chars: int = 24) -> str:
    """``chars`` random hex digits for the ids detour makes (answers, tool calls, probe leases). Ids need to be
    unique, not secret: the ``random`` module costs no system call per id (``uuid4`` and ``os.urandom`` do, and
    were a tenth of the gateway's CPU per request), and it is reseeded in every forked worker."""
    return f"{random.getrandbits(chars * 4):0{chars}x}"


def new_call_id() -> str:
    """A fresh tool-call id for an upstream that sent none: unique across a conversation, never positional
    (a repeated ``call_0`` makes agents such as Claude Code pair a new result with an old call)."""
    return "call_" + random_hex()


# ---------------------------------------------------------------- content parts


@dataclass(slots=True)
class TextPart:
    text: str
    provider_details: dict[str, Any] | None = None
    kind: Literal["text"] = "text"


@dataclass(slots=True)
class ImagePart:
    """An image given either as a URL (never fetched by detour) or as raw base64 plus media type."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: str | None = None
    provider_details: dict[str, Any] | None = None
    kind: Literal["image"] = "image"


@dataclass(slots=True)
class DocumentPart:
    """A document (PDF) given as raw base64 or a URL."""

    data: str | None = None
    url: str | None = None
    media_type: str = "application/pdf"
    title: str | None = None
    provider_details: dict[str, Any] | None = None
    kind: Literal["document"] = "document"


@dataclass(slots=True)
class ToolCallPart:
    id: str
    name: str
    arguments: str = "{}"  # the JSON text, exactly as the model produced it
    provider_details: dict[str, Any] | None = None
    kind: Literal["tool_call"] = "tool_call"


@dataclass(slots=True)
class ToolResultPart:
    tool_call_id: str
    content: list[TextPart | ImagePart] = field(default_factory=list)
    is_error: bool = False
    name: str | None = None  # the tool's name; Gemini needs it, others may omit it
    provider_details: dict[str, Any] | None = None
    kind: Literal["tool_result"] = "tool_result"


@dataclass(slots=True)
class ThinkingPart:
    """Reasoning text with its signature, or a redacted block (``redacted_data`` set, text empty).

    ``origin`` names who signed ``signature`` / ``redacted_data`` (``"anthropic"``, ``"gemini"``, ``"openai"``);
    a signed block is only ever sent back to that signer (``detour.protocol.history``). None: unsigned.
    It is provenance, not content, so it takes no part in equality.
    """

    text: str = ""
    signature: str | None = None
    redacted_data: str | None = None
    provider_details: dict[str, Any] | None = None
    origin: str | None = field(default=None, compare=False)
    kind: Literal["thinking"] = "thinking"


Part: TypeAlias = TextPart | ImagePart | DocumentPart | ToolCallPart | ToolResultPart | ThinkingPart


# ---------------------------------------------------------------- request


@dataclass(slots=True)
class Message:
    """One turn. Canonical form: a ``tool`` message holds exactly one ToolResultPart."""

    role: Role
    content: list[Part] = field(default_factory=list)
    name: str | None = None
    provider_details: dict[str, Any] | None = None


@dataclass(slots=True)
class Tool:
    name: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    provider_details: dict[str, Any] | None = None  # e.g. {"strict": True}, Anthropic cache_control


@dataclass(slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "tool"] = "auto"
    name: str | None = None  # set when mode == "tool"
    parallel: bool | None = None  # False = the client disabled parallel tool calls


@dataclass(slots=True)
class ResponseFormat:
    type: Literal["text", "json_object", "json_schema"] = "text"
    schema: dict[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class Credential:
    """A credential the client sent (``Authorization: Bearer`` or ``x-api-key``), passed through only to providers
    configured with ``apiKey: "client"``. Its repr, and every place detour names it, show only a fingerprint."""

    scheme: Literal["bearer", "api-key"]
    value: str = field(repr=False)
    oauth_beta: tuple[str, ...] = ()  # the client's anthropic-beta OAuth markers (oauth-2025-04-20)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.value.encode()).hexdigest()[:12]

    def __repr__(self) -> str:
        return f"Credential({self.scheme}, sha256:{self.fingerprint})"

    __str__ = __repr__


ResolvedBy: TypeAlias = Literal["alias", "chain", "id", "catalog", "family", "unknown"]


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a request's model name means, decided once by ``detour.routing.names.resolve``.

    ``chain`` is the chain that serves the request ("default" is the config's ``model`` block); ``model``
    is a ``provider/model`` id the client named, tried first with the chain's models as its fallbacks.
    ``by`` says how the name was read: an alias of the default chain ("detour", "auto"), a chain name (or the
    body's ``detour.chain``), a full id, a catalog model, a model family, or a name nothing knew.
    """

    chain: str = "default"
    model: str | None = None
    by: ResolvedBy = "alias"

    @property
    def view(self) -> str:
        """What /status tracks this request under: the explicit model, else the chain."""
        return self.model or self.chain

    def header(self) -> str:
        """The ``x-detour-resolved`` value: how the name was read, then what serves it.

        ``family; anthropic/claude-opus-4-8; chain default`` (the model first, the chain's fallbacks after)
        or ``alias; chain default`` / ``unknown; chain default`` (the chain alone)."""
        return f"{self.by}; {self.model}; chain {self.chain}" if self.model else f"{self.by}; chain {self.chain}"


@dataclass(slots=True)
class Request:
    model: str  # the name the client sent, as sent
    messages: list[Message] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    reasoning_effort: str | None = None  # none/minimal/low/medium/high/xhigh/max
    thinking_budget: int | None = None  # explicit token budget (Anthropic enabled / Gemini thinkingBudget)
    thinking: Literal["enabled", "adaptive", "disabled"] | None = None
    response_format: ResponseFormat | None = None
    stream: bool = False
    include_usage: bool = False  # OpenAI stream_options.include_usage
    user: str | None = None  # OpenAI user / Anthropic metadata.user_id
    metadata: dict[str, Any] = field(default_factory=dict)
    # detour's own routing hints: the body's `detour` object ({"require": [...], "chain": "...", "tags": [...]})
    detour: dict[str, Any] = field(default_factory=dict)
    web_search: bool = False  # the client asked for the provider's own web search (a server tool)
    # the client's request headers that route rules look at (lower-case names; never credentials)
    headers: dict[str, str] = field(default_factory=dict)
    # what ``model`` (or the ``detour.chain`` hint) resolved to; None until resolved
    resolved: Resolved | None = None
    # fields of the client's own protocol that have no neutral meaning; kept for same-protocol pass-through
    extra: dict[str, Any] = field(default_factory=dict)
    # provider-specific data, keyed by protocol: {"anthropic": {"beta": [...], "output_config": {...}}}
    provider_details: dict[str, Any] = field(default_factory=dict)
    # a tool only the provider's own servers run (OpenAI web_search...) that the client forces via tool_choice
    hosted_tool: str | None = None
    # the client's own API key / OAuth token, for providers configured with apiKey: "client" only; never shown
    credential: Credential | None = field(default=None, repr=False, compare=False)

    def has_images(self) -> bool:
        return any(_has_kind(m, ImagePart) for m in self.messages)

    def has_documents(self) -> bool:
        return any(_has_kind(m, DocumentPart) for m in self.messages)

    def system_text(self) -> str:
        return "\n".join(p.text for m in self.messages if m.role == "system" for p in m.content if isinstance(p, TextPart))


def _has_kind(message: Message, cls: type) -> bool:
    for part in message.content:
        if isinstance(part, cls):
            return True
        if isinstance(part, ToolResultPart) and any(isinstance(p, cls) for p in part.content):
            return True
    return False


# ---------------------------------------------------------------- response


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0  # all input tokens, cached ones included
    output_tokens: int = 0  # all output tokens, reasoning included
    cached_tokens: int = 0  # input tokens read from a prompt cache
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class Response:
    id: str
    model: str
    content: list[Part] = field(default_factory=list)
    finish_reason: FinishReason = "stop"
    usage: Usage = field(default_factory=Usage)
    provider_details: dict[str, Any] = field(default_factory=dict)  # e.g. stop_sequence, refusal category

    def text(self) -> str:
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    def tool_calls(self) -> list[ToolCallPart]:
        return [p for p in self.content if isinstance(p, ToolCallPart)]


# ---------------------------------------------------------------- stream events
# ``index`` is the position of the part in the final Response.content.


@dataclass(slots=True)
class Start:
    id: str
    model: str
    kind: Literal["start"] = "start"


@dataclass(slots=True)
class TextDelta:
    index: int
    text: str
    kind: Literal["text"] = "text"


@dataclass(slots=True)
class ThinkingDelta:
    index: int
    text: str = ""
    signature: str | None = None
    redacted_data: str | None = None
    provider_details: dict[str, Any] | None = None  # opaque reasoning state, e.g. OpenAI encrypted_content
    origin: str | None = field(default=None, compare=False)  # the signer, as on ThinkingPart
    kind: Literal["thinking"] = "thinking"


@dataclass(slots=True)
class ToolCallStart:
    index: int
    id: str
    name: str
    kind: Literal["tool_call_start"] = "tool_call_start"


@dataclass(slots=True)
class ToolCallDelta:
    index: int
    arguments: str
    kind: Literal["tool_call_delta"] = "tool_call_delta"


@dataclass(slots=True)
class ToolCallEnd:
    index: int
    kind: Literal["tool_call_end"] = "tool_call_end"


@dataclass(slots=True)
class UsageEvent:
    usage: Usage
    kind: Literal["usage"] = "usage"


@dataclass(slots=True)
class Finish:
    reason: FinishReason
    provider_details: dict[str, Any] | None = None
    kind: Literal["finish"] = "finish"


@dataclass(slots=True)
class ErrorEvent:
    """A failure inside a stream. ``failure`` is a detour.protocol.errors.Failure."""

    failure: Any
    kind: Literal["error"] = "error"


Event: TypeAlias = Start | TextDelta | ThinkingDelta | ToolCallStart | ToolCallDelta | ToolCallEnd | UsageEvent | Finish | ErrorEvent


class StreamIncomplete(Exception):
    """The stream ended without a finish event: its answer must not be presented as complete."""


class Accumulator:
    """Folds any event stream into a Response; non-streaming is a drained stream."""

    __slots__ = ("id", "model", "parts", "finish", "usage", "error", "details", "_open_tools")

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.parts: dict[int, Part] = {}
        self.finish: FinishReason | None = None
        self.usage: Usage | None = None
        self.error: Any = None
        self.details: dict[str, Any] = {}
        self._open_tools: set[int] = set()

    def add(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            part = self.parts.get(event.index)
            if isinstance(part, TextPart):
                part.text += event.text
            else:
                self.parts[event.index] = TextPart(event.text)
        elif isinstance(event, ThinkingDelta):
            self._add_thinking(event)
        elif isinstance(event, ToolCallStart):
            self.parts[event.index] = ToolCallPart(event.id, event.name, "")
            self._open_tools.add(event.index)
        elif isinstance(event, ToolCallDelta):
            part = self.parts[event.index]
            assert isinstance(part, ToolCallPart)
            part.arguments += event.arguments
        elif isinstance(event, ToolCallEnd):
            self._open_tools.discard(event.index)
            part = self.parts.get(event.index)
            if isinstance(part, ToolCallPart) and not part.arguments:
                part.arguments = "{}"
        elif isinstance(event, UsageEvent):
            self.usage = event.usage
        elif isinstance(event, Finish):
            self.finish = event.reason
            if event.provider_details:
                self.details.update(event.provider_details)
        elif isinstance(event, Start):
            self.id, self.model = event.id, event.model
        elif isinstance(event, ErrorEvent):
            self.error = event.failure

    def _add_thinking(self, event: ThinkingDelta) -> None:
        part = self.parts.get(event.index)
        if not isinstance(part, ThinkingPart):
            part = self.parts[event.index] = ThinkingPart()
        part.text += event.text
        if event.signature:
            part.signature = (part.signature or "") + event.signature
        if event.redacted_data:
            part.redacted_data = event.redacted_data
        if event.provider_details:
            part.provider_details = {**(part.provider_details or {}), **event.provider_details}
        if event.origin:
            part.origin = event.origin

    @property
    def complete(self) -> bool:
        return self.finish is not None and self.error is None and not self._open_tools

    def response(self, *, allow_incomplete: bool = False) -> Response:
        if not allow_incomplete and not self.complete:
            raise StreamIncomplete(f"stream ended without a finish event (error={self.error!r})")
        content = [self.parts[i] for i in sorted(self.parts)]
        return Response(
            id=self.id,
            model=self.model,
            content=content,
            finish_reason=self.finish or "error",
            usage=self.usage or Usage(),
            provider_details=self.details,
        )


def response_events(response: Response) -> list[Event]:
    """The inverse of Accumulator: a complete Response as the events that would have streamed it."""
    events: list[Event] = [Start(response.id, response.model)]
    for i, part in enumerate(response.content):
        if isinstance(part, TextPart):
            events.append(TextDelta(i, part.text))
        elif isinstance(part, ThinkingPart):
            events.append(ThinkingDelta(i, part.text, part.signature, part.redacted_data, part.provider_details,
                                        part.origin))
        elif isinstance(part, ToolCallPart):
            events += [ToolCallStart(i, part.id, part.name), ToolCallDelta(i, part.arguments), ToolCallEnd(i)]
    events.append(UsageEvent(response.usage))
    events.append(Finish(response.finish_reason, response.provider_details or None))
    return events
