"""Golden-file tests: rendered configs compared byte for byte with reviewed expected files.

One directory per case under tests/golden/ (found by glob): `input/` is an exchange directory
with its snapshot, `expected/` holds one config per route server. The case named `example`
uses the bundled example exchange at the top of the repository. Regenerate with
`pytest tests/test_golden.py --update-golden` and review the diff.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rsgen.birdcheck import bird_parse
from rsgen.builder import render_all
from rsgen.load import load_checked
from rsgen.snapshot import read_snapshot
from tests.helpers import REPO

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())


def _input_dir(case: str) -> Path:
    return REPO if case == "example" else GOLDEN / case / "input"


@pytest.mark.parametrize("case", CASES)
def test_rendered_config_matches_golden(case: str, update_golden: bool) -> None:
    """Rendering a known exchange gives exactly the reviewed config, and BIRD accepts it."""
    directory = _input_dir(case)
    rendered = render_all(load_checked(directory), read_snapshot(directory))
    expected_dir = GOLDEN / case / "expected"
    if update_golden:
        shutil.rmtree(expected_dir, ignore_errors=True)
        expected_dir.mkdir(parents=True)
        for name, text in rendered.items():
            (expected_dir / name).write_text(text, encoding="utf-8")
    expected = {p.name: p.read_text(encoding="utf-8") for p in sorted(expected_dir.glob("*.conf"))}
    assert sorted(rendered) == sorted(expected), "a route server's config appeared or vanished"
    for name, text in rendered.items():
        assert text == expected[name], f"{case}/{name} differs: run with --update-golden and " \
                                       "review the diff"
        bird_parse(text, name)


def test_golden_cases_exist() -> None:
    """The golden suite covers the example and the edge cases (a missing directory fails)."""
    assert {"example", "ipv4-only", "edge-cases"} <= set(CASES)
