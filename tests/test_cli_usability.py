"""Small things a new operator meets first: -v anywhere, and YAML mistakes explained."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rsgen.errors import InvalidInput
from rsgen.load import load_checked
from tests.helpers import REPO, copy_example


def _rsgen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rsgen", *args], capture_output=True,
                          text=True, check=False, timeout=60)


@pytest.mark.parametrize("args", [["-v", "check", "-C"], ["check", "-v", "-C"],
                                  ["check", "-C", str(REPO), "--verbose"]])
def test_verbose_before_or_after_the_command(args: list[str]) -> None:
    done = _rsgen(*args, *([] if args[-1] == "--verbose" else [str(REPO)]))
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("text", "message", "hint"), [
    ("sessions:\n\t- ip: 192.0.2.41\n", "a tab character", "replace the tabs"),
    ("sessions:\n  -ip: 192.0.2.41\n", "sessions must be a list", "a space after the dash"),
])
def test_common_yaml_slips_are_explained(tmp_path: Path, text: str, message: str,
                                         hint: str) -> None:
    exchange = copy_example(tmp_path / "ix")
    (exchange / "members" / "AS9541.yml").write_text(f"asn: 9541\nname: Cyber\n{text}")
    with pytest.raises(InvalidInput) as caught:
        load_checked(exchange)
    problems = [p for p in caught.value.problems if p.file == "members/AS9541.yml"]
    assert len(problems) == 1 and problems[0].line == 4, caught.value.problems
    assert message in problems[0].message and hint in (problems[0].hint or "")
