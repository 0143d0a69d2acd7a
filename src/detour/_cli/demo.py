"""`detour demo`: a ~30 s simulated tour of fallback with fake providers; no API keys needed."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_cmd(
        duration: float = typer.Option(30.0, "--duration", min=1.0, metavar="SECONDS", help="How long the tour runs, in seconds."),
        reset: float = typer.Option(8.0, "--reset", min=0.5, metavar="SECONDS",
                                    help="The simulated primary's retry-after (rate-limit window), in seconds."),
        interval: float = typer.Option(0.75, "--interval", min=0.1, metavar="SECONDS", help="Seconds between requests."),
        no_color: bool = typer.Option(False, "--no-color", help="Plain output (automatic when not a terminal)."),
    ) -> None:
        """Watch fallback happen: a SIMULATION with fake providers on 127.0.0.1 (no API keys, no network)."""
        from rich.console import Console

        from detour import demo

        console = Console(color_system=None if no_color else "auto", highlight=False, soft_wrap=True)
        failed = demo.run(console, duration=duration, reset=reset, interval=interval)
        raise typer.Exit(1 if failed else 0)
