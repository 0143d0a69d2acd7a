"""`detour models` and `detour select`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer

from detour._cli.common import (
    CATALOG_HELP,
    CONFIG_HELP,
    MODEL_COLUMNS,
    fail,
    live_health,
    load,
    model_row,
    parse_size_option,
    print_json,
    table,
)
from detour.catalog.model import REQUIREMENTS

if TYPE_CHECKING:  # pragma: no cover
    from detour.catalog.store import Catalog
    from detour.selection import Requirements

NEEDS_HELP = f"Comma-separated capabilities: {','.join(REQUIREMENTS)} (aliases such as vision, json accepted)."


def requirements(needs: str | None, min_context: str | None, **limits: Any) -> Requirements:
    from detour.selection import Requirements

    try:
        return Requirements.from_names((needs or "").split(","),
                                       min_context=parse_size_option(min_context, "--min-context"), **limits)
    except ValueError as exc:
        fail(f"--needs: {exc}" if "capability" in str(exc) else str(exc))


def discovered(loaded: Any, catalog: Catalog) -> list[str]:
    """Ids the running local servers serve (configured local providers and the usual ports), added to
    ``catalog``; none when the config says ``"discovery": false``."""
    from detour.catalog.discovery import discover_into

    found = discover_into(catalog, getattr(loaded, "config", None))
    return [info.id for models in found.values() for info in models]


def configured_ids(loaded: Any, catalog: Catalog, local: Sequence[str] = ()) -> list[str]:
    """The chain first, then every catalog model of a configured provider (built-ins when none is), then the
    models local servers were found serving."""
    from detour.selection import configured_chain

    chain = configured_chain(loaded) if loaded is not None else []
    providers = {m.partition("/")[0] for m in chain} | {m.partition("/")[0] for m in local}
    cfg = getattr(loaded, "config", None)
    providers |= set(getattr(cfg, "provider", None) or {})
    if not providers:
        from detour.providers import BUILTIN_PROVIDERS

        providers = set(BUILTIN_PROVIDERS)
    ids = dict.fromkeys(chain)
    ids.update((info.id, None) for info in catalog.models.values() if info.provider in providers)
    ids.update(dict.fromkeys(local))
    return list(ids)


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models_cmd(
        ctx: typer.Context,
        provider: list[str] = typer.Option([], "--provider", "-p", help="Only this provider (repeatable).", metavar="ID"),
        needs: str | None = typer.Option(None, "--needs", help=NEEDS_HELP, metavar="CAPS"),
        min_context: str | None = typer.Option(None, "--min-context", help="e.g. 200k, 1m.", metavar="SIZE"),
        all_models: bool = typer.Option(False, "--all", help="The whole catalog, not just configured providers."),
        json_out: bool = typer.Option(False, "--json", help="Print ModelInfo records as JSON."),
        catalog: str | None = typer.Option(None, "--catalog", help=CATALOG_HELP, metavar="PATH|URL"),
        config: str | None = typer.Option(None, "--config", help=CONFIG_HELP, metavar="PATH"),
    ) -> None:
        """List models with their capabilities (✓ yes, ✗ no, ? unknown)."""
        req = requirements(needs, min_context)
        loaded, cat = load(ctx, catalog, config)
        local = discovered(loaded, cat)
        ids = list(cat.models) if all_models else configured_ids(loaded, cat, local)
        if provider:
            wanted = {p.strip() for p in ",".join(provider).split(",") if p.strip()}
            unknown = sorted(p for p in wanted if p not in cat.providers and not any(i.startswith(p + "/") for i in ids))
            if unknown:
                fail(f"--provider: no models for {', '.join(unknown)}", "see `detour models --all` for provider ids")
            ids = [i for i in ids if i.partition("/")[0] in wanted]
        if req.required() or req.min_context:
            from detour.selection import smart_model_select

            infos = [s.info for s in smart_model_select(req, candidates=ids, catalog=cat)]
        else:
            infos = [cat.info(i) for i in ids]
        health = live_health()
        if json_out:
            print_json([info.record(health.get(info.id)) for info in infos])
            return
        if not infos:
            fail("no models to list", "use --all for the whole catalog, or relax --needs/--min-context")
        table(MODEL_COLUMNS, [model_row(info, health.get(info.id)) for info in infos])

    @app.command("select")
    def select_cmd(
        ctx: typer.Context,
        needs: str | None = typer.Option(None, "--needs", help=NEEDS_HELP, metavar="CAPS"),
        min_context: str | None = typer.Option(None, "--min-context", help="e.g. 200k, 1m.", metavar="SIZE"),
        min_output: str | None = typer.Option(None, "--min-output", help="e.g. 32k.", metavar="SIZE"),
        max_tier: str | None = typer.Option(None, "--max-tier", help="free, low, medium or high.", metavar="TIER"),
        max_price: float | None = typer.Option(None, "--max-price", help="Blended USD per million tokens.", metavar="USD"),
        provider: list[str] = typer.Option([], "--provider", "-p", help="Only these providers (repeatable).", metavar="ID"),
        prefer: str = typer.Option("priority", "--prefer", help="priority, cost, speed or context.", metavar="MODE"),
        all_models: bool = typer.Option(False, "--all", help="Choose from the whole catalog, not the chain."),
        limit: int | None = typer.Option(None, "--limit", "-n", min=1, help="At most N models.", metavar="N"),
        explain: bool = typer.Option(False, "--explain", help="Also show excluded models and why."),
        json_out: bool = typer.Option(False, "--json", help="Print the selection as JSON."),
        catalog: str | None = typer.Option(None, "--catalog", help=CATALOG_HELP, metavar="PATH|URL"),
        config: str | None = typer.Option(None, "--config", help=CONFIG_HELP, metavar="PATH"),
    ) -> None:
        """Pick models meeting requirements, best first (unknown capabilities rank last)."""
        from detour.selection import PREFERENCES, configured_chain, smart_model_select

        if prefer not in PREFERENCES:
            fail(f"--prefer {prefer!r} is not one of {', '.join(PREFERENCES)}")
        allow = tuple(p.strip() for p in ",".join(provider).split(",") if p.strip()) or None
        try:
            req = requirements(needs, min_context, min_output=parse_size_option(min_output, "--min-output"),
                               max_tier=max_tier, max_price=max_price, allow_providers=allow)
        except ValueError as exc:  # a bad --max-tier
            fail(str(exc))
        loaded, cat = load(ctx, catalog, config)
        discovered(loaded, cat)  # local servers' models and what they report they can do
        chain = configured_chain(loaded) if loaded is not None else []
        if not all_models and not chain:
            fail("no model chain configured", "add model.primary/fallback to detour.json, or pass --all")
        picks = smart_model_select(req, candidates="all" if all_models else chain, prefer=prefer,  # type: ignore[arg-type]  # candidates is a list of ids or 'all'; typer hands a list
                                   limit=limit, explain=explain, catalog=cat)
        if json_out:
            print_json([{**s.info.record(), "score": round(s.score, 3), "reasons": s.reasons,
                         **({"excluded": s.excluded, "failed": s.failed} if explain else {})} for s in picks])
            return
        chosen = [s for s in picks if not s.excluded]
        if not chosen:
            print("no model meets every requirement" + ("" if explain else " (use --explain to see why)"))
        rows = [[str(i + 1) if not s.excluded else "-", *model_row(s.info)[:-1],
                 "; ".join(s.failed if s.excluded else s.reasons)] for i, s in enumerate(picks)]
        if rows:
            table(("#", *MODEL_COLUMNS[:-1], "notes"), rows)
        if not chosen:
            raise typer.Exit(1)
