"""Safe YAML reading with line numbers and hard limits.

Member files arrive in pull requests from outside the exchange, so the reader refuses what a
configuration file never needs: anchors and aliases (billion-laughs), deep nesting, huge files,
duplicate keys, and non-string keys. It returns plain data plus a map from each value's path to
its line, so schema errors can say "members/AS3333.yml:7".
"""

from __future__ import annotations

import ast
import contextlib
import errno
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rsgen.errors import Problem

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 20

JsonPath = tuple[str | int, ...]

_CORE = "tag:yaml.org,2002:"
_STR = f"{_CORE}str"
# Scalar tags a configuration value may carry; explicit others (!!python/..., !!binary, !foo)
# are refused rather than constructed.
_SCALAR_TAGS = frozenset(f"{_CORE}{name}" for name in ("str", "int", "float", "bool", "null",
                                                       "timestamp"))
# YAML 1.1 reads a plain 0755 as octal: ASNs and limits are never meant that way.
_OCTAL_RE = re.compile(r"[-+]?0[0-9_]+")  # fullmatch: "$" would pass a trailing newline
# Far beyond any ASN or limit. Also keeps every number printable: Python refuses to turn an
# integer of more than 4300 digits into text, which an error message about it would need.
_MAX_INTEGER = 2**64


@dataclass
class YamlDocument:
    data: Any
    file: str
    lines: dict[JsonPath, int] = field(default_factory=dict)
    key_lines: dict[JsonPath, int] = field(default_factory=dict)  # where each key is written

    def line_of(self, path: JsonPath) -> int | None:
        """The line of the value at `path`, or of its closest enclosing value."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]


class YamlProblem(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def read_yaml(path: Path, display_name: str) -> YamlDocument:
    """Read one YAML file safely; raise YamlProblem with a located message otherwise.

    Every file rsgen reads may come from an unreviewed pull request, and rsgen often runs as
    root in CI: a file committed as a symbolic link to /etc/shadow or to a runner's credentials
    would otherwise be read, and quoted in error messages, into a public CI log. So the file is
    opened without following a final symbolic link (O_NOFOLLOW), without blocking on a FIFO
    (O_NONBLOCK), and the size limit and "regular file" test apply to what was opened (fstat),
    read from that same descriptor: nothing can be swapped between the check and the read.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise YamlProblem(Problem("must be a regular file, not a symbolic link",
                                      display_name, hint=_LINK_HINT)) from exc
        raise YamlProblem(Problem(f"cannot read: {exc.strerror}", display_name)) from exc
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise YamlProblem(Problem("must be a regular file, not a directory, device or "
                                      "pipe", display_name, hint=_LINK_HINT))
        if status.st_size > MAX_FILE_BYTES:
            raise YamlProblem(_too_big(status.st_size, display_name))
        raw = _read_at_most(fd, MAX_FILE_BYTES + 1)  # the file may grow after fstat
        if len(raw) > MAX_FILE_BYTES:
            raise YamlProblem(_too_big(len(raw), display_name))
    except OSError as exc:
        raise YamlProblem(Problem(f"cannot read: {exc.strerror}", display_name)) from exc
    finally:
        os.close(fd)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = exc.object[:exc.start].count(b"\n") + 1
        raise YamlProblem(Problem(f"not UTF-8 text ({exc.reason})", display_name, line,
                                  hint="save the file as UTF-8")) from exc
    return parse_yaml(text, display_name)


_LINK_HINT = ("commit the file itself: rsgen reads nothing outside the exchange directory "
              "and follows no links")


