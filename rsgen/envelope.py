"""The one JSON document `--json` prints for check, refresh, build, diff and verify.

CI tools branch on it, so its keys are an API: tests/test_json_contract.py pins them, and a
change that removes or renames a key must raise ENVELOPE_VERSION. Adding a key to a command's
`result` is compatible. Every command fills the same top level, success or failure:

    rsgen_json     ENVELOPE_VERSION
    command        "check", "refresh", "build", "diff" or "verify"
    rsgen_version  the version that wrote it
    ok             true exactly when exit_code is 0
    exit_code      the process's exit code (README's table)
    warnings       what a human would have seen as "warning:" lines, in order
    errors         [{message, file, line, hint}], empty on success
    result         the command's own findings (null when it failed before having any)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rsgen
from rsgen.errors import Problem, RsgenError

ENVELOPE_VERSION = 1
TOP_LEVEL_KEYS = ("rsgen_json", "command", "rsgen_version", "ok", "exit_code", "warnings",
                  "errors", "result")


def problem_json(problem: Problem) -> dict[str, Any]:
    return {"message": problem.message, "file": problem.file, "line": problem.line,
            "hint": problem.hint}


def error_json(error: RsgenError) -> list[dict[str, Any]]:
    """The located problems first, then the error itself (its message and hint)."""
    problems = [problem_json(p) for p in error.problems]
    problems += [problem_json(Problem(str(d))) for d in getattr(error, "details", ())]
    return [*problems, problem_json(Problem(error.message, hint=error.hint))]


@dataclass
class JsonRun:
    """One command's envelope in the making; `target` Path("-") is stdout."""

    command: str
    target: Path
    warnings: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None

    @property
    def to_stdout(self) -> bool:
        return self.target == Path("-")

    def document(self, exit_code: int, errors: list[dict[str, Any]] | None = None) -> str:
        envelope = {"rsgen_json": ENVELOPE_VERSION, "command": self.command,
                    "rsgen_version": rsgen.__version__, "ok": exit_code == 0,
                    "exit_code": exit_code, "warnings": list(self.warnings),
                    "errors": errors or [], "result": self.result}
        return json.dumps(envelope, indent=1, sort_keys=True, ensure_ascii=True) + "\n"
