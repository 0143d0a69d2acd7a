"""Capability rules from the models.dev format, including unknown-versus-false."""

from __future__ import annotations

from pathlib import Path

import pytest

from detour.catalog.errors import CatalogError
from detour.catalog.modelsdev import thinking_from
from detour.catalog.store import load_catalog


@pytest.fixture
def cat(mini: Path, env: dict[str, str]):
    return load_catalog(catalog=str(mini), env=env)


def test_fields_map_to_model_info(cat) -> None:
    m = cat.get("acme/think-pro")
    assert (m.provider, m.model, m.name) == ("acme", "think-pro", "Think Pro")
    assert (m.tools, m.image, m.pdf, m.reasoning, m.thinking, m.structured_output) == (True, True, True, True, True, True)
    assert (m.context, m.max_output) == (400_000, 64_000)
    assert (m.cost_input, m.cost_output, m.cost_cache_read, m.cost_cache_write) == (2.0, 8.0, 0.5, None)
    assert m.blended_price == pytest.approx(3.5) and m.tier == "medium"
    assert m.extra["release_date"] == "2025-01-01" and m.extra["open_weights"] is False


def test_empty_reasoning_options_means_no_thinking(cat) -> None:
    m = cat.get("acme/reason-fixed")
    assert m.reasoning is True and m.thinking is False


def test_absent_reasoning_options_means_unknown(cat) -> None:
    m = cat.get("acme/reason-maybe")
    assert m.reasoning is True and m.thinking is None


def test_no_reasoning_means_no_thinking(cat) -> None:
    assert cat.get("acme/plain").thinking is False


def test_absent_fields_stay_unknown(cat) -> None:
    m = cat.get("acme/reason-maybe")
    assert m.structured_output is None and m.cost_input is None and m.tier is None
    assert cat.get("acme/plain").structured_output is False


def test_modalities(cat) -> None:
    m = cat.get("acme/toggle-cheap")
    assert (m.image, m.pdf, m.thinking) == (True, False, True)


def test_uncensored_by_provider(cat) -> None:
    assert cat.get("lmstudio/qwen/qwen3-coder-30b").uncensored is True
    assert cat.get("anthropic/claude-test-1").uncensored is False
    assert cat.get("acme/plain").uncensored is None


def test_free_tier(cat) -> None:
    assert cat.get("acme/plain").tier == "free"


@pytest.mark.parametrize(
    ("reasoning", "options", "expected"),
    [(True, [{"type": "effort"}], True), (True, [{"type": "toggle"}], True), (True, [{"type": "budget_tokens"}], True),
     (True, [], False), (True, None, None), (False, None, False), (False, [{"type": "toggle"}], False),
     (True, [{"type": "something-new"}], False), (None, None, None)],
)
def test_thinking_rule(reasoning, options, expected) -> None:
    assert thinking_from(reasoning, options) is expected


@pytest.mark.parametrize(("body", "fragment"), [(b"{not json", "invalid JSON"), (b"[]", "not a models.dev catalog"),
                                                (b'{"x": {"id": "x"}}', "has no 'models' object")])
def test_bad_files_are_user_errors(tmp_path: Path, env: dict[str, str], body: bytes, fragment: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(body)
    with pytest.raises(CatalogError) as err:
        load_catalog(catalog=str(path), env=env)
    assert fragment in str(err.value) and str(path) in str(err.value)


def test_missing_file(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(CatalogError, match="not found"):
        load_catalog(catalog=str(tmp_path / "nope.json"), env=env)
