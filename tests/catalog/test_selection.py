"""smart_model_select: exclusion, unknown-after-known, preferences, ties, explanations."""

from __future__ import annotations

from pathlib import Path

import pytest

from detour.catalog.store import load_catalog
from detour.selection import Requirements, smart_model_select


@pytest.fixture
def cat(mini: Path, env: dict[str, str]):
    return load_catalog(catalog=str(mini), env=env)


def ids(selections) -> list[str]:
    return [s.model_id for s in selections]


def test_known_lack_excludes_and_unknown_ranks_last(cat) -> None:
    chain = ["acme/reason-maybe", "acme/reason-fixed", "acme/think-pro", "acme/plain"]
    out = smart_model_select(["thinking"], candidates=chain, catalog=cat)
    assert ids(out) == ["acme/think-pro", "acme/reason-maybe"]
    assert out[0].score == 1.0 and out[0].reasons == []
    assert out[1].reasons == ["thinking: unknown"] and out[1].score < 1.0


def test_explain_lists_excluded_with_failed_requirement(cat) -> None:
    chain = ["acme/plain", "acme/think-pro", "acme/reason-fixed"]
    out = smart_model_select(Requirements.from_names(["thinking"], min_context=200_000), candidates=chain,
                             catalog=cat, explain=True)
    assert ids(out) == ["acme/think-pro", "acme/plain", "acme/reason-fixed"]
    assert [s.excluded for s in out] == [False, True, True]
    assert out[1].failed == ["thinking: not supported", "context: 32,000 < 200,000"]
    assert out[2].failed == ["thinking: not supported", "context: 128,000 < 200,000"]


def test_prefer_cost_unknown_last_ties_keep_chain_order(cat) -> None:
    chain = ["acme/reason-maybe", "openrouter/acme/think-pro", "acme/think-pro", "acme/toggle-cheap", "acme/plain"]
    out = smart_model_select(None, candidates=chain, catalog=cat, prefer="cost")
    assert ids(out) == ["acme/plain", "acme/toggle-cheap", "acme/think-pro", "openrouter/acme/think-pro",
                        "acme/reason-maybe"]
    tie = ["acme/think-pro", "acme/plain", "acme/think-pro"]
    assert ids(smart_model_select(None, candidates=tie, catalog=cat, prefer="cost")) == ["acme/plain", "acme/think-pro"]


def test_prefer_context_and_priority(cat) -> None:
    chain = ["acme/plain", "acme/reason-maybe", "acme/think-pro"]
    assert ids(smart_model_select(None, candidates=chain, catalog=cat, prefer="context")) == [
        "acme/reason-maybe", "acme/think-pro", "acme/plain"]
    assert ids(smart_model_select(None, candidates=chain, catalog=cat)) == chain


def test_speed_unknown_everywhere_keeps_order(cat) -> None:
    chain = ["acme/plain", "acme/think-pro"]
    assert ids(smart_model_select(None, candidates=chain, catalog=cat, prefer="speed")) == chain


def test_unknown_model_ids_are_kept_last(cat) -> None:
    out = smart_model_select(["tools"], candidates=["acme/nope", "acme/plain"], catalog=cat)
    assert ids(out) == ["acme/plain", "acme/nope"]
    assert out[1].reasons == ["tools: unknown", "not in the catalog"]


def test_all_matches_list_path(cat) -> None:
    req = Requirements.from_names(["tools", "image"], min_context=200_000)
    everything = list(cat.models)
    for prefer in ("priority", "cost", "context", "speed"):
        fast = smart_model_select(req, candidates="all", catalog=cat, prefer=prefer, explain=True)
        slow = smart_model_select(req, candidates=everything, catalog=cat, prefer=prefer, explain=True)
        assert [(s.model_id, s.excluded, s.reasons) for s in fast] == [(s.model_id, s.excluded, s.reasons) for s in slow]


def test_all_filters(cat) -> None:
    def all_ids(**kw) -> list[str]:
        return ids(smart_model_select(Requirements(**kw), candidates="all", catalog=cat))

    assert all_ids(local_only=True) == ["lmstudio/qwen/qwen3-coder-30b"]
    assert all_ids(allow_providers=("anthropic",)) == ["anthropic/claude-test-1"]
    assert "acme/plain" not in all_ids(deny_providers=("acme",))
    low = all_ids(max_tier="low")
    assert low[:3] == ["acme/reason-fixed", "acme/plain", "acme/toggle-cheap"]
    assert low[3:] == ["acme/reason-maybe", "lmstudio/qwen/qwen3-coder-30b"]  # unknown price, last
    assert "acme/think-pro" not in all_ids(max_price=3.0)
    assert all_ids(min_output=60_000) == ["acme/think-pro", "anthropic/claude-test-1", "lmstudio/qwen/qwen3-coder-30b",
                                          "openrouter/acme/think-pro"]
    assert "acme/plain" not in all_ids(min_output=60_000)
    assert all_ids(uncensored=True)[0] == "lmstudio/qwen/qwen3-coder-30b"


def test_limit(cat) -> None:
    assert len(smart_model_select(None, candidates="all", catalog=cat, limit=2)) == 2


def test_requirements_from_names() -> None:
    req = Requirements.from_names(["tools", " Vision", "local", ""], min_context=1000)
    assert req.tools and req.image and req.local_only and req.min_context == 1000
    with pytest.raises(ValueError, match="unknown capability 'telepathy'"):
        Requirements.from_names(["telepathy"])
    with pytest.raises(ValueError, match="max_tier"):
        Requirements(max_tier="cheap")
    assert Requirements.coerce({"tools": True}).tools is True
    assert Requirements.coerce("tools,image").image is True


def test_bad_prefer(cat) -> None:
    with pytest.raises(ValueError, match="prefer"):
        smart_model_select(None, candidates="all", catalog=cat, prefer="vibes")  # type: ignore[arg-type]


def test_default_candidates_come_from_config(mini: Path, tmp_path: Path, env: dict[str, str]) -> None:
    from detour.config import load_config

    (tmp_path / "detour.json").write_text('{"model": {"primary": "acme/plain", "fallback": ["acme/think-pro"]}}')
    loaded = load_config(tmp_path / "detour.json", env={}, cwd=tmp_path)
    cat = load_catalog(loaded, catalog=str(mini), env=env)
    assert ids(smart_model_select(["image"], config=loaded, catalog=cat)) == ["acme/think-pro"]


def test_top_level_exports() -> None:
    import detour

    assert detour.smart_model_select is smart_model_select and detour.Requirements is Requirements
