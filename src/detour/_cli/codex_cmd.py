"""`detour codex`: print, or merge into Codex's config.toml, the model provider that points Codex at detour."""

from __future__ import annotations

from pathlib import Path

import typer

from detour._cli.common import CATALOG_HELP, CONFIG_HELP, fail, load, state

WRITE_HELP = ("Merge into Codex's config.toml ($CODEX_HOME/config.toml, else ~/.codex/config.toml; --path to choose): "
              "sets model, model_provider and [model_providers.detour], keeps everything else.")
PATH_HELP = "The config.toml to write (implies --write)."
URL_HELP = "The gateway's address (default: http://server.host:server.port from the config); /v1 is added."
ENV_HELP = ("The environment variable holding the key Codex sends (default: the variable of the config's "
            "server.apiKeys entry when written as {env:X}, else DETOUR_API_KEY).")


def _env_key(path: Path | None, explicit: str | None) -> str:
    """--env-key, else the variable named by the config's server.apiKeys ({env:X}), else DETOUR_API_KEY."""
    from detour import codex
    from detour._cli.opencode_cmd import _raw_server_key

    if explicit:
        return explicit
    ref = _raw_server_key(path)  # "{env:X}" or None
    return ref[5:-1] if ref else codex.ENV_KEY


def register(app: typer.Typer) -> None:
    @app.command("codex")
    def codex_cmd(
        ctx: typer.Context,
        write: bool = typer.Option(False, "--write", help=WRITE_HELP),
        path: Path | None = typer.Option(None, "--path", help=PATH_HELP, metavar="PATH"),
        url: str | None = typer.Option(None, "--url", help=URL_HELP, metavar="URL"),
        env_key: str | None = typer.Option(None, "--env-key", help=ENV_HELP, metavar="NAME"),
        config: str | None = typer.Option(None, "--config", help=CONFIG_HELP, metavar="PATH"),
        catalog: str | None = typer.Option(None, "--catalog", help=CATALOG_HELP, metavar="PATH|URL"),
    ) -> None:
        """Point the Codex CLI at the gateway: a model provider "detour" speaking the Responses API."""
        from detour import codex
        from detour.opencode import gateway_url

        loaded, _cat = load(ctx, catalog, config or state(ctx).config)
        server = loaded.config.server
        key_var = _env_key(loaded.path, env_key)
        data = codex.settings(gateway_url(url, server.host, server.port), key_var)
        if not write and path is None:
            typer.echo(codex.render(data), nl=False)
            return
        target = path or codex.config_path()
        try:
            model, provider = codex.write(target, data)
        except (ValueError, TypeError) as exc:
            fail(f"{target}: {exc}", "fix the file by hand, or run `detour codex` and paste its output")
        except OSError as exc:
            fail(f"cannot write {target}: {exc.strerror or exc}")
        was = ", ".join(f"{k} was {v!r}" for k, v in (("model", model), ("model_provider", provider)) if v)
        typer.echo(f"wrote {target}: model_provider {codex.PROVIDER!r} at {data['model_providers']['detour']['base_url']}"
                   f"{' (' + was + ')' if was else ''}")
        needs = "the gateway's key" if server.api_keys else "any value (the gateway has no server.apiKeys)"
        typer.echo(f"Codex sends ${key_var} as its key: export {key_var}=<{needs}>")

