"""The Responses door: a Responses request translated to Anthropic and back, against the Anthropic fake called directly.

    .venv/bin/python bench/bench_responses.py            # 5 rounds: codec micro-bench, then c1 and c50 through HTTP
    .venv/bin/python bench/bench_responses.py --quick    # 3 short rounds

1. Codec: decode a Codex-sized Responses body (instructions, 12 input items with tool calls and results, 10 tools)
   -> encode Anthropic -> decode an Anthropic answer -> encode the Responses object; a fresh body each iteration.
2. HTTP, in one run and alternating order each round: wrk (1 thread, closed loop, a counter in every request's text)
   against the fake's POST /v1/messages ("direct") and against detour's POST /v1/responses whose chain is the same
   fake over the Anthropic protocol ("detour"). Added latency = detour c1 p50 - direct c1 p50; throughput at c50.
   Pinning as in bench/gateway/run.py (wrk and the fake on CPU 0, detour on CPU 1). Target: added c1 p50 <= 0.5 ms.
It is a benchmark, not a test: figures are medians over the rounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "gateway"))

import loadgen  # noqa: E402
import run  # noqa: E402

from detour.protocol import anthropic as A  # noqa: E402
from detour.protocol import openai_responses as R  # noqa: E402

TARGET_ADDED_MS = 0.5
# leg -> (url placeholder, path, body kind, model): the fake alone, the Responses door, the Chat door (reference)
LEGS = {"direct": ("", "/v1/messages", "anthropic", "claude-x"), "detour": ("", "/v1/responses", "responses", "detour"),
        "chat": ("", "/v1/chat/completions", "openai", "detour")}


def codex_body(seed: int) -> dict[str, Any]:
    tools = [{"type": "function", "name": f"tool_{i}", "description": f"Tool number {i}.", "strict": False,
              "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}
             for i in range(10)]
    items: list[dict[str, Any]] = [{"type": "message", "role": "user",
                                    "content": [{"type": "input_text", "text": f"Fix the failing test #{seed}."}]}]
    for turn in range(5):
        call = f"call_{seed}_{turn}"
        items.append({"type": "function_call", "call_id": call, "name": f"tool_{turn}",
                      "arguments": f'{{"path": "src/f_{seed}_{turn}.py"}}'})
        items.append({"type": "function_call_output", "call_id": call, "output": f"contents {seed} {turn} " * 20})
    items.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": f"go on {seed}"}]})
    return {"model": "detour", "instructions": "You are a coding agent. " * 40, "input": items, "tools": tools,
            "tool_choice": "auto", "parallel_tool_calls": True, "stream": False, "store": False,
            "reasoning": {"effort": "medium", "summary": "auto"}, "include": ["reasoning.encrypted_content"],
            "prompt_cache_key": f"s{seed}"}


def anthropic_answer(seed: int) -> dict[str, Any]:
    return {"id": f"msg_{seed}", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [{"type": "thinking", "thinking": f"plan {seed}", "signature": f"sig{seed}"},
                        {"type": "text", "text": f"Looking at test {seed}."},
                        {"type": "tool_use", "id": f"toolu_{seed}", "name": "tool_1", "input": {"path": f"x{seed}.py"}}],
            "stop_reason": "tool_use", "stop_sequence": None, "usage": {"input_tokens": 900, "output_tokens": 40}}


def codec_round(n: int) -> float:
    """p50 in ms of one full translation, request and answer."""
    times = []
    for i in range(n):
        body, answer = codex_body(i), anthropic_answer(i)
        t0 = time.perf_counter()
        req = R.decode_request(body)
        A.encode_request(req, "claude-x")
        resp = A.decode_response(answer)
        R.encode_response(resp, "ant/claude-x", req)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def http_round(direct_url: str, detour: run.Proc, seconds: dict[str, float], order: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for who in order:
        url, path, kind, model = LEGS[who]
        url = direct_url if who == "direct" else detour.url
        args = dict(path=path, kind=kind, model=model)
        c1 = loadgen.wrk(url, connections=1, seconds=seconds["c1"], cpu=run.LOAD_CPU, **args)
        cpu0 = loadgen.cpu_seconds(detour.pid)
        c50 = loadgen.wrk(url, connections=50, seconds=seconds["c50"], cpu=run.LOAD_CPU, **args)
        out[f"{who}_c1_p50_ms"] = c1.p50_ms
        out[f"{who}_c50_rps"] = c50.rps
        out[f"{who}_errors"] = float(c1.errors + c50.errors)
        if who != "direct" and c50.requests:
            out[f"{who}_cpu_ms_per_req"] = (loadgen.cpu_seconds(detour.pid) - cpu0) * 1000 / c50.requests
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    rounds = 3 if args.quick else args.rounds
    seconds = {"c1": 3.0, "c50": 3.0, "warm": 2.0} if args.quick else {"c1": 8.0, "c50": 8.0, "warm": 4.0}
    codec = [codec_round(300 if args.quick else 2000) for _ in range(rounds)]
    print(f"codec: Responses -> Anthropic -> Responses, p50 {statistics.median(codec):.3f} ms per request+answer "
          f"(rounds: {', '.join(f'{c:.3f}' for c in codec)})")
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        fake = run.start_fake(tmp, "fake", {"*": [run.FAKE_TEXT]}, record=False)
        config = run.detour_config(fake.url, "fakeant/claude-x")
        detour = run.start_detour(tmp, "detour", config)
        try:
            for who, (_u, path, kind, model) in LEGS.items():  # warm-up, unrecorded
                url = fake.url if who == "direct" else detour.url
                loadgen.wrk(url, connections=50, seconds=seconds["warm"], path=path, kind=kind, model=model,
                            cpu=run.LOAD_CPU)
            results = []
            for i in range(rounds):
                order = ["direct", "detour", "chat"] if i % 2 == 0 else ["chat", "detour", "direct"]
                r = http_round(fake.url, detour, seconds, order)
                results.append(r)
                print(f"round {i + 1}: direct c1 p50 {r['direct_c1_p50_ms']:.3f} ms, detour c1 p50 "
                      f"{r['detour_c1_p50_ms']:.3f} ms (chat door {r['chat_c1_p50_ms']:.3f} ms), direct c50 "
                      f"{r['direct_c50_rps']:.0f} rps, detour c50 {r['detour_c50_rps']:.0f} rps (chat door "
                      f"{r['chat_c50_rps']:.0f}), cpu/req {r['detour_cpu_ms_per_req']:.3f} ms (chat door "
                      f"{r['chat_cpu_ms_per_req']:.3f}), errors {r['direct_errors']:.0f}/{r['detour_errors']:.0f}/"
                      f"{r['chat_errors']:.0f}, load average {loadgen.os.getloadavg()[0]:.2f}")
        finally:
            detour.stop()
            fake.stop()
    med = {k: statistics.median(r[k] for r in results) for k in results[0]}
    added = med["detour_c1_p50_ms"] - med["direct_c1_p50_ms"]
    chat_added = med["chat_c1_p50_ms"] - med["direct_c1_p50_ms"]
    verdict = "meets" if added <= TARGET_ADDED_MS else "misses"
    print(f"median of {rounds}: added latency c1 p50 {added:.3f} ms ({verdict} the {TARGET_ADDED_MS} ms target); "
          f"c50 throughput detour {med['detour_c50_rps']:.0f} rps vs direct {med['direct_c50_rps']:.0f} rps "
          f"(ratio {med['detour_c50_rps'] / med['direct_c50_rps']:.2f}); detour cpu/req {med['detour_cpu_ms_per_req']:.3f} ms; "
          f"the Chat Completions door in the same run: added {chat_added:.3f} ms, {med['chat_c50_rps']:.0f} rps, "
          f"cpu/req {med['chat_cpu_ms_per_req']:.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
