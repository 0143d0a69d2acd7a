"""The CLI in-process (typer's CliRunner) and as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from detour.cli import build_app

MISSION = {"model": {"primary": "anthropic/claude-sonnet-4-20250514",
                     "fallback": ["openai/gpt-5", "google/gemini-2-flash", "deepseek/deepseek-coder"],
                     "onRateLimit": "auto-switch", "retryAttempts": 3}}
DETOUR = Path(sys.executable).with_name("detour")


def run(*args: str):
    return CliRunner().invoke(build_app(), list(args), prog_name="detour")


def test_models_json_from_catalog(workdir: Path, mini: Path) -> None:
    res = run("models", "--catalog", str(mini), "--all", "--json")
    assert res.exit_code == 0, res.output
    records = json.loads(res.stdout)
    assert len(records) == 8 and {"id", "tools", "tier", "health"} <= set(records[0])
    plain = next(r for r in records if r["id"] == "acme/plain")
    assert plain["tier"] == "free" and plain["structured_output"] is False


def test_models_table_marks(workdir: Path, mini: Path) -> None:
    res = run("--catalog", str(mini), "models", "--all", "--provider", "acme", "--needs", "thinking")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].split()[:3] == ["id", "tools", "image"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert list(rows) == ["acme/think-pro", "acme/toggle-cheap", "acme/reason-maybe"]
    assert rows["acme/reason-maybe"][4] == "?" and rows["acme/think-pro"][4] == "✓"


def test_models_default_lists_builtin_providers(workdir: Path) -> None:
    res = run("models", "--json")
    assert res.exit_code == 0, res.output
    ids = [r["id"] for r in json.loads(res.stdout)]
    assert "openai/gpt-5" in ids and all(i.split("/")[0] in {"anthropic", "openai", "google", "deepseek", "groq",
                                                             "mistral", "xai", "lmstudio", "ollama", "openrouter",
                                                             "llamacpp", "vllm"}
                                         for i in ids)


def test_models_chain_first(workdir: Path) -> None:
    (workdir / "detour.json").write_text(json.dumps(MISSION))
    ids = [r["id"] for r in json.loads(run("models", "--json").stdout)]
    assert ids[:4] == [MISSION["model"]["primary"],
                       *MISSION["model"]["fallback"]]


def test_select_cost_with_sizes(workdir: Path, mini: Path) -> None:
    res = run("select", "--catalog", str(mini), "--all", "--needs", "tools,image", "--min-context", "200k",
              "--prefer", "cost", "--json")
    assert res.exit_code == 0, res.output
    picks = json.loads(res.stdout)
    assert [p["id"] for p in picks] == ["acme/toggle-cheap", "acme/think-pro", "openrouter/acme/think-pro",
                                        "anthropic/claude-test-1"]
    assert all(p["reasons"] == [] and p["score"] == 1.0 for p in picks)


def test_select_explain_and_limit(workdir: Path, mini: Path) -> None:
    res = run("select", "--catalog", str(mini), "--all", "--needs", "pdf", "--explain", "--json")
    picks = json.loads(res.stdout)
    excluded = [p for p in picks if p["excluded"]]
    assert excluded and all(p["failed"] == ["pdf: not supported"] for p in excluded)
    assert len(json.loads(run("select", "--catalog", str(mini), "--all", "--limit", "2", "--json").stdout)) == 2


def test_select_nothing_matches_exits_1(workdir: Path, mini: Path) -> None:
    res = run("select", "--catalog", str(mini), "--all", "--needs", "pdf", "--min-context", "1m")
    assert res.exit_code == 1 and "no model meets every requirement" in res.stdout


def test_user_errors_are_one_or_two_lines(workdir: Path, mini: Path) -> None:
    for args, fragment in [
        (("select", "--all", "--needs", "telepathy"), "unknown capability 'telepathy'"),
        (("select", "--all", "--min-context", "lots"), "--min-context 'lots' is not a size"),
        (("select", "--all", "--prefer", "vibes"), "--prefer 'vibes'"),
        (("models", "--catalog", str(workdir / "missing.json")), "catalog file not found"),
        (("select",), "no model chain configured"),
    ]:
        res = run(*args)
        assert res.exit_code == 1, (args, res.output)
        assert fragment in res.stderr and "Traceback" not in res.output
        assert 1 <= len(res.stderr.strip().splitlines()) <= 2


def test_check_mission_config(workdir: Path) -> None:
    (workdir / "detour.json").write_text(json.dumps(MISSION))
    res = run("check")
    assert res.exit_code == 0, res.output
    assert "google/gemini-2-flash" in res.stderr and "google/gemini-2.0-flash" in res.stderr
    assert "deepseek/deepseek-coder" in res.stderr and "deepseek/deepseek-chat" in res.stderr
    assert "ANTHROPIC_API_KEY" in res.stderr
    strict = run("check", "--strict")
    assert strict.exit_code == 1 and "error:" in strict.stderr


def test_check_broken_config(workdir: Path) -> None:
    (workdir / "detour.json").write_text('{"model": {"primary": 42}}')
    res = run("check")
    assert res.exit_code == 1 and "model.primary" in res.stderr and "Traceback" not in res.output


def test_catalog_show(workdir: Path, mini: Path) -> None:
    res = run("catalog", "show", "acme/think-pro", "--catalog", str(mini))
    assert res.exit_code == 0 and "thinking" in res.stdout and "400k" in res.stdout
    res = run("catalog", "show", "acme/think-pr", "--catalog", str(mini))
    assert res.exit_code == 1 and "acme/think-pro" in res.stderr


def test_catalog_sync_offline(workdir: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = run("catalog", "sync", "--url", f"http://127.0.0.1:{port}/api.json")
    assert res.exit_code == 1 and "cannot connect" in res.stderr and len(res.stderr.strip().splitlines()) == 2


def test_subprocess_help_and_env_catalog(workdir: Path, mini: Path) -> None:
    env = {**os.environ, "DETOUR_CATALOG": str(mini)}
    helped = subprocess.run([str(DETOUR), "--help"], capture_output=True, text=True, env=env, check=False)
    assert helped.returncode == 0 and "models" in helped.stdout and "select" in helped.stdout
    out = subprocess.run([str(DETOUR), "models", "--all", "--json"], capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)) == 8
    bad = subprocess.run([str(DETOUR), "models", "--catalog", "/nonexistent/x.json"], capture_output=True, text=True,
                         env=env, check=False)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "not found" in bad.stderr
