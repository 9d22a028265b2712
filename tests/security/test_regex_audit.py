"""Regex audit: no pattern in rsgen may end in `$`, and none may use `\\d` for digits.

Python's `$` also matches just before a final newline, so re.match(r"^AS[0-9]+\\.yml$") accepts
"AS3333.yml\\n"; patterns are used with fullmatch (or end in `\\Z`) instead. `\\d` matches any
Unicode digit ("١٢" too, which int() accepts): ASCII digits are written [0-9]. This test reads
every module of the package, so the mistake cannot come back unnoticed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import REPO

PACKAGE = REPO / "rsgen"
# Every function of `re` whose first argument is a pattern.
_RE_FUNCTIONS = frozenset({"compile", "match", "search", "fullmatch", "sub", "subn", "split",
                           "findall", "finditer"})


def _literal_text(node: ast.expr) -> str | None:
    """The text of a pattern built from literals ("a" "b", r"x" + r"y", f"...{x}..."), as far as
    its end is literal; None when the end is computed."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        return _literal_text(node.values[-1])  # type: ignore[arg-type]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _literal_text(node.right)
    return None


def _patterns(path: Path) -> list[tuple[int, str]]:
    """(line, pattern text) of every pattern literal passed to a `re` function in one file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                and node.func.attr in _RE_FUNCTIONS and node.args):
            continue
        for part in ast.walk(node.args[0]):
            if isinstance(part, ast.expr):
                text = _literal_text(part) if part is node.args[0] else \
                    (part.value if isinstance(part, ast.Constant)
                     and isinstance(part.value, str) else None)
                if text is not None:
                    found.append((node.lineno, text))
    return found


def _ends_in_dollar(pattern: str) -> bool:
    stripped = pattern.rstrip(")")  # r"(a|b$)" ends in $ inside its group just the same
    return stripped.endswith("$") and not stripped.endswith("\\$")


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_the_audit_reads_the_whole_package() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in MODULES}
    assert {"load.py", "yamlsafe.py", "sources/irr.py", "verification/lab.py",
            "verification/birdc.py", "snapshot.py", "guard.py"} <= names
    assert sum(len(_patterns(p)) for p in MODULES) >= 20  # it does find the patterns


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_regex_ends_in_dollar_or_uses_backslash_d(module: Path) -> None:
    bad = [f"{module.relative_to(REPO)}:{line}: {text!r}" for line, text in _patterns(module)
           if _ends_in_dollar(text) or "\\d" in text.replace("\\\\", "")]
    assert not bad, ("use fullmatch (or \\Z) instead of $, and [0-9] instead of \\d:\n"
                     + "\n".join(bad))


@pytest.mark.parametrize(("source", "caught"), [
    ('re.compile(r"^AS([1-9][0-9]*)\\.yml$")', True),
    ('re.match("^x$", s)', True),
    ('re.compile(r"(a|b$)")', True),
    ('re.search(r"x" + r"y$", s)', True),
    ('re.compile(rf"{X}:$")', True),
    ('re.compile(r"(\\d+)-")', True),
    ('re.compile(r"AS([0-9]+)\\.yml")', False),
    ('re.compile(r"cost \\$")', False),
    ('re.compile(r"x\\Z")', False),
])
def test_the_audit_catches_the_mistake(tmp_path: Path, source: str, caught: bool) -> None:
    """The scan is not vacuous: it finds each way of writing the mistake, and only those."""
    module = tmp_path / "sample.py"
    module.write_text(f"import re\nPATTERN = {source}\n")
    found = [text for _, text in _patterns(module)
             if _ends_in_dollar(text) or "\\d" in text.replace("\\\\", "")]
    assert bool(found) == caught, found