def _too_big(size: int, display_name: str) -> Problem:
    return Problem(f"file is {size} bytes, more than the {MAX_FILE_BYTES} allowed", display_name,
                   hint="a member file is a few lines; check what was added")


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, min(65536, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


# libyaml (PyYAML's C parser, when PyYAML has it) composes a member file ten times faster than
# PyYAML's own parser, which matters at a thousand member files per build. The two disagree
# on some input (a tab after "key:", "!" with no tag name, "?" in flow collections, junk after
# "|" or ">"): libyaml is used only on text without those characters, printable ASCII and
# newlines only, where differential fuzzing finds them identical (tests/test_yamlsafe_fast.py);
# and when it refuses a file, PyYAML's parser reads it again, so every error is the old one.
_FAST_LOADER: type[yaml.CSafeLoader] | None = getattr(yaml, "CSafeLoader", None)
_FAST_TEXT_RE = re.compile("[" + re.escape("".join(
    c for c in map(chr, range(0x20, 0x7F)) if c not in "!?|>")) + "\n]*")


def _compose(text: str) -> yaml.Node | None:
    if _FAST_LOADER is not None and _FAST_TEXT_RE.fullmatch(text):
        with contextlib.suppress(yaml.YAMLError, RecursionError):
            return yaml.compose(text, Loader=_FAST_LOADER)
    return yaml.compose(text, Loader=yaml.SafeLoader)


def parse_yaml(text: str, display_name: str) -> YamlDocument:
    try:
        # compose() builds the node graph without constructing objects: aliases stay shared
        # nodes (no expansion yet), and no Python tags are resolved (SafeLoader).
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        raise YamlProblem(_syntax_problem(text, exc, display_name)) from exc
    except yaml.reader.ReaderError as exc:
        line = text[:exc.position].count("\n") + 1
        character = f"U+{exc.character:04X}" if isinstance(exc.character, int) else \
            repr(exc.character)
        raise YamlProblem(Problem(f"YAML error: control character {character} is not allowed",
                                  display_name, line, hint="remove it; YAML is plain text")) \
            from exc
    except RecursionError as exc:
        raise YamlProblem(Problem(f"nesting deeper than {MAX_DEPTH} levels", display_name)) \
            from exc
    except yaml.YAMLError as exc:
        # str(exc) may quote the file's text: name the kind of error only.
        raise YamlProblem(Problem(f"YAML error ({type(exc).__name__})", display_name)) from exc
    document = YamlDocument(None, display_name)
    if node is None:
        return document
    if not isinstance(node, yaml.MappingNode):
        # Not a configuration file at all (a list, or one value: a password file, a key=value
        # file, /etc/shadow's lines read as one string): say what it is, never what it holds.
        kind = "list" if isinstance(node, yaml.SequenceNode) else "a single value"
        raise YamlProblem(Problem(f"(top level) must be a mapping of keys, not {kind}; "
                                  "the file's content is not shown", display_name,
                                  node.start_mark.line + 1,
                                  hint="a rsgen file holds `key: value` lines; see README.md"))
    document.data = _convert(node, (), document, 0, set())
    return document


def _syntax_problem(text: str, exc: yaml.MarkedYAMLError, file: str) -> Problem:
    """Locate a syntax error; an unclosed quote is noticed lines later, so point at its start.

    Only PyYAML's problem and context sentences are used, never str(exc), which appends a
    snippet of the offending line; and in those sentences only single quoted characters are
    kept (the file may be anything, a secret included, and not even meant as YAML).
    """
    line = exc.problem_mark.line + 1 if exc.problem_mark else None
    problem = _without_content(exc.problem or "")
    context = _without_content(exc.context or "")
    if exc.context_mark is not None and "quoted scalar" in context and \
            problem.startswith("found unexpected"):
        return Problem(f"YAML syntax error: {problem} {context}", file,
                       exc.context_mark.line + 1,
                       hint="the quote opened on this line is not closed")
    opened = _quote_ending_on(text, line)
    if opened is not None:
        return Problem(f"YAML syntax error: {problem}, after a quoted value that runs from "
                       f"here to line {line}", file, opened,
                       hint="the quote opened on this line is probably not closed")
    if "'\\t'" in problem or (line is not None and "\t" in _line(text, line)):
        return Problem("YAML syntax error: a tab character, which YAML does not allow here "
                       "(indent and separate with spaces)", file, line,
                       hint="replace the tabs on this line with spaces")
    return Problem(f"YAML syntax error: {problem}", file, line,
                   hint="check indentation and quoting near this line")


def _line(text: str, number: int) -> str:
    """Line `number` (1-based) of text, or "" past its end."""
    lines = text.splitlines()
    return lines[number - 1] if 0 < number <= len(lines) else ""


# A Python repr inside a PyYAML message: 'x', '\\t', "it's", '!secret!'.
_QUOTED_RE = re.compile(r"'(?:[^'\\]|\\.)*'" + r'|"(?:[^"\\]|\\.)*"')


def _without_content(message: str) -> str:
    """A PyYAML message with every quoted text longer than one character left out.

    Messages quote one character ("found character '\\t' that cannot start any token"), which
    is what a user needs; a few quote a name from the file (an alias, a tag handle).
    """
    def shown(match: re.Match[str]) -> str:
        try:
            value = ast.literal_eval(match.group(0))
        except (ValueError, SyntaxError):
            return "(text not shown)"
        return match.group(0) if isinstance(value, str) and len(value) <= 1 \
            else "(text not shown)"
    return _QUOTED_RE.sub(shown, message)


def _quote_ending_on(text: str, line: int | None) -> int | None:
    """The first line of a quoted value spanning lines and closed on `line`, if there is one.

    Configuration values never span lines, so such a value right before a syntax error is
    almost always a missing closing quote that swallowed the lines after it.
    """
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            end = token.end_mark.line + 1
            if line is None or end > line:
                break
            if isinstance(token, yaml.ScalarToken) and token.style in ('"', "'") and \
                    end == line and token.start_mark.line + 1 < line:
                return int(token.start_mark.line + 1)
    except yaml.YAMLError:
        return None  # the scanner stops at the error too; what it read before is all there is
    return None


def _convert(node: yaml.Node, path: JsonPath, doc: YamlDocument, depth: int,
             seen: set[int]) -> Any:
    line = node.start_mark.line + 1
    doc.lines[path] = line
    if depth > MAX_DEPTH:
        raise YamlProblem(Problem(f"nesting deeper than {MAX_DEPTH} levels", doc.file, line))
    if id(node) in seen or getattr(node, "anchor", None):
        raise YamlProblem(Problem("YAML anchors and aliases are not allowed", doc.file, line,
                                  hint="write the value out in full"))
    seen.add(id(node))
    plain = f"{_CORE}map" if isinstance(node, yaml.MappingNode) else \
        f"{_CORE}seq" if isinstance(node, yaml.SequenceNode) else None
    if node.tag != plain and (plain is not None or node.tag not in _SCALAR_TAGS):
        raise YamlProblem(Problem(f"YAML tag {_tag_text(node.tag)} is not allowed", doc.file,
                                  line, hint="remove the tag; quote a value to make it a string"))
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != \
                    "tag:yaml.org,2002:str":
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise YamlProblem(Problem("YAML merge keys (<<) are not allowed", doc.file,
                                              key_node.start_mark.line + 1))
                raise YamlProblem(Problem(f"mapping keys must be plain names, not "
                                          f"{key_node.tag.rsplit(':', 1)[-1]}", doc.file,
                                          key_node.start_mark.line + 1,
                                          hint="quote the key to make it a name"))
            key = str(key_node.value)
            if key in result:
                raise YamlProblem(Problem(f"duplicate key {key_text(key)}", doc.file,
                                          key_node.start_mark.line + 1,
                                          hint="keep one of the two"))
            doc.key_lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _convert(value_node, (*path, key), doc, depth + 1, seen)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, index), doc, depth + 1, seen)
                for index, item in enumerate(node.value)]
    if not isinstance(node, yaml.ScalarNode):
        raise YamlProblem(Problem(f"unsupported YAML node {type(node).__name__}", doc.file, line))
    return _scalar(node, doc.file, line)


