"""The Claude Code status line: 20 cold runs of the exact `statusLine` command `detour claude` writes.

A real `detour serve` process (in front of a `detour.testing` fake whose primary is rate-limited) holds 200
sessions, half on the fallback. Each run is a new shell + Python process, as Claude Code starts it, with a
different session's JSON on stdin, so no answer is cached anywhere. Beside it, alternating, the bare cost of
starting this venv's Python (`python -c pass`), to show how much of the figure is the interpreter.
Target: median under 50 ms. Run: .venv/bin/python bench/bench_statusline.py [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from detour._cli.claude_cmd import settings_block
from detour.testing import B, FakeProvider


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stdin_for(session: str, cwd: str) -> str:
    return json.dumps({"session_id": session, "transcript_path": f"{cwd}/{session}.jsonl", "cwd": cwd,
                       "model": {"id": "claude-sonnet-4-5", "display_name": "Sonnet 4.5"},
                       "workspace": {"current_dir": cwd, "project_dir": cwd}, "version": "2.1.197"})


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="detour-statusline-"))
    fake = FakeProvider.start_in_thread()
    port = free_port()
    config = {"provider": {
        "ant": {"baseURL": fake.anthropic_base, "protocol": "anthropic", "apiKey": "k", "models": {"claude-x": {"tools": True}}},
        "oai": {"baseURL": fake.openai_base, "protocol": "openai", "apiKey": "k", "models": {"gpt-x": {"tools": True}}}},
        "model": {"primary": "ant/claude-x", "fallback": ["oai/gpt-x"]}, "state": "memory"}
    (work / "detour.json").write_text(json.dumps(config))
    os.chmod(work / "detour.json", 0o600)
    env = {k: v for k, v in os.environ.items() if k not in ("DETOUR_URL", "DETOUR_API_KEY")}
    gateway = subprocess.Popen([str(Path(sys.executable).with_name("detour")), "serve", "--config", str(work / "detour.json"),
                                "--port", str(port)], cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        body = {"model": "detour", "messages": [{"role": "user", "content": "hi"}]}
        sessions = [f"bench-{i:04d}" for i in range(args.sessions)]
        with httpx.Client(timeout=10) as client:
            for i, session in enumerate(sessions):
                if i == args.sessions // 2:
                    fake.script("claude-x", B.rate_limit(retry_after=600))
                client.post(url + "/v1/chat/completions", json=body, headers={"x-claude-code-session-id": session})
        command = settings_block(url)["statusLine"]["command"]
        bare = [sys.executable, "-c", "pass"]
        subprocess.run(command, shell=True, input=stdin_for(sessions[0], str(work)), capture_output=True, text=True,
                       check=True)
        walls: dict[str, list[float]] = {"status line": [], "python -c pass": []}
        cpus: dict[str, list[float]] = {"status line": [], "python -c pass": []}
        lines = set()
        for i in range(args.runs):
            session = sessions[(i * 37) % len(sessions)]  # a different session every run
            t0, c0 = time.perf_counter(), cpu()
            done = subprocess.run(command, shell=True, input=stdin_for(session, str(work)), capture_output=True,
                                  text=True, env=env, check=False)
            walls["status line"].append(time.perf_counter() - t0)
            cpus["status line"].append(cpu() - c0)
            assert done.returncode == 0 and done.stdout.startswith("detour: ") and not done.stderr, done
            lines.add(done.stdout.split(" (")[0].strip())
            t0, c0 = time.perf_counter(), cpu()
            subprocess.run(bare, check=True, env=env)
            walls["python -c pass"].append(time.perf_counter() - t0)
            cpus["python -c pass"].append(cpu() - c0)
    finally:
        gateway.terminate()
        gateway.wait(15)
        fake.stop()
    print(f"statusLine command: {command}")
    print(f"{args.runs} cold runs each, alternating; {args.sessions} sessions in the gateway; lines seen: {sorted(lines)}")
    for name, times in walls.items():
        w = sorted(times)
        print(f"{name:>16}: median {statistics.median(w) * 1e3:.1f} ms wall (min {w[0] * 1e3:.1f}, max {w[-1] * 1e3:.1f}),"
              f" median {statistics.median(cpus[name]) * 1e3:.1f} ms CPU")
    ratio = statistics.median(walls["status line"]) / statistics.median(walls["python -c pass"])
    median = statistics.median(walls["status line"]) * 1e3
    print(f"status line / bare interpreter: {ratio:.2f}x; target median < 50 ms: {'pass' if median < 50 else 'FAIL'}")
    return 0 if median < 50 else 1


if __name__ == "__main__":
    raise SystemExit(main())
