"""Known facts of the shared models.dev snapshot (skipped when ../shared is absent)."""

from __future__ import annotations

from pathlib import Path

from detour.catalog.store import load_catalog
from detour.selection import Requirements, smart_model_select


def test_full_snapshot(shared_data: Path, env: dict[str, str]) -> None:
    cat = load_catalog(catalog=str(shared_data / "models.dev-api.json"), env=env)
    assert len(cat) == 5276
    sonnet = cat.get("anthropic/claude-sonnet-4-20250514")
    assert (sonnet.context, sonnet.tools, sonnet.image, sonnet.thinking) == (200_000, True, True, True)
    assert cat.get("deepseek/deepseek-reasoner").thinking is False  # reasoning_options: []
    assert cat.get("google/gemini-2.0-flash").reasoning is False
    assert cat.closest("google/gemini-2-flash")[0] == "google/gemini-2.0-flash"
    assert cat.provider("deepseek").base_url.startswith("https://api.deepseek.com")
    again = load_catalog(catalog=str(shared_data / "models.dev-api.json"), env=env)  # from the compact cache
    assert again.models == cat.models


def test_select_over_snapshot(shared_data: Path, env: dict[str, str]) -> None:
    cat = load_catalog(catalog=str(shared_data / "models.dev-api.json"), env=env)
    req = Requirements.from_names(["tools", "image", "thinking"], min_context=200_000)
    out = smart_model_select(req, candidates="all", catalog=cat, prefer="cost")
    known = [s for s in out if not s.reasons]
    assert len(known) > 50
    prices = [s.info.blended_price for s in known if s.info.blended_price is not None]
    assert prices == sorted(prices)
    for s in known:
        assert s.info.tools and s.info.image and s.info.thinking and s.info.context >= 200_000
