"""OpenAI Chat codec overhead: a typical agent request (20 messages, 10 tools), OpenAI -> OpenAI.

    .venv/bin/python bench/bench_codec_openai.py [iterations]

Reports p50 / p99 in µs for decode+encode on the fast path (original message dicts reused) and on the
full path (every message re-encoded), plus per-chunk stream decode / encode. Each iteration changes one
message's text so no cached answer is measured.
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from detour.protocol import openai_chat as oc
from detour.protocol.messages import Start, TextDelta

SCHEMA = {
    "type": "object",
    "properties": {"path": {"type": "string", "description": "file path"}, "limit": {"type": "integer"}},
    "required": ["path"],
}


def agent_body(i: int) -> dict[str, Any]:
    """20 messages (system, user, 6 tool-call rounds, answers) and 10 tools; message 1 varies with i."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a coding agent. " * 40},
        {"role": "user", "content": f"Fix the failing test, attempt {i}. " + "Context line. " * 30},
    ]
    for k in range(6):
        call = {"id": f"call_{k}", "type": "function", "function": {"name": "read_file", "arguments": json.dumps({"path": f"src/m{k}.py"})}}
        messages.append({"role": "assistant", "content": f"Reading module {k}.", "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": f"call_{k}", "content": "def f():\n    return 1\n" * 40})
    messages += [{"role": "assistant", "content": "Found it."}, {"role": "user", "content": "Apply the fix."}]
    messages += [{"role": "assistant", "content": "Done."}, {"role": "user", "content": "Run the tests."}]
    messages += [{"role": "assistant", "content": "All green."}, {"role": "user", "content": "Thanks."}]
    tools = [{"type": "function", "function": {"name": f"tool_{t}", "description": "Does a thing. " * 5, "parameters": SCHEMA}} for t in range(10)]
    return {"model": "gpt-4o", "messages": messages, "tools": tools, "tool_choice": "auto", "stream": True,
            "stream_options": {"include_usage": True}, "max_tokens": 32000, "temperature": 0.2}  # fmt: skip


def fast(i: int, bodies: list[dict[str, Any]]) -> None:
    oc.encode_request(oc.decode_request(bodies[i]), "gpt-5")


def full(i: int, bodies: list[dict[str, Any]]) -> None:
    req = oc.decode_request(bodies[i])
    req.provider_details["openai"].pop("raw")
    oc.encode_request(req, "gpt-5")


def encode_only(full_path: bool) -> Callable[[int, list[dict[str, Any]]], None]:
    """Encode alone, from requests decoded ahead of time (decode dominates the combined figure)."""
    cache: dict[int, Any] = {}

    def run(i: int, bodies: list[dict[str, Any]]) -> None:
        oc.encode_request(cache[i], "gpt-5")

    def prepare(bodies: list[dict[str, Any]]) -> None:
        for i, b in enumerate(bodies):
            req = cache[i] = oc.decode_request(b)
            if full_path:
                req.provider_details["openai"].pop("raw")

    run.prepare = prepare  # type: ignore[attr-defined]
    return run


def measure(fn: Callable[[int, list[dict[str, Any]]], None], bodies: list[dict[str, Any]]) -> tuple[float, float]:
    for i in range(min(200, len(bodies))):
        fn(i, bodies)
    samples = []
    for i in range(len(bodies)):
        t0 = time.perf_counter_ns()
        fn(i, bodies)
        samples.append((time.perf_counter_ns() - t0) / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def stream_bytes(n: int) -> bytes:
    enc = oc.StreamEncoder("gpt-4o", include_usage=True)
    return enc.encode(Start("chatcmpl-b", "gpt-4o")) + b"".join(enc.encode(TextDelta(0, f"tok{k} ")) for k in range(n))


def per_chunk_us(fn: Callable[[], object], chunks: int, rounds: int = 50) -> float:
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t0) / 1000 / chunks)
    return statistics.median(samples)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    bodies = [agent_body(i) for i in range(n)]
    gc.collect()
    gc.freeze()  # the pre-built inputs are not what a live server's GC walks; keep them out of the timings
    size = len(json.dumps(bodies[0]))
    cases: list[tuple[str, Any]] = [("fast path (decode+encode)", fast), ("full encode (decode+encode)", full),
                                    ("fast path (encode only)", encode_only(False)), ("full encode (encode only)", encode_only(True))]
    for name, fn in cases:
        if hasattr(fn, "prepare"):
            fn.prepare(bodies)
        p50, p99 = measure(fn, bodies)
        print(f"{name:32s} p50 {p50:8.1f} µs   p99 {p99:8.1f} µs   ({size} B body, {n} iterations)")
    pieces = [p + b"\n\n" for p in stream_bytes(1000).split(b"\n\n") if p]  # one network read per chunk

    def decode() -> None:
        dec = oc.StreamDecoder()
        for piece in pieces:
            dec.feed(piece)

    def encode() -> None:
        enc = oc.StreamEncoder("m", include_usage=True)
        enc.encode(Start("x", "m"))
        for k in range(1000):
            enc.encode(TextDelta(0, "tok "))

    print(f"{'stream decode per chunk':32s} p50 {per_chunk_us(decode, 1001):8.2f} µs")
    print(f"{'stream encode per chunk':32s} p50 {per_chunk_us(encode, 1001):8.2f} µs")


if __name__ == "__main__":
    main()
