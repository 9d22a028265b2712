"""The pre-commit hook rsgen ships (.pre-commit-hooks.yaml): well-formed, and what it runs
is the real `rsgen check`."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import yaml

from tests.helpers import REPO


def test_the_hook_runs_rsgen_check_on_the_exchange_files() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert [h["id"] for h in hooks] == ["rsgen-check"]
    hook = hooks[0]
    assert hook["language"] == "python" and hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    for path in ("exchange.yml", "members/AS3333.yml", "members/AS3333.yaml",
                 "snapshot/irr/AS3333.json"):
        assert files.search(path), path
    for path in ("README.md", "out/rs1.conf", "members/README.md", "templates/x.j2"):
        assert not files.search(path), path
    argv = shlex.split(hook["entry"])
    assert argv == ["rsgen", "check"]
    # What pre-commit runs, in the repository's root: the bundled example passes.
    done = subprocess.run([sys.executable, "-m", "rsgen", *argv[1:]], cwd=REPO,
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
