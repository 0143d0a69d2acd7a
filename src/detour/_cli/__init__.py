"""CLI subcommands, one module each; `detour.cli` registers them. Heavy imports stay inside commands."""
