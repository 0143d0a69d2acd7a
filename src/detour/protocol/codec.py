"""The ``Codec`` interface and ``CODECS``, the one list of wire protocols detour speaks.

A codec is one object that owns its whole wire: where a request goes (``path``), how it authenticates
(``headers``), how bodies translate both ways (``encode_request`` / ``decode_request`` /
``encode_response`` / ``decode_response``), how SSE translates both ways (``stream_decoder`` /
``stream_encoder``), how errors look (``decode_error`` for an upstream's answer, ``encode_error`` for
a front door's), and the facts the planner needs (``image_urls``).
Everything else (the upstream call, the front doors, the planner, the config validator) asks
``CODECS[name]`` and never compares protocol names.

Adding a protocol is one codec module (``x.py`` for bodies and the codec object, ``x_stream.py`` for
SSE when it streams) plus one line in ``CODECS`` below::

    from detour.protocol import bedrock
    CODECS = _registry(openai_chat.CODEC, anthropic.CODEC, gemini.CODEC, openai_responses.CODEC, bedrock.CODEC)

``prepare`` is the per-codec request-preparation step: it runs on every attempt just before
``encode_request``, with the target's provider and model, and returns the request to encode (the
same object when nothing needs changing). History repair for one target (ids it refuses, thinking
blocks it cannot verify) belongs there; the built-in codecs return the request unchanged.

The interface itself is defined in ``detour.protocol._codec`` (codec modules subclass it from there,
since this module imports them) and re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping

from detour.protocol import anthropic, gemini, openai_chat, openai_responses
from detour.protocol._codec import Codec, StreamDecoder, StreamEncoder

__all__ = ["CODECS", "Codec", "StreamDecoder", "StreamEncoder"]


def _registry(*codecs: Codec) -> dict[str, Codec]:
    return {c.name: c for c in codecs}


CODECS: Mapping[str, Codec] = _registry(openai_chat.CODEC, anthropic.CODEC, gemini.CODEC, openai_responses.CODEC)

