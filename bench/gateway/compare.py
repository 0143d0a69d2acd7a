"""Two builds of detour side by side in one run: this checkout against an earlier commit.

    python bench/gateway/compare.py --ref 59a69a1            # 5 rounds, alternating the order each round
    python bench/gateway/compare.py --ref 59a69a1 --rounds 3 --quick

Both builds run from source (``PYTHONPATH=<tree>/src``) with this venv's interpreter and dependencies, so
only detour's own code differs. The ref is checked out with ``git worktree`` into a temporary folder and
removed afterwards. Each round measures c1 (added latency over the fake alone) and c50 (throughput, CPU per
request) for both builds, in alternating order so that neither always runs on a warmer or quieter machine;
the figures are medians over the rounds. Pinning, the fake upstream and the load generator are the ones of
``run.py`` (wrk on CPU 0, each proxy on CPU 1). It is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402
import run  # noqa: E402


def start_build(tmp: Path, name: str, src: Path, config: dict[str, Any]) -> run.Proc:
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(config, indent=2))
    port = run.free_port()
    env = run.detour_env(tmp)
    env["PYTHONPATH"] = str(src)
    cmd = run.pinned(run.PROXY_CPU, [run.python(), "-m", "detour", "serve", "--config", str(path),
                                     "--port", str(port)])
    return run.launch(name, cmd, port, "/healthz", tmp, env=env)


def one_round(url: str, pid: int, seconds: dict[str, float]) -> dict[str, float]:
    w = dict(model="detour", cpu=run.LOAD_CPU)
    c1 = loadgen.wrk(url, connections=1, seconds=seconds["c1"], **w)
    cpu0 = loadgen.cpu_seconds(pid)
    c50 = loadgen.wrk(url, connections=50, seconds=seconds["c50"], **w)
    cpu = (loadgen.cpu_seconds(pid) - cpu0) * 1000 / max(1, c50.requests)
    return {"c1_p50_ms": c1.p50_ms, "c50_rps": c50.rps, "cpu_ms_per_req": cpu,
            "errors": float(c1.errors + c50.errors)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", required=True, help="the earlier commit to compare against (any git revision)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="short runs")
    args = p.parse_args(argv)
    seconds = dict(c1=2, c50=3, warm=1) if args.quick else dict(c1=5, c50=8, warm=2)
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {int(run.LOAD_CPU)})
    tmp = Path(tempfile.mkdtemp(prefix="detour-compare-"))
    ref_tree = tmp / "ref"
    subprocess.run(["git", "-C", str(run.ROOT), "worktree", "add", "--detach", "-q", str(ref_tree), args.ref],
                   check=True)
    head = subprocess.run(["git", "-C", str(run.ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    ref = subprocess.run(["git", "-C", str(ref_tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    builds = {"ref": ref_tree / "src", "head": run.ROOT / "src"}
    label = {"ref": f"{args.ref} ({ref})", "head": f"this tree ({head} + work tree)"}
    procs: list[run.Proc] = []
    results: dict[str, list[dict[str, float]]] = {name: [] for name in builds}
    direct: list[float] = []
    try:
        fake = run.start_fake(tmp, "fake", {"*": [run.FAKE_TEXT]}, record=False)
        procs.append(fake)
        started = {}
        for name, src in builds.items():
            proc = start_build(tmp, name, src, run.detour_config(fake.url, "fake/gpt-mock"))
            procs.append(proc)
            started[name] = proc
            loadgen.wrk(proc.url, connections=50, seconds=seconds["warm"], model="detour", cpu=run.LOAD_CPU)
        for i in range(max(1, args.rounds)):
            order = list(builds) if i % 2 == 0 else list(reversed(builds))
            direct.append(loadgen.wrk(fake.url, connections=1, seconds=seconds["c1"], model="gpt-mock",
                                      cpu=run.LOAD_CPU).p50_ms)
            for name in order:
                proc = started[name]
                r = one_round(proc.url, proc.pid, seconds)
                results[name].append(r)
                print(f"round {i + 1} {label[name]}: c1 p50 {r['c1_p50_ms']:.3f} ms, c50 {r['c50_rps']:.0f} rps, "
                      f"cpu/req {r['cpu_ms_per_req']:.3f} ms, errors {r['errors']:.0f}", flush=True)
    finally:
        for proc in procs:
            proc.stop()
        subprocess.run(["git", "-C", str(run.ROOT), "worktree", "remove", "--force", str(ref_tree)])
        shutil.rmtree(tmp, ignore_errors=True)

    d = statistics.median(direct)
    print(f"\nmedians over {args.rounds} rounds (fake alone c1 p50 {d:.3f} ms):")
    print("| build | added latency c1 p50 | c50 rps | CPU per request | errors |")
    print("|---|---|---|---|---|")
    med: dict[str, dict[str, float]] = {}
    for name, rs in results.items():
        m = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        med[name] = m
        print(f"| {label[name]} | {m['c1_p50_ms'] - d:.3f} ms | {m['c50_rps']:,.0f} | {m['cpu_ms_per_req']:.3f} ms | "
              f"{sum(r['errors'] for r in rs):.0f} |")
    a, b = (med[n] for n in builds)
    print(f"\nthis tree vs ref: added latency {(b['c1_p50_ms'] - d) / max(1e-9, a['c1_p50_ms'] - d):.2f}×, "
          f"rps {b['c50_rps'] / a['c50_rps']:.2f}×, CPU/request {b['cpu_ms_per_req'] / a['cpu_ms_per_req']:.2f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
