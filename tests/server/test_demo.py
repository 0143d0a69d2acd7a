"""`detour demo` as a real subprocess: fake providers, a gateway, a switch and the return to the primary."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from detour.demo import FALLBACK, PRIMARY


def run_demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DETOUR_CACHE_DIR": str(tmp_path / "cache"), "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
           "HOME": str(tmp_path), "COLUMNS": "200"}
    for var in ("DETOUR_CONFIG", "DETOUR_CATALOG", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        env.pop(var, None)
    return subprocess.run([sys.executable, "-m", "detour", "demo", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=90, check=False)


def test_demo_shows_switch_to_fallback_and_return_to_primary(tmp_path):
    done = run_demo(tmp_path, "--duration", "12", "--reset", "3", "--interval", "0.5")
    out = done.stdout
    assert done.returncode == 0, done.stderr + out
    assert "\x1b[" not in out  # not a terminal: plain text
    assert "SIMULATION" in out and "fake providers" in out
    lines = out.splitlines()
    served_primary = [i for i, line in enumerate(lines) if f"served by {PRIMARY} [primary]" in line]
    switch = next(i for i, line in enumerate(lines) if "SWITCH to the fallback" in line)
    back = next(i for i, line in enumerate(lines) if "BACK to the primary" in line)
    assert served_primary and served_primary[0] < switch < back
    assert FALLBACK in lines[switch] and "rate_limited" in lines[switch] and "429" in lines[switch]
    assert any(f"served by {FALLBACK} [fallback" in line for line in lines[switch:back])
    assert any(i > back for i in served_primary)  # the primary serves again after the window
    # as docs/demo.md shows it: the primary answers six, the 429 meets #07, which the fallback answers
    numbered = {m.group(1): line for line in lines if (m := re.search(r"#(\d\d)  served by", line))}
    assert all(f"{PRIMARY} [primary]" in numbered[f"{n:02d}"] for n in range(1, 7))
    assert numbered["07"].endswith(f"#07  served by {FALLBACK} [fallback: rate_limited]")
    summary = re.search(r"(\d+) requests, (\d+) answered: .*; 0 failed", out)
    assert summary and summary.group(1) == summary.group(2)


def test_demo_rejects_a_bad_duration(tmp_path):
    done = run_demo(tmp_path, "--duration", "0")
    assert done.returncode != 0 and "--duration" in done.stderr
