from __future__ import annotations

import json
from pathlib import Path

import pytest

from detour.config import ConfigError, ConfigIssue, load_config, parse_config


def _error(cwd: Path, env: dict[str, str], doc: object, name: str = "detour.json") -> ConfigError:
    path = cwd / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    with pytest.raises(ConfigError) as info:
        load_config(env=env, cwd=cwd)
    assert str(path) in str(info.value)
    return info.value


def _only(error: ConfigError) -> str:
    assert len(error.issues) == 1, error.issues
    issue = error.issues[0]
    assert issue.severity == "error" and issue.hint
    return str(issue)


def test_unknown_key_did_you_mean(cwd, env):
    text = _only(_error(cwd, env, {"model": {"onRatelimit": "auto-switch"}}))
    assert "model.onRatelimit: unknown key; did you mean 'onRateLimit'?" in text
    assert "valid keys here:" in text and "retryAttempts" in text


def test_unknown_top_level_and_nested_keys(cwd, env):
    error = _error(cwd, env, {"modle": {}, "provider": {"lmstudio": {"models": {"q/w": {"tool": True}}}}})
    texts = sorted(str(i) for i in error.issues)
    assert any("modle: unknown key; did you mean 'model'?" in t for t in texts)
    assert any('provider.lmstudio.models["q/w"].tool: unknown key; did you mean \'tools\'?' in t for t in texts)


def test_wrong_type_names_path_value_and_example(cwd, env):
    text = _only(_error(cwd, env, {"model": {"retryAttempts": "three"}}))
    assert "model.retryAttempts: expected a whole number; got \"three\"" in text
    assert 'hint: e.g. "retryAttempts": 3' in text


def test_boolean_is_not_a_number(cwd, env):
    text = _only(_error(cwd, env, {"model": {"retryAttempts": True}}))
    assert "model.retryAttempts" in text and "got true" in text


def test_negative_retry_attempts(cwd, env):
    text = _only(_error(cwd, env, {"model": {"retryAttempts": -1}}))
    assert "model.retryAttempts: expected a number ≥ 0; got -1" in text


def test_bad_enum_suggests_the_closest(cwd, env):
    text = _only(_error(cwd, env, {"model": {"onRateLimit": "autoswitch"}}))
    assert "model.onRateLimit: expected one of 'auto-switch', 'retry', 'wait', 'fail'; got \"autoswitch\"" in text
    assert "did you mean 'auto-switch'?" in text


def test_bad_capability_in_list_names_the_index(cwd, env):
    text = _only(_error(cwd, env, {"model": {"require": ["vision", "sight"]}}))  # vision is an alias of image
    assert "model.require[1]" in text and '"sight"' in text and "use one of: tools, image" in text


def test_bad_model_id_names_the_index(cwd, env):
    doc = {"model": {"fallback": ["openai/gpt-5", "google/gemini-2-flash", "deepseek-coder"]}}
    text = _only(_error(cwd, env, doc))
    assert "model.fallback[2]: expected a model id of the form 'provider/model'; got \"deepseek-coder\"" in text
    assert "hint: e.g." in text


@pytest.mark.parametrize("state", ["postgres://db/x", "sqlite://relative.db", "redis:/x", "", {"url": "mysql://h"}])
def test_bad_state_url(cwd, env, state):
    text = _only(_error(cwd, env, {"state": state}))
    assert ("state.url:" if isinstance(state, dict) else "state:") in text
    assert "expected a state URL" in text and "redis://host:6379/0" in text
    assert json.dumps(state["url"] if isinstance(state, dict) else state) in text


@pytest.mark.parametrize("state", ["memory", "sqlite", "sqlite:///var/lib/detour/state.db", "redis://h:6379/0", "rediss://u:p@h"])
def test_good_state_urls(state):
    assert parse_config({"state": state}).config.state.url == state


def test_bad_duration(cwd, env):
    text = _only(_error(cwd, env, {"timeouts": {"firstToken": "a minute"}}))
    assert "timeouts.firstToken: expected a duration" in text and '"a minute"' in text and 'hint: e.g. "10s"' in text


def test_bad_size_and_port(cwd, env):
    error = _error(cwd, env, {"server": {"maxBodySize": "huge", "port": 70000}})
    texts = " | ".join(str(i) for i in error.issues)
    assert 'server.maxBodySize: expected a size' in texts and '"huge"' in texts
    assert "server.port: expected a number ≤ 65535; got 70000" in texts


