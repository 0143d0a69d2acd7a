"""The same faults through the real `detour serve` process in front of a `python -m detour.testing` process:
nothing in-process, every hop a socket, the fake scripted and inspected through its control routes."""

from __future__ import annotations

import json

import pytest

from tests.faults.conftest import FakeProcess, ServeProcess, ask, providers


@pytest.fixture
def stack(tmp_path):
    fake = FakeProcess({"*": ["text"]}, tmp_path)
    config = {"provider": providers(fake.url), "model": {"primary": "gem/gem-x", "fallback": ["oai/gpt-x", "ant/claude-x"]},
              "timeouts": {"connect": "2s", "firstToken": "1s", "idle": "1s", "total": "2s"},
              "state": "memory", "discovery": False}
    path = tmp_path / "detour.json"
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    gw = ServeProcess(path, tmp_path / "gateway.log")
    try:
        yield gw.wait_ready(), fake
    finally:
        gw.stop()
        fake.stop()


def test_faults_through_detour_serve(stack):
    gw, fake = stack
    fake.script({"gem-x": [{"rate_limit": {"retry_after": 30}}], "gpt-x": ["reset"],
                 "claude-x": [{"text": {"text": "served by claude", "usage": [9, 4]}}]})
    for door in ("openai", "anthropic"):
        for stream in (False, True):
            answer = ask(gw.url, door, stream=stream)
            assert answer.text == "served by claude" and answer.model == "ant/claude-x"
            assert (answer.input_tokens, answer.output_tokens) == (9, 4)
    # one attempt on the rate-limited model, then its cooldown: no hammering
    assert len(fake.requests("gem-x")) == 1
    # a reset after sending (nothing received) is sent once more on a fresh connection, then the route cools
    assert len(fake.requests("gpt-x")) == 2
    assert len(fake.requests("claude-x")) == 4

    # a stream cut after content is rescued on the next candidate, which gets the partial answer as a prefill
    fake.script({"claude-x": [{"cut": {"after": 2, "text": "one two three four five six"}}],
                 "gem-x": [{"rate_limit": {"retry_after": 30}}], "gpt-x": ["reset"]})
    status = gw.get("/status").json()
    assert status["models"]["gem/gem-x"]["state"] == "cooling"
    assert status["chains"]["default"]["current"] == "ant/claude-x"
    with pytest.raises(Exception) as info:  # no candidate left for the rescue: the client sees the original cut
        ask(gw.url, "openai", stream=True)
    assert "prefill" not in str(info.value).lower()
    log = gw.log()
    assert "Traceback" not in log
    assert "served=ant/claude-x" in log


def _serve(config_path, port: int, tmp_path):  # type: ignore[no-untyped-def]
    import os
    import subprocess

    from tests.faults.conftest import PY

    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "DETOUR_CONFIG"}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "xdg-config"), XDG_CACHE_HOME=str(tmp_path / "xdg-cache"))
    return subprocess.Popen([PY, "-m", "detour", "serve", "--config", str(config_path), "--port", str(port),
                             "--host", "127.0.0.1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=str(tmp_path))


def test_a_port_in_use_is_one_clear_line_and_a_failed_exit(tmp_path):
    import socket

    config = tmp_path / "detour.json"
    config.write_text(json.dumps({"state": "memory", "discovery": False}))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _serve(config, port, tmp_path)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "serving on" not in out and "Errno" not in err and "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: port {port} on 127.0.0.1 is already in use: stop what is listening there "
                      "(another detour serve?) or pick another --port"], err


def test_serve_warns_at_start_about_providers_without_a_key(tmp_path):
    from tests.server.conftest import free_port

    config = tmp_path / "detour.json"
    config.write_text(json.dumps({"model": {"primary": "openai/gpt-5"}, "state": "memory", "discovery": False}))
    config.chmod(0o600)
    proc = _serve(config, free_port(), tmp_path)
    try:
        first_lines: list[str] = []
        while proc.stdout is not None and not any("serving on" in line for line in first_lines):
            line = proc.stdout.readline()
            assert line, f"detour serve exited: {proc.stderr.read() if proc.stderr else ''}"
            first_lines.append(line)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    warnings = [line for line in first_lines if "no API key for provider 'openai'" in line]
    assert warnings and warnings[0].startswith("detour: warning: "), first_lines
    assert "OPENAI_API_KEY" in warnings[0], "the same hint as `detour check`"
    serving = next(i for i, line in enumerate(first_lines) if "serving on" in line)
    assert first_lines.index(warnings[0]) < serving
