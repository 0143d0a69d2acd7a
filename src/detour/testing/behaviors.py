"""The script DSL: what a fake provider does with one request. Build behaviours with ``B``."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from detour.testing.dialects import LocalServer, dialect
from detour.testing.wire import Content, ErrorSpec, ToolCall
from detour.testing.wires import WIRES

FaultKind = Literal["cut", "stall", "malformed", "no_done", "midstream", "slow_first", "pace"]
_FAULT_TEXT = "The quick brown fox jumps over the lazy dog."


@dataclass(slots=True)
class Recorded:
    """One request a fake received."""

    protocol: str
    path: str
    model: str | None
    headers: dict[str, str]
    body: dict[str, Any]
    stream: bool
    t: float
    refused: str = ""  # the 400 message when the strict checks refused the request

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Behavior:
    """Base class. ``resolve`` turns request-dependent behaviours into a concrete one."""

    __slots__ = ()

    def resolve(self, req: Recorded) -> Behavior:
        return self


@dataclass(frozen=True, slots=True)
class Fault:
    """A stream fault applied to an otherwise successful reply."""

    kind: FaultKind
    after: int = 0
    seconds: float = 0.0
    keepalive: bool = False
    keepalive_every: float = 1.0
    error: str = "overloaded"


@dataclass(frozen=True, slots=True)
class Reply(Behavior):
    """A 200 response (possibly streamed, possibly faulted)."""

    content: Content = field(default_factory=Content)
    delay: float = 0.0
    fault: Fault | None = None
    headers: Mapping[str, str] | None = None  # extra response headers (rate-limit and window reports)


@dataclass(frozen=True, slots=True)
class Fail(Behavior):
    """An HTTP error response in the protocol's envelope."""

    error: ErrorSpec
    headers: Mapping[str, str] | None = None
    body: Any = None
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Drop(Behavior):
    """Connection-level failure: RST before headers, or never answer."""

    mode: Literal["reset", "silent"]


@dataclass(frozen=True, slots=True)
class Random(Behavior):
    """Picks one of several behaviours by weight, per request."""

    choices: tuple[tuple[float, Behavior], ...]
    seed: int | None = None
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.seed is not None:
            self.rng.seed(self.seed)

    def resolve(self, req: Recorded) -> Behavior:
        weights = [w for w, _ in self.choices]
        picked = self.rng.choices([b for _, b in self.choices], weights=weights)[0]
        return picked.resolve(req)


@dataclass(frozen=True, slots=True)
class Fn(Behavior):
    """Escape hatch: a callable from the recorded request to a behaviour."""

    func: Callable[[Recorded], Behavior]

    def resolve(self, req: Recorded) -> Behavior:
        return self.func(req).resolve(req)


@dataclass(frozen=True, slots=True)
class Echo(Behavior):
    """Replies with the text of the last user message."""

    chunks: int = 5

    def resolve(self, req: Recorded) -> Behavior:
        text = WIRES[req.protocol].last_user_text(req.body) if req.protocol in WIRES else ""
        return Reply(Content(text=text, chunks=self.chunks))


@dataclass(frozen=True, slots=True)
class RejectPrefill(Behavior):
    """400 when the conversation ends with an assistant turn, else ``otherwise``."""

    otherwise: Behavior = field(default_factory=Reply)

    def resolve(self, req: Recorded) -> Behavior:
        if req.protocol in WIRES and WIRES[req.protocol].ends_with_assistant(req.body):
            return Fail(ErrorSpec("reject_prefill"))
        return self.otherwise.resolve(req)


def _server(name: str | None) -> str | None:
    dialect(name)  # an unknown server name fails here, naming the known ones
    return name


def _reply(text: str, chunks: int, fault: Fault) -> Reply:
    return Reply(Content(text=text, chunks=chunks), fault=fault)


