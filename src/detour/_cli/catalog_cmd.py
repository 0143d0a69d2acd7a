"""`detour catalog sync|show`."""

from __future__ import annotations

import sys

import typer

from detour._cli.common import CATALOG_HELP, CONFIG_HELP, fail, fail_from, load, mark, print_json, tokens


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The model catalog: download models.dev, show one model.", no_args_is_help=True,
                        rich_markup_mode=None)
    app.add_typer(group, name="catalog")

    @group.command("sync")
    def sync_cmd(
        url: str | None = typer.Option(None, "--url", help="Catalog URL (default: https://models.dev/api.json)."),
        timeout: float = typer.Option(30.0, "--timeout", help="Seconds before giving up."),
    ) -> None:
        """Download the models.dev catalog into the user cache (conditional, atomic)."""
        from detour.catalog.errors import CatalogError
        from detour.catalog.sources import DEFAULT_URL
        from detour.catalog.sync import sync_catalog

        try:
            result = sync_catalog(url or DEFAULT_URL, progress=sys.stderr.isatty(), timeout=timeout)
        except CatalogError as exc:
            fail_from(exc)
        if result.status == "not_modified":
            typer.echo(f"catalog unchanged (not modified since last sync): {result.path}")
        else:
            typer.echo(f"catalog updated: {result.models:,} models from {result.providers} providers "
                       f"({result.bytes / 1e6:.1f} MB) -> {result.path}")

    @group.command("show")
    def show_cmd(
        ctx: typer.Context,
        model_id: str = typer.Argument(..., help="provider/model, e.g. anthropic/claude-sonnet-4-5."),
        json_out: bool = typer.Option(False, "--json", help="Print the record as JSON."),
        catalog: str | None = typer.Option(None, "--catalog", help=CATALOG_HELP, metavar="PATH|URL"),
        config: str | None = typer.Option(None, "--config", help=CONFIG_HELP, metavar="PATH"),
    ) -> None:
        """Show everything the catalog knows about one model."""
        _, cat = load(ctx, catalog, config)
        info = cat.get(model_id)
        if info is None:
            close = cat.closest(model_id) if "/" in model_id else cat.find_bare(model_id)[:5]
            fail(f"{model_id!r} is not in the catalog",
                 f"did you mean {', '.join(close)}?" if close else "see `detour models --all`")
        if json_out:
            print_json({**info.record(), "cost_cache_read": info.cost_cache_read,
                        "cost_cache_write": info.cost_cache_write, "moderated": info.moderated, **info.extra})
            return
        lines = [("id", info.id), ("name", info.name or info.model)]
        from detour.catalog.model import CAPABILITIES

        lines += [(cap, mark(info.has(cap))) for cap in CAPABILITIES]
        if info.provider == "openrouter":
            lines.append(("moderated", mark(info.moderated)))
        lines += [("context", tokens(info.context)), ("max output", tokens(info.max_output))]
        for label, value in (("$/M input", info.cost_input), ("$/M output", info.cost_output),
                             ("$/M cache read", info.cost_cache_read), ("$/M cache write", info.cost_cache_write)):
            lines.append((label, "?" if value is None else f"{value:g}"))
        lines.append(("tier", info.tier or "?"))
        lines += [(k.replace("_", " "), str(v)) for k, v in info.extra.items()]
        width = max(len(k) for k, _ in lines)
        for key, shown in lines:
            typer.echo(f"{key:<{width}}  {shown}")
