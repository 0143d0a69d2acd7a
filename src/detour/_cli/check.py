"""`detour check`: validate the config against the catalog and the environment."""

from __future__ import annotations

import os

import typer

from detour._cli.common import CATALOG_HELP, CONFIG_HELP, fail_from, state


def register(app: typer.Typer) -> None:
    @app.command("check")
    def check_cmd(
        ctx: typer.Context,
        config: str | None = typer.Option(None, "--config", help=CONFIG_HELP, metavar="PATH"),
        strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors (exit 1)."),
        catalog: str | None = typer.Option(None, "--catalog", help=CATALOG_HELP, metavar="PATH|URL"),
    ) -> None:
        """Check the config: unknown models (with the closest real ids), providers and missing API keys."""
        from detour.catalog.errors import CatalogError
        from detour.catalog.store import load_catalog
        from detour.config import ConfigError, check_config, load_config

        st = state(ctx)
        try:
            loaded = load_config(config or st.config)
            cat = load_catalog(loaded, catalog=catalog or st.catalog)
        except (ConfigError, CatalogError) as exc:
            fail_from(exc)
        issues = [*loaded.warnings, *check_config(loaded, cat, env=os.environ)]
        errors = [i for i in issues if i.severity == "error" or strict]
        for issue in issues:
            level = "error" if issue in errors else issue.severity
            typer.echo(f"{level}: {issue}", err=True)
        where = str(loaded.path) if loaded.path else "no config file (defaults)"
        chain = loaded.config.model.models
        verdict = "failed" if errors else "ok"
        typer.echo(f"{verdict}: {where}: {len(chain)} model(s) in the chain, "
                   f"{len(errors)} error(s), {len(issues) - len(errors)} warning(s)")
        if errors:
            raise typer.Exit(1)
