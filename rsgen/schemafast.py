"""A quick yes to "is this document valid against the schema?", without jsonschema.

Validating a thousand member files with jsonschema took most of loading them, and nearly all of
them are valid. compiled(schema) turns a schema into a plain function that answers True only
when the document is valid as rsgen.load's jsonschema validator sees it (draft 2020-12, with
its "integer" that refuses floats and booleans and its ECMA-262 `$`); False means "not known to
be valid", and the caller runs jsonschema, which finds and words the errors as before. So the
errors a user sees never come from here.

Only the keywords rsgen's schemas use are compiled; a schema with any other keyword compiles to
None (always ask jsonschema). Where jsonschema's meaning is subtle (uniqueItems or enum over
values other than strings), the function answers False.

Pure; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

# Keywords that only describe: they never make a document invalid.
_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "$comment", "default",
                          "examples"})
_TYPES: dict[str, Check] = {
    "object": lambda value: type(value) is dict,
    "array": lambda value: type(value) is list,
    "string": lambda value: type(value) is str,
    "integer": lambda value: type(value) is int,  # rsgen.load: no whole floats, no booleans
    "number": lambda value: type(value) in (int, float),
    "boolean": lambda value: type(value) is bool,
    "null": lambda value: value is None,
}


class _Unsupported(Exception):
    """A keyword or value this module does not compile."""


def compiled(schema: Any, pattern: Callable[[str], re.Pattern[str]]) -> Check | None:
    """A function telling whether a document is surely valid against `schema`, or None when
    the schema uses something not compiled here. `pattern` compiles a schema pattern as the
    full validator reads it (rsgen.load._ecma_pattern)."""
    try:
        return _compile(schema, pattern)
    except _Unsupported:
        return None


def _compile(schema: Any, pattern: Callable[[str], re.Pattern[str]]) -> Check:
    if type(schema) is not dict:
        raise _Unsupported(schema)
    checks: list[Check] = []
    for keyword, argument in schema.items():
        if keyword in _ANNOTATIONS:
            continue
        maker = _KEYWORDS.get(keyword)
        if maker is None:
            raise _Unsupported(keyword)
        checks.append(maker(argument, schema, pattern))
    return lambda value: all(check(value) for check in checks)


def _type(argument: Any, _schema: Any, _pattern: Any) -> Check:
    if type(argument) is not str or argument not in _TYPES:
        raise _Unsupported(argument)
    return _TYPES[argument]


def _properties(argument: Any, schema: Any, pattern: Callable[[str], re.Pattern[str]]) -> Check:
    if type(argument) is not dict:
        raise _Unsupported(argument)
    children = {name: _compile(child, pattern) for name, child in argument.items()}

    def check(value: Any) -> bool:
        return type(value) is not dict or all(
            children[key](item) for key, item in value.items() if key in children)
    return check


def _additional_properties(argument: Any, schema: Any, _pattern: Any) -> Check:
    if argument is not False or "patternProperties" in schema:
        raise _Unsupported(argument)
    known = frozenset(schema.get("properties", {}))
    return lambda value: type(value) is not dict or known.issuperset(value)


def _required(argument: Any, _schema: Any, _pattern: Any) -> Check:
    if type(argument) is not list or not all(type(name) is str for name in argument):
        raise _Unsupported(argument)
    return lambda value: type(value) is not dict or all(name in value for name in argument)


def _items(argument: Any, _schema: Any, pattern: Callable[[str], re.Pattern[str]]) -> Check:
    child = _compile(argument, pattern)
    return lambda value: type(value) is not list or all(map(child, value))


def _bound(compare: Callable[[Any, Any], bool], applies: Check) -> Callable[..., Check]:
    """A keyword comparing the value (or its length) with the keyword's number, on the values
    it applies to; others pass, as in JSON Schema."""
    def maker(argument: Any, _schema: Any, _pattern: Any) -> Check:
        if type(argument) not in (int, float):
            raise _Unsupported(argument)
        return lambda value: not applies(value) or compare(value, argument)
    return maker


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _is_sized(kind: type) -> Check:
    return lambda value: type(value) is kind


def _pattern(argument: Any, _schema: Any, pattern: Callable[[str], re.Pattern[str]]) -> Check:
    if type(argument) is not str:
        raise _Unsupported(argument)
    search = pattern(argument).search
    return lambda value: type(value) is not str or search(value) is not None


def _unique_items(argument: Any, _schema: Any, _pattern: Any) -> Check:
    if argument is not True:
        raise _Unsupported(argument)
    # Strings only: jsonschema's equality of other values (1 and 1.0, True and 1) is its own.
    return lambda value: type(value) is not list or (
        all(type(item) is str for item in value) and len(set(value)) == len(value))


def _enum(argument: Any, _schema: Any, _pattern: Any) -> Check:
    if type(argument) is not list or not all(type(option) is str for option in argument):
        raise _Unsupported(argument)
    options = frozenset(argument)
    return lambda value: type(value) is str and value in options


def _one_of(argument: Any, _schema: Any, pattern: Callable[[str], re.Pattern[str]]) -> Check:
    """Valid when exactly one alternative is: each must name its type, and no two the same,
    so the value's type rules out every alternative but one (which it must then pass)."""
    if type(argument) is not list or not argument:
        raise _Unsupported(argument)
    alternatives = []
    for alternative in argument:
        if type(alternative) is not dict or alternative.get("type") not in _TYPES:
            raise _Unsupported(alternative)
        alternatives.append((_TYPES[alternative["type"]], _compile(alternative, pattern)))
    types = [alternative["type"] for alternative in argument]
    # "number" admits integers too: two alternatives could both fit.
    if len(set(types)) != len(types) or ("number" in types and "integer" in types):
        raise _Unsupported(argument)

    def check(value: Any) -> bool:
        fitting = [alternative for is_type, alternative in alternatives if is_type(value)]
        return len(fitting) == 1 and fitting[0](value)
    return check


_KEYWORDS: dict[str, Callable[[Any, Any, Callable[[str], re.Pattern[str]]], Check]] = {
    "type": _type,
    "properties": _properties,
    "additionalProperties": _additional_properties,
    "required": _required,
    "items": _items,
    "minimum": _bound(lambda value, limit: not value < limit, _is_number),
    "maximum": _bound(lambda value, limit: not value > limit, _is_number),
    "exclusiveMinimum": _bound(lambda value, limit: not value <= limit, _is_number),
    "exclusiveMaximum": _bound(lambda value, limit: not value >= limit, _is_number),
    "minLength": _bound(lambda value, limit: not len(value) < limit, _is_sized(str)),
    "maxLength": _bound(lambda value, limit: not len(value) > limit, _is_sized(str)),
    "minItems": _bound(lambda value, limit: not len(value) < limit, _is_sized(list)),
    "maxItems": _bound(lambda value, limit: not len(value) > limit, _is_sized(list)),
    "minProperties": _bound(lambda value, limit: not len(value) < limit, _is_sized(dict)),
    "maxProperties": _bound(lambda value, limit: not len(value) > limit, _is_sized(dict)),
    "pattern": _pattern,
    "uniqueItems": _unique_items,
    "enum": _enum,
    "oneOf": _one_of,
}
