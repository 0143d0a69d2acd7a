"""What history repair costs per attempt, next to the encoding it precedes.

    .venv/bin/python bench/bench_history.py [--turns 60] [--rounds 15]

A Claude Code-shaped session (thinking blocks signed by Anthropic, Gemini and nobody, tool loops, ids in
several forms) is decoded from the Anthropic door once per variant; each round times, side by side on the
same varied requests, ``history.prepare`` alone and ``prepare + encode_request`` for each target, and
prints medians in µs and repair's share of the whole. Every request differs (turn count and text vary per
variant), so no cache is measured.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from detour.protocol import anthropic, gemini, history, openai_chat


def session(turns: int, salt: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": f"fix the failing test #{salt}"}]
    for i in range(turns):
        signer = (f"sig-anthropic-{i}", "detour1.gemini.Z2VtLXNpZw==", "")[i % 3]
        call = (f"toolu_{salt}_{i}", f"call_{salt}_{i}_{'x' * 40}", f"call.{salt}.{i}")[i % 3]
        messages.append({"role": "assistant", "content": [
            {"type": "thinking", "thinking": f"step {i} of {salt}: " + "reasoning " * 20, "signature": signer},
            {"type": "text", "text": f"Reading file {i}."},
            {"type": "tool_use", "id": call, "name": "Read", "input": {"file_path": f"/src/f{i}.py"}}]})
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call, "content": f"contents of f{i}.py " * 30}]})
    return {"model": "claude-opus-4-8", "max_tokens": 4096, "thinking": {"type": "adaptive"}, "messages": messages}


TARGETS = [("anthropic", "anthropic"), ("openai", "openai"), ("openai", "mistral"), ("gemini", "generic")]


def encode(protocol: str, flavor: str, req: Any) -> Any:
    if protocol == "anthropic":
        return anthropic.encode_request(req, "claude-x")
    if protocol == "gemini":
        return gemini.encode_request(req, "gemini-3-pro")
    return openai_chat.encode_request(req, "gpt-x", flavor=flavor)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    reqs = [anthropic.decode_request(session(args.turns + k % 7, k)) for k in range(40)]
    for protocol, flavor in TARGETS:
        repair, whole = [], []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            for req in reqs:
                history.prepare(req, protocol, flavor, thinking_on=protocol == "anthropic")
            t1 = time.perf_counter()
            for req in reqs:
                encode(protocol, flavor, history.prepare(req, protocol, flavor, thinking_on=protocol == "anthropic").request)
            t2 = time.perf_counter()
            repair.append((t1 - t0) / len(reqs) * 1e6)
            whole.append((t2 - t1) / len(reqs) * 1e6)
        r, w = statistics.median(repair), statistics.median(whole)
        print(f"{protocol:9} {flavor:9} repair {r:8.1f} µs   repair+encode {w:8.1f} µs   repair share {r / w:5.1%}")


if __name__ == "__main__":
    main()
