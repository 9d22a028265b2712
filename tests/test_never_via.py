"""PeeringDB's never-via-route-servers list: fetched whole by refresh, kept in the snapshot under
the shrink guard, and rendered as reason 15 (a listed network behind a member is a leak)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rsgen.builder import build
from rsgen.errors import ExitCode, NoSnapshot
from rsgen.refresher import RefreshFailed, refresh
from rsgen.settings import Settings
from rsgen.snapshot import NEVER_VIA_FILE, read_snapshot
from rsgen.sources.peeringdb import parse_never_via
from tests.fixtures.irr_plugin import MakeIrrServer
from tests.fixtures.pdb_server import PeeringDbFixtureServer
from tests.fixtures.peeringdb_plugin import MakePeeringDbServer
from tests.helpers import source_settings
from tests.test_refresh import RPSL, _net, small_exchange


def _flagged(asn: int, status: str = "ok") -> dict[str, object]:
    return {**_net(asn, ""), "info_never_via_route_servers": True, "status": status}


MEMBERS = [_net(3333, "RIPE::AS-GOOD"), _net(10745, "")]
LISTED = [_flagged(asn) for asn in (3491, 4637, 6939, 7473)]


def test_parse_never_via_counts_only_flagged_live_networks() -> None:
    body = json.dumps({"data": [
        {"asn": 2914, "info_never_via_route_servers": True, "status": "ok"},
        {"asn": 3491},  # the filter asked for the flag: a record without it still counts
        {"asn": 174, "info_never_via_route_servers": False},  # a server ignoring the filter
        {"asn": 6939, "info_never_via_route_servers": True, "status": "deleted"},
    ]}).encode()
    assert parse_never_via(body) == {2914, 3491}
    for broken in (b"[]", b'{"data": {}}', b'{"data": [{"asn": "AS1"}]}',
                   b'{"data": [{"asn": 0}]}', b'{"data": [7]}', b"<html>"):
        with pytest.raises(ValueError):
            parse_never_via(broken)


@pytest.fixture
def exchange(tmp_path: Path) -> Path:
    return small_exchange(tmp_path / "ix")


@pytest.fixture
def peeringdb(make_peeringdb_server: MakePeeringDbServer) -> PeeringDbFixtureServer:
    return make_peeringdb_server(records=MEMBERS + LISTED)


@pytest.fixture
def settings(make_irr_server: MakeIrrServer, peeringdb: PeeringDbFixtureServer) -> Settings:
    return source_settings(peeringdb.url, make_irr_server(RPSL).host)


def _listed(exchange: Path) -> list[int]:
    data = json.loads((exchange / "snapshot" / NEVER_VIA_FILE).read_text())
    return list(data["asns"])


def test_refresh_writes_the_list_and_the_config_rejects_with_reason_15(
        exchange: Path, settings: Settings, tmp_path: Path) -> None:
    report = refresh(exchange, settings=settings)
    assert report.never_via_written == 4
    assert _listed(exchange) == [3491, 4637, 6939, 7473]
    assert read_snapshot(exchange).never_via_route_servers == {3491, 4637, 6939, 7473}
    text = build(exchange, tmp_path / "out", offline=True, settings=settings).written[0]
    config = text.read_text()
    assert "define NEVER_VIA_ROUTE_SERVERS = [\n    3491, 4637, 6939, 7473\n];" in config
    assert "if delete(bgp_path, member_asn) ~ NEVER_VIA_ROUTE_SERVERS then\n" \
           '        reject_because(member_asn, 15, "never-via-route-servers ASN in AS path");' \
           in config


def test_a_shrinking_list_is_kept_until_accepted(exchange: Path, settings: Settings,
                                                 peeringdb: PeeringDbFixtureServer) -> None:
    """PeeringDB (or someone in between) answering with most of the list gone: the old list
    stays, refresh fails naming it; --accept-shrink never-via takes the new one."""
    refresh(exchange, settings=settings)
    peeringdb.records = MEMBERS + LISTED[:1]
    with pytest.raises(RefreshFailed, match="never-via-route-servers list was kept") as caught:
        refresh(exchange, settings=settings)
    assert "from 4 to 1 entries" in " ".join(caught.value.details)
    assert "--accept-shrink never-via" in str(caught.value)
    assert _listed(exchange) == [3491, 4637, 6939, 7473]
    assert caught.value.report.updated == [3333, 10745]  # the members' data still refreshed

    report = refresh(exchange, settings=settings, accept_never_via_shrink=True)
    assert _listed(exchange) == [3491]
    assert any("accepted by --accept-shrink never-via" in n for n in report.notices)


def test_cli_accepts_the_list_shrinking_by_name(exchange: Path, settings: Settings,
                                                peeringdb: PeeringDbFixtureServer) -> None:
    refresh(exchange, settings=settings)
    peeringdb.records = MEMBERS
    args = [sys.executable, "-m", "rsgen", "refresh", "-C", str(exchange),
            "--peeringdb-url", str(settings.peeringdb_url), "--irr-host", str(settings.irr_host)]
    refused = subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)
    # Held for review, nothing failed: its own exit code, not "retry later".
    assert refused.returncode == ExitCode.HELD_FOR_REVIEW, refused.stderr
    assert "would become empty (from 4 entries)" in refused.stderr
    accepted = subprocess.run([*args, "--accept-shrink", "never-via"], capture_output=True,
                              text=True, check=False, timeout=120)
    assert accepted.returncode == ExitCode.OK, accepted.stderr
    assert "PeeringDB lists 0 network(s) as never via route servers" in accepted.stdout
    assert _listed(exchange) == []


def test_only_a_whole_refresh_fetches_the_list(exchange: Path, settings: Settings,
                                               peeringdb: PeeringDbFixtureServer) -> None:
    refresh(exchange, settings=settings, only=[3333])
    assert not (exchange / "snapshot" / NEVER_VIA_FILE).exists()
    assert all("info_never_via_route_servers" not in r.query for r in peeringdb.requests)


@pytest.mark.parametrize("content", [
    '{"asns": ["AS65001"]}', '{"asns": [0]}', '{"list": []}', "[]",
])
def test_a_damaged_list_is_refused(exchange: Path, settings: Settings, content: str) -> None:
    refresh(exchange, settings=settings)
    (exchange / "snapshot" / NEVER_VIA_FILE).write_text(content)
    with pytest.raises(NoSnapshot, match=r"never_via_route_servers\.json: damaged"):
        read_snapshot(exchange)
