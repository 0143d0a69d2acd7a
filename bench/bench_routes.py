"""Benchmarks for routes and answer checks.

    .venv/bin/python bench/bench_routes.py            # route match + plan; a json_schema check on a 2 kB answer
    .venv/bin/python bench/bench_routes.py --ttfb     # time to first byte of a streamed answer, json check off vs on

Route match + plan (with the model name's resolution): 9 route rules (every kind, a tag rule, a header rule, a model glob, then default) over
requests varied per iteration (text length, tools, images, reasoning, thinking budgets, tags, background
prompts), measured side by side with the same plan and no routes. Target: p50 < 50 µs.
json_schema check: 2 kB answers, each one different (so no parse is cached), against a nested schema with
required keys, enums, patterns and array items; the validator is compiled once per schema, as in serving.
Target: p50 < 200 µs.
TTFB: the library Router streams from the fake provider over loopback a 2 kB JSON answer generated as 40
deltas 20 ms apart; with ``escalate: ["json"]`` the answer is held back until it is whole and checked, so the
first byte waits for the last. Rounds interleave the two chains.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from typing import Any

from detour.catalog.model import ModelInfo
from detour.config import parse_config
from detour.protocol.messages import (
    ImagePart,
    Message,
    Request,
    Response,
    ResponseFormat,
    TextPart,
    Tool,
    Usage,
)
from detour.router import Router
from detour.routing import checks

CHAIN = ["anthropic/claude-sonnet-4-5", "openai/gpt-5", "google/gemini-2.5-flash", "deepseek/deepseek-chat", "lmstudio/qwen3-coder"]
ENV = {"ANTHROPIC_API_KEY": "x", "OPENAI_API_KEY": "y", "GEMINI_API_KEY": "z", "DEEPSEEK_API_KEY": "w"}
ROUTES = [
    {"when": "background", "chain": "cheap"},
    {"when": "subagent", "chain": "cheap"},
    {"when": "longContext", "chain": "long", "minTokens": 60000},
    {"when": "image", "chain": "vision"},
    {"when": "webSearch", "chain": "vision"},
    {"when": "think", "chain": "deep"},
    {"tags": ["json"], "chain": "strict"},
    {"header": {"x-task": "review*"}, "model": "gpt-*", "chain": "deep"},
    {"when": "default", "chain": "default"},
]
CHAINS = {"cheap": {"primary": CHAIN[3], "fallback": CHAIN[2:3]}, "long": {"primary": CHAIN[2], "fallback": CHAIN[1:2]},
          "vision": {"primary": CHAIN[1], "fallback": CHAIN[:1]}, "deep": {"primary": CHAIN[0], "fallback": CHAIN[1:2]},
          "strict": {"primary": CHAIN[3], "fallback": CHAIN[1:2], "escalate": ["json", "empty"]}}


class _Catalog:
    providers = None

    def __init__(self) -> None:
        caps = [
            {"tools": True, "image": True, "thinking": True, "reasoning": True, "context": 200_000, "cost_input": 3.0, "cost_output": 15.0},
            {"tools": True, "image": True, "reasoning": True, "context": 400_000, "cost_input": 1.25, "cost_output": 10.0},
            {"tools": True, "image": True, "thinking": True, "context": 1_000_000, "cost_input": 0.3, "cost_output": 2.5},
            {"tools": True, "image": False, "context": 128_000, "cost_input": 0.27, "cost_output": 1.1},
            {"context": 32_000},
        ]
        self.models = {m: ModelInfo(id=m, provider=m.split("/")[0], model=m.split("/", 1)[1], **c) for m, c in zip(CHAIN, caps)}

    def get(self, model_id: str) -> ModelInfo | None:
        return self.models.get(model_id)

    def find_bare(self, name: str) -> list[str]:
        return [m for m in self.models if m.split("/", 1)[1] == name]

    def closest(self, model_id: str, n: int = 3) -> list[str]:
        return []


def _requests(n: int) -> list[Request]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        system = "You are a title generator. You output ONLY a thread title." if i % 13 == 0 else "be brief"
        parts: list[Any] = [TextPart("word " * rng.randint(1, 4000))]
        if i % 5 == 0:
            parts.append(ImagePart(data="iVBOR", media_type="image/png"))
        req = Request(model=rng.choice(["detour", "gpt-5", "claude-haiku-4-5"]),
                      messages=[Message("system", [TextPart(system)]), Message("user", parts)])
        if i % 3 == 0:
            req.tools = [Tool("lookup"), Tool("search")]
        if i % 7 == 0:
            req.reasoning_effort = rng.choice(["low", "high"])
        if i % 9 == 0:
            req.thinking, req.thinking_budget = "enabled", rng.choice([2000, 16000])
        if i % 4 == 0:
            req.detour = {"tags": ["json"] if i % 8 == 0 else ["other"]}
        if i % 6 == 0:
            req.headers = {"x-task": rng.choice(["review code", "write"])}
        req.max_tokens = rng.choice([None, 1024, 8192])
        out.append(req)
    return out


def _p(samples: list[float], q: float) -> float:
    return sorted(samples)[int(len(samples) * q)] * 1e6


def bench_match_and_plan(iterations: int) -> dict[str, float]:
    with_routes = Router(parse_config({"model": {"primary": CHAIN[0], "fallback": CHAIN[1:]}, "chains": CHAINS,
                                       "routes": ROUTES}).config, _Catalog(), env=ENV)
    without = Router(parse_config({"model": {"primary": CHAIN[0], "fallback": CHAIN[1:]}, "chains": CHAINS}).config,
                     _Catalog(), env=ENV)
    reqs = _requests(512)
    for req in reqs:  # warm the target caches (built once per config when serving)
        with_routes.plan(req)
        without.plan(req)
    routed, plain = [], []
    matched = 0
    perf = time.perf_counter
    for i in range(iterations):
        req = reqs[i % len(reqs)]
        req.resolved = None  # the model name is resolved per request, as a front door does
        t = perf()
        _name, plan, _s = with_routes.plan(req)
        routed.append(perf() - t)
        matched += plan.route is not None and plan.route.rule != "default"
        req.resolved = None
        t = perf()
        without.plan(req)
        plain.append(perf() - t)
    return {"routes_p50_us": _p(routed, 0.5), "routes_p99_us": _p(routed, 0.99), "plain_p50_us": _p(plain, 0.5),
            "ratio": _p(routed, 0.5) / _p(plain, 0.5), "matched_share": matched / iterations}


SCHEMA = {
    "type": "object",
    "required": ["title", "status", "items", "owner"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "status": {"enum": ["open", "closed", "draft"]},
        "owner": {"type": "object", "required": ["id", "email"],
                  "properties": {"id": {"type": "integer"}, "email": {"type": "string", "pattern": "^[^@]+@[^@]+$"}}},
        "items": {"type": "array", "items": {"type": "object", "required": ["sku", "qty", "price"],
                                             "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1},
                                                            "price": {"type": "number"}, "note": {"type": "string"}}}},
    },
}


def _answers(n: int) -> list[str]:
    rng = random.Random(11)
    out = []
    for i in range(n):
        items = []
        doc: dict[str, Any] = {"title": f"order {i}", "status": rng.choice(["open", "closed", "draft"]),
                               "owner": {"id": i, "email": f"user{i}@example.com"}, "items": items}
        while len(json.dumps(doc)) < 2000:
            items.append({"sku": f"SKU-{rng.randint(0, 10**6)}", "qty": rng.randint(1, 9), "price": rng.random() * 100,
                          "note": "w" * rng.randint(0, 20)})
        out.append(json.dumps(doc)[:2100] if len(json.dumps(doc)) < 2100 else json.dumps(doc))
    return out


def bench_json_check(iterations: int) -> dict[str, float]:
    req = Request("m", response_format=ResponseFormat("json_schema", SCHEMA, "order"))
    answers = [Response(f"r{i}", "m", [TextPart(a)], "stop", Usage(10, 500)) for i, a in enumerate(_answers(1024))]
    sizes = [len(a.text()) for a in answers]
    assert all(checks.json_answer(req, a) is None for a in answers[:50])  # they pass: the full validation runs
    samples = []
    perf = time.perf_counter
    for i in range(iterations):
        resp = answers[i % len(answers)]
        t = perf()
        checks.json_answer(req, resp)
        samples.append(perf() - t)
    return {"json_p50_us": _p(samples, 0.5), "json_p99_us": _p(samples, 0.99),
            "answer_bytes_median": float(statistics.median(sizes))}


async def bench_ttfb(rounds: int) -> dict[str, float]:
    from detour.testing import B, FakeProvider

    answer = _answers(1)[0]
    async with FakeProvider() as fake:
        config = parse_config({
            "provider": {"p": {"baseURL": fake.openai_base, "apiKey": "sk", "models": {"m": {"structured_output": True}}}},
            "model": {"primary": "p/m"},
            "chains": {"checked": {"primary": "p/m", "escalate": ["json"]}},
            "state": "memory",
        }).config
        async with Router(config, catalog=False) as router:
            off, on, total_off, total_on = [], [], [], []
            for i in range(rounds):
                for chain, first, whole in (("default", off, total_off), ("checked", on, total_on)) if i % 2 == 0 else \
                        (("checked", on, total_on), ("default", off, total_off)):
                    fake.script("m", B.paced(answer, every=0.02, chunks=40))
                    req = Request("detour", [Message("user", [TextPart(f"order {i}")])], stream=True,
                                  response_format=ResponseFormat("json_schema", SCHEMA, "order"), detour={"chain": chain})
                    t = time.perf_counter()
                    got = None
                    async with router.stream(req) as s:
                        async for ev in s:
                            if got is None and ev.kind == "text":
                                got = time.perf_counter() - t
                    first.append(got or 0.0)
                    whole.append(time.perf_counter() - t)
    med = statistics.median
    return {"ttfb_off_ms": med(off) * 1e3, "ttfb_on_ms": med(on) * 1e3, "total_off_ms": med(total_off) * 1e3,
            "total_on_ms": med(total_on) * 1e3, "hold_back_cost_ms": (med(on) - med(off)) * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--ttfb", action="store_true", help="time to first byte, json check off vs on")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    if args.ttfb:
        r = asyncio.run(bench_ttfb(args.rounds))
        print(f"TTFB 2 kB JSON in 40 deltas x 20 ms, {args.rounds} rounds: check off {r['ttfb_off_ms']:.1f} ms, "
              f"json check on {r['ttfb_on_ms']:.1f} ms (hold-back costs {r['hold_back_cost_ms']:.1f} ms); "
              f"whole answer {r['total_off_ms']:.1f} ms vs {r['total_on_ms']:.1f} ms")
        return
    m = bench_match_and_plan(args.iterations)
    print(f"route match + plan: p50 {m['routes_p50_us']:.1f} µs, p99 {m['routes_p99_us']:.1f} µs "
          f"(same plan without routes p50 {m['plain_p50_us']:.1f} µs, ratio {m['ratio']:.2f}; "
          f"{100 * m['matched_share']:.0f}% of requests matched a rule other than default)")
    j = bench_json_check(args.iterations)
    print(f"json_schema check on a {j['answer_bytes_median']:.0f}-byte answer: p50 {j['json_p50_us']:.1f} µs, "
          f"p99 {j['json_p99_us']:.1f} µs")


if __name__ == "__main__":
    main()
