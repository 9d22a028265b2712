"""One bad member never blocks the others: a new member whose AS-SET the IRR expands to nothing
is written as pending (sessions configured, every route rejected), with a loud warning, and
the rest of the exchange refreshes and builds. An existing member whose AS-SET empties is held
for review (the shrink guard's "to empty"), and --accept-shrink makes it pending."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rsgen.builder import build
from rsgen.errors import ExitCode, NoSnapshot
from rsgen.load import load_checked
from rsgen.plan import plan
from rsgen.refresher import RefreshFailed, refresh
from rsgen.snapshot import read_snapshot
from tests.fixtures.irr_plugin import MakeIrrServer
from tests.fixtures.peeringdb_plugin import MakePeeringDbServer
from tests.helpers import source_settings
from tests.test_refresh import RPSL, _member, _net, small_exchange

NEWCOMER_ASN = 2121


@pytest.fixture
def servers(make_irr_server: MakeIrrServer, make_peeringdb_server: MakePeeringDbServer,
            ) -> tuple[str, str]:
    irr = make_irr_server(RPSL)
    peeringdb = make_peeringdb_server(records=[_net(3333, "RIPE::AS-GOOD"), _net(10745, ""),
                                               _net(NEWCOMER_ASN, "")])
    return peeringdb.url, irr.host


def _with_newcomer(directory: Path, as_set: str = "AS-NOT-REGISTERED") -> Path:
    exchange = small_exchange(directory)
    (exchange / "members" / f"AS{NEWCOMER_ASN}.yml").write_text(
        _member(NEWCOMER_ASN, 21, f"as_set: {as_set}\n"))
    return exchange


def _irr_file(exchange: Path, asn: int) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        (exchange / "snapshot" / "irr" / f"AS{asn}.json").read_text())
    return data


def test_new_member_with_nothing_registered_is_pending_and_the_rest_builds(
        tmp_path: Path, servers: tuple[str, str]) -> None:
    exchange = _with_newcomer(tmp_path / "ix")
    settings = source_settings(*servers)
    report = refresh(exchange, settings=settings)  # no RefreshFailed: nothing is blocked
    assert report.pending == [NEWCOMER_ASN] and report.failed == {}
    assert sorted(report.updated) == [3333, 10745]
    assert "PENDING" in report.warnings[NEWCOMER_ASN]
    assert "AS-NOT-REGISTERED" in report.warnings[NEWCOMER_ASN]
    data = _irr_file(exchange, NEWCOMER_ASN)
    assert data["origins"] == [] and data["ipv4"] == [] and data["ipv6"] == []
    assert "AS-NOT-REGISTERED: no origin ASNs" in str(data["pending"])
    assert "pending" not in _irr_file(exchange, 3333)  # other members' bytes as before

    result = build(exchange, offline=True, settings=settings)
    assert any(w.startswith(f"AS{NEWCOMER_ASN}: PENDING") for w in result.warnings)
    config = result.written[0].read_text()
    assert "# PENDING: AS-NOT-REGISTERED: no origin ASNs" in config
    assert re.search(rf"protocol bgp AS{NEWCOMER_ASN}_198_51_100_21 ", config)
    assert re.search(rf"define AS{NEWCOMER_ASN}_ORIGINS = \[\];", config)
    assert "193.0.0.0/21" in config  # AS3333's routes are still there


def test_a_pending_member_in_irr_tag_mode_still_accepts_nothing(
        tmp_path: Path, servers: tuple[str, str]) -> None:
    """Tag mode accepts IRR failures tagged: a pending member must not get that."""
    exchange = _with_newcomer(tmp_path / "ix")
    member = exchange / "members" / f"AS{NEWCOMER_ASN}.yml"
    member.write_text(member.read_text() + "irr: {mode: tag}\n")
    refresh(exchange, settings=source_settings(*servers))
    exchange_plan = plan(load_checked(exchange), read_snapshot(exchange), source_settings())
    (server,) = exchange_plan.route_servers
    newcomer = server.member(NEWCOMER_ASN)
    assert newcomer is not None and newcomer.pending and newcomer.irr_tag is False
    assert newcomer.origins == ()
    assert all(len(f.prefixes) == 0 for f in newcomer.families)


def test_pending_member_becomes_normal_once_its_objects_are_registered(
        tmp_path: Path, servers: tuple[str, str], make_irr_server: MakeIrrServer) -> None:
    exchange = _with_newcomer(tmp_path / "ix", as_set="AS-LATER")
    peeringdb_url, _ = servers
    refresh(exchange, settings=source_settings(*servers))
    assert "pending" in _irr_file(exchange, NEWCOMER_ASN)
    registered = make_irr_server(RPSL + "\nas-set: AS-LATER\nmembers: AS2121\nsource: RIPE\n")
    report = refresh(exchange, settings=source_settings(peeringdb_url, registered.host))
    assert report.pending == [] and NEWCOMER_ASN in report.updated
    data = _irr_file(exchange, NEWCOMER_ASN)
    assert "pending" not in data and data["ipv4"] == ["185.193.200.0/22"]


def test_an_existing_member_whose_as_set_empties_is_held_then_accepted_as_pending(
        tmp_path: Path, servers: tuple[str, str], make_irr_server: MakeIrrServer) -> None:
    exchange = small_exchange(tmp_path / "ix")
    peeringdb_url, irr_host = servers
    refresh(exchange, settings=source_settings(peeringdb_url, irr_host))
    before = (exchange / "snapshot" / "irr" / "AS3333.json").read_bytes()
    emptied = make_irr_server(RPSL.replace("members: AS3333, AS-GOOD-CUSTOMERS",
                                           "members: AS-NOTHING-HERE"))
    with pytest.raises(RefreshFailed) as caught:
        refresh(exchange, settings=source_settings(peeringdb_url, emptied.host))
    assert caught.value.exit_code == ExitCode.HELD_FOR_REVIEW
    assert caught.value.report.shrunk == [3333]
    assert "to nothing" in caught.value.report.failed[3333]
    assert (exchange / "snapshot" / "irr" / "AS3333.json").read_bytes() == before

    report = refresh(exchange, settings=source_settings(peeringdb_url, emptied.host),
                     accept_shrink=[3333])
    assert report.pending == [3333] and "accepted by --accept-shrink" in report.warnings[3333]
    assert _irr_file(exchange, 3333)["ipv4"] == []


def test_cli_refresh_with_a_pending_member_exits_0_and_says_so(
        tmp_path: Path, servers: tuple[str, str]) -> None:
    exchange = _with_newcomer(tmp_path / "ix")
    peeringdb_url, irr_host = servers
    done = subprocess.run([sys.executable, "-m", "rsgen", "refresh", "-C", str(exchange),
                           "--peeringdb-url", peeringdb_url, "--irr-host", irr_host, "--json"],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"warning: AS{NEWCOMER_ASN}: PENDING" in done.stderr
    assert json.loads(done.stdout)["result"]["pending"] == [NEWCOMER_ASN]


@pytest.mark.parametrize("edit, message", [
    (lambda d: {**d, "ipv4": ["185.193.200.0/22"]}, "a pending member has no origins"),
    (lambda d: {**d, "pending": 7}, "pending must be a reason"),
    (lambda d: {**d, "pending": ""}, "pending must be a reason"),
    (lambda d: {**d, "pending": "x" * 501}, "pending must be a reason"),
])
def test_a_damaged_pending_state_is_refused(tmp_path: Path, servers: tuple[str, str],
                                            edit: object, message: str) -> None:
    exchange = _with_newcomer(tmp_path / "ix")
    refresh(exchange, settings=source_settings(*servers))
    path = exchange / "snapshot" / "irr" / f"AS{NEWCOMER_ASN}.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))  # type: ignore[operator]
    with pytest.raises(NoSnapshot, match=message):
        read_snapshot(exchange)


@pytest.mark.slow  # a verify lab
def test_verify_a_pending_member_has_sessions_and_every_route_is_rejected(
        tmp_path: Path) -> None:
    """In real BIRD: the pending member's sessions are Established, every route it announces
    (its former IRR space included) is filtered, and the other member's routes still flow."""
    from rsgen.model import IrrData
    from rsgen.snapshot import SnapshotTransaction
    from rsgen.values import PrefixList
    from tests.helpers import copy_example

    example = copy_example(tmp_path / "ix")
    old = read_snapshot(example).irr[9541]
    with SnapshotTransaction(example) as transaction:
        transaction.write_member(9541, irr=IrrData(
            old.objects, (), PrefixList(()), PrefixList(()),
            pending="RADB::AS-CYBERNET: no origin ASNs (unknown or empty AS-SET)"))
    out = tmp_path / "verify.json"
    done = subprocess.run([sys.executable, "-m", "rsgen", "verify", "-C", str(example),
                           "--members", "AS9541,AS23674", "--json", str(out)],
                          capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())["result"]
    pending = [r for r in report["results"] if r["member"] == 9541]
    others = [r for r in report["results"] if r["member"] == 23674]
    assert pending and others
    assert all(r["seen"] != "accepted" for r in pending if r["seen"] is not None), pending
    # Filtered at the route server: the routes arrived, so its sessions are up.
    assert any(str(r["seen"]).startswith("filtered") for r in pending), pending
    assert any(r["seen"] == "accepted" for r in others)
