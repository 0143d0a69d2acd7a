"""`detour codex`: the Codex config that points a model provider at detour, printed or merged into config.toml."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from typer.testing import CliRunner

from detour.cli import build_app


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(build_app(), list(args), prog_name="detour", env=env)


def config(path: Path, **extra: object) -> Path:
    path.write_text(json.dumps({"model": {"primary": "openai/gpt-5"}, **extra}))
    return path


def test_prints_a_provider_for_the_responses_door(workdir: Path) -> None:
    res = run("codex", "--config", str(config(workdir / "detour.json", server={"port": 5151})))
    assert res.exit_code == 0, res.output
    doc = tomllib.loads(res.stdout)
    assert doc["model"] == "detour" and doc["model_provider"] == "detour"
    assert doc["model_providers"]["detour"] == {"name": "detour", "base_url": "http://127.0.0.1:5151/v1",
                                                "env_key": "DETOUR_API_KEY", "wire_api": "responses"}


def test_write_merges_into_codex_home_and_keeps_everything_else(workdir: Path) -> None:
    home = workdir / "codex-home"
    home.mkdir()
    original = ('# my settings\nmodel = "gpt-5-codex"\napproval_policy = "on-request"\n\n'
                '[model_providers.other]\nname = "other"  # keep me\nbase_url = "http://x/v1"\n\n'
                '[profiles.fast]\nmodel = "o4-mini"\n')
    (home / "config.toml").write_text(original)
    cfg = config(workdir / "detour.json", server={"apiKeys": "{env:GW_KEY}"})
    res = run("codex", "--config", str(cfg), "--write", env={"CODEX_HOME": str(home), "GW_KEY": "s3cret"})
    assert res.exit_code == 0, res.output
    assert "model was 'gpt-5-codex'" in res.stdout and "export GW_KEY=" in res.stdout
    assert "s3cret" not in res.stdout
    text = (home / "config.toml").read_text()
    assert "# my settings" in text and "# keep me" in text
    doc = tomllib.loads(text)
    assert doc["approval_policy"] == "on-request" and doc["profiles"] == {"fast": {"model": "o4-mini"}}
    assert doc["model_providers"]["other"] == {"name": "other", "base_url": "http://x/v1"}
    assert doc["model_providers"]["detour"]["env_key"] == "GW_KEY" and doc["model"] == "detour"
    again = run("codex", "--config", str(cfg), "--write", env={"CODEX_HOME": str(home), "GW_KEY": "s3cret"})
    assert again.exit_code == 0 and "was" not in again.stdout.splitlines()[0]
    assert tomllib.loads((home / "config.toml").read_text()) == doc  # idempotent


def test_a_broken_config_toml_is_a_clear_error(workdir: Path) -> None:
    target = workdir / "config.toml"
    target.write_text("model = \n")
    res = run("codex", "--config", str(config(workdir / "detour.json")), "--path", str(target))
    assert res.exit_code == 1
    assert "config.toml: not valid TOML: " in res.output and "Traceback" not in res.output
    assert target.read_text() == "model = \n"
