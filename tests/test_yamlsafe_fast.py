"""Member files composed by libyaml read exactly as PyYAML's own parser reads them (issue 10).

rsgen.yamlsafe hands text to libyaml only when it is printable ASCII without the characters
on which the two parsers are known to disagree; every error still comes from PyYAML's parser.
These tests compare the two on mutated member files: wherever libyaml answers, the document
(values, the line of every value and key, or the refusal) must be PyYAML's.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rsgen import yamlsafe
from rsgen.yamlsafe import YamlDocument, YamlProblem, parse_yaml

MEMBERS = [
    "asn: 3333\nname: Example Net (AS3333) & co\nas_set: AS-EX@RIPE\nsessions:\n"
    "  - ip: 192.0.2.1\n    description: 'rtr1 % \"x\"'\n  - ip: \"2001:db8::1\"\n"
    "    password: env:RS_PW_X\nmax_prefixes:\n  ipv4: 100\n  ipv6: 0x10\n",
    "asn: 1\nnext_hops: [1.2.3.4, '::1']\nirr: {more_specifics: true}\n# c\n"
    "blackhole:\n  receive: false\ndescription: \"a \\\" b \\\\ c\"\n",
    "---\nlist:\n- a\n- 'b'\n-   c\nq: 'it''s'\nn: ~\nt: 2001-01-01\nf: 1.5e3\no: 0755\n...\n",
]
_PIECES = [*":-[]{},#'\" \n.0123456789abAS_/()+=~;<@%`\\", "  ", "- ", ": ", "\n  ", "\n- ",
           "0x", "0o", "yes", "null", "---", "...", "{a: ", "#x", " #", "-1", ".inf", "12:30",
           "<<", "\n    ", "!", "?", "|", ">", "&a ", "*a", "\t", "\r", "\u00e9", "\x85"]


def _read(text: str) -> tuple[Any, ...]:
    try:
        document = parse_yaml(text, "members/AS1.yml")
    except YamlProblem as exc:
        return ("problem", str(exc))
    return _seen(document)


def _seen(document: YamlDocument) -> tuple[Any, ...]:
    return ("ok", repr(document.data), sorted(document.lines.items(), key=repr),
            sorted(document.key_lines.items(), key=repr))


def _read_slowly(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ...]:
    with monkeypatch.context() as patched:
        patched.setattr(yamlsafe, "_FAST_LOADER", None)
        return _read(text)


@st.composite
def _edited(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(MEMBERS))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        piece = draw(st.sampled_from(_PIECES))
        kind = draw(st.sampled_from(["insert", "replace", "delete"]))
        if kind == "insert":
            text = text[:at] + piece + text[at:]
        elif kind == "replace":
            text = text[:at] + piece + text[at + 1:]
        else:
            text = text[:at] + text[at + 1:]
    return text


@settings(deadline=None, max_examples=600)
@given(text=_edited())
def test_libyaml_and_pyyaml_read_member_files_alike(text: str) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert _read(text) == _read_slowly(text, monkeypatch)


@pytest.mark.parametrize("text", MEMBERS)
def test_the_sample_files_take_the_fast_path(text: str) -> None:
    assert yamlsafe._FAST_TEXT_RE.fullmatch(text)
    node = yaml.compose(text, Loader=yamlsafe._FAST_LOADER)
    assert node is not None


@pytest.mark.parametrize(("text", "why"), [
    ("asn:\t1\n", "tab"),  # libyaml accepts the tab, PyYAML refuses
    ("asn: !\n", "empty tag"),  # libyaml reads "", PyYAML None
    ("next_hops: [1.2.3.4, ?::1']\n", "question mark"),
    ("next_hops: |1#x\n", "block scalar junk"),
    ("name: M\u00fcller\n", "not ASCII"),
    ("asn: 1\r\n", "carriage return"),
])
def test_text_the_parsers_read_differently_goes_to_pyyaml(text: str, why: str) -> None:
    assert not yamlsafe._FAST_TEXT_RE.fullmatch(text), why


def test_a_leading_zero_is_refused_on_either_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """libyaml's plain scalars have style "" where PyYAML's have None: the octal check reads
    both."""
    assert yamlsafe._FAST_TEXT_RE.fullmatch("asn: 0755\n")
    assert _read("asn: 0755\n")[0] == "problem"
    assert _read("asn: 0755\n") == _read_slowly("asn: 0755\n", monkeypatch)


def test_errors_are_pyyamls_own(monkeypatch: pytest.MonkeyPatch) -> None:
    for text in ("asn: [1, 2\n", "a: 'open\n", "a: 1\n b: 2\n", "a: 1\n---\nb: 2\n"):
        assert yamlsafe._FAST_TEXT_RE.fullmatch(text)
        assert _read(text)[0] == "problem"
        assert _read(text) == _read_slowly(text, monkeypatch)
