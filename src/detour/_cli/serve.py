"""`detour serve`: run the gateway."""

from __future__ import annotations

import typer

from detour._cli.common import CATALOG_HELP, CONFIG_HELP, fail, fail_from, state


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_cmd(
        ctx: typer.Context,
        config: str | None = typer.Option(None, "--config", help=CONFIG_HELP, metavar="PATH"),
        host: str | None = typer.Option(None, "--host", help="Address to bind (default: server.host, 127.0.0.1)."),
        port: int | None = typer.Option(None, "--port", help="Port (default: server.port, 4141)."),
        workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
        catalog: str | None = typer.Option(None, "--catalog", help=CATALOG_HELP, metavar="PATH|URL"),
    ) -> None:
        """Run the gateway: OpenAI- and Anthropic-compatible endpoints with fallback."""
        from detour.catalog.errors import CatalogError
        from detour.config import ConfigError
        from detour.server.run import ServeError, serve

        st = state(ctx)
        try:
            serve(config or st.config, host, port, workers, catalog_source=catalog or st.catalog)
        except (ConfigError, CatalogError) as exc:
            fail_from(exc)
        except ServeError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"cannot listen: {exc.strerror or exc}", "pick another --port, or stop what is using it")
