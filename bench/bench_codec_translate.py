"""Translate a typical agent request: OpenAI Chat body -> neutral -> Anthropic Messages body.

20 messages (system, user turns, assistant tool calls, tool results) and 10 tools; each iteration
gets a fresh body (a different user text and tool-call arguments) so nothing cached is measured.
Target: p50 < 0.3 ms for decode + encode.

    .venv/bin/python bench/bench_codec_translate.py [iterations]
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

from detour.protocol import anthropic as A
from detour.protocol import openai_chat as O

TARGET_MS = 0.3


def tool(i: int) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "file path"},
            "limit": {"type": "integer"},
        },
        "required": ["path"],
    }
    return {
        "type": "function",
        "function": {
            "name": f"tool_{i}",
            "description": f"Tool number {i}.",
            "parameters": schema,
        },
    }


def agent_body(seed: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a coding agent. " * 20}
    ]
    messages.append({"role": "user", "content": f"Fix the failing test #{seed}."})
    for turn in range(6):
        call_id = f"call_{seed}_{turn}"
        args = f'{{"path": "src/file_{seed}_{turn}.py", "limit": {turn}}}'
        messages.append(
            {
                "role": "assistant",
                "content": "Looking.",
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": f"tool_{turn}", "arguments": args},
                    }
                ],
            }
        )
        messages.append(
            {"role": "tool", "tool_call_id": call_id, "content": f"line {seed}\n" * 30}
        )
        messages.append({"role": "user", "content": f"continue {turn}"})
    messages = messages[:20]
    return {
        "model": "gpt-x",
        "messages": messages,
        "tools": [tool(i) for i in range(10)],
        "tool_choice": "auto",
        "max_tokens": 32000,
        "reasoning_effort": "medium",
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def measure(iterations: int) -> dict[str, float]:
    decode_ms, encode_ms, total_ms = [], [], []
    clock = time.perf_counter_ns
    for i in range(iterations):
        body = agent_body(
            i
        )  # built outside the timed span: only translation is measured
        t0 = clock()
        req = O.decode_request(body)
        t1 = clock()
        A.encode_request(req, "claude-sonnet-4-5")
        t2 = clock()
        decode_ms.append((t1 - t0) / 1e6)
        encode_ms.append((t2 - t1) / 1e6)
        total_ms.append((t2 - t0) / 1e6)
    return {
        "openai decode p50": statistics.median(decode_ms),
        "anthropic encode p50": statistics.median(encode_ms),
        "total p50": statistics.median(total_ms),
        "total p99": statistics.quantiles(total_ms, n=100)[98],
    }


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    assert len(agent_body(0)["messages"]) == 20
    measure(200)  # warm-up
    results = measure(iterations)
    for name, value in results.items():
        print(f"{name:22} {value * 1000:8.1f} us")
    verdict = "OK" if results["total p50"] < TARGET_MS else "TOO SLOW"
    print(f"target p50 < {TARGET_MS} ms: {verdict}")
    sys.exit(0 if verdict == "OK" else 1)


if __name__ == "__main__":
    main()
