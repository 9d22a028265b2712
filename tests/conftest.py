"""Shared pytest set-up: the fixture servers live in tests/fixtures as plugins."""

pytest_plugins = [
    "tests.fixtures.irr_plugin",
    "tests.fixtures.peeringdb_plugin",
]
