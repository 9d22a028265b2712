"""The quick schema check says "valid" only where jsonschema finds no error (rsgen.schemafast).

rsgen.load asks rsgen.schemafast first and runs jsonschema only when it is not sure, so every
error a user sees is still jsonschema's. What must hold: wherever the quick check says True,
the full validator reports nothing; and it does say True for the valid files of the bundled
example, or it would save nothing. Documents here are the example's files with random edits:
values replaced by others of every type and edge (bounds, booleans, floats, a trailing newline
for a pattern), keys removed or added.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rsgen import load, schemafast

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = {
    "exchange": [yaml.safe_load((ROOT / "exchange.yml").read_text("utf-8"))],
    "member": [yaml.safe_load(path.read_text("utf-8"))
               for path in sorted((ROOT / "members").glob("AS*.yml"))],
}


def _surely_valid(data: Any, schema_name: str) -> bool:
    return load._surely_valid(schema_name)(data)


def _full_errors(data: Any, schema_name: str) -> list[Any]:
    return load._schema_errors(data, schema_name)


@pytest.mark.parametrize("schema_name", EXAMPLES)
def test_both_schemas_compile(schema_name: str) -> None:
    assert schemafast.compiled(load.schema(schema_name), load._ecma_pattern) is not None


@pytest.mark.parametrize("schema_name", EXAMPLES)
def test_the_example_files_are_valid_at_once(schema_name: str) -> None:
    for data in EXAMPLES[schema_name]:
        assert _full_errors(data, schema_name) == []
        assert _surely_valid(data, schema_name)


def test_a_schema_with_another_keyword_is_left_to_jsonschema() -> None:
    assert schemafast.compiled({"type": "string", "format": "ipv4"}, load._ecma_pattern) is None
    assert schemafast.compiled({"properties": {"a": {"$ref": "#/x"}}}, load._ecma_pattern) \
        is None
    assert schemafast.compiled({"type": ["string", "null"]}, load._ecma_pattern) is None


_VALUES = st.one_of(
    st.sampled_from([None, True, False, 0, 1, -1, 64, 65, 100, 101, 2**32 - 1, 2**32,
                     10_000_000, 10_000_001, 1.0, 1.5, 0.0, float("nan"), float("inf"), "",
                     "a", "x" * 64, "x" * 65, "x" * 129, "x" * 1025, "AS-X", "AS3333", "tag",
                     "reject", "rs1", "rs1\n", "env:RS_PW_A", "env:RS_PW_A\n", "env:HOME",
                     "192.0.2.1", "2001:db8::1", [], {}, ["a"], ["a", "a"], [1, True],
                     [1, 1.0], {"ip": "192.0.2.1"}, {"a": 1}]),
    st.text(max_size=8),
    st.integers(-5, 5000),
    st.lists(st.sampled_from(["a", "b", "AS-X", 1, None]), max_size=4),
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value in data, the top level included."""
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*prefix, index))
    return found


def _value(draw: st.DrawFn) -> Any:
    return copy.deepcopy(draw(_VALUES))  # a fresh copy: a later edit may change it in place


@st.composite
def _edited(draw: st.DrawFn, schema_name: str) -> Any:
    data = copy.deepcopy(draw(st.sampled_from(EXAMPLES[schema_name])))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)))
        kind = draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            if kind == "replace":
                data = _value(draw)
            continue
        *parents, last = path
        holder = data
        for part in parents:
            holder = holder[part]
        if kind == "replace":
            holder[last] = _value(draw)
        elif kind == "delete":
            del holder[last]
        elif isinstance(holder[last], dict):
            holder[last][draw(st.sampled_from(["ip", "ipv4", "name", "x", "mode"]))] = \
                _value(draw)
        elif isinstance(holder[last], list):
            holder[last].append(_value(draw))
    return data


@settings(deadline=None, max_examples=1500)
@given(data=st.data(), schema_name=st.sampled_from(sorted(EXAMPLES)))
def test_surely_valid_means_jsonschema_finds_no_error(data: st.DataObject,
                                                     schema_name: str) -> None:
    document = data.draw(_edited(schema_name))
    if _surely_valid(document, schema_name):
        assert _full_errors(document, schema_name) == []


def test_what_jsonschema_refuses_the_quick_check_does_not_take() -> None:
    """A few edits the full validator refuses, each on its own."""
    member = copy.deepcopy(EXAMPLES["member"][0])
    refused = [
        {**member, "asn": True}, {**member, "asn": 3333.0}, {**member, "asn": 0},
        {**member, "name": ""}, {**member, "as_set": []}, {**member, "as_set": ["A", "A"]},
        {**member, "irr": {"mode": "tags"}}, {**member, "irr": {}}, {**member, "asnn": 1},
        {**member, "sessions": [{"ip": "192.0.2.1", "password": "env:RS_PW_A\n"}]},
        {key: value for key, value in member.items() if key != "sessions"},
    ]
    for document in refused:
        assert _full_errors(document, "member") != []
        assert not _surely_valid(document, "member")