def test_all_errors_are_reported_together(cwd, env):
    error = _error(cwd, env, {"model": {"strategy": "fastest", "retryAttempts": "x"}, "discovery": "maybe"})
    assert len(error.issues) == 3
    assert str(error).startswith("3 problems in the configuration:")
    assert {i.path for i in error.issues} == {"model.strategy", "model.retryAttempts", "discovery"}


def test_top_level_must_be_an_object(cwd, env):
    text = _only(_error(cwd, env, "[1, 2]"))
    assert "expected an object at the top level; got [1, 2]" in text


@pytest.mark.parametrize(
    ("name", "text", "line", "column", "kind"),
    [
        ("detour.json", '{\n  "model": {\n    "primary": "a/b"\n    "fallback": []\n  }\n}', 4, 5, "JSON"),
        ("detour.jsonc", '{\n  // a comment: positions stay true\n  "model": {"primary": "a/b",, }\n}', 3, 32, "JSON"),
        ("detour.jsonc", '{\n  "model": {} /* never closed\n}', 2, 15, "JSON"),
        ("detour.yaml", "model:\n  primary: a/b\n fallback: [x]\n", 3, 2, "YAML"),
        ("detour.toml", '[model]\nprimary = "a/b"\nfallback = [x]\n', 3, 13, "TOML"),
    ],
)
def test_parse_errors_give_file_line_and_column(cwd, env, name, text, line, column, kind):
    error = _error(cwd, env, text, name)
    issue = error.issues[0]
    assert (issue.line, issue.column) == (line, column)
    assert f"{cwd / name}:{line}:{column}: invalid {kind}" in str(error)
    assert issue.hint


def test_api_keys_are_redacted(cwd, env):
    env["SECRET"] = "sk-live-verysecret"
    doc = {
        "provider": {"openai": {"apiKey": {"value": "sk-live-verysecret"}}, "x": {"apiKey": ["ok", 12345]}},
        "server": {"apiKeys": 987654},
        "chains": {"c": {"primary": "${SECRET}"}},  # a secret pasted into the wrong key still shows
    }
    error = _error(cwd, env, doc)
    by_path = {i.path: str(i) for i in error.issues}
    assert set(by_path) == {"provider.openai.apiKey", "provider.x.apiKey[1]", "server.apiKeys", "chains.c.primary"}
    for path in ("provider.openai.apiKey", "provider.x.apiKey[1]", "server.apiKeys"):
        assert "<redacted>" in by_path[path]
    redacted = " ".join(by_path[p] for p in by_path if p != "chains.c.primary")
    assert "verysecret" not in redacted and "12345" not in redacted and "987654" not in redacted


def test_headers_are_redacted(cwd, env):
    text = _only(_error(cwd, env, {"provider": {"x": {"headers": {"Authorization": 42}}}}))
    assert "provider.x.headers.Authorization" in text and "<redacted>" in text and "42" not in text.split("hint")[0]


def test_errors_inside_opencode_name_the_detour_key(cwd, env):
    text = _only(_error(cwd, env, '{"model": "a/b", "detour": {"model": {"retryAtempts": 1}}}', "opencode.json"))
    assert "detour.model.retryAtempts: unknown key; did you mean 'retryAttempts'?" in text


def test_opencode_detour_value_must_be_an_object(cwd, env):
    text = _only(_error(cwd, env, '{"detour": "anthropic/claude"}', "opencode.jsonc"))
    assert "detour: expected an object at the top level" in text


def test_issue_str_is_one_line():
    issue = ConfigIssue("error", "model.fallback[2]", "bad", "fix it", "detour.json", line=3, column=4)
    assert str(issue) == "detour.json:3:4: model.fallback[2]: bad (hint: fix it)"
    assert str(ConfigIssue("warning", "", "no file", None, None)) == "no file"


def test_parse_config_source_names_the_origin():
    with pytest.raises(ConfigError) as info:
        parse_config({"server": {"cors": "sometimes"}}, source="inline")
    assert str(info.value).startswith("inline: server.cors: expected true or false; got \"sometimes\"")
    assert 'e.g. "cors": true' in str(info.value)
