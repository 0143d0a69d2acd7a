"""Built-in provider endpoints: data rows, not code. The catalog adds models.dev's OpenAI-compatible ones."""

from __future__ import annotations

from dataclasses import dataclass

# the protocol a provider speaks when nothing says otherwise: OpenAI-compatible servers are the rule.
# Protocol names are the keys of detour.protocol.codec.CODECS; the config validator checks them.
DEFAULT_PROTOCOL = "openai"


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One provider's defaults. ``base_url`` follows the AI SDK convention: the endpoint path is appended."""

    id: str
    name: str
    base_url: str
    protocol: str = DEFAULT_PROTOCOL
    env: tuple[str, ...] = ()  # env var names holding the API key, first set one wins
    local: bool = False  # runs on this machine; needs no key


def _spec(id: str, name: str, base_url: str, *env: str, protocol: str = DEFAULT_PROTOCOL, local: bool = False) -> ProviderSpec:
    return ProviderSpec(id=id, name=name, base_url=base_url, protocol=protocol, env=tuple(env), local=local)


BUILTIN_PROVIDERS: dict[str, ProviderSpec] = {
    s.id: s
    for s in (
        _spec("anthropic", "Anthropic", "https://api.anthropic.com/v1", "ANTHROPIC_API_KEY", protocol="anthropic"),
        _spec("openai", "OpenAI", "https://api.openai.com/v1", "OPENAI_API_KEY"),
        _spec(
            "google",
            "Google",
            "https://generativelanguage.googleapis.com/v1beta",
            "GOOGLE_GENERATIVE_AI_API_KEY",
            "GEMINI_API_KEY",
            "GOOGLE_API_KEY",
            protocol="gemini",
        ),
        _spec("deepseek", "DeepSeek", "https://api.deepseek.com", "DEEPSEEK_API_KEY"),
        _spec("lmstudio", "LM Studio", "http://127.0.0.1:1234/v1", local=True),
        _spec("ollama", "Ollama", "http://127.0.0.1:11434/v1", local=True),
        _spec("llamacpp", "llama.cpp server", "http://127.0.0.1:8080/v1", local=True),  # llama-server's default port
        _spec("vllm", "vLLM", "http://127.0.0.1:8000/v1", local=True),  # `vllm serve`'s default port
        _spec("openrouter", "OpenRouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
        _spec("groq", "Groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
        _spec("mistral", "Mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
        _spec("xai", "xAI", "https://api.x.ai/v1", "XAI_API_KEY"),
    )
}

# AI SDK package names (OpenCode's `npm` key) -> wire protocol; anything else speaks OpenAI's.
NPM_PROTOCOLS: dict[str, str] = {
    "@ai-sdk/anthropic": "anthropic",
    "@ai-sdk/google": "gemini",
}


def protocol_for_npm(npm: str | None) -> str | None:
    """The wire protocol an OpenCode provider's ``npm`` package implies, or None when unset."""
    if not npm:
        return None
    return NPM_PROTOCOLS.get(npm, DEFAULT_PROTOCOL)
