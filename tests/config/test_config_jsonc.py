from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detour._jsonc import ParseError, loads, strip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.sampled_from('ab/*",]} \\\n\t')),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_plain_json_is_unchanged(value):
    text = json.dumps(value, indent=1)
    assert strip(text) == text
    assert loads(text) == value


def test_comments_and_trailing_commas():
    text = '/* head */ {"a": [1, 2, /* mid */ 3,], // tail\n "b": {"c": "//x/*y*/",},\n}'
    assert loads(text) == {"a": [1, 2, 3], "b": {"c": "//x/*y*/"}}


def test_escaped_quotes_do_not_end_strings():
    assert loads(r'{"a": "say \"// hi\"", // c' + "\n}") == {"a": 'say "// hi"'}


def test_positions_survive_block_comments():
    with pytest.raises(ParseError) as info:
        loads('{/* one\ntwo */ "a": 1 "b": 2}')
    assert (info.value.line, info.value.column) == (2, 15)


def test_byte_order_mark():
    assert loads('\ufeff{"a": 1}') == {"a": 1}
