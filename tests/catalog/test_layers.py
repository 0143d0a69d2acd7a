"""Layering: built-in table, cached models.dev, config catalog, overrides; --catalog replaces 1-3."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from detour.catalog.sources import cached_catalog_path
from detour.catalog.store import load_catalog
from detour.config import load_config


def _config(tmp_path: Path, data: dict) -> object:
    path = tmp_path / "detour.json"
    path.write_text(json.dumps(data))
    return load_config(path, env={}, cwd=tmp_path)


def test_builtin_table_alone(env: dict[str, str]) -> None:
    cat = load_catalog(env=env)
    assert cat.sources == ["built-in table"]
    for mid in ("anthropic/claude-sonnet-4-20250514", "openai/gpt-5", "google/gemini-2.0-flash",
                "deepseek/deepseek-chat", "deepseek/deepseek-reasoner", "google/gemini-2.5-pro"):
        assert cat.get(mid) is not None and cat.get(mid).context, mid


def test_cache_layer_wins_over_builtin(mini: Path, env: dict[str, str]) -> None:
    cached = cached_catalog_path(env)
    cached.parent.mkdir(parents=True)
    shutil.copy(mini, cached)
    cat = load_catalog(env=env)
    assert cat.get("acme/think-pro") is not None and cat.get("openai/gpt-5") is not None
    assert cat.sources == ["built-in table", str(cached)]


def test_config_catalog_layer_and_overrides(mini: Path, tmp_path: Path, env: dict[str, str]) -> None:
    loaded = _config(tmp_path, {"catalog": str(mini), "provider": {
        "acme": {"models": {"reason-maybe": {"thinking": True, "context": "2m"}, "brand-new": {"tools": True}}},
        "anthropic": {"models": {"claude-test-1": {"uncensored": True}}}}})
    cat = load_catalog(loaded, env=env)
    m = cat.get("acme/reason-maybe")
    assert m.thinking is True and m.context == 2_000_000 and m.image is True  # untouched fields stay
    assert cat.get("anthropic/claude-test-1").uncensored is True
    new = cat.get("acme/brand-new")
    assert new.tools is True and new.image is None and new.known is False
    assert cat.get("openai/gpt-5") is not None  # built-ins still there


def test_relative_config_catalog_resolves_beside_config(mini: Path, tmp_path: Path, env: dict[str, str]) -> None:
    shutil.copy(mini, tmp_path / "models.json")
    cat = load_catalog(_config(tmp_path, {"catalog": "models.json"}), env=env)
    assert "acme/plain" in cat


def test_explicit_catalog_replaces_layers_but_keeps_overrides(mini: Path, tmp_path: Path, env: dict[str, str]) -> None:
    loaded = _config(tmp_path, {"provider": {"acme": {"models": {"plain": {"image": True}}}}})
    cat = load_catalog(loaded, catalog=str(mini), env=env)
    assert cat.get("openai/gpt-5") is None
    assert len(cat) == 8 and cat.get("acme/plain").image is True


def test_env_var_catalog(mini: Path, env: dict[str, str]) -> None:
    cat = load_catalog(env={**env, "DETOUR_CATALOG": str(mini)})
    assert cat.get("openai/gpt-5") is None and len(cat) == 8


def test_openrouter_moderation_layer(mini: Path, env: dict[str, str]) -> None:
    extra = mini.parent / "openrouter-mini.json"
    cat = load_catalog(catalog=f"{mini},{extra}", env=env)
    assert cat.get("openrouter/acme/think-pro").moderated is True
    assert cat.get("acme/think-pro").moderated is None
    assert cat.get("openrouter/other/model") is None


def test_compact_cache_follows_source_changes(mini: Path, tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "cat.json"
    shutil.copy(mini, path)
    assert load_catalog(catalog=str(path), env=env).get("acme/plain").tools is True
    assert any((Path(env["DETOUR_CACHE_DIR"]) / "compact").iterdir())
    data = json.loads(path.read_text())
    data["acme"]["models"]["plain"]["tool_call"] = False
    path.write_text(json.dumps(data))
    os.utime(path, ns=(1, 1))  # even an older mtime counts as a change
    assert load_catalog(catalog=str(path), env=env).get("acme/plain").tools is False


def test_provider_registry(mini: Path, env: dict[str, str]) -> None:
    cat = load_catalog(catalog=str(mini), env=env)
    acme = cat.provider("acme")
    assert acme is not None and acme.base_url == "https://api.acme.test/v1"
    assert acme.protocol == "openai" and acme.env == ("ACME_API_KEY",) and acme.local is False
    assert cat.provider("nourl") is None  # no api base URL
    assert cat.provider("anthropic").protocol == "anthropic"  # the built-in wins
    assert cat.provider("lmstudio").local is True
