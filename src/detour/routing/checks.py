"""Answer checks: is an HTTP 200 answer good enough to give the client, or should a stronger model try?

Each check is a pure function ``(request, response) -> str | None``: None when the answer passes, else what is
wrong with it (kept in the attempt record as ``bad_answer`` with the check's name). A chain lists the checks it
escalates on (``"escalate": ["empty", "json"]``); library code adds its own with ``Router.add_check``.

    empty      no text and no tool call
    refusal    the provider refused (a refusal stop reason or field)
    json       the client asked for JSON: the text is not JSON, or not valid against the requested json_schema
    toolArgs   a tool call names no offered tool, or its arguments are not valid against that tool's schema
    truncated  stopped at max tokens below any cap the client set (the model's own limit, not the client's)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from detour.protocol.messages import Request, Response, TextPart, ToolCallPart

if TYPE_CHECKING:  # pragma: no cover
    from detour.config import ChainConfig

Check = Callable[[Request, Response], "str | None"]

WHOLE = frozenset({"empty", "refusal", "json", "toolArgs", "truncated"})  # built-ins that read the whole answer


def empty(req: Request, resp: Response) -> str | None:
    for part in resp.content:
        if isinstance(part, ToolCallPart) or (isinstance(part, TextPart) and part.text.strip()):
            return None
    return "the answer has no text and no tool call"


def refusal(req: Request, resp: Response) -> str | None:
    said = resp.provider_details.get("refusal")
    if said:
        return f"the model refused: {str(said)[:120]}"
    if resp.finish_reason == "content_filter":
        return "the model refused (stop reason: refusal / content filter)"
    return None


def json_answer(req: Request, resp: Response) -> str | None:
    fmt = req.response_format
    if fmt is None or fmt.type == "text":
        return None  # the client did not ask for JSON
    text = resp.text().strip()
    if fmt.type == "json_schema" and not text and resp.tool_calls():
        return None
    try:
        value = orjson.loads(text)  # a ```json fence is not JSON: the client's parser would fail too
    except orjson.JSONDecodeError as exc:
        return f"the answer is not valid JSON ({exc.msg} at character {exc.pos})" if text else "the answer is empty, not JSON"
    if fmt.type == "json_object" and not isinstance(value, dict):
        return f"the answer is JSON but not an object (a {type(value).__name__})"
    if fmt.type == "json_schema" and fmt.schema:
        return _invalid(fmt.schema, value, "the answer")
    return None


def tool_args(req: Request, resp: Response) -> str | None:
    tools = {t.name: t for t in req.tools}
    for call in resp.tool_calls():
        tool = tools.get(call.name)
        if tool is None:
            offered = ", ".join(sorted(tools)) or "none"
            return f"tool call {call.name!r} names no offered tool (offered: {offered})"
        try:
            args = orjson.loads(call.arguments or "{}")
        except orjson.JSONDecodeError as exc:
            return f"tool call {call.name!r}: arguments are not valid JSON ({exc.msg} at character {exc.pos})"
        if not isinstance(args, dict):
            return f"tool call {call.name!r}: arguments are not a JSON object"
        problem = _invalid(tool.parameters, args, f"tool call {call.name!r} arguments")
        if problem:
            return problem
    return None


def truncated(req: Request, resp: Response) -> str | None:
    if resp.finish_reason != "length":
        return None
    cap = req.max_tokens
    out = resp.usage.output_tokens
    if cap is None:
        return f"stopped at the model's output limit ({out} tokens) and the client set no cap"
    if out and out < cap:
        return f"stopped at the model's output limit ({out} tokens), below the client's cap of {cap}"
    return None  # the client's own cap ended it: that is what it asked for


BUILTIN: dict[str, Check] = {
    "empty": empty,
    "refusal": refusal,
    "json": json_answer,
    "toolArgs": tool_args,
    "truncated": truncated,
}


@dataclass(frozen=True, slots=True)
class Checks:
    """The checks one chain escalates on, in order, with the escalation cap and the streaming hold-back bounds."""

    names: tuple[str, ...]
    funcs: tuple[Check, ...]
    max_escalations: int  # the bounds come from the chain's config (the defaults live in ChainConfig)
    hold_size: int
    hold_time: float

    def __bool__(self) -> bool:
        return bool(self.names)

    def first_failure(self, req: Request, resp: Response) -> tuple[str, str] | None:
        """(check name, what is wrong) for the first check the answer fails; None when it passes every one."""
        for name, func in zip(self.names, self.funcs):
            try:
                problem = func(req, resp)
            except Exception as exc:  # noqa: BLE001 - a broken custom check must not fail the request
                problem = None
                _log_broken(name, exc)
            if problem:
                return name, problem
        return None

    @property
    def early(self) -> bool:
        """Only ``empty``: decided by the first text or complete tool call, so a stream need not wait for the end."""
        return bool(self.names) and set(self.names) <= {"empty"}

    def applies(self, req: Request) -> bool:
        """Whether any check could fail this request's answer (json without a requested format cannot, toolArgs
        without tools cannot): when none can, nothing is checked and a stream is not held back."""
        wants_json = req.response_format is not None and req.response_format.type != "text"
        return any((n != "json" or wants_json) and (n != "toolArgs" or bool(req.tools)) for n in self.names)


def for_chain(chain: ChainConfig, custom: dict[str, tuple[Check, frozenset[str] | None]] | None = None,
              chain_name: str = "default") -> Checks:
    """The chain's ``escalate`` list, then the custom checks registered for it (or for every chain)."""
    names: list[str] = list(chain.escalate)
    funcs: list[Check] = [BUILTIN[n] for n in names]
    for name, (func, chains) in (custom or {}).items():
        if chains is None or chain_name in chains:
            names.append(name)
            funcs.append(func)
    return Checks(tuple(names), tuple(funcs), chain.max_escalations, chain.hold_back_size, chain.hold_back_time)


# ---------------------------------------------------------------- JSON Schema


_VALIDATORS: dict[bytes, Any] = {}
_BROKEN = object()  # the client's schema is itself invalid: nothing to hold an answer to


def _validator(schema: dict[str, Any]) -> Any:
    """One compiled validator per schema (keyed by its canonical JSON): building one costs far more than using it.

    jsonschema-rs (Rust; drafts 4 to 2020-12, the draft named by ``$schema``, else 2020-12) keeps the check
    inside the hot path's budget: a 2 kB answer in tens of microseconds (bench/bench_routes.py)."""
    key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
    found = _VALIDATORS.get(key)
    if found is None:
        import jsonschema_rs

        try:
            found = jsonschema_rs.validator_for(schema)
        except (ValueError, TypeError):  # the client's schema itself is invalid, or not a schema
            found = _BROKEN
        if len(_VALIDATORS) > 512:
            _VALIDATORS.clear()
        _VALIDATORS[key] = found
    return found


def _invalid(schema: dict[str, Any], value: Any, what: str) -> str | None:
    validator = _validator(schema)
    if validator is _BROKEN or validator.is_valid(value):
        return None
    error = next(iter(validator.iter_errors(value)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.instance_path) or "(root)"
    return f"{what}: not valid against the schema at {where}: {error.message[:200]}"


def _log_broken(name: str, exc: Exception) -> None:
    import logging

    logging.getLogger("detour.router").warning("answer check %r raised %s; the answer is passed unchecked",
                                               name, type(exc).__name__)