class B:
    """Behaviour factory. Every behaviour renders in the protocol (and streaming mode) of the request."""

    @staticmethod
    def text(
        text: str = "ok", *, chunks: int = 5, usage: tuple[int, int] | None = None, delay: float = 0.0,
        server: LocalServer | None = None, headers: Mapping[str, str] | None = None,
    ) -> Behavior:
        """Success; streaming splits ``text`` into ``chunks`` deltas; ``delay`` seconds before the response.
        ``server`` renders a Chat Completions reply the way that local server does (``detour.testing.dialects``);
        ``headers`` are added to the response."""
        content = Content(text=text, chunks=chunks, usage=usage and (usage[0], usage[1]), server=_server(server))
        return Reply(content, delay=delay, headers=headers)

    @staticmethod
    def window(used: float, resets_at: float, text: str = "ok", *, name: str = "5h", status: str = "allowed") -> Behavior:
        """Success that reports a Claude subscription window (``used`` 0..1), as Anthropic does to Pro/Max accounts."""
        prefix = f"anthropic-ratelimit-unified-{name}"
        headers = {f"{prefix}-utilization": f"{used:g}", f"{prefix}-reset": str(int(resets_at)),
                   f"{prefix}-status": status, "anthropic-ratelimit-unified-status": status}
        return B.text(text, headers=headers)

    @staticmethod
    def tool_call(
        name: str, arguments: dict[str, Any], *, id: str | None = None, text: str | None = None, chunks: int = 3,
        server: LocalServer | None = None,
    ) -> Behavior:
        """A tool/function call (with optional leading text); ``server="llama-cpp-python"`` also sends the
        legacy ``function_call`` beside ``tool_calls``, as that server does."""
        tool = ToolCall(name, arguments, id)
        return Reply(Content(text=text, chunks=chunks, tool=tool, finish="tool_calls", server=_server(server)))

    @staticmethod
    def thinking(
        thought: str, text: str = "ok", *, signature: str = "sig", chunks: int = 5, server: LocalServer | None = None
    ) -> Behavior:
        """Reasoning then text: Anthropic thinking + signature, OpenAI ``reasoning_content`` (vLLM: ``reasoning``),
        Gemini thought parts."""
        return Reply(Content(text=text, chunks=chunks, thinking=thought, signature=signature, server=_server(server)))

    @staticmethod
    def thinking_tool(
        thought: str, name: str, arguments: dict[str, Any], *, id: str | None = None, signature: str = "sig",
        text: str | None = None, chunks: int = 3,
    ) -> Behavior:
        """One agent step: reasoning (signed where the protocol signs it), then a tool call."""
        tool = ToolCall(name, arguments, id)
        return Reply(Content(text=text, chunks=chunks, thinking=thought, signature=signature, tool=tool, finish="tool_calls"))

    @staticmethod
    def rate_limit(
        retry_after: float | None = None, *, headers: Mapping[str, str] | None = None, body: Any = None
    ) -> Behavior:
        """429 with the provider's rate-limit body and headers (Gemini: RetryInfo in the body instead)."""
        return Fail(ErrorSpec("rate_limit", 429, retry_after), headers, body)

    @staticmethod
    def quota() -> Behavior:
        """Quota/billing exhausted: OpenAI 429 insufficient_quota, Anthropic 429 spend limit, Gemini 429 PerDay."""
        return Fail(ErrorSpec("quota", 429))

    @staticmethod
    def status(code: int, body: Any = None, headers: Mapping[str, str] | None = None) -> Behavior:
        """Any status in the provider's error envelope (``body``: dict, str or bytes replaces it)."""
        return Fail(ErrorSpec("status", code), headers, body)

    @staticmethod
    def overloaded() -> Behavior:
        """Anthropic 529 overloaded_error; OpenAI and Gemini 503."""
        return Fail(ErrorSpec("overloaded"))

    @staticmethod
    def server_error(code: int = 500) -> Behavior:
        return Fail(ErrorSpec("status", code))

    @staticmethod
    def context_length() -> Behavior:
        """The provider's context-length-exceeded 400."""
        return Fail(ErrorSpec("context_length", 400))

    @staticmethod
    def content_filter(text: str = "", *, prompt: bool = False) -> Behavior:
        """200 with a safety stop; ``prompt=True`` gives Gemini's promptFeedback.blockReason form."""
        return Reply(Content(text=text, finish="content_filter", prompt_blocked=prompt))

    @staticmethod
    def refusal(text: str = "I'm sorry, but I can't help with that.") -> Behavior:
        """200 with the model's refusal: OpenAI ``message.refusal`` (content null, finish ``stop``); Anthropic
        ``stop_reason: "refusal"``; Gemini a SAFETY stop."""
        return Reply(Content(text=None, refusal=text))

    @staticmethod
    def truncated(text: str = _FAULT_TEXT, *, chunks: int = 5, usage: tuple[int, int] | None = None) -> Behavior:
        """200 that stopped at the output limit: OpenAI ``length``, Anthropic ``max_tokens``, Gemini ``MAX_TOKENS``."""
        return Reply(Content(text=text, chunks=chunks, finish="length", usage=usage))

    @staticmethod
    def reject_prefill(otherwise: Behavior | None = None) -> Behavior:
        """400 "does not support assistant message prefill" only if the last message is the assistant's."""
        return RejectPrefill(otherwise or Reply())

    @staticmethod
    def reset() -> Behavior:
        """Close the TCP connection with RST before sending headers."""
        return Drop("reset")

    @staticmethod
    def silent() -> Behavior:
        """Accept and never answer, until the client goes away or the server stops."""
        return Drop("silent")

    @staticmethod
    def slow_first_token(seconds: float, text: str = _FAULT_TEXT, *, chunks: int = 5) -> Behavior:
        """Streams: headers at once, first event after ``seconds``. Non-streaming: a delayed response."""
        return _reply(text, chunks, Fault("slow_first", seconds=seconds))

    @staticmethod
    def paced(text: str = _FAULT_TEXT, *, every: float = 0.05, chunks: int = 8, finish: str = "stop") -> Behavior:
        """A complete answer whose deltas arrive ``every`` seconds apart, like a model generating them
        (streams; a non-streaming request gets the whole answer after ``chunks * every`` seconds)."""
        return Reply(Content(text=text, chunks=chunks, finish=finish), fault=Fault("pace", seconds=every))  # type: ignore[arg-type]  # Fault's kind literal: 'pace'

    @staticmethod
    def cut(after: int = 2, *, text: str = _FAULT_TEXT, chunks: int = 8) -> Behavior:
        """Send ``after`` deltas, then close the connection without the finish / terminator."""
        return _reply(text, chunks, Fault("cut", after=after))

    @staticmethod
    def stall(
        after: int = 2, seconds: float = 3600, *, keepalive: bool = False, keepalive_every: float = 1.0,
        text: str = _FAULT_TEXT, chunks: int = 8,
    ) -> Behavior:
        """Send ``after`` deltas, then nothing (``: keep-alive`` comments if asked) for ``seconds``, then close."""
        return _reply(text, chunks, Fault("stall", after, seconds, keepalive, keepalive_every))

    @staticmethod
    def malformed(after: int = 1, *, text: str = _FAULT_TEXT, chunks: int = 8) -> Behavior:
        """A non-JSON ``data:`` line after ``after`` deltas (the stream then carries on)."""
        return _reply(text, chunks, Fault("malformed", after=after))

    @staticmethod
    def no_done(text: str = _FAULT_TEXT, *, chunks: int = 5) -> Behavior:
        """A complete stream without its terminator (OpenAI ``[DONE]``; Anthropic ``message_stop``)."""
        return _reply(text, chunks, Fault("no_done"))

    @staticmethod
    def midstream_error(after: int = 1, kind: str = "overloaded", *, text: str = _FAULT_TEXT, chunks: int = 8) -> Behavior:
        """After ``after`` deltas, the provider's in-stream error event; ``kind`` names the error
        (overloaded, rate_limit, quota, server_error, context_length). Non-streaming requests get it as HTTP."""
        return _reply(text, chunks, Fault("midstream", after=after, error=kind))

    @staticmethod
    def random(choices: Sequence[tuple[float, Behavior]], seed: int | None = None) -> Behavior:
        """Pick per request by weight; ``seed`` makes the sequence reproducible."""
        return Random(tuple((float(w), b) for w, b in choices), seed)

    @staticmethod
    def echo(*, chunks: int = 5) -> Behavior:
        """Reply with the last user message's text."""
        return Echo(chunks)

    @staticmethod
    def fn(func: Callable[[Recorded], Behavior]) -> Behavior:
        """Call ``func(recorded_request)`` and do what the returned behaviour says."""
        return Fn(func)

    @staticmethod
    def from_spec(spec: Any) -> Behavior:
        """Parse a JSON behaviour spec: ``"text"``, ``{"text": {"text": "hi"}}`` or ``{"rate_limit": {...}}``."""
        return from_spec(spec)


