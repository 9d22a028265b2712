"""The library API (`rsgen.check/refresh/build/verify`) is what the CLI runs, callable as often
as a program embedding rsgen likes, whatever submodules have been imported meanwhile."""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

import rsgen
from rsgen.builder import BuildResult
from rsgen.model import Config
from rsgen.refresher import RefreshReport
from rsgen.verification.run import VerifyOptions, VerifyReport
from tests.fixtures.irr_plugin import MakeIrrServer
from tests.fixtures.peeringdb_plugin import MakePeeringDbServer
from tests.helpers import REPO, copy_example, source_settings

EXAMPLE_DATA = REPO / "tests" / "fixtures" / "example"


def _import_every_submodule() -> None:
    """What a long-running program may have done between two calls: import all of rsgen
    (importing a submodule makes it an attribute of the package)."""
    for info in pkgutil.walk_packages(rsgen.__path__, "rsgen."):
        if info.name != "rsgen.__main__":
            importlib.import_module(info.name)


def test_every_library_function_works_twice(tmp_path: Path, make_irr_server: MakeIrrServer,
                                            make_peeringdb_server: MakePeeringDbServer) -> None:
    """check, refresh, build and verify, each called twice with every submodule imported in
    between, return their results both times (rsgen.verify used to become the subpackage)."""
    exchange = copy_example(tmp_path / "ix")
    irr = make_irr_server(EXAMPLE_DATA / "irr.rpsl",
                          mirrored=("RADB", "RIPE", "APNIC", "ARIN", "AFRINIC", "LACNIC"))
    records = json.loads((EXAMPLE_DATA / "peeringdb-net.json").read_text())["data"]
    peeringdb = make_peeringdb_server(records=records)
    for attempt in range(2):
        config = rsgen.check(exchange)
        assert isinstance(config, Config) and len(config.members) == 8
        report = rsgen.refresh(exchange, settings=source_settings(peeringdb.url, irr.host))
        assert isinstance(report, RefreshReport) and len(report.updated) == 8
        built = rsgen.build(exchange, tmp_path / "out", offline=True)
        assert isinstance(built, BuildResult) and len(built.written) == 2
        verified = rsgen.verify(VerifyOptions(exchange, members=(23674, 58453)))
        assert isinstance(verified, VerifyReport) and verified.ok, attempt
        _import_every_submodule()
    for name in ("check", "refresh", "build", "verify"):
        assert callable(getattr(rsgen, name)), name
