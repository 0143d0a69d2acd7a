"""The answer checks as pure functions: each one fails the bad answer it names and passes a good one."""

from __future__ import annotations

from detour.config import ChainConfig
from detour.protocol.messages import (
    Request,
    Response,
    ResponseFormat,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    Usage,
)
from detour.routing import checks

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
          "required": ["city", "days"], "additionalProperties": False}
WEATHER = Tool("weather", "forecast", {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


def answer(*parts: object, finish: str = "stop", out: int = 10, **details: object) -> Response:
    return Response("r1", "m", list(parts), finish, Usage(5, out), dict(details))  # type: ignore[arg-type]


def test_empty() -> None:
    req = Request("m")
    assert checks.empty(req, answer()) == "the answer has no text and no tool call"
    assert checks.empty(req, answer(ThinkingPart("hmm"), TextPart("  \n"))) is not None  # thinking alone is empty
    assert checks.empty(req, answer(TextPart("ok"))) is None
    assert checks.empty(req, answer(ToolCallPart("c1", "weather", "{}"))) is None


def test_refusal() -> None:
    req = Request("m")
    assert "refused: I can't help" in (checks.refusal(req, answer(TextPart("I can't help"), refusal="I can't help")) or "")
    assert checks.refusal(req, answer(finish="content_filter")) is not None
    assert checks.refusal(req, answer(TextPart("sure"))) is None


def test_json() -> None:
    schema = Request("m", response_format=ResponseFormat("json_schema", SCHEMA, "trip"))
    assert checks.json_answer(schema, answer(TextPart('{"city": "Oslo", "days": 3}'))) is None
    assert "not valid JSON" in (checks.json_answer(schema, answer(TextPart('{"city": "Oslo", '))) or "")
    assert "not valid JSON" in (checks.json_answer(schema, answer(TextPart('```json\n{"city": "Oslo", "days": 3}\n```'))) or "")
    bad = checks.json_answer(schema, answer(TextPart('{"city": "Oslo", "days": 0}')))
    assert bad == "the answer: not valid against the schema at days: 0 is less than the minimum of 1"
    assert '"days" is a required property' in (checks.json_answer(schema, answer(TextPart('{"city": "Oslo"}'))) or "")
    obj = Request("m", response_format=ResponseFormat("json_object"))
    assert checks.json_answer(obj, answer(TextPart("[1, 2]"))) == "the answer is JSON but not an object (a list)"
    assert checks.json_answer(obj, answer(TextPart('{"a": 1}'))) is None
    assert checks.json_answer(Request("m"), answer(TextPart("not json at all"))) is None  # JSON was not asked for
    broken = Request("m", response_format=ResponseFormat("json_schema", {"type": "no-such-type"}))
    assert checks.json_answer(broken, answer(TextPart("{}"))) is None  # a broken schema holds nothing back


def test_tool_args() -> None:
    req = Request("m", tools=[WEATHER])
    assert checks.tool_args(req, answer(ToolCallPart("c1", "weather", '{"city": "Oslo"}'))) is None
    assert "names no offered tool (offered: weather)" in (checks.tool_args(req, answer(ToolCallPart("c1", "wether", "{}"))) or "")
    assert "not valid JSON" in (checks.tool_args(req, answer(ToolCallPart("c1", "weather", '{"city": '))) or "")
    assert '"city" is a required property' in (checks.tool_args(req, answer(ToolCallPart("c1", "weather", "{}"))) or "")
    assert "not a JSON object" in (checks.tool_args(req, answer(ToolCallPart("c1", "weather", "[]"))) or "")


def test_truncated() -> None:
    assert "set no cap" in (checks.truncated(Request("m"), answer(TextPart("half"), finish="length", out=4096)) or "")
    capped = Request("m", max_tokens=64000)
    assert "below the client's cap of 64000" in (checks.truncated(capped, answer(TextPart("x"), finish="length", out=8192)) or "")
    assert checks.truncated(Request("m", max_tokens=100), answer(TextPart("x"), finish="length", out=100)) is None
    assert checks.truncated(Request("m"), answer(TextPart("done"))) is None


def test_a_chain_runs_its_checks_in_order_and_a_broken_custom_check_passes() -> None:
    def boom(req: Request, resp: Response) -> str | None:
        raise RuntimeError("bug")

    def short(req: Request, resp: Response) -> str | None:
        return "too short" if len(resp.text()) < 5 else None

    chain = ChainConfig(escalate=["empty", "json"], max_escalations=1, hold_back_size=10, hold_back_time=1.0)
    found = checks.for_chain(chain, {"boom": (boom, None), "short": (short, frozenset({"default"})),
                                     "other": (short, frozenset({"elsewhere"}))})
    assert found.names == ("empty", "json", "boom", "short") and found.max_escalations == 1
    assert found.first_failure(Request("m"), answer()) == ("empty", "the answer has no text and no tool call")
    assert found.first_failure(Request("m"), answer(TextPart("hey"))) == ("short", "too short")
    assert found.first_failure(Request("m"), answer(TextPart("hello there"))) is None
    assert not checks.for_chain(ChainConfig(escalate=["json"])).applies(Request("m"))


def test_checks_apply_only_where_they_can_fail() -> None:
    both = checks.for_chain(ChainConfig(escalate=["json", "toolArgs"]))
    assert not both.applies(Request("m"))  # no JSON asked for, no tools offered: nothing to hold back
    assert both.applies(Request("m", tools=[WEATHER]))
    assert both.applies(Request("m", response_format=ResponseFormat("json_object")))
    assert checks.for_chain(ChainConfig(escalate=["json", "empty"])).applies(Request("m"))
    assert not checks.for_chain(ChainConfig(escalate=[])).applies(Request("m"))
