"""Small helpers shared by tests: building exchange trees inline, settings with sources."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from rsgen.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def filter_bodies(config: str, name: str) -> dict[str, str]:
    """What each filter of a config whose name matches `name` (a regex with one group, the
    key) runs: its own body, or, for a member's filter that is one call of a shared function
    (templates/bird2/policy.conf.j2, docs/scale.md), that function's body."""
    functions = dict(re.findall(r"^function (\w+)\(.*?\) \{\n(.*?)\n\}", config,
                                re.S | re.M))
    bodies = {}
    for key, body in re.findall(rf"^filter {name} \{{\n(.*?)\n\}}", config, re.S | re.M):
        call = re.fullmatch(r"\s*(\w+)\(.*\);", body)
        bodies[key] = functions.get(call.group(1), body) if call else body
    return bodies


def build_tree(root: Path, files: dict[str, str | None]) -> Path:
    """Write {relative path: text} under root; None removes the file."""
    for relative, text in files.items():
        path = root / relative
        if text is None:
            path.unlink(missing_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def source_settings(peeringdb_url: str | None = None, irr_host: str | None = None,
                    **overrides: Any) -> Settings:
    """What a command reads from this process's environment, with these sources given as
    --peeringdb-url and --irr-host would give them."""
    return Settings.from_environment(peeringdb_url=peeringdb_url, irr_host=irr_host,
                                     **overrides)


def run_rsgen_in_process(capsys: Any, monkeypatch: Any, *args: str) -> tuple[int, str, str]:
    """`rsgen ARGS` in this process, through its error boundary (rsgen.cli.main), with pytest's
    capsys and monkeypatch: (exit code, stdout, stderr)."""
    from rsgen.cli import main

    monkeypatch.setattr(sys, "argv", ["rsgen", *args])
    code = 0
    try:
        main()
    except SystemExit as done:
        code = int(done.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def copy_example(destination: Path, *, with_snapshot: bool = True) -> Path:
    """A private copy of the bundled example exchange (exchange.yml, members/, snapshot/)."""
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "exchange.yml", destination / "exchange.yml")
    shutil.copytree(REPO / "members", destination / "members")
    if with_snapshot:
        shutil.copytree(REPO / "snapshot", destination / "snapshot")
    return destination


NOBODY_UID = 65534  # the unprivileged user lab programs run as


def python_for_nobody() -> str:
    """A Python >= 3.11 that the unprivileged lab user can run (ours may live under /root)."""
    setpriv = shutil.which("setpriv")
    assert setpriv is not None, "setpriv is not installed"
    for candidate in ("/usr/bin/python3", sys.executable):
        done = subprocess.run(
            [setpriv, f"--reuid={NOBODY_UID}", f"--regid={NOBODY_UID}", "--clear-groups", candidate,
             "-c", "import sys; assert sys.version_info >= (3, 11)"],
            capture_output=True, check=False, cwd="/")
        if done.returncode == 0:
            return candidate
    raise AssertionError("no Python >= 3.11 that nobody can run")


T = TypeVar("T")


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    """Poll probe until it returns something other than None; fail after a generous deadline
    (lab programs start, connect and settle at their own pace: never assert a duration)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = probe()
        except Exception as exc:  # BIRD's socket is not there yet, for instance
            last_error = exc
        else:
            if result is not None:
                return result
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s (last error: {last_error})")