_SPEC_NAMES = {
    "text", "tool_call", "thinking", "rate_limit", "quota", "status", "overloaded", "server_error", "context_length",
    "content_filter", "refusal", "truncated", "reject_prefill", "reset", "silent", "slow_first_token", "cut", "stall", "malformed", "no_done",
    "midstream_error", "random", "echo", "paced",
}


def from_spec(spec: Any) -> Behavior:
    """Build a behaviour from its JSON form (as used by ``--script`` and ``POST /__fake/script``)."""
    if isinstance(spec, str):
        spec = {spec: {}}
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ValueError(f"a behaviour spec is a name or a one-key object, got {spec!r}")
    (name, args), = spec.items()
    if name not in _SPEC_NAMES:
        raise ValueError(f"unknown behaviour {name!r}; expected one of {sorted(_SPEC_NAMES)}")
    args = dict(args or {})
    if name == "random":
        args["choices"] = [(w, from_spec(b)) for w, b in args["choices"]]
    elif name == "reject_prefill" and "otherwise" in args:
        args["otherwise"] = from_spec(args["otherwise"])
    elif "usage" in args:
        args["usage"] = tuple(args["usage"])
    factory: Callable[..., Behavior] = getattr(B, name)
    return factory(**args)


def script_from_spec(spec: Mapping[str, Any]) -> dict[str, list[Behavior]]:
    """``{"model": [spec, ...], "*": [...]}`` to behaviour lists (a single spec counts as a list of one)."""
    out: dict[str, list[Behavior]] = {}
    for model, items in spec.items():
        seq = items if isinstance(items, list) else [items]
        out[model] = [from_spec(s) for s in seq]
    return out
