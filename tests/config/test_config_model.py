from __future__ import annotations

import pytest

from detour.catalog.model import ModelInfo
from detour.config import ChainConfig, Config, ConfigError, parse_config
from detour.providers import BUILTIN_PROVIDERS, ProviderSpec

MISSION = {
    "model": {
        "primary": "anthropic/claude-sonnet-4-20250514",
        "fallback": ["openai/gpt-5", "google/gemini-2-flash", "deepseek/deepseek-coder"],
        "onRateLimit": "auto-switch",
        "retryAttempts": 3,
    }
}


def test_mission_block_validates_exactly_as_written():
    loaded = parse_config(MISSION)
    model = loaded.config.model
    assert loaded.warnings == []
    assert model.models == [
        "anthropic/claude-sonnet-4-20250514",
        "openai/gpt-5",
        "google/gemini-2-flash",
        "deepseek/deepseek-coder",
    ]
    assert (model.on_rate_limit, model.retry_attempts) == ("auto-switch", 3)
    assert (model.strategy, model.max_retry_wait, model.require) == ("priority", 10.0, [])
    assert (model.allow_downgrade, model.on_content_block, model.unknown_capability) == (True, "fail", "last")
    assert model.max_cost_tier is None and model.max_price_ratio is None


def test_every_chain_key_round_trips():
    chain = {
        "primary": "openai/gpt-5",
        "fallback": ["lmstudio/qwen/qwen3-coder-30b"],
        "onRateLimit": "wait",
        "retryAttempts": 0,
        "strategy": "cost",
        "maxRetryWait": "500ms",
        "require": ["Tools", "image", "structured_output"],
        "maxCostTier": "low",
        "maxPriceRatio": 2.5,
        "allowDowngrade": False,
        "onContentBlock": "switch",
        "unknownCapability": "skip",
        "escalate": ["empty", "json", "toolArgs"],
        "maxEscalations": 1,
        "holdBackSize": 65536,
        "holdBackTime": 5.0,
        "affinity": "none",
        "affinityTTL": 600.0,
        "affinityIdle": 120.0,
        "switchAt": 0.9,
    }
    config = parse_config({"chains": {"cheap": chain}}).config
    cheap = config.chain("cheap")
    assert cheap.max_retry_wait == 0.5
    assert cheap.require == ["tools", "image", "structured_output"]
    assert (cheap.max_cost_tier, cheap.max_price_ratio, cheap.allow_downgrade) == ("low", 2.5, False)
    assert cheap.model_dump(by_alias=True, exclude={"require", "max_retry_wait"}) == {
        k: v for k, v in chain.items() if k not in ("require", "maxRetryWait")
    }


def test_chain_lookup():
    config = parse_config({**MISSION, "chains": {"fast": "groq/llama-3.3-70b-versatile"}}).config
    assert config.chain(None) is config.model and config.chain("default") is config.model
    assert config.chain("fast").models == ["groq/llama-3.3-70b-versatile"]
    with pytest.raises(ConfigError) as info:
        config.chain("fsat")
    assert str(info.value) == "chains.fsat: no chain named 'fsat' (hint: did you mean 'fast'?)"


def test_snake_case_names_are_accepted_too():
    config = parse_config({"model": {"retry_attempts": 1, "on_rate_limit": "fail"}}).config
    assert (config.model.retry_attempts, config.model.on_rate_limit) == (1, "fail")


def test_defaults():
    config = Config()
    assert (config.server.host, config.server.port, config.server.cors) == ("127.0.0.1", 4141, False)
    assert config.server.max_body_size == 32 * 1024 * 1024 and config.server.api_keys == []
    assert (config.state.url, config.state.prefix) == ("sqlite", "detour:")
    t = config.timeouts
    # first-token deadlines unset: scaled per request (10 s + 1 s per 10k input tokens, doubled for reasoning)
    assert (t.connect, t.first_token, t.first_token_reasoning, t.idle, t.total) == (5.0, None, None, 30.0, 600.0)
    assert (config.logging.level, config.discovery, config.catalog) == ("info", True, None)
    assert config.model.models == [] and config.chains == {} and config.routes == [] and config.equivalents == {}


def test_other_sections():
    config = parse_config(
        {
            "$schema": "https://example.com/detour.schema.json",
            "server": {"apiKeys": "{env:GW_KEY}", "maxBodySize": "200k", "cors": True},
            "state": {"url": "redis://127.0.0.1:6379/1", "prefix": "dt:"},
            "budget": {"daily": {"openai": 5, "*": 2, "total": 10}, "monthly": {"total": 100.5}},
            "catalog": "https://models.dev/api.json",
            "routes": {"openai/gpt-5": ["openrouter/openai/gpt-5"]},
            "timeouts": {"connect": 2, "total": "1h"},
            "logging": "DEBUG",
            "discovery": False,
        },
        env={"GW_KEY": "gw"},
    ).config
    assert config.server.api_keys == ["gw"] and config.server.max_body_size == 200_000 and config.server.cors
    assert (config.state.url, config.state.prefix) == ("redis://127.0.0.1:6379/1", "dt:")
    assert config.budget.daily == {"openai": 5.0, "*": 2.0, "total": 10.0}
    assert config.budget.monthly == {"total": 100.5}
    assert config.equivalents == {"openai/gpt-5": ["openrouter/openai/gpt-5"]} and config.routes == []
    assert (config.timeouts.connect, config.timeouts.total) == (2.0, 3600.0)
    assert (config.logging.level, config.discovery) == ("debug", False)


