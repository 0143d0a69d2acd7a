from __future__ import annotations

import json
from pathlib import Path

import pytest

from detour.config import Config, ConfigError, load_config


def _write(path: Path, retry: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"model": {"retryAttempts": retry}}))
    return path


def test_search_order(tmp_path, cwd, env, home):
    explicit = _write(tmp_path / "explicit.json", 1)
    from_env = _write(tmp_path / "elsewhere" / "conf.json", 2)
    local = _write(cwd / "detour.json", 6)
    (cwd / "opencode.json").write_text(json.dumps({"model": "x/y", "detour": {"model": {"retryAttempts": 4}}}))
    user = _write(home / ".config" / "detour" / "config.json", 5)
    env["DETOUR_CONFIG"] = str(from_env)

    def found() -> tuple[Path | None, int]:
        loaded = load_config(explicit if explicit.exists() else None, env=env, cwd=cwd)
        return loaded.path, loaded.config.model.retry_attempts

    assert found() == (explicit, 1)
    explicit.unlink()
    assert found() == (from_env, 2)
    del env["DETOUR_CONFIG"]
    assert found() == (local, 6)
    local.unlink()
    assert found() == (cwd / "opencode.json", 4)
    (cwd / "opencode.json").unlink()
    assert found() == (user, 5)
    user.unlink()
    assert found() == (None, 3)  # the schema's default, the mission's example


def test_local_formats_in_order(cwd, env):
    _write(cwd / "detour.toml", 9).write_text("[model]\nretryAttempts = 9\n")
    (cwd / "detour.yml").write_text("model: {retryAttempts: 8}\n")
    assert load_config(env=env, cwd=cwd).path == cwd / "detour.yml"
    (cwd / "detour.jsonc").write_text('{"model": {"retryAttempts": 7}} // first\n')
    assert load_config(env=env, cwd=cwd).config.model.retry_attempts == 7


def test_opencode_without_detour_key_is_skipped(cwd, env, home):
    (cwd / "opencode.json").write_text(json.dumps({"model": "anthropic/claude-sonnet-4-20250514"}))
    user = _write(home / ".config" / "detour" / "config.json", 6)
    assert load_config(env=env, cwd=cwd).path == user


def test_xdg_config_home_is_respected(tmp_path, cwd, env, home):
    _write(home / ".config" / "detour" / "config.json", 1)
    xdg = tmp_path / "xdg"
    (xdg / "detour").mkdir(parents=True)
    (xdg / "detour" / "config.yaml").write_text("model: {retryAttempts: 0}\n")
    env["XDG_CONFIG_HOME"] = str(xdg)
    loaded = load_config(env=env, cwd=cwd)
    assert loaded.path == xdg / "detour" / "config.yaml"
    assert loaded.config.model.retry_attempts == 0


def test_nothing_found_is_the_default_config(cwd, env):
    loaded = load_config(env=env, cwd=cwd)
    assert (loaded.config, loaded.path, loaded.warnings) == (Config(), None, [])
    assert loaded.config.state.url == "sqlite"
    assert loaded.config.model.on_rate_limit == "auto-switch"
    assert loaded.config.model.retry_attempts == 3


def test_relative_explicit_path_is_resolved_against_cwd(cwd, env):
    _write(cwd / "conf" / "mine.json", 4)
    assert load_config("conf/mine.json", env=env, cwd=cwd).config.model.retry_attempts == 4


@pytest.mark.parametrize("via", ["argument", "env"])
def test_a_named_file_must_exist(tmp_path, cwd, env, via):
    missing = tmp_path / "nope.json"
    if via == "env":
        env["DETOUR_CONFIG"] = str(missing)
    with pytest.raises(ConfigError) as info:
        load_config(missing if via == "argument" else None, env=env, cwd=cwd)
    text = str(info.value)
    assert str(missing) in text and "does not exist" in text
    assert ("$DETOUR_CONFIG" if via == "env" else "--config") in text


def test_explicit_opencode_file_without_detour_key_still_gives_providers(cwd, env):
    path = cwd / "opencode.jsonc"
    path.write_text('{"provider": {"openai": {"options": {"apiKey": "k1"}}}, // no detour key\n}')
    loaded = load_config(path, env=env, cwd=cwd)
    endpoint = loaded.config.endpoint("openai", env=env)
    assert loaded.path == path and endpoint is not None and endpoint.api_keys == ("k1",)


def test_shadowed_config_files_are_reported(cwd, env):
    _write(cwd / "detour.json", 1)
    (cwd / "detour.toml").write_text("[model]\nretryAttempts = 2\n")
    loaded = load_config(env=env, cwd=cwd)
    assert loaded.path == cwd / "detour.json"
    assert [(w.severity, w.source) for w in loaded.warnings] == [("warning", str(cwd / "detour.toml"))]
    assert "ignored: detour.toml (using detour.json)" in str(loaded.warnings[0])
