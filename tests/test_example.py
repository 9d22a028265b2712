"""The bundled example exchange: its snapshot is what refresh makes, and it builds offline.

The committed snapshot/ is produced by the real refresh code path (PeeringDB client over HTTP,
bgpq4 against an IRRd-protocol server) from tests/fixtures/example/. Regenerate it with
`pytest tests/test_example.py --update-golden` after changing that data, and review the diff.
"""

from __future__ import annotations

import filecmp
import json
import shutil
from pathlib import Path

from rsgen.builder import build
from rsgen.refresher import refresh
from rsgen.snapshot import SnapshotMeta, read_meta, write_meta
from tests.fixtures.irr_plugin import MakeIrrServer
from tests.fixtures.peeringdb_plugin import MakePeeringDbServer
from tests.helpers import REPO, copy_example, source_settings

EXAMPLE_DATA = Path(__file__).parent / "fixtures" / "example"
EXAMPLE_NOTE = ("EXAMPLE DATA for rsgen's bundled example exchange: made by rsgen refresh from "
                "tests/fixtures/example/, not from the real PeeringDB or IRR. Do not deploy.")


def _snapshot_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_example_snapshot_is_what_refresh_produces(tmp_path: Path, make_irr_server: MakeIrrServer,
                                                   make_peeringdb_server: MakePeeringDbServer,
                                                   update_golden: bool) -> None:
    """Refreshing the example against its fixture sources reproduces snapshot/ byte for byte."""
    exchange = copy_example(tmp_path / "ix", with_snapshot=False)
    write_meta(exchange, SnapshotMeta(example=True, note=EXAMPLE_NOTE))
    irr = make_irr_server(EXAMPLE_DATA / "irr.rpsl",
                          mirrored=("RADB", "RIPE", "APNIC", "ARIN", "AFRINIC", "LACNIC"))
    records = json.loads((EXAMPLE_DATA / "peeringdb-net.json").read_text())["data"]
    peeringdb = make_peeringdb_server(records=records)
    report = refresh(exchange, settings=source_settings(peeringdb.url, irr.host))
    assert sorted(report.updated) == sorted(int(p.stem[2:]) for p in
                                            (REPO / "members").glob("AS*.yml"))
    produced = exchange / "snapshot"
    committed = REPO / "snapshot"
    if update_golden:
        shutil.rmtree(committed, ignore_errors=True)
        shutil.copytree(produced, committed)
    assert _snapshot_files(produced) == _snapshot_files(committed)
    for name in _snapshot_files(produced):
        assert filecmp.cmp(produced / name, committed / name, shallow=False), \
            f"snapshot/{name} differs: run with --update-golden and review the diff"


def test_example_snapshot_is_marked_as_example_data() -> None:
    """Nobody can mistake the bundled snapshot for real registry data."""
    meta = read_meta(REPO)
    assert meta is not None and meta.example
    assert "not from the real PeeringDB or IRR" in meta.note


def test_example_builds_offline_and_rebuilding_changes_no_byte(tmp_path: Path) -> None:
    """The first README command's build: two configs, bird -p accepted, stable bytes."""
    exchange = copy_example(tmp_path / "ix")
    first = build(exchange, tmp_path / "out", offline=True)
    assert [p.name for p in first.written] == ["rs1.conf", "rs2.conf"]
    assert first.example_data
    contents = [p.read_bytes() for p in first.written]
    assert b"EXAMPLE DATA" in contents[0]
    assert b"protocol bgp AS17557_192_0_2_11" in contents[0]
    assert b"protocol bgp AS58453_2001_db8_ffff__21" in contents[1]
    again = build(exchange, tmp_path / "out", offline=True)
    assert again.changed == ()
    assert [p.read_bytes() for p in again.written] == contents


def _example_sources(make_irr_server: MakeIrrServer,
                     make_peeringdb_server: MakePeeringDbServer) -> tuple[str, str]:
    irr = make_irr_server(EXAMPLE_DATA / "irr.rpsl",
                          mirrored=("RADB", "RIPE", "APNIC", "ARIN", "AFRINIC", "LACNIC"))
    records = json.loads((EXAMPLE_DATA / "peeringdb-net.json").read_text())["data"]
    return irr.host, make_peeringdb_server(records=records).url


def test_a_copy_of_the_example_keeps_its_mark_until_refreshed_from_its_own_sources(
        tmp_path: Path, make_irr_server: MakeIrrServer,
        make_peeringdb_server: MakePeeringDbServer) -> None:
    """Refreshed through --irr-host/--peeringdb-url the copy stays example data, and refresh
    says how to clear the mark; refreshed whole from the sources its exchange.yml names (an
    exchange made from the copy), it is an ordinary snapshot."""
    exchange = copy_example(tmp_path / "ix")
    irr_host, peeringdb_url = _example_sources(make_irr_server, make_peeringdb_server)
    report = refresh(exchange, settings=source_settings(peeringdb_url, irr_host))
    meta = read_meta(exchange)
    assert meta is not None and meta.example
    assert any("still marked as example data" in n for n in report.notices)
    exchange_yml = exchange / "exchange.yml"
    text = exchange_yml.read_text()
    for old, new in (("  url: https://www.peeringdb.com/api\n", f"  url: {peeringdb_url}\n"),
                     ("  host: whois.radb.net\n", f"  host: '{irr_host}'\n")):
        assert text.count(old) == 1
        text = text.replace(old, new)
    exchange_yml.write_text(text)
    report = refresh(exchange, settings=source_settings())
    assert read_meta(exchange) == SnapshotMeta()
    assert any("no longer marks the snapshot as example data" in n for n in report.notices)
