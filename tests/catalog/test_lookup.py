from __future__ import annotations

from pathlib import Path

from detour.catalog.store import load_catalog


def test_closest_prefers_same_provider(env: dict[str, str]) -> None:
    cat = load_catalog(env=env)
    assert cat.closest("google/gemini-2-flash")[0] == "google/gemini-2.0-flash"
    assert set(cat.closest("deepseek/deepseek-coder")) <= {"deepseek/deepseek-chat", "deepseek/deepseek-reasoner"}
    assert cat.closest("deepseek/deepseek-coder")
    assert cat.closest("gogle/gemini-2.5-pro")[0] == "google/gemini-2.5-pro"  # misspelt provider
    assert cat.closest("zzz/qqqqqqqq") == []
    assert len(cat.closest("openai/gpt-5", n=2)) == 2


def test_find_bare(mini: Path, env: dict[str, str]) -> None:
    cat = load_catalog(catalog=str(mini), env=env)
    assert sorted(cat.find_bare("think-pro")) == ["acme/think-pro", "openrouter/acme/think-pro"]
    assert cat.find_bare("qwen/qwen3-coder-30b") == ["lmstudio/qwen/qwen3-coder-30b"]
    assert cat.find_bare("nothing") == []


def test_info_for_unknown_model(mini: Path, env: dict[str, str]) -> None:
    cat = load_catalog(catalog=str(mini), env=env)
    info = cat.info("acme/not-there")
    assert info.known is False and info.tools is None
    assert cat.info("acme/plain").known is True
