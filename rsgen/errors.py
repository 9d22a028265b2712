"""Error types and the exit codes a CI pipeline can branch on.

Every failure a user can cause or fix is an RsgenError: a one-line message, an optional
location (file:line) and a hint that says what to do. The CLI prints it and exits with its code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Documented in README.md; stable, because CI pipelines branch on them."""

    OK = 0
    INTERNAL = 1  # a bug in rsgen: please report it
    USAGE = 2  # wrong command-line arguments (click's own code)
    INVALID_INPUT = 3  # exchange.yml or a member file is invalid
    SOURCE_FAILED = 4  # PeeringDB or IRR failed for at least one member
    BIRD_REJECTED = 5  # bird -p refused a rendered config
    NO_SNAPSHOT = 6  # build --offline without a usable snapshot
    MISSING_TOOL = 7  # bird or bgpq4 is not installed
    LOCKED = 8  # another rsgen run holds the exchange directory's lock
    VERIFY_FAILED = 9  # rsgen verify saw the policy do something other than expected
    NO_PRIVILEGE = 10  # rsgen verify cannot create network namespaces here
    HELD_FOR_REVIEW = 11  # refresh: new data held back by the shrink guard, nothing failed


@dataclass(frozen=True)
class Problem:
    """One finding, located in a file when it comes from one."""

    message: str
    file: str | None = None
    line: int | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = f"{self.file}:{self.line}: " if self.line is not None else f"{self.file}: "
        text = f"{where}{self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class RsgenError(Exception):
    """A failure the user can act on; carries its exit code."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, hint: str | None = None,
                 problems: tuple[Problem, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.problems = problems

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


class InvalidInput(RsgenError):
    exit_code = ExitCode.INVALID_INPUT


class SourceFailed(RsgenError):
    exit_code = ExitCode.SOURCE_FAILED


class BirdRejected(RsgenError):
    exit_code = ExitCode.BIRD_REJECTED


class TemplatesUnusable(RsgenError):
    """A --templates directory that lacks a template or has a broken one: a usage error."""

    exit_code = ExitCode.USAGE


class OutputUnwritable(RsgenError):
    """The output directory cannot be made or written (-o on a read-only or missing path)."""

    exit_code = ExitCode.USAGE


class BadRevision(RsgenError):
    """`rsgen diff --base REV` names no commit, or DIR is not in a git repository: usage."""

    exit_code = ExitCode.USAGE


class NoSnapshot(RsgenError):
    exit_code = ExitCode.NO_SNAPSHOT


class MissingTool(RsgenError):
    exit_code = ExitCode.MISSING_TOOL


class Locked(RsgenError):
    exit_code = ExitCode.LOCKED


class VerifyFailed(RsgenError):
    exit_code = ExitCode.VERIFY_FAILED


class NoPrivilege(RsgenError):
    exit_code = ExitCode.NO_PRIVILEGE
