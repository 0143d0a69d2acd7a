"""Config reload: a changed file is validated and swapped in; a broken one is refused and the old one kept."""

from __future__ import annotations

import json
import time

import openai

from detour.testing import B
from tests.server.conftest import gateway_config


def _served(gw) -> str:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
    return client.chat.completions.create(model="detour", messages=[{"role": "user", "content": "hi"}]).model


def _wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_changed_config_is_swapped_in_and_a_broken_one_is_refused(make_gateway, fake, tmp_path, caplog):
    fake.default = B.text("ok")
    gw = make_gateway()
    path = tmp_path / "detour-0.json"
    assert _served(gw) == "ant/claude-x"

    config = gateway_config(fake)
    config["model"] = {"primary": "oai/gpt-x", "fallback": ["ant/claude-x"]}
    path.write_text(json.dumps(config))
    assert _wait_for(lambda: _served(gw) == "oai/gpt-x"), "the new primary was never used"

    path.write_text('{"model": {"primary": "oai/gpt-x", "onRateLimit": "explode"}}')
    time.sleep(2.5)  # two watch intervals: the broken file must have been seen and refused
    assert _served(gw) == "oai/gpt-x"
    assert any("keeping the old config" in r.getMessage() for r in caplog.records)
