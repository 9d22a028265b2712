"""rsgen check's warnings: allowed, probably a mistake, said once with a hint; exit 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rsgen.consistency import consistency_warnings
from rsgen.load import load_checked
from tests.helpers import REPO, copy_example


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def test_the_example_has_none() -> None:
    assert consistency_warnings(load_checked(REPO)) == []


def test_shared_router_id_different_asns_and_an_unlisted_source(tmp_path: Path) -> None:
    exchange = copy_example(tmp_path / "ix")
    _edit(exchange / "exchange.yml", "    router_id: 192.0.2.2\n", "    router_id: 192.0.2.1\n")
    _edit(exchange / "exchange.yml", "  - name: rs2\n    asn: 64500\n",
          "  - name: rs2\n    asn: 64501\n")
    _edit(exchange / "members" / "AS23674.yml", "as_set: AS-NAYATEL\n",
          "as_set: ALTDB::AS-NAYATEL\n")
    warnings = [str(w) for w in consistency_warnings(load_checked(exchange))]
    assert len(warnings) == 3, warnings
    assert warnings[0].startswith("exchange.yml: route servers rs1, rs2 share router_id "
                                  "192.0.2.1")
    assert "different ASNs (AS64500, AS64501)" in warnings[1]
    assert warnings[2].startswith("members/AS23674.yml:") and \
        "ALTDB::AS-NAYATEL names the IRR source ALTDB, which is not in irr.sources" in warnings[2]
    done = subprocess.run([sys.executable, "-m", "rsgen", "check", "-C", str(exchange)],
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("warning:")] == [
        f"warning: {w}" for w in warnings]
