from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from detour.protocol.sse import SSEMessage, SSEParser, encode

STREAM = (
    b": keep-alive\n\n"
    b'event: message_start\ndata: {"a":1}\n\n'
    b"data: line1\r\ndata: line2\r\n\r\n"
    b": OPENROUTER PROCESSING\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [SSEMessage("message_start", '{"a":1}'), SSEMessage(None, "line1\nline2"), SSEMessage(None, "[DONE]")]


def test_parses_events_and_counts_comments():
    parser = SSEParser()
    assert parser.feed(STREAM) == EXPECTED
    assert parser.comments == 2
    assert not parser.pending


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=8))
def test_any_chunking_gives_the_same_messages(cuts):
    parser = SSEParser()
    out = []
    bounds = [0, *sorted(cuts), len(STREAM)]
    for a, b in zip(bounds, bounds[1:]):
        out += parser.feed(STREAM[a:b])
    assert out == EXPECTED


def test_close_flushes_an_unterminated_message():
    parser = SSEParser()
    assert parser.feed(b"data: tail") == []
    assert parser.pending
    assert parser.close() == [SSEMessage(None, "tail")]


def test_encode_is_parseable():
    parser = SSEParser()
    assert parser.feed(encode('{"x":1}', "ping") + encode(b"[DONE]")) == [
        SSEMessage("ping", '{"x":1}'),
        SSEMessage(None, "[DONE]"),
    ]
