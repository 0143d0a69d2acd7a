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
