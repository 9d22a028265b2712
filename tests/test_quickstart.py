"""README's "your own exchange in ten minutes" block, run exactly as written (only the sources
are the tests' local IRR and PeeringDB servers, given as RSGEN_IRR_HOST and
RSGEN_PEERINGDB_URL): a README claim a test shows."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.irr_plugin import MakeIrrServer
from tests.fixtures.peeringdb_plugin import MakePeeringDbServer
from tests.helpers import REPO

EXAMPLE_DATA = REPO / "tests" / "fixtures" / "example"
BASH, GIT = shutil.which("bash") or "/bin/bash", shutil.which("git") or "/usr/bin/git"


def quickstart_block() -> str:
    readme = (REPO / "README.md").read_text()
    found = re.search(r"<!-- quickstart -->\n```sh\n(.*?)```", readme, re.S)
    assert found, "README.md lost its quickstart block"
    return found.group(1)


@pytest.mark.slow  # rsgen verify runs a lab
def test_the_readme_quickstart_works_as_written(
        tmp_path: Path, make_irr_server: MakeIrrServer,
        make_peeringdb_server: MakePeeringDbServer) -> None:
    irr = make_irr_server(EXAMPLE_DATA / "irr.rpsl",  # the sources init names
                          mirrored=("RADB", "RIPE", "APNIC", "ARIN", "AFRINIC", "LACNIC"))
    records = json.loads((EXAMPLE_DATA / "peeringdb-net.json").read_text())["data"]
    peeringdb = make_peeringdb_server(records=records)
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
           "RSGEN_IRR_HOST": irr.host, "RSGEN_PEERINGDB_URL": peeringdb.url,
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.net",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.net"}
    done = subprocess.run([BASH, "-euo", "pipefail", "-c", quickstart_block()], cwd=tmp_path,
                          env=env, capture_output=True, text=True, check=False, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    exchange = tmp_path / "my-ix"
    assert "all as expected" in done.stdout
    for server in ("rs1", "rs2"):
        config = (exchange / "out" / f"{server}.conf").read_text()
        assert "protocol bgp AS17557_192_0_2_11" in config
    irr_data = json.loads((exchange / "snapshot" / "irr" / "AS17557.json").read_text())
    assert irr_data["ipv4"], irr_data
    log = subprocess.run([GIT, "-C", str(exchange), "log", "--oneline"], capture_output=True,
                         text=True, check=True)
    assert "My IX: first member" in log.stdout
    tracked = subprocess.run([GIT, "-C", str(exchange), "ls-files"], capture_output=True,
                             text=True, check=True).stdout.split()
    assert "snapshot/irr/AS17557.json" in tracked and not any(
        t.startswith("out/") for t in tracked)
