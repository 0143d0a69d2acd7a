"""LiteLLM's proxy for the side-by-side bench: find or build its venv, write its configs, its environment.

The method follows /work/shared/docs/litellm-baseline.md: its own venv (``pip install 'litellm[proxy]'``),
``LITELLM_LOCAL_MODEL_COST_MAP=True`` (no price-list download), telemetry off, a random master key.

    python bench/gateway/litellm_setup.py            # make sure the venv exists; print its litellm and version
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

DEFAULT_VENV = Path(os.environ.get("BENCH_LITELLM_VENV", "/tmp/litellm-venv"))
SPEC = os.environ.get("BENCH_LITELLM_SPEC", "litellm[proxy]")


def ensure_venv(venv: Path = DEFAULT_VENV) -> Path:
    """The ``litellm`` executable of ``venv``, creating the venv and installing LiteLLM into it when missing."""
    exe = venv / "bin" / "litellm"
    if exe.exists() and _importable(venv):
        return exe
    print(f"bench: creating LiteLLM venv at {venv} (pip install '{SPEC}', a few minutes)...", flush=True)
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", SPEC], check=True)
    if not exe.exists():
        raise RuntimeError(f"pip install '{SPEC}' did not produce {exe}")
    return exe


def _importable(venv: Path) -> bool:
    r = subprocess.run([str(venv / "bin" / "python"), "-c", "import litellm.proxy.proxy_server"],
                       env=env(), capture_output=True, timeout=120)
    return r.returncode == 0


def version(venv: Path = DEFAULT_VENV) -> str:
    r = subprocess.run([str(venv / "bin" / "python"), "-c",
                        "import importlib.metadata as m; print(m.version('litellm'))"],
                       capture_output=True, text=True, timeout=60)
    return r.stdout.strip() or "?"


_MASTER_KEY = "sk-" + secrets.token_hex(16)


def master_key() -> str:
    return _MASTER_KEY


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.update(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_TELEMETRY_DISABLED="true", LITELLM_MASTER_KEY=_MASTER_KEY)
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DATABASE_URL"):  # nothing may leave 127.0.0.1
        e.pop(var, None)
    return e


def _yaml(models: list[tuple[str, str, str]], router_settings: dict | None = None) -> str:
    """A config; models are (model_name, litellm model, api_base). JSON is valid YAML, so write JSON."""
    import json

    cfg: dict = {"model_list": [{"model_name": name, "litellm_params": {"model": model, "api_base": base,
                                                                       "api_key": "x"}}
                                for name, model, base in models],
                 "litellm_settings": {"telemetry": False}}
    if router_settings:
        cfg["router_settings"] = router_settings
    return json.dumps(cfg, indent=2)


def healthy_config(fake_url: str) -> str:
    """gpt-mock (OpenAI upstream) and claude-mock (Anthropic upstream, translated), default settings."""
    return _yaml([("gpt-mock", "openai/gpt-mock", f"{fake_url}/v1"),
                  ("claude-mock", "anthropic/claude-mock", fake_url)])


def failover_config(fake_url: str) -> str:
    """gpt-limited falls back to gpt-ok; the baseline's tuned variant (no retries, 1 allowed fail, 20 s cooldown)."""
    return _yaml([("gpt-limited", "openai/gpt-limited", f"{fake_url}/v1"),
                  ("gpt-ok", "openai/gpt-ok", f"{fake_url}/v1")],
                 {"fallbacks": [{"gpt-limited": ["gpt-ok"]}], "num_retries": 0, "allowed_fails": 1,
                  "cooldown_time": 20})


if __name__ == "__main__":
    exe = ensure_venv()
    print(exe, version())
