"""The one place rsgen starts external programs (bgpq4, bird -p).

Never through a shell: argv lists only. Each program runs in its own session (process group),
so that a timeout can kill it together with anything it started, and nothing is left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsgen.errors import MissingTool, RsgenError

# Debian packages that provide the tools rsgen runs, for the "not installed" hint.
_PACKAGES = {"bgpq4": "bgpq4", "bird": "bird2", "birdc": "bird2", "bwrap": "bubblewrap",
             "stayrtr": "stayrtr", "git": "git"}

# The only environment variables a tool (bgpq4, bird, birdc, ip) gets. A CI runner's
# environment holds secrets (BGP passwords in RS_PW_*, PEERINGDB_API_KEY, RSGEN_SNAPSHOT_KEY,
# the runner's own tokens); no tool rsgen runs needs any of them, so none is passed on.
_TOOL_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", "TMPDIR")

# After SIGKILL the pipes close at once, unless something escaped the process group; then we
# stop waiting for output rather than hang.
_REAP_SECONDS = 5.0


@dataclass(frozen=True)
class Completed:
    """A finished run: its exit status and its whole output, decoded as UTF-8."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class ToolTimeout(RsgenError):
    """A tool ran longer than its time limit and was killed."""

    def __init__(self, tool: str, timeout: float) -> None:
        super().__init__(f"{tool} did not finish within {timeout:g} s and was killed")
        self.tool = tool
        self.timeout = timeout


def missing_tool(program: str) -> MissingTool:
    """The error for a program that is not installed, with the package that provides it."""
    name = Path(program).name
    package = _PACKAGES.get(name)
    hint = (f"install it: apt-get install {package}" if package
            else f"install {name} or put it on PATH")
    return MissingTool(f"{name} is not installed (looked for {program!r})", hint=hint)


def tool_environment() -> dict[str, str]:
    """The environment for an external tool: locale, PATH and TMPDIR, never a secret."""
    return {name: value for name, value in os.environ.items() if name in _TOOL_ENVIRONMENT}


class ToolStopped(Exception):
    """`stop` was set while the tool ran: it was killed with its process group."""


# How often a run with a `stop` event looks at it.
_STOP_POLL_SECONDS = 0.2


def run(argv: Sequence[str], *, timeout: float, input_text: str | None = None,
        cwd: Path | None = None, stop: threading.Event | None = None) -> Completed:
    """Run argv to completion within timeout seconds; raise ToolTimeout or MissingTool, or
    ToolStopped as soon as `stop` is set (another thread decided the run is pointless)."""
    args = tuple(argv)
    returncode, stdout, stderr = _communicate(args, input_text, cwd, timeout, text=True,
                                              stop=stop)
    return Completed(args, returncode, stdout, stderr)


@dataclass(frozen=True)
class CompletedBytes:
    """A finished run whose output is data, not text (git objects): stdout as bytes."""

    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: str


def run_bytes(argv: Sequence[str], *, timeout: float, input_bytes: bytes | None = None,
              cwd: Path | None = None) -> CompletedBytes:
    """As run, with stdin and stdout as bytes, exactly as the program wrote them."""
    args = tuple(argv)
    returncode, stdout, stderr = _communicate(args, input_bytes, cwd, timeout, text=False)
    return CompletedBytes(args, returncode, stdout,
                          stderr.decode("utf-8", errors="replace"))


def _communicate(args: tuple[str, ...], stdin: str | bytes | None, cwd: Path | None,
                 timeout: float, *, text: bool,
                 stop: threading.Event | None = None) -> tuple[int, Any, Any]:
    """Start args in its own session with the tools' environment, feed stdin, and collect
    the output (text: decoded as UTF-8), killing the group on timeout, on `stop` or on
    interruption."""
    if not args:
        raise ValueError("empty argv")
    if shutil.which(args[0]) is None:
        raise missing_tool(args[0])
    try:
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=tool_environment(),
            start_new_session=True,
            text=text,
            encoding="utf-8" if text else None,
            errors="replace" if text else None,
        )
    except FileNotFoundError as exc:  # removed between which() and exec
        raise missing_tool(args[0]) from exc
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            try:
                # communicate() may be called again after a timeout: nothing read is lost.
                stdout, stderr = process.communicate(
                    stdin, timeout=max(0.0, left if stop is None
                                       else min(left, _STOP_POLL_SECONDS)))
                break
            except subprocess.TimeoutExpired:
                stdin = None  # sent already
                if stop is not None and stop.is_set():
                    _kill_group(process)
                    raise ToolStopped(Path(args[0]).name) from None
                if time.monotonic() >= deadline:
                    _kill_group(process)
                    raise ToolTimeout(Path(args[0]).name, timeout) from None
    except BaseException:  # KeyboardInterrupt and friends: leave no orphan behind
        if process.returncode is None:
            _kill_group(process)
        raise
    return process.returncode, stdout, stderr


def _kill_group(process: subprocess.Popen[Any]) -> None:
    """SIGKILL the process group (the child leads it: start_new_session) and reap the child."""
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(process.pid, signal.SIGKILL)
    try:
        process.communicate(timeout=_REAP_SECONDS)
    except subprocess.TimeoutExpired:
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        process.wait()
