"""The typer app: every command registers itself from its own module."""

from __future__ import annotations

import typer


def _print_version(value: bool) -> None:
    if value:
        from detour._cli.version import version_line

        print(version_line())
        raise typer.Exit()


def build_app() -> typer.Typer:
    from detour._cli import catalog_cmd, check, claude_cmd, codex_cmd, demo, mcp_cmd, models, opencode_cmd, route_cmd, serve, status, usage
    from detour._cli.common import CATALOG_HELP, CONFIG_HELP, State

    app = typer.Typer(name="detour", help="LLM fallback with capability matching: library, gateway and CLI.",
                      no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None,
                      context_settings={"help_option_names": ["-h", "--help"]})

    @app.callback()
    def root(
        ctx: typer.Context,
        catalog: str | None = typer.Option(None, "--catalog", help=CATALOG_HELP, metavar="PATH|URL"),
        config: str | None = typer.Option(None, "--config", help=CONFIG_HELP, metavar="PATH"),
        version: bool = typer.Option(False, "--version", "-V", is_eager=True, callback=_print_version,
                                     help="Print detour's version and exit."),
    ) -> None:
        ctx.obj = State(catalog=catalog, config=config)

    models.register(app)
    check.register(app)
    catalog_cmd.register(app)
    serve.register(app)
    status.register(app)
    mcp_cmd.register(app)
    demo.register(app)
    opencode_cmd.register(app)
    codex_cmd.register(app)
    claude_cmd.register(app)
    usage.register(app)
    route_cmd.register(app)
    return app