def test_provider_block_and_model_overrides():
    config = parse_config(
        {
            "provider": {
                "lmstudio": {
                    "models": {
                        "qwen/qwen3-coder-30b": {"tools": True, "structured_output": False, "context": "256k"},
                        # models.dev names are accepted
                        "gemma": {
                            "tool_call": True,
                            "limit": {"context": 131072, "output": 8192},
                            "cost": {"input": 0, "output": 0},
                            "modalities": {"input": ["text", "image"]},
                        },
                    }
                },
                "work": {"baseURL": "https://llm.corp.example/v1/", "apiKey": ["k1", "k2"], "protocol": "anthropic"},
            }
        }
    ).config
    assert config.overrides("lmstudio/qwen/qwen3-coder-30b") == {
        "tools": True,
        "structured_output": False,
        "context": 256_000,
    }
    gemma = config.overrides("lmstudio/gemma")
    assert gemma == {
        "tools": True,
        "context": 131072,
        "max_output": 8192,
        "cost_input": 0.0,
        "cost_output": 0.0,
        "image": True,
        "pdf": False,
    }
    info = ModelInfo("lmstudio/gemma", "lmstudio", "gemma").with_overrides(gemma)
    assert (info.tools, info.image, info.context, info.tier) == (True, True, 131072, "free")
    assert config.overrides("openai/gpt-5") == {}
    work = config.provider["work"]
    assert (work.base_url, work.api_keys, work.protocol) == ("https://llm.corp.example/v1", ["k1", "k2"], "anthropic")


def test_endpoint_resolution_layers():
    env = {"OPENAI_API_KEY": "sk-env", "GEMINI_API_KEY": "g-env", "GOOGLE_API_KEY": "g-other"}
    config = parse_config(
        {
            "provider": {
                "openai": {"headers": {"OpenAI-Organization": "org"}},
                "anthropic": {"apiKey": "sk-ant-config", "baseURL": "https://gw.example/v1"},
                "mine": {"baseURL": "http://localhost:8080/v1", "npm": "@ai-sdk/anthropic"},
                "ocstyle": {"options": {"baseURL": "https://oc.example/v1", "apiKey": "oc", "headers": {"A": "1"}}},
            }
        }
    ).config
    openai = config.endpoint("openai", env=env)
    assert openai is not None
    assert (openai.base_url, openai.protocol, openai.api_keys) == ("https://api.openai.com/v1", "openai", ("sk-env",))
    assert openai.headers == {"OpenAI-Organization": "org"} and openai.key_env == ("OPENAI_API_KEY",)
    anthropic = config.endpoint("anthropic", env={"ANTHROPIC_API_KEY": "sk-ant-env"})
    assert anthropic is not None
    assert anthropic.base_url == "https://gw.example/v1"
    assert (anthropic.api_keys, anthropic.protocol) == (("sk-ant-config",), "anthropic")
    google = config.endpoint("google", env=env)
    assert google is not None and google.protocol == "gemini" and google.api_keys == ("g-env",)
    mine = config.endpoint("mine", env=env)
    assert mine is not None and (mine.protocol, mine.local, mine.api_keys) == ("anthropic", True, ())
    oc = config.endpoint("ocstyle", env=env)
    assert oc is not None and (oc.base_url, oc.api_keys, oc.headers) == ("https://oc.example/v1", ("oc",), {"A": "1"})
    assert config.endpoint("nobody", env=env) is None
    assert "sk-env" not in repr(openai)


def test_endpoint_uses_given_provider_specs():
    specs = {"together": ProviderSpec("together", "Together", "https://api.together.xyz/v1", env=("TOGETHER_API_KEY",))}
    endpoint = Config().endpoint("together", specs, env={"TOGETHER_API_KEY": "t"})
    assert endpoint is not None and endpoint.api_keys == ("t",) and not endpoint.local
    lmstudio = Config().endpoint("lmstudio", env={})
    assert lmstudio is not None and lmstudio.local and lmstudio.base_url == "http://127.0.0.1:1234/v1"


def test_builtin_provider_table():
    assert set(BUILTIN_PROVIDERS) == {
        "anthropic", "openai", "google", "deepseek", "lmstudio", "ollama", "llamacpp", "vllm", "openrouter", "groq",
        "mistral", "xai",
    }
    assert BUILTIN_PROVIDERS["google"].env == ("GOOGLE_GENERATIVE_AI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")
    local = {p.id: p.base_url for p in BUILTIN_PROVIDERS.values() if p.local}
    assert local == {"lmstudio": "http://127.0.0.1:1234/v1", "ollama": "http://127.0.0.1:11434/v1",
                     "llamacpp": "http://127.0.0.1:8080/v1", "vllm": "http://127.0.0.1:8000/v1"}
    assert all(p.env for p in BUILTIN_PROVIDERS.values() if not p.local)


def test_model_shorthand_string():
    assert parse_config({"model": "openai/gpt-5"}).config.model == ChainConfig(primary="openai/gpt-5")


def test_dump_and_parse_round_trip(cwd, env, copy_fixture):
    from detour.config import load_config

    copy_fixture("opencode.jsonc", cwd)
    config = load_config(env=env | {"OC_OPENAI_KEY": "k"}, cwd=cwd).config
    again = parse_config(config.model_dump(by_alias=True, exclude_defaults=True), env={}).config
    assert again.model_dump() == config.model_dump()
    # a dump carries detour's keys only; model_copy keeps OpenCode's provider layer too
    copied = config.model_copy(update={"model": ChainConfig(primary="openai/gpt-5")})
    assert copied.opencode_provider == config.opencode_provider and "openai" in copied.opencode_provider
    assert copied.endpoint("openai", env={}) == config.endpoint("openai", env={})