# Which tag a plain scalar's text would get: the resolver keeps no state between scalars.
_RESOLVER = yaml.resolver.Resolver()


def _scalar(node: yaml.ScalarNode, file: str, line: int) -> Any:
    """A scalar's value: let PyYAML's safe constructor resolve int/bool/null/str."""
    if node.tag == _STR:
        return node.value  # what the constructor returns for a string, and nothing to check
    implicit = _RESOLVER.resolve(  # type: ignore[no-untyped-call]
        yaml.ScalarNode, node.value, (True, False))
    if implicit != node.tag:
        # An explicit tag the text does not fit (!!int abc) would make the constructor raise.
        raise YamlProblem(Problem(f"{_clip(node.value)} is not a valid {_tag_text(node.tag)} "
                                  "value", file, line, hint="remove the tag"))
    # A constructor remembers every node it built: a new one for each scalar (not a whole
    # SafeLoader, whose reader and parser a node needs no more).
    constructor = yaml.constructor.SafeConstructor()
    try:
        value = constructor.construct_object(node, deep=True)
    except ValueError as exc:
        # Text that looks like a date but is none (2001-13-45), or an integer with thousands
        # of digits (Python refuses to convert those).
        why = "too large" if node.tag == f"{_CORE}int" else str(exc)
        raise YamlProblem(Problem(f"{_clip(node.value)} is not a valid {_tag_text(node.tag)} "
                                  f"value ({why})", file, line,
                                  hint="quote it to make it a string")) from exc
    if isinstance(value, int) and not -_MAX_INTEGER < value < _MAX_INTEGER:
        raise YamlProblem(Problem(f"{_clip(node.value)} is too large a number", file, line,
                                  hint="ASNs and prefix limits are far smaller"))
    if not isinstance(value, str | int | float | bool | type(None)):
        raise YamlProblem(Problem(f"unsupported value type {type(value).__name__} "
                                  "(quote it to make it a string)", file, line))
    # A plain scalar's style is None (PyYAML) or "" (libyaml).
    if isinstance(value, int) and not node.style and _OCTAL_RE.fullmatch(node.value):
        raise YamlProblem(Problem(f"{node.value} has a leading zero, which YAML reads as the "
                                  f"octal number {value}", file, line,
                                  hint="remove the leading zero, or quote it for a string"))
    return value


# What a configuration key looks like. Only such keys are quoted in messages: a line of
# /etc/shadow ("root:$6$...:19700:0:99999:7:::") ends in ':' and so reads as a YAML key.
_KEY_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,39}")


def key_text(key: str) -> str:
    """A mapping key for a message: quoted when it looks like a key name, else not shown."""
    return repr(key) if _KEY_NAME_RE.fullmatch(key) else "(not a key name, not shown)"


def _clip(text: str, limit: int = 40) -> str:
    """A value quoted for a message, cut short: a file may hold a megabyte on one line."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


def _tag_text(tag: str) -> str:
    text = "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag
    return text if len(text) <= 60 and text.isprintable() else _clip(text)
