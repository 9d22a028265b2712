"""Shared pytest set-up: fixture servers (plugins in tests/fixtures) and the golden-file flag."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.irr_plugin",
    "tests.fixtures.peeringdb_plugin",
]


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
