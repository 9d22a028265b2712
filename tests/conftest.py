"""Shared pytest set-up: fixture servers (plugins in tests/fixtures), the golden-file flag, and
the `slow` marker for the fast inner loop (`./dev test -m "not slow"`)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    "test_library.py", "test_mutation.py", "test_verify.py",
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
