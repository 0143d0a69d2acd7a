"""Layer 1: a small hand-written table of the built-in providers' current main models.

Figures are approximate public list prices (USD per million tokens) and limits, written for detour;
`detour catalog sync` replaces them with the models.dev catalog.
"""

from __future__ import annotations

T, F, U = True, False, None

# (id, name, tools, image, pdf, reasoning, thinking, structured_output, context, max_output, $in, $out)
BuiltinRow = tuple[str, str, "bool | None", "bool | None", "bool | None", "bool | None", "bool | None",
                   "bool | None", int, int, float, float]

BUILTIN_MODELS: tuple[BuiltinRow, ...] = (
    # Anthropic: extended thinking takes a token budget on every 4.x model.
    ("anthropic/claude-sonnet-4-20250514", "Claude Sonnet 4", T, T, T, T, T, U, 200_000, 64_000, 3.0, 15.0),
    ("anthropic/claude-sonnet-4-0", "Claude Sonnet 4 (alias)", T, T, T, T, T, U, 200_000, 64_000, 3.0, 15.0),
    ("anthropic/claude-sonnet-4-5", "Claude Sonnet 4.5", T, T, T, T, T, U, 200_000, 64_000, 3.0, 15.0),
    ("anthropic/claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", T, T, T, T, T, U, 200_000, 64_000, 3.0, 15.0),
    ("anthropic/claude-opus-4-1", "Claude Opus 4.1", T, T, T, T, T, U, 200_000, 32_000, 15.0, 75.0),
    ("anthropic/claude-opus-4-1-20250805", "Claude Opus 4.1", T, T, T, T, T, U, 200_000, 32_000, 15.0, 75.0),
    ("anthropic/claude-opus-4-5", "Claude Opus 4.5", T, T, T, T, T, U, 200_000, 64_000, 5.0, 25.0),
    ("anthropic/claude-haiku-4-5", "Claude Haiku 4.5", T, T, T, T, T, U, 200_000, 64_000, 1.0, 5.0),
    ("anthropic/claude-haiku-4-5-20251001", "Claude Haiku 4.5", T, T, T, T, T, U, 200_000, 64_000, 1.0, 5.0),
    ("anthropic/claude-3-5-haiku-latest", "Claude Haiku 3.5", T, T, T, F, F, U, 200_000, 8_192, 0.8, 4.0),
    # OpenAI: the o-series and GPT-5 family take a reasoning effort.
    ("openai/gpt-5", "GPT-5", T, T, T, T, T, T, 400_000, 128_000, 1.25, 10.0),
    ("openai/gpt-5-mini", "GPT-5 mini", T, T, T, T, T, T, 400_000, 128_000, 0.25, 2.0),
    ("openai/gpt-5-nano", "GPT-5 nano", T, T, T, T, T, T, 400_000, 128_000, 0.05, 0.4),
    ("openai/gpt-4.1", "GPT-4.1", T, T, T, F, F, T, 1_047_576, 32_768, 2.0, 8.0),
    ("openai/gpt-4.1-mini", "GPT-4.1 mini", T, T, T, F, F, T, 1_047_576, 32_768, 0.4, 1.6),
    ("openai/gpt-4o", "GPT-4o", T, T, T, F, F, T, 128_000, 16_384, 2.5, 10.0),
    ("openai/gpt-4o-mini", "GPT-4o mini", T, T, T, F, F, T, 128_000, 16_384, 0.15, 0.6),
    ("openai/o3", "o3", T, T, T, T, T, T, 200_000, 100_000, 2.0, 8.0),
    ("openai/o4-mini", "o4-mini", T, T, T, T, T, T, 200_000, 100_000, 1.1, 4.4),
    # Google: 2.5 models take a thinking budget; 2.0 models do not reason.
    ("google/gemini-2.0-flash", "Gemini 2.0 Flash", T, T, T, F, F, T, 1_048_576, 8_192, 0.1, 0.4),
    ("google/gemini-2.0-flash-lite", "Gemini 2.0 Flash-Lite", T, T, T, F, F, T, 1_048_576, 8_192, 0.075, 0.3),
    ("google/gemini-2.5-flash", "Gemini 2.5 Flash", T, T, T, T, T, T, 1_048_576, 65_536, 0.3, 2.5),
    ("google/gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite", T, T, T, T, T, T, 1_048_576, 65_536, 0.1, 0.4),
    ("google/gemini-2.5-pro", "Gemini 2.5 Pro", T, T, T, T, T, T, 1_048_576, 65_536, 1.25, 10.0),
    # DeepSeek: the reasoner always thinks; there is no control to switch or budget it.
    ("deepseek/deepseek-chat", "DeepSeek Chat", T, F, F, F, F, U, 128_000, 8_192, 0.28, 0.42),
    ("deepseek/deepseek-reasoner", "DeepSeek Reasoner", T, F, F, T, F, U, 128_000, 64_000, 0.28, 0.42),
    ("groq/llama-3.3-70b-versatile", "Llama 3.3 70B (Groq)", T, F, F, F, F, U, 131_072, 32_768, 0.59, 0.79),
    ("groq/openai/gpt-oss-120b", "gpt-oss-120b (Groq)", T, F, F, T, T, U, 131_072, 65_536, 0.15, 0.75),
    ("mistral/mistral-large-latest", "Mistral Large", T, T, F, F, F, T, 131_072, 16_384, 2.0, 6.0),
    ("mistral/mistral-small-latest", "Mistral Small", T, T, F, F, F, T, 131_072, 16_384, 0.1, 0.3),
    ("mistral/codestral-latest", "Codestral", T, F, F, F, F, T, 256_000, 16_384, 0.3, 0.9),
    ("xai/grok-4", "Grok 4", T, T, F, T, F, T, 256_000, 64_000, 3.0, 15.0),
    ("xai/grok-3-mini", "Grok 3 Mini", T, F, F, T, T, T, 131_072, 32_768, 0.3, 0.5),
)
