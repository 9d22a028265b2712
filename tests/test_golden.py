"""Golden-file tests: rendered configs compared byte for byte with reviewed expected files.

One directory per case under tests/golden/ (found by glob): `input/` is an exchange directory
with its snapshot, `expected/` holds one config per route server and `context.json`, the plan
they are rendered from as `rsgen context` prints it. The case named `example`
uses the bundled example exchange at the top of the repository. Regenerate with
`pytest tests/test_golden.py --update-golden` and review the diff.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rsgen.birdcheck import bird_parse
from rsgen.load import load_checked
from rsgen.plan import plan, plan_json
from rsgen.render import render_plan
from rsgen.settings import Settings
from rsgen.snapshot import read_snapshot
from tests.helpers import REPO

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())
CONTEXT = "context.json"


def _input_dir(case: str) -> Path:
    return REPO if case == "example" else GOLDEN / case / "input"


@pytest.mark.parametrize("case", CASES)
def test_rendered_config_matches_golden(case: str, update_golden: bool) -> None:
    """Rendering a known exchange gives exactly the reviewed plan and configs, and BIRD accepts
    them."""
    directory = _input_dir(case)
    exchange_plan = plan(load_checked(directory), read_snapshot(directory), Settings())
    context = json.dumps(plan_json(exchange_plan), indent=1) + "\n"
    rendered = render_plan(exchange_plan)
    expected_dir = GOLDEN / case / "expected"
    if update_golden:
        shutil.rmtree(expected_dir, ignore_errors=True)
        expected_dir.mkdir(parents=True)
        for name, text in rendered.items():
            (expected_dir / name).write_text(text, encoding="utf-8")
        (expected_dir / CONTEXT).write_text(context, encoding="utf-8")
    assert context == (expected_dir / CONTEXT).read_text(encoding="utf-8"), \
        f"{case}/{CONTEXT} differs: run with --update-golden and review the diff"
    expected = {p.name: p.read_text(encoding="utf-8") for p in sorted(expected_dir.glob("*.conf"))}
    assert sorted(rendered) == sorted(expected), "a route server's config appeared or vanished"
    for name, text in rendered.items():
        assert text == expected[name], f"{case}/{name} differs: run with --update-golden and " \
                                       "review the diff"
        bird_parse(text, name)


def test_golden_cases_exist() -> None:
    """The golden suite covers the example and the edge cases (a missing directory fails)."""
    assert {"example", "ipv4-only", "edge-cases"} <= set(CASES)


def test_rsgen_context_prints_the_golden_plan() -> None:
    """`rsgen context` prints exactly the reviewed plan of the example; --route-server keeps
    only that server's part."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "rsgen", "context", "-C", str(REPO)],
                          capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout == (GOLDEN / "example" / "expected" / CONTEXT).read_text(encoding="utf-8")
    one = subprocess.run([sys.executable, "-m", "rsgen", "context", "-C", str(REPO),
                          "--route-server", "rs2"],
                         capture_output=True, text=True, check=True, timeout=120)
    assert [s["name"] for s in json.loads(one.stdout)["route_servers"]] == ["rs2"]
