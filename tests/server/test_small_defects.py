"""Issue 10 item 11 over real sockets: unknown-path 404 codes, media types a target refuses, schema names kept,
`detour check` on a declared model, `detour --version`."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from detour.testing import B

DETOUR = Path(sys.executable).with_name("detour")
PIXEL = base64.b64encode(b"BM" + bytes(60)).decode()  # a BMP header: the bytes are never decoded


def oai(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)


def test_an_unknown_path_is_not_a_missing_model(make_gateway):
    gw = make_gateway()
    with pytest.raises(openai.NotFoundError) as info:
        oai(gw).post("/embeddingz", body={}, cast_to=httpx.Response)
    error = info.value.body
    assert error["code"] == "unknown_url" and error["type"] == "invalid_request_error"  # type: ignore[index]
    assert "no route POST /v1/embeddingz" in error["message"]  # type: ignore[index]
    ant = httpx.post(gw.url + "/v1/messages/batchez", json={}, timeout=10)
    assert ant.status_code == 404 and ant.json()["error"]["type"] == "not_found_error"
    with pytest.raises(openai.NotFoundError) as model:  # an unknown model keeps its own code
        oai(gw).chat.completions.create(model="nope/never", messages=[{"role": "user", "content": "hi"}])
    assert model.value.code == "model_not_found"


def _image_request(media_type: str) -> list:
    return [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,{PIXEL}"}}]}]


def test_an_image_type_the_target_refuses_skips_that_target(make_gateway, fake):
    """Anthropic takes jpeg/png/gif/webp only; a BMP goes to the OpenAI fallback instead of a 400 from Anthropic."""
    fake.script("claude-x", B.text("claude saw it"))
    fake.script("gpt-x", B.text("gpt saw it"))
    gw = make_gateway()
    raw = oai(gw).chat.completions.with_raw_response.create(model="detour", messages=_image_request("image/bmp"))
    assert raw.parse().choices[0].message.content == "gpt saw it"
    assert raw.headers["x-detour-model"] == "oai/gpt-x"
    assert raw.headers["x-detour-fallback-reason"] == "media_type:image/bmp"
    assert fake.count("claude-x") == 0
    png = oai(gw).chat.completions.with_raw_response.create(model="detour", messages=_image_request("image/png"))
    assert png.headers["x-detour-model"] == "ant/claude-x" and fake.count("claude-x") == 1


def test_heic_goes_past_anthropic_and_openai_to_gemini_only_where_it_is_taken(make_gateway, fake):
    fake.script("gem-x", B.text("gemini saw it"))
    gw = make_gateway(model={"primary": "ant/claude-x", "fallback": ["gem/gem-x"]})
    raw = oai(gw).chat.completions.with_raw_response.create(model="detour", messages=_image_request("image/heic"))
    assert raw.headers["x-detour-model"] == "gem/gem-x"
    sent = fake.requests[-1].body["contents"][0]["parts"]
    assert any(p.get("inlineData", {}).get("mimeType") == "image/heic" for p in sent)


@pytest.mark.parametrize("field", ["output_config", "output_format"])
def test_an_anthropic_schema_keeps_its_title_as_the_openai_name(make_gateway, fake, field):
    fake.script("gpt-x", B.text('{"city": "Oslo"}'))
    gw = make_gateway()
    schema = {"title": "Weather Report", "type": "object", "properties": {"city": {"type": "string"}}}
    fmt = {"type": "json_schema", "schema": schema}
    body = {field: {"format": fmt}} if field == "output_config" else {field: fmt}
    anthropic.Anthropic(base_url=gw.url, api_key="x", max_retries=0).messages.create(
        model="oai/gpt-x", max_tokens=50, messages=[{"role": "user", "content": "weather"}], extra_body=body)
    sent = fake.requests[-1].body["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["name"] == "Weather_Report"
    assert sent["json_schema"]["schema"] == schema


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DETOUR_CACHE_DIR": str(cwd / "cache"), "HOME": str(cwd)}
    env.pop("DETOUR_CATALOG", None)
    return subprocess.run([str(DETOUR), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)


def test_check_does_not_suggest_the_id_it_cannot_find(tmp_path):
    (tmp_path / "detour.json").write_text(json.dumps({
        "model": {"primary": "lmstudio/gemma-3-270m", "fallback": ["lmstudio/qwen3-4b"]},
        "provider": {"lmstudio": {"models": {"gemma-3-270m": {"tools": False}, "qwen3-4b": {}}}}, "discovery": False}))
    out = _cli("check", cwd=tmp_path)
    text = out.stdout + out.stderr
    assert "'lmstudio/gemma-3-270m' is not in the catalog; planned with the capabilities declared under" in text
    assert "did you mean 'lmstudio/gemma-3-270m'" not in text and "did you mean 'lmstudio/qwen3-4b'" not in text
    assert "Traceback" not in text


def test_version(tmp_path):
    from detour import __version__

    for flag in ("--version", "-V"):
        out = _cli(flag, cwd=tmp_path)
        assert out.returncode == 0 and out.stdout.strip() == f"detour {__version__}"
    assert "--version" in _cli("--help", cwd=tmp_path).stdout
