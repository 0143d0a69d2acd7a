"""The fake providers' wire formats by protocol name: the one list ``FakeProvider`` and the behaviours use.

The fakes build their bodies by hand, never with detour's own codecs, so they keep their own list apart
from ``detour.protocol.codec.CODECS``.
"""

from __future__ import annotations

from types import ModuleType

from detour.testing import wire_anthropic, wire_gemini, wire_openai, wire_responses

WIRES: dict[str, ModuleType] = {
    "openai": wire_openai,
    "anthropic": wire_anthropic,
    "gemini": wire_gemini,
    "openai-responses": wire_responses,
}
