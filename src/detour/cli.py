"""`detour` command line: typer + rich, loaded lazily so `detour --help` starts fast.

Each command lives in its own module under detour._cli; add one with `_register(app)` below.
"""

from __future__ import annotations

import sys

import typer


def build_app() -> typer.Typer:
    from detour._cli import catalog_cmd, check, models, serve
    from detour._cli import mcp_cmd
    from detour._cli import status
    from detour._cli import demo
    from detour._cli import opencode_cmd
    from detour._cli.common import CATALOG_HELP, CONFIG_HELP, State

    app = typer.Typer(name="detour", help="LLM fallback with capability matching: library, gateway and CLI.",
                      no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None,
                      context_settings={"help_option_names": ["-h", "--help"]})

    @app.callback()
    def root(
        ctx: typer.Context,
        catalog: str | None = typer.Option(None, "--catalog", help=CATALOG_HELP, metavar="PATH|URL"),
        config: str | None = typer.Option(None, "--config", help=CONFIG_HELP, metavar="PATH"),
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
    return app


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    try:
        build_app()(args=args, prog_name="detour")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as exc:  # the last guard: one line, never a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("  hint: this is a bug in detour; please report it with the command you ran", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
