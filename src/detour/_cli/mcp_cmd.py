"""`detour mcp`: an MCP server over stdio (smart_model_select, list_models, fallback_status)."""

from __future__ import annotations

import typer

from detour._cli.common import CATALOG_HELP, CONFIG_HELP, fail_from, state

URL_HELP = "The gateway to read health and status from (default: $DETOUR_URL or http://127.0.0.1:4141)."


def register(app: typer.Typer) -> None:
    @app.command("mcp")
    def mcp_cmd(
        ctx: typer.Context,
        url: str | None = typer.Option(None, "--url", help=URL_HELP, metavar="URL"),
        config: str | None = typer.Option(None, "--config", help=CONFIG_HELP, metavar="PATH"),
        catalog: str | None = typer.Option(None, "--catalog", help=CATALOG_HELP, metavar="PATH|URL"),
    ) -> None:
        """Run an MCP server on stdin/stdout for agents: model selection, capabilities and fallback status."""
        from detour.catalog.errors import CatalogError
        from detour.config import ConfigError
        from detour.mcp import build_server, load_tools

        st = state(ctx)
        try:
            tools = load_tools(url, config or st.config, catalog or st.catalog)
        except (ConfigError, CatalogError) as exc:
            fail_from(exc)
        build_server(tools).run("stdio")
