"""Third-party Responses API clients through detour's door: LiteLLM, LangChain, pydantic-ai, the Vercel AI SDK.

    .venv/bin/python bench/clients/responses_clients.py [--venv /tmp/resp-clients-venv] [--node /tmp/resp-clients-node]

Each client makes one call and one stream against a real `detour serve`-equivalent gateway (uvicorn on 127.0.0.1)
whose primary, an OpenAI model, answers 429; the fallback is an Anthropic-protocol model on the same fake. The
clients live outside the project's test dependencies; install them once (nothing is downloaded while it runs):

    python3 -m venv /tmp/resp-clients-venv
    /tmp/resp-clients-venv/bin/pip install litellm langchain-openai 'pydantic-ai-slim[openai]'
    mkdir -p /tmp/resp-clients-node && (cd /tmp/resp-clients-node && npm install ai @ai-sdk/openai)

It prints one line per client and mode with the answer, the model the response names, and what the fake saw.
A missing client is reported as SKIP with the install command; any failure exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

from detour.testing import B, FakeProvider

HERE = Path(__file__).resolve().parent
ANSWER = "Hello from the Anthropic fallback."
CAPS = {"tools": True, "image": True, "context": 200000, "max_output": 8192}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gateway(fake: FakeProvider, tmp: Path) -> tuple[str, uvicorn.Server]:
    from detour.server.run import create_app

    config = {
        "provider": {
            "oai": {"baseURL": fake.openai_base, "protocol": "openai-responses", "apiKey": "sk-oai-fake",
                    "models": {"gpt-x": dict(CAPS)}},
            "ant": {"baseURL": fake.anthropic_base, "protocol": "anthropic", "apiKey": "sk-ant-fake",
                    "models": {"claude-x": dict(CAPS)}},
        },
        "model": {"primary": "oai/gpt-x", "fallback": ["ant/claude-x"]},
        "state": "memory",
    }
    path = tmp / "detour.json"
    path.write_text(json.dumps(config))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(str(path), discover=False), host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--venv", default="/tmp/resp-clients-venv")
    p.add_argument("--node", default="/tmp/resp-clients-node")
    args = p.parse_args(argv)
    fake = FakeProvider.start_in_thread()
    fake.script("gpt-x", B.rate_limit(retry_after=600))
    fake.script("claude-x", B.text(ANSWER, chunks=4))
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        url, server = start_gateway(fake, Path(tmp))
        runs = [("python", [str(Path(args.venv) / "bin" / "python"), str(HERE / "responses_py_clients.py"), url],
                 Path(args.venv) / "bin" / "python"),
                ("node", ["node", str(Path(args.node) / "responses_vercel.mjs"), url],
                 Path(args.node) / "node_modules" / "ai")]
        for kind, cmd, needed in runs:
            if not needed.exists():
                print(f"SKIP {kind} clients: {needed} is absent (see this script's docstring to install them)")
                continue
            if kind == "node":  # ES modules resolve packages next to the script, not through NODE_PATH
                shutil.copy(HERE / "responses_vercel.mjs", Path(args.node) / "responses_vercel.mjs")
            before = len(fake.requests)
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
            sys.stdout.write(done.stdout)
            if done.returncode != 0:
                failed += 1
                print(f"FAIL {kind} clients (exit {done.returncode}):\n{done.stderr[-3000:]}")
            seen = [(r.protocol, r.model) for r in fake.requests[before:]]
            answered = sum(1 for proto, _m in seen if proto == "anthropic")
            print(f"  fake saw for the {kind} clients: {answered} Anthropic requests to claude-x, "
                  f"{sum(1 for proto, _m in seen if proto == 'openai-responses')} Responses requests to gpt-x "
                  f"(429, then cooling)")
        server.should_exit = True
    fake.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
