from __future__ import annotations

import json

from detour.config import check_config, load_config, parse_config
from detour.providers import ProviderSpec

MISSION = {
    "model": {
        "primary": "anthropic/claude-sonnet-4-20250514",
        "fallback": ["openai/gpt-5", "google/gemini-2-flash", "deepseek/deepseek-coder"],
        "onRateLimit": "auto-switch",
        "retryAttempts": 3,
    }
}
ALL_KEYS = {"ANTHROPIC_API_KEY": "a", "OPENAI_API_KEY": "o", "GEMINI_API_KEY": "g", "DEEPSEEK_API_KEY": "d"}


def test_mission_block_warns_about_unknown_ids_with_suggestions(catalog):
    issues = check_config(parse_config(MISSION), catalog, env=ALL_KEYS)
    assert [i.severity for i in issues] == ["warning", "warning"]
    gemini, deepseek = issues
    assert gemini.path == "model.fallback[1]" and "'google/gemini-2-flash' is not in the catalog" in gemini.message
    assert gemini.hint is not None and gemini.hint.startswith("did you mean ") and "'google/gemini-2.0-flash'" in gemini.hint
    assert deepseek.path == "model.fallback[2]" and "deepseek/deepseek-coder" in deepseek.message
    assert deepseek.hint is not None and "deepseek/deepseek-chat" in deepseek.hint
    assert "kept in the chain" in str(gemini)


def test_missing_api_keys_name_the_env_vars_never_values(catalog):
    env = {"OPENAI_API_KEY": "sk-should-not-appear"}
    issues = check_config(parse_config(MISSION), catalog, env=env)
    keys = {i.path: str(i) for i in issues if "no API key" in i.message}
    assert set(keys) == {"provider.anthropic.apiKey", "provider.google.apiKey", "provider.deepseek.apiKey"}
    assert "ANTHROPIC_API_KEY" in keys["provider.anthropic.apiKey"]
    assert "GOOGLE_GENERATIVE_AI_API_KEY or GEMINI_API_KEY or GOOGLE_API_KEY" in keys["provider.google.apiKey"]
    assert all(i.severity == "warning" for i in issues)
    assert not any("sk-should-not-appear" in str(i) for i in issues)


def test_unknown_provider_without_base_url_is_an_error(catalog):
    loaded = parse_config({"model": {"primary": "openai/gpt-5", "fallback": ["opnai/gpt-5", "acme/big-model"]}})
    issues = check_config(loaded, catalog, env=ALL_KEYS)
    errors = {i.path: i for i in issues if i.severity == "error"}
    assert set(errors) == {"model.fallback[0]", "model.fallback[1]"}
    assert "unknown provider 'opnai' with no baseURL" in errors["model.fallback[0]"].message
    assert (errors["model.fallback[0]"].hint or "").startswith("did you mean 'openai'?")
    assert '"provider": {"acme": {"baseURL"' in (errors["model.fallback[1]"].hint or "")


def test_custom_provider_with_base_url_stays_with_a_warning(catalog):
    loaded = parse_config(
        {
            "model": {"primary": "acme/big-model", "fallback": ["lmstudio/qwen/qwen3-coder-30b"]},
            "provider": {"acme": {"baseURL": "https://acme.example/v1", "apiKey": "{env:ACME_KEY}"}},
        },
        env={"ACME_KEY": "k"},
    )
    issues = check_config(loaded, catalog, env={})
    assert [(i.severity, i.path) for i in issues] == [("warning", "model.primary"), ("warning", "model.fallback[0]")]
    assert all("not in the catalog" in i.message for i in issues)  # lmstudio is local: no key needed


def test_catalog_providers_count_as_known(make_catalog):
    specs = {"together": ProviderSpec("together", "Together", "https://api.together.xyz/v1", env=("TOGETHER_API_KEY",))}
    catalog = make_catalog(["together/llama"], providers=specs)
    loaded = parse_config({"model": {"primary": "together/llama", "fallback": ["openai/gpt-5"]}})
    issues = check_config(loaded, catalog, env={"TOGETHER_API_KEY": "t"})
    # openai stays known through the built-in table even if the catalog's list lacks it
    assert [(i.path, i.message) for i in issues] == [
        ("model.fallback[0]", "'openai/gpt-5' is not in the catalog; kept in the chain with unknown capabilities"),
        ("provider.openai.apiKey", "no API key for provider 'openai'"),
    ]


def test_chains_and_routes_are_checked(catalog):
    loaded = parse_config(
        {"chains": {"fast": {"primary": "nope/x"}}, "routes": {"openai/gpt-5": ["openai/gpt-5-mini", "zzz/y"]}}
    )
    errors = [i.path for i in check_config(loaded, catalog, env=ALL_KEYS) if i.severity == "error"]
    assert errors == ["chains.fast.primary", "routes[\"openai/gpt-5\"][1]"]


def test_issues_from_an_opencode_file_carry_file_and_detour_prefix(cwd, env, catalog):
    (cwd / "opencode.json").write_text(json.dumps({"model": "x/y", "detour": MISSION}))
    loaded = load_config(env=env, cwd=cwd)
    issues = check_config(loaded, catalog, env=ALL_KEYS)
    assert [i.path for i in issues] == ["detour.model.fallback[1]", "detour.model.fallback[2]"]
    assert all(i.source == str(cwd / "opencode.json") for i in issues)


def test_clean_config_has_no_issues(catalog):
    loaded = parse_config({"model": {"primary": "openai/gpt-5", "fallback": ["google/gemini-2.0-flash"]}})
    assert check_config(loaded, catalog, env=ALL_KEYS) == []
