from __future__ import annotations

import json

import pytest

from detour.config import ConfigError, load_config, parse_config


def test_three_forms(cwd, env, home):
    (cwd / "secrets").mkdir()
    (cwd / "secrets" / "key.txt").write_text("  sk-from-file\n")
    (home / "token").write_text("sk-home\n")
    env |= {"MY_URL": "https://llm.example.com/v1", "PORT": "5000", "K2": "sk-two"}
    doc = {
        "provider": {
            "custom": {"baseURL": "{env:MY_URL}", "apiKey": ["{file:secrets/key.txt}", "${K2}", "{file:~/token}"]}
        },
        "server": {"port": "${PORT}", "host": "h-{env:MY_URL}-x"},
    }
    (cwd / "detour.json").write_text(json.dumps(doc))
    loaded = load_config(env=env, cwd=cwd)
    config = loaded.config
    assert config.provider["custom"].base_url == "https://llm.example.com/v1"
    assert config.provider["custom"].api_keys == ["sk-from-file", "sk-two", "sk-home"]
    assert config.server.port == 5000
    assert config.server.host == "h-https://llm.example.com/v1-x"
    assert loaded.warnings == []


def test_file_paths_are_relative_to_the_config_folder(tmp_path, cwd, env):
    conf = tmp_path / "etc"
    conf.mkdir()
    (conf / "k").write_text("sk-etc")
    (conf / "detour.json").write_text('{"server": {"apiKeys": "{file:k}"}}')
    assert load_config(conf / "detour.json", env=env, cwd=cwd).config.server.api_keys == ["sk-etc"]


def test_unset_variable_is_empty_with_a_warning(cwd, env):
    doc = {"provider": {"openai": {"apiKey": "{env:NOT_SET_ANYWHERE}"}}, "catalog": "${ALSO_UNSET}/x"}
    (cwd / "detour.json").write_text(json.dumps(doc))
    loaded = load_config(env=env, cwd=cwd)
    assert loaded.config.provider["openai"].api_keys == []  # an empty key is no key
    assert loaded.config.catalog == "/x"
    texts = [str(w) for w in loaded.warnings]
    assert len(texts) == 2
    assert "provider.openai.apiKey" in texts[0] and "NOT_SET_ANYWHERE" in texts[0]
    assert "catalog" in texts[1] and "ALSO_UNSET" in texts[1]
    assert all(w.severity == "warning" for w in loaded.warnings)


def test_missing_file_reference_is_an_error(cwd, env):
    (cwd / "detour.json").write_text('{"provider": {"openai": {"apiKey": "{file:missing.key}"}}}')
    with pytest.raises(ConfigError) as info:
        load_config(env=env, cwd=cwd)
    text = str(info.value)
    assert str(cwd / "detour.json") in text
    assert "provider.openai.apiKey" in text and "missing.key" in text and "hint:" in text


def test_parse_config_interpolates_with_the_given_env():
    loaded = parse_config({"catalog": "{env:CAT}"}, env={"CAT": "https://models.dev/api.json"})
    assert loaded.config.catalog == "https://models.dev/api.json"


def test_keys_are_not_interpolated_and_comments_are_not_read(cwd, env):
    (cwd / "detour.jsonc").write_text('{\n // "catalog": "{env:NOPE}"\n "budget": {"daily": {"{env:X}": 1}}\n}')
    loaded = load_config(env=env, cwd=cwd)
    assert loaded.warnings == []
    assert loaded.config.budget.daily == {"{env:X}": 1.0}


def test_opencode_provider_block_is_interpolated_with_its_own_path(cwd, env):
    doc = {"provider": {"openai": {"options": {"apiKey": "{env:OC_UNSET}"}}}, "detour": {"catalog": "{env:D_UNSET}"}}
    (cwd / "opencode.json").write_text(json.dumps(doc))
    loaded = load_config(env=env, cwd=cwd)
    assert sorted(w.path for w in loaded.warnings) == ["detour.catalog", "provider.openai.options.apiKey"]
