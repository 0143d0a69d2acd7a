"""How local OpenAI-compatible servers differ from api.openai.com, one data row each.

Only what was read in the servers' own source or docs, or in captured wire traffic, is encoded here; each row
says where from. ``B.text(..., server="ollama")`` (and ``B.tool_call``, ``B.thinking``) renders a reply in that
server's dialect when the request came in over Chat Completions; Anthropic and Gemini requests ignore it.
``FakeProvider(local_server=...)`` makes the model-listing endpoints answer like that server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

LocalServer: TypeAlias = Literal["llama-cpp-python", "llama.cpp", "ollama", "vllm", "lmstudio"]


@dataclass(frozen=True, slots=True)
class Dialect:
    """Rendering knobs of one server's ``/v1/chat/completions``."""

    name: str
    # the legacy ``function_call`` repeats every ``tool_calls`` entry (message) and delta (stream)
    legacy_function_call: bool = False
    # deltas carry every field, unused ones as null (``"content": null, "tool_calls": null``)
    null_fields: bool = False
    # a streamed tool call arrives whole (id, name and all arguments) in one delta
    whole_tool_call: bool = False
    # the completion id every answer carries (None: a fresh one per answer)
    fixed_id: str | None = None
    # where reasoning text goes on the message / delta
    reasoning_field: str = "reasoning_content"
    # a non-standard ``timings`` object on the body and on the last chunk
    timings: bool = False
    # whether ``stream_options.include_usage`` is honoured with a final ``choices: []`` usage chunk
    stream_usage: bool = True
    system_fingerprint: str | None = "fp_fake"


DIALECTS: dict[str, Dialect] = {
    # llama-cpp-python 0.3.x, llama_cpp/llama_chat_format.py `_convert_completion_to_chat_function`: every tool-call
    # message and delta holds both `function_call` and `tool_calls` for the same call; deltas hold
    # `"role": None, "content": None`; the first delta has function_call/tool_calls null; the finish chunk's delta
    # is all nulls; the stream never carries usage (no include_usage support on that path).
    "llama-cpp-python": Dialect("llama-cpp-python", legacy_function_call=True, null_fields=True,
                                stream_usage=False, system_fingerprint=None),
    # llama.cpp tools/server/server-task.cpp `to_json_oaicompat_chat(_stream)`: `system_fingerprint` is the build,
    # the finish chunk has an empty delta, usage comes in a `choices: []` chunk when asked for, and a `timings`
    # object rides on the body and on the last chunk.
    "llama.cpp": Dialect("llama.cpp", timings=True, system_fingerprint="b6000-fake"),
    # Ollama's OpenAI compatibility (openai/openai.go), as captured on the wire (g0t4/ask-openai.nvim
    # lua/ask-openai/backends/sse_parse_notes.md): ids are `chatcmpl-<n>` with n below 1000, so answers repeat
    # them; `system_fingerprint` is "fp_ollama"; a tool call arrives whole in one delta with `"content": ""`.
    "ollama": Dialect("ollama", whole_tool_call=True, fixed_id="chatcmpl-768", system_fingerprint="fp_ollama"),
    # vLLM >= 0.11 docs, features/reasoning_outputs: reasoning text is in `reasoning` ("reasoning used to be
    # called reasoning_content").
    "vllm": Dialect("vllm", reasoning_field="reasoning", system_fingerprint=None),
    # LM Studio: its chat answers are the OpenAI shape; its quirks are in the native /api/v0 model list.
    "lmstudio": Dialect("lmstudio", system_fingerprint=None),
}


def dialect(name: str | None) -> Dialect | None:
    """The row for a server name; an unknown name is a ValueError naming the known ones."""
    if name is None:
        return None
    found = DIALECTS.get(name)
    if found is None:
        raise ValueError(f"unknown local server {name!r}; expected one of {', '.join(DIALECTS)}")
    return found
