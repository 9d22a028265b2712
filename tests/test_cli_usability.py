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


def test_quiet_leaves_out_status_lines_but_not_warnings_or_products(tmp_path: Path) -> None:
    """-q (before or after the command): no "ok:"/"written" lines; warnings, and what a
    command produces (here the plan's JSON document), stay."""
    import json

    example = copy_example(tmp_path / "ix")
    lines = (example / "exchange.yml").read_text().splitlines(keepends=True)
    at = [n for n, line in enumerate(lines) if line.strip().startswith("router_id:")]
    lines[at[1]] = lines[at[0]]  # two route servers, one router_id: a warning
    (example / "exchange.yml").write_text("".join(lines))

    def rsgen(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rsgen", *args], capture_output=True,
                              text=True, check=False, timeout=120)

    loud = rsgen("check", "-C", str(example))
    assert loud.returncode == 0 and "ok:" in loud.stdout and "warning:" in loud.stderr
    for args in (("-q", "check", "-C", str(example)), ("check", "-q", "-C", str(example))):
        quiet = rsgen(*args)
        assert quiet.returncode == 0, quiet.stderr
        assert quiet.stdout == "" and "router_id" in quiet.stderr
    built = rsgen("build", "-q", "-C", str(example), "--offline", "-o", str(tmp_path / "out"))
    assert built.returncode == 0 and built.stdout == "", built.stdout
    assert (tmp_path / "out" / "rs1.conf").is_file()
    document = rsgen("check", "-q", "-C", str(example), "--json")
    assert json.loads(document.stdout)["ok"] is True
