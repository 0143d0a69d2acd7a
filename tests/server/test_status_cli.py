"""`detour status` and `detour reset` as real subprocesses against a real in-thread gateway."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai

from detour.testing import B
from tests.server.conftest import CAPS, free_port, gateway_config

DETOUR = Path(sys.executable).with_name("detour")


def detour(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DETOUR_URL", "DETOUR_API_KEY")}
    return subprocess.run([str(DETOUR), *args], check=False, capture_output=True, text=True, timeout=60,
                          env={**base, "COLUMNS": "200", **env})


def ask(url: str) -> str:
    client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
    reply = client.chat.completions.create(model="detour", messages=[{"role": "user", "content": "hi"}])
    return reply.model


def test_line_on_the_primary(make_gateway, fake):
    fake.script("claude-x", B.text("hello"))
    gw = make_gateway()
    assert ask(gw.url) == "ant/claude-x"
    res = detour("status", "--line", "--url", gw.url)
    assert (res.returncode, res.stdout, res.stderr) == (0, "detour: ant/claude-x\n", "")


def test_line_after_a_switch_names_fallback_reason_and_back_time(make_gateway, fake):
    fake.script("claude-x", B.rate_limit(retry_after=600))
    gw = make_gateway()
    assert ask(gw.url) == "oai/gpt-x"
    until = gw.get("/status").json()["chains"]["default"]["until"]
    assert until is not None and until > time.time()
    res = detour("status", "--line", "--url", gw.url)
    assert res.returncode == 0, res.stderr
    match = re.fullmatch(r"detour: oai/gpt-x \(ant rate-limited, back (?:\w{3} )?(\d\d:\d\d)\)\n", res.stdout)
    assert match, res.stdout
    assert match.group(1) == time.strftime("%H:%M", time.localtime(until))


def test_line_uses_detour_url_from_the_environment(make_gateway):
    gw = make_gateway()
    res = detour("status", "--line", DETOUR_URL=gw.url)
    assert (res.returncode, res.stdout) == (0, "detour: ant/claude-x\n")


def test_line_offline():
    res = detour("status", "--line", "--url", f"http://127.0.0.1:{free_port()}")
    assert (res.returncode, res.stdout, res.stderr) == (1, "detour: offline\n", "")


def test_full_view_offline_is_a_short_error():
    res = detour("status", "--url", f"http://127.0.0.1:{free_port()}")
    assert res.returncode == 1 and res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: cannot reach the detour gateway")
    assert "detour serve" in lines[1]


def test_json_is_the_gateways_status(make_gateway, fake):
    fake.script("claude-x", B.rate_limit(retry_after=600))
    gw = make_gateway()
    ask(gw.url)
    res = detour("status", "--json", "--url", gw.url)
    assert res.returncode == 0, res.stderr
    ours = json.loads(res.stdout)
    theirs = gw.get("/status").json()
    ours.pop("uptime_s"), theirs.pop("uptime_s")
    assert ours == theirs
    assert ours["chains"]["default"]["current"] == "oai/gpt-x"


def test_full_view_shows_chains_models_and_switches(make_gateway, fake):
    fake.script("claude-x", B.text("first"), B.rate_limit(retry_after=600))
    gw = make_gateway()
    ask(gw.url), ask(gw.url)
    res = detour("status", "--url", gw.url)
    assert res.returncode == 0, res.stderr
    chain_row = next(line for line in res.stdout.splitlines() if "default" in line and "ant/claude-x" in line)
    assert "oai/gpt-x" in chain_row and "rate-limited" in chain_row
    model_row = next(line for line in res.stdout.splitlines() if "ant/claude-x" in line and "cooling" in line)
    assert "rate_limited" in model_row
    assert "ant/claude-x → oai/gpt-x (rate-limited)" in res.stdout


def test_unknown_chain_fails(make_gateway):
    gw = make_gateway()
    res = detour("status", "--chain", "nope", "--url", gw.url)
    assert res.returncode == 1 and "no chain 'nope'" in res.stderr
    res = detour("status", "--line", "--chain", "nope", "--url", gw.url)
    assert (res.returncode, res.stdout) == (1, "detour: no chain 'nope'\n")


def test_reset_clears_a_cooldown(make_gateway, fake):
    fake.script("claude-x", B.rate_limit(retry_after=600))
    gw = make_gateway()
    ask(gw.url)
    assert gw.get("/status").json()["models"]["ant/claude-x"]["state"] == "cooling"
    res = detour("reset", "ant/claude-x", "--url", gw.url)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0].startswith("cleared ") and "  model:ant/claude-x" in res.stdout.splitlines()
    assert gw.get("/status").json()["models"]["ant/claude-x"]["state"] == "ok"
    again = detour("reset", "--url", gw.url)
    assert (again.returncode, again.stdout) == (0, "nothing to clear: no cooldowns\n")


def test_reset_sends_the_gateway_key_and_never_prints_it(make_gateway, fake):
    fake.script("claude-x", B.rate_limit(retry_after=600))
    gw = make_gateway(server={"apiKeys": ["gw-secret-123"]})
    auth = {"authorization": "Bearer gw-secret-123"}
    httpx.post(gw.url + "/v1/chat/completions", headers=auth,
               json={"model": "detour", "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
    refused = detour("reset", "--url", gw.url)
    assert refused.returncode == 1 and "DETOUR_API_KEY" in refused.stderr and "Traceback" not in refused.stderr
    assert httpx.get(gw.url + "/status", headers=auth, timeout=10).json()["models"]["ant/claude-x"]["state"] == "cooling"
    res = detour("reset", "--url", gw.url, DETOUR_API_KEY="gw-secret-123")
    assert res.returncode == 0 and "model:ant/claude-x" in res.stdout
    assert "gw-secret-123" not in res.stdout + res.stderr + refused.stdout + refused.stderr
    assert httpx.get(gw.url + "/status", headers=auth, timeout=10).json()["models"]["ant/claude-x"]["state"] == "ok"


def test_reset_rejects_a_bare_model_name():
    res = detour("reset", "claude-x")
    assert res.returncode == 1 and "provider/model" in res.stderr


def test_models_shows_live_health_from_the_gateway(make_gateway, fake, tmp_path):
    import json
    import os
    import subprocess
    import sys

    import openai

    from detour.testing import B

    fake.script("claude-x", B.rate_limit(retry_after=600))
    gw = make_gateway()
    openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0).chat.completions.create(
        model="detour", messages=[{"role": "user", "content": "hi"}])
    config = tmp_path / "detour-0.json"
    env = {**os.environ, "DETOUR_URL": gw.url}
    out = subprocess.run([sys.executable, "-m", "detour", "models", "--config", str(config), "--json"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    records = {r["id"]: r for r in json.loads(out.stdout)}
    assert records["ant/claude-x"]["health"]["state"] == "cooling"
    assert records["oai/gpt-x"]["health"]["state"] == "ok"
    table = subprocess.run([sys.executable, "-m", "detour", "models", "--config", str(config)],
                           capture_output=True, text=True, env=env, timeout=60).stdout
    assert "cooling→" in next(line for line in table.splitlines() if line.startswith("ant/claude-x"))


def test_piped_full_view_is_not_cut_at_80_columns(make_gateway, fake):
    """Without a terminal (and without COLUMNS) rich would draw 80 columns and cut or fold the cells."""
    primary, fallback = "claude-sonnet-4-5-20250929-team-deployment-eu", "gpt-5-codex-2025-09-15-team-deployment-eu"
    fake.script(primary, B.rate_limit(retry_after=600))
    base = gateway_config(fake)
    base["provider"]["ant"]["models"] = {primary: dict(CAPS)}
    base["provider"]["oai"]["models"] = {fallback: dict(CAPS)}
    gw = make_gateway(provider=base["provider"], model={"primary": f"ant/{primary}", "fallback": [f"oai/{fallback}"]})
    assert ask(gw.url) == f"oai/{fallback}"
    env = {k: v for k, v in os.environ.items() if k not in ("DETOUR_URL", "DETOUR_API_KEY", "COLUMNS", "LINES")}
    res = subprocess.run([str(DETOUR), "status", "--url", gw.url], check=False, capture_output=True, text=True,
                         timeout=60, env=env)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert "…" not in res.stdout
    chain_row = next(line for line in lines if line.lstrip("│ ").startswith("default"))
    assert f"ant/{primary}" in chain_row and f"oai/{fallback}" in chain_row and "rate-limited" in chain_row
    model_row = next(line for line in lines if f"ant/{primary}" in line and "cooling" in line)
    assert "rate_limited" in model_row
    assert 80 < max(len(line) for line in lines) < 1000  # as wide as the content, not padded out
