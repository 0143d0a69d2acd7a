"""The real OpenCode CLI with detour's plugin (installed by `detour opencode --write`) against `detour serve`:
the primary turns rate-limited during the run, and the plugin says so in OpenCode.

Headless `opencode run` has no TUI to show the toast, so the test reads the line the plugin writes to OpenCode's log
with the toast (`client.app.log`, service detour), which `opencode run --print-logs` prints on stderr.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from detour.testing import B, FakeProvider

from .conftest import client_binary, explain, free_port, run
from .test_opencode import write_config

ANSWER = "PLUGIN-SAW-IT-4417"


def test_plugin_logs_the_switch_of_its_session(tmp_path: Path, fake: FakeProvider, client_env: dict[str, str],
                                              serve) -> None:
    opencode = str(client_binary("opencode"))
    # the first step is answered by the primary (a tool call); from then on the primary is rate-limited
    fake.script("claude-x", B.tool_call("bash", {"command": "echo step-one", "description": "Print step one"}),
                B.rate_limit(retry_after=600))
    fake.script("gpt-x", B.tool_call("bash", {"command": "echo step-two", "description": "Print step two"}),
                B.text(ANSWER))
    project = tmp_path / "project"
    project.mkdir()
    port = free_port()
    config = write_config(project, fake, port, client_env)
    plugin = project / ".opencode" / "plugins" / "detour.js"
    assert plugin.is_file(), "detour opencode --write did not install the plugin"
    env = {**client_env, "PWD": str(project)}
    served = serve(config, project, port)

    done = run([opencode, "run", "--print-logs", "--log-level", "INFO", "run two shell steps",
                "--model", "detour/detour"], cwd=project, env=env)
    assert done.returncode == 0 and ANSWER in done.stdout, explain(done, served)
    # --print-logs writes `message="detour: …" session=ses_… from=… to=…` for the plugin's client.app.log call
    switch = [line for line in done.stderr.splitlines() if 'message="detour: rate-limited on claude-x → gpt-x' in line]
    assert len(switch) == 1, explain(done, served)
    match = re.search(r'back ~(\d\d:\d\d)" session=(ses_\w+) from=ant/claude-x to=oai/gpt-x', switch[0])
    assert match, switch[0]

    sessions = httpx.get(served.url + "/status", timeout=10).json()["sessions"]  # the plugin tagged the requests
    assert len(sessions) == 1 and next(iter(sessions)).startswith("ses_"), sessions
    assert list(sessions) == [match.group(2)] and sessions[match.group(2)]["model"] == "oai/gpt-x"
    until = sessions[match.group(2)]["until"]
    assert match.group(1) == time.strftime("%H:%M", time.localtime(until))  # the primary's announced return
