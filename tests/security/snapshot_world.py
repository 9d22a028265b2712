"""A small exchange and its sources, for the snapshot-trust tests (not a test module).

Two members, AS3333 (AS-GOOD through PeeringDB) and AS10745 (its ASN alone), refreshed from
the local IRR and PeeringDB fixture servers, as in tests/test_refresh.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsgen.refresher import refresh
from rsgen.settings import Settings
from rsgen.values import Secret
from tests.fixtures.irr_plugin import MakeIrrServer
from tests.fixtures.peeringdb_plugin import MakePeeringDbServer
from tests.helpers import REPO, build_tree, copy_example
from tests.test_refresh import EXCHANGE, RPSL  # the same small exchange and IRR data

KEY = "k" * 12 + "-test-snapshot-key-0001"  # 35 characters
OTHER_KEY = "another-snapshot-key-of-the-tests"


def member(asn: int, last_octet: int, extra: str = "") -> str:
    return (f"asn: {asn}\nname: Net {asn}\n{extra}sessions:\n  - ip: 198.51.100.{last_octet}\n"
            f"  - ip: '2001:db8::{last_octet}'\n")


def net(asn: int, irr_as_set: str) -> dict[str, object]:
    return {"asn": asn, "name": f"Net {asn}", "irr_as_set": irr_as_set, "info_prefixes4": 10,
            "info_prefixes6": 5, "info_never_via_route_servers": False, "status": "ok"}


def make_exchange(root: Path) -> Path:
    return build_tree(root, {
        "exchange.yml": EXCHANGE,
        "members/AS3333.yml": member(3333, 33),
        "members/AS10745.yml": member(10745, 45),
    })


@dataclass
class Sources:
    irr_host: str
    peeringdb_url: str

    def refresh(self, exchange: Path, key: str | None = None, **kwargs: Any) -> Any:
        settings = Settings(irr_host=self.irr_host, peeringdb_url=self.peeringdb_url,
                            snapshot_key=None if key is None else Secret(key))
        return refresh(exchange, settings=settings, **kwargs)

    def env(self, key: str | None = None) -> dict[str, str]:
        env = {"RSGEN_IRR_HOST": self.irr_host, "RSGEN_PEERINGDB_URL": self.peeringdb_url}
        if key is not None:
            env["RSGEN_SNAPSHOT_KEY"] = key
        return env


def start_sources(make_irr_server: MakeIrrServer, make_peeringdb_server: MakePeeringDbServer,
                  rpsl: str = RPSL) -> Sources:
    irr = make_irr_server(rpsl)
    peeringdb = make_peeringdb_server(records=[net(3333, "RIPE::AS-GOOD"), net(10745, "")])
    return Sources(irr.host, peeringdb.url)


def rsgen_cli(*args: str, env: dict[str, str] | None = None,
              ) -> subprocess.CompletedProcess[str]:
    """Run the real command line; RSGEN_SNAPSHOT_KEY only when `env` gives it."""
    base = {k: v for k, v in os.environ.items() if k != "RSGEN_SNAPSHOT_KEY"}
    return subprocess.run([sys.executable, "-m", "rsgen", *args], capture_output=True,
                          text=True, check=False, timeout=300, env={**base, **(env or {})},
                          cwd=REPO)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def unvouched_example(destination: Path) -> Path:
    """A copy of the bundled example without snapshot/provenance.json: provenance would
    refuse any edit ("modified"), so edits then meet the parsing and bounds checks alone."""
    directory = copy_example(destination)
    (directory / "snapshot" / "provenance.json").unlink()
    return directory


def edit_irr(exchange: Path, **changes: Any) -> Path:
    """Change keys of AS17557's IRR snapshot file (a member with several prefixes); its path."""
    path = exchange / "snapshot" / "irr" / "AS17557.json"
    data = read_json(path)
    data.update(changes)
    write_json(path, data)
    return path


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under root (links not followed) and its bytes, to show nothing changed."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found[str(path.relative_to(root))] = path.read_bytes()
    return found
