"""`detour claude --write` and the exact statusLine command it writes, run as Claude Code runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import anthropic
import httpx

from detour.testing import B
from tests.server.conftest import free_port

DETOUR = Path(sys.executable).with_name("detour")


def claude_stdin(session: str, cwd: Path) -> str:
    """What Claude Code passes to a statusLine command (the documented fields; more may come)."""
    return json.dumps({
        "hook_event_name": "Status", "session_id": session, "transcript_path": str(cwd / f"{session}.jsonl"),
        "cwd": str(cwd), "model": {"id": "claude-sonnet-4-5-20250929", "display_name": "Sonnet 4.5"},
        "workspace": {"current_dir": str(cwd), "project_dir": str(cwd)}, "version": "2.1.197",
        "output_style": {"name": "default"},
        "cost": {"total_cost_usd": 0.01, "total_duration_ms": 1200, "total_api_duration_ms": 800,
                 "total_lines_added": 0, "total_lines_removed": 0},
    })


def write_settings(tmp_path: Path, url: str) -> dict:
    path = tmp_path / "project" / ".claude" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"permissions": {"allow": ["Bash(ls:*)"]}, "env": {"DISABLE_TELEMETRY": "1"}}))
    done = subprocess.run([str(DETOUR), "claude", "--write", "project", "--url", url], cwd=tmp_path / "project",
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    settings = json.loads(path.read_text())
    assert settings["permissions"] == {"allow": ["Bash(ls:*)"]}  # kept
    assert settings["env"] == {"DISABLE_TELEMETRY": "1", "ANTHROPIC_BASE_URL": url}
    assert settings["statusLine"]["type"] == "command"
    return settings


def status_line(settings: dict, stdin: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Claude Code runs the command through the shell, in the project, with the session JSON on stdin."""
    env = {k: v for k, v in os.environ.items() if k not in ("DETOUR_URL", "DETOUR_API_KEY")}
    return subprocess.run(settings["statusLine"]["command"], shell=True, input=stdin, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=30, check=False)


def ask(url: str, session: str) -> str:
    client = anthropic.Anthropic(base_url=url, api_key="x", max_retries=0)
    reply = client.messages.create(model="detour", max_tokens=64, messages=[{"role": "user", "content": "hi"}],
                                   extra_headers={"x-claude-code-session-id": session})
    return reply.model


def test_status_line_names_each_sessions_model_and_why(make_gateway, fake, tmp_path):
    gw = make_gateway()
    settings = write_settings(tmp_path, gw.url)
    cwd = tmp_path / "project"

    assert ask(gw.url, "sess-on-primary") == "ant/claude-x"
    on_primary = status_line(settings, claude_stdin("sess-on-primary", cwd), cwd)
    assert (on_primary.returncode, on_primary.stdout, on_primary.stderr) == (0, "detour: ant/claude-x\n", "")

    fake.script("claude-x", B.rate_limit(retry_after=600))
    assert ask(gw.url, "sess-on-fallback") == "oai/gpt-x"
    until = gw.get("/status").json()["sessions"]["sess-on-fallback"]["until"]
    on_fallback = status_line(settings, claude_stdin("sess-on-fallback", cwd), cwd)
    assert on_fallback.returncode == 0 and on_fallback.stderr == ""
    match = re.fullmatch(r"detour: oai/gpt-x \(ant rate-limited, back (\d\d:\d\d)\)\n", on_fallback.stdout)
    assert match, on_fallback.stdout
    assert match.group(1) == time.strftime("%H:%M", time.localtime(until))

    # the first session's last answer came from the primary, which is now cooling: the line says so
    again = status_line(settings, claude_stdin("sess-on-primary", cwd), cwd)
    assert again.stdout.startswith("detour: ant/claude-x (") and "back" in again.stdout


def test_status_line_for_a_session_not_seen_yet_is_the_chains(make_gateway, fake, tmp_path):
    gw = make_gateway()
    settings = write_settings(tmp_path, gw.url)
    done = status_line(settings, claude_stdin("brand-new", tmp_path), tmp_path)
    assert (done.returncode, done.stdout) == (0, "detour: ant/claude-x\n")


def test_status_line_never_a_traceback(make_gateway, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens
    settings = write_settings(tmp_path, url)
    down = status_line(settings, claude_stdin("s", tmp_path), tmp_path)
    assert (down.returncode, down.stdout, down.stderr) == (0, "detour: offline\n", "")
    gw = make_gateway()
    live = {**settings, "statusLine": {"command": settings["statusLine"]["command"].replace(url, gw.url)}}
    for garbage in ("", "not json", "[1, 2]", '{"session_id": 42}', "\xff\xfe"):
        done = status_line(live, garbage, tmp_path)
        assert (done.returncode, done.stdout, done.stderr) == (0, "detour: ant/claude-x\n", ""), garbage


def test_claude_write_refuses_a_broken_settings_file(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text('{"env": ')
    done = subprocess.run([str(DETOUR), "claude", "--write", str(path), "--url", "http://127.0.0.1:4141"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: {path}: not valid JSON")
    assert path.read_text() == '{"env": '  # untouched


def test_status_line_finds_a_session_among_many(make_gateway, fake, tmp_path):
    """/status lists the 50 most recent sessions; the status line asks for its own with ?session=."""
    gw = make_gateway()
    settings = write_settings(tmp_path, gw.url)
    fake.script("claude-x", B.rate_limit(retry_after=600))
    assert ask(gw.url, "the-first-one") == "oai/gpt-x"
    fake.script("claude-x", B.text("ok"))
    assert httpx.post(gw.url + "/reset", json={}, timeout=10).status_code == 200
    for i in range(60):
        ask(gw.url, f"later-{i}")
    assert "the-first-one" not in gw.get("/status").json()["sessions"]
    done = status_line(settings, claude_stdin("the-first-one", tmp_path), tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("detour: oai/gpt-x (ant rate-limited"), done.stdout


def test_session_id_is_read_as_json_reads_it():
    from detour._cli.statusline import session_id

    assert session_id(claude_stdin("9f1c-uuid", Path("/tmp")).encode()) == "9f1c-uuid"
    assert session_id(b' {"session_id" :  "abc", "x": 1}') == "abc"
    assert session_id(b'{"session_id": "a\\u0062c"}') == "abc"  # escapes go through json
    assert session_id(b'{"model": {"session_id": 1}, "session_id": "top"}') == "top"
    for garbage in (b"", b"null", b"[]", b'"session_id"', b'{"session_id": 42}', b'{"session_id": ""}', b"\xff"):
        assert session_id(garbage) is None, garbage


def test_status_line_route_is_the_same_line(make_gateway, fake):
    fake.script("claude-x", B.rate_limit(retry_after=600))
    gw = make_gateway()
    ask(gw.url, "route-s")
    resp = gw.get("/status/line?session=route-s")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    assert re.fullmatch(r"detour: oai/gpt-x \(ant rate-limited, back \d\d:\d\d\)", resp.text), resp.text
    assert gw.get("/status/line").text.startswith("detour: oai/gpt-x (")  # the default chain
