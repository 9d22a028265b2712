"""Safe YAML reading with line numbers and hard limits.

Member files arrive in pull requests from outside the exchange, so the reader refuses what a
configuration file never needs: anchors and aliases (billion-laughs), deep nesting, huge files,
duplicate keys, and non-string keys. It returns plain data plus a map from each value's path to
its line, so schema errors can say "members/AS3333.yml:7".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rsgen.errors import Problem

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 20

JsonPath = tuple[str | int, ...]


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
    """Read one YAML file safely; raise YamlProblem with a located message otherwise."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise YamlProblem(Problem(f"file is {size} bytes, more than the {MAX_FILE_BYTES} "
                                      "allowed", display_name,
                                      hint="a member file is a few lines; check what was added"))
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlProblem(Problem(f"not UTF-8 text ({exc.reason})", display_name)) from exc
    except OSError as exc:
        raise YamlProblem(Problem(f"cannot read: {exc.strerror}", display_name)) from exc
    return parse_yaml(text, display_name)


def parse_yaml(text: str, display_name: str) -> YamlDocument:
    try:
        # compose() builds the node graph without constructing objects: aliases stay shared
        # nodes (no expansion yet), and no Python tags are resolved (SafeLoader).
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise YamlProblem(Problem(f"YAML syntax error: {exc.problem}", display_name, line,
                                  hint="check indentation and quoting near this line")) from exc
    except yaml.YAMLError as exc:
        raise YamlProblem(Problem(f"YAML error: {exc}", display_name)) from exc
    document = YamlDocument(None, display_name)
    if node is None:
        return document
    document.data = _convert(node, (), document, 0, set())
    return document


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
                                          key_node.start_mark.line + 1))
            key = str(key_node.value)
            if key in result:
                raise YamlProblem(Problem(f"duplicate key {key!r}", doc.file,
                                          key_node.start_mark.line + 1,
                                          hint="keep one of the two"))
            doc.key_lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _convert(value_node, (*path, key), doc, depth + 1, seen)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, index), doc, depth + 1, seen)
                for index, item in enumerate(node.value)]
    # A scalar: let PyYAML's safe constructor resolve int/bool/null/str.
    value = yaml.SafeLoader(" ").construct_object(node, deep=True)
    if not isinstance(value, str | int | float | bool | type(None)):
        raise YamlProblem(Problem(f"unsupported value type {type(value).__name__} "
                                  "(quote it to make it a string)", doc.file, line))
    return value
