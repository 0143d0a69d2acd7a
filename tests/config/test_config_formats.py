from __future__ import annotations

import json
import subprocess
import sys

import pytest

from detour.config import Config, ConfigError, load_config

MISSION_FALLBACK = ["openai/gpt-5", "google/gemini-2-flash", "deepseek/deepseek-coder"]


@pytest.mark.parametrize("name", ["detour.json", "detour.jsonc", "detour.yaml", "detour.toml"])
def test_every_format_reads_the_same_config(name, cwd, env, copy_fixture):
    path = copy_fixture(name, cwd)
    loaded = load_config(env=env, cwd=cwd)
    config = loaded.config
    assert loaded.path == path
    assert loaded.warnings == []
    assert config.model.primary == "anthropic/claude-sonnet-4-20250514"
    assert config.model.fallback == MISSION_FALLBACK
    assert config.model.on_rate_limit == "auto-switch"
    assert config.model.retry_attempts == 3
    assert config.server.port == 4242
    assert config.server.max_body_size == 1024 * 1024
    assert config.timeouts.first_token == 45.0
    assert config.timeouts.connect == 5.0
    assert config.provider["lmstudio"].base_url == "http://127.0.0.1:1234/v1"
    assert config.overrides("lmstudio/qwen/qwen3-coder-30b") == {"tools": True, "context": 256_000}


def test_jsonc_keeps_comment_like_text_inside_strings(cwd, env):
    (cwd / "detour.jsonc").write_text(
        '{"provider": {"x": {"baseURL": "http://h:1/v1", // real comment\n'
        '  "headers": {"X-Note": "a // b /* c */ d, ]"},}}}\n'
    )
    config = load_config(env=env, cwd=cwd).config
    assert config.provider["x"].headers == {"X-Note": "a // b /* c */ d, ]"}


@pytest.mark.parametrize("name", ["opencode.json", "opencode.jsonc"])
def test_opencode_file_reads_the_detour_key(name, cwd, env, copy_fixture):
    copy_fixture(name, cwd)
    env |= {"OC_OPENAI_KEY": "sk-oc-openai", "OC_ANTHROPIC_KEY": "sk-oc-anthropic"}
    loaded = load_config(env=env, cwd=cwd)
    config = loaded.config
    # OpenCode's own "model" string is not detour's model block
    assert config.model.fallback == ["openai/gpt-5", "lmstudio/qwen/qwen3-coder-30b"]
    assert config.model.retry_attempts == 1
    assert loaded.key_prefix == "detour."
    openai = config.endpoint("openai", env=env)
    assert openai is not None
    assert (openai.base_url, openai.api_keys) == ("https://proxy.example.com/v1", ("sk-oc-openai",))
    lmstudio = config.endpoint("lmstudio", env=env)
    assert lmstudio is not None and lmstudio.base_url == "http://192.168.1.20:1234/v1"
    assert lmstudio.local and lmstudio.api_keys == ()
    anthropic = config.endpoint("anthropic", env=env)
    assert anthropic is not None and anthropic.api_keys == ("sk-oc-anthropic",)


def test_detour_block_wins_over_opencode_provider_block(cwd, env):
    doc = {
        "provider": {"openai": {"options": {"baseURL": "https://oc.example.com/v1", "apiKey": "oc-key"}}},
        "detour": {"provider": {"openai": {"baseURL": "https://detour.example.com/v1"}}},
    }
    (cwd / "opencode.json").write_text(json.dumps(doc))
    endpoint = load_config(env=env, cwd=cwd).config.endpoint("openai", env=env)
    assert endpoint is not None
    assert endpoint.base_url == "https://detour.example.com/v1"
    assert endpoint.api_keys == ("oc-key",)  # detour named no key, so OpenCode's is used


def test_opencode_unusual_provider_entries_only_warn(cwd, env):
    doc = {"provider": {"odd": {"options": {"baseURL": "not a url"}}, "skip": "x"}, "detour": {}}
    (cwd / "opencode.json").write_text(json.dumps(doc))
    loaded = load_config(env=env, cwd=cwd)
    assert [w.path for w in loaded.warnings] == ["provider.odd.options.baseURL"]
    assert loaded.config.endpoint("odd") is None


def test_empty_file_is_an_empty_config(cwd, env):
    (cwd / "detour.yaml").write_text("# nothing yet\n")
    assert load_config(env=env, cwd=cwd).config == Config()


def test_unsupported_suffix_is_an_error(tmp_path, env):
    path = tmp_path / "detour.ini"
    path.write_text("[model]\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env)
    assert str(path) in str(info.value) and "unsupported config file type '.ini'" in str(info.value)


def test_import_stays_light():
    code = "import sys, detour.config; print('yaml' in sys.modules, 'tomllib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_yaml_is_imported_only_when_read(cwd, env, copy_fixture):
    copy_fixture("detour.yaml", cwd)
    code = (
        "import sys; from pathlib import Path; from detour.config import load_config; "
        f"load_config(env={{'HOME': '/nonexistent'}}, cwd=Path({str(cwd)!r})); print('yaml' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
