"""Shared pytest set-up: fixture servers (plugins in tests/fixtures), the golden-file flag, and
the `slow` marker for the fast inner loop (`./dev test -m "not slow" -n 2`)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from rsgen.errors import MissingTool, NoPrivilege

pytest_plugins = [
    "tests.fixtures.irr_plugin",
    "tests.fixtures.peeringdb_plugin",
]


# Modules (paths relative to tests/) whose tests run real BIRD labs, hypothesis properties, kill
# loops or source faults with real timeouts: marked slow as a whole, so the marker is applied
# the same way everywhere and a new test in them is slow too.
SLOW_MODULES = frozenset({
    "robustness/test_guard.py", "robustness/test_hostile.py", "robustness/test_interrupt.py",
    "robustness/test_sources.py", "security/test_verify_confinement.py", "test_lab.py",
    "test_deploy.py", "test_library.py", "test_mutation.py", "test_verify.py",
})
_TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        try:
            relative = Path(item.path).relative_to(_TESTS).as_posix()
        except ValueError:
            continue
        if relative in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


# What the suite runs for real (README: `./dev setup` installs them).
TOOLS = ("bird", "birdc", "bgpq4", "ip", "bwrap")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_report_header() -> list[str]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not missing:
        return []
    what = "fail" if _in_ci() else "are skipped, naming the tool"
    return [f"not installed: {', '.join(missing)} (./dev setup installs them); tests that "
            f"need them {what}"]


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, Any, Any]:
    """A test that reaches a tool rsgen cannot find (MissingTool), or a lab without root or
    user namespaces (NoPrivilege), is skipped with rsgen's own message naming what is missing:
    on a developer's machine only. Under CI=true it fails, so CI never passes by skipping."""
    try:
        return (yield)
    except (MissingTool, NoPrivilege) as error:
        if _in_ci():
            raise
        pytest.skip(str(error))  # the message names the tool, the hint how to install it


# What rsgen prints for a missing tool (rsgen.sources.proc.missing_tool), also from a
# subprocess whose output a failed assertion shows.
_MISSING_TOOL_TEXT = re.compile(r"(\S+) is not installed \(looked for [^)]*\)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """A test that failed because an rsgen it ran as a command found a tool missing is
    reported as skipped, naming the tool (not under CI=true, as above)."""
    report = yield
    if report.failed and call.excinfo is not None and not _in_ci():
        found = _MISSING_TOOL_TEXT.search(str(call.excinfo.value))
        if found:
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1] or 0,
                               f"Skipped: {found.group(0)}: ./dev setup installs it")
    return report


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="Rewrite golden files (expected configs, the example snapshot) from "
                          "what rsgen produces now; review the diff before committing.")


@pytest.fixture(autouse=True)
def _no_snapshot_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their own RSGEN_SNAPSHOT_KEY: one set where the suite runs (a CI job that
    refreshes) must not change what refresh writes or what build accepts."""
    monkeypatch.delenv("RSGEN_SNAPSHOT_KEY", raising=False)


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))
