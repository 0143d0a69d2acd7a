"""The README and the docs site say what the code does: links resolve, the shown output is the real output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()
DETOUR = Path(sys.executable).with_name("detour")
KEY_VARS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENERATIVE_AI_API_KEY",
            "DEEPSEEK_API_KEY", "DETOUR_CONFIG", "DETOUR_CATALOG")


def test_readme_links_to_files_that_exist():
    targets = [t for t in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README) if "://" not in t]
    assert "docs/configuration.md" in targets and "docs/index.md" in targets
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_every_docs_page_is_in_the_site_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert "errors.md" in pages and "index.md" in pages
    assert [p for p in pages if f": {p}" not in nav] == []


def test_readme_check_sample_is_what_detour_check_prints(tmp_path: Path):
    """The seed config from the mission, no API keys: the README shows every warning `detour check` prints."""
    seed = re.search(r"save it as `detour.json`:\n\n```json\n(.*?)```", README, re.DOTALL)
    shown = re.search(r"```console\n\$ detour check\n(.*?)```", README, re.DOTALL)
    assert seed and shown
    (tmp_path / "detour.json").write_text(seed.group(1))
    assert json.loads(seed.group(1))["model"]["retryAttempts"] == 3
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "xdg"), DETOUR_CACHE_DIR=str(tmp_path / "cache"))
    res = subprocess.run([str(DETOUR), "check"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
                         check=False)
    assert res.returncode == 0, res.stderr
    printed = (res.stderr + res.stdout).replace(str(tmp_path / "detour.json"), "/tmp/seed/detour.json")
    assert printed == shown.group(1)
    warnings = printed.count("warning: ")
    assert f"prints {['no', 'one', 'two', 'three', 'four', 'five', 'six', 'seven'][warnings]} warnings" in README
