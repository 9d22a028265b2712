"""rsgen member add ASN: a member file from PeeringDB (the local fixture server's net and
netixlan records), checked as rsgen check checks it, never overwriting one."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from rsgen.errors import ExitCode, InvalidInput, SourceFailed
from rsgen.load import load_checked
from rsgen.onboard import add_member
from rsgen.scaffold import ScaffoldRefused
from tests.fixtures.pdb_server import PeeringDbFixtureServer, load_fixture_records
from tests.fixtures.peeringdb_plugin import MakePeeringDbServer
from tests.helpers import build_tree, source_settings

# The LAN of ixlan 1 in tests/fixtures/peeringdb/netixlan.json.
EXCHANGE = """\
name: Test IX
route_servers:
  - {name: rs1, asn: 64500, router_id: 206.223.117.254, ipv4: 206.223.117.254,
     ipv6: "2001:504:0:1::fffe"}
peering_lan: {ipv4: 206.223.116.0/23, ipv6: "2001:504:0:1::/64"}
peeringdb: {ixlan_id: 1}
"""


@pytest.fixture
def exchange(tmp_path: Path) -> Path:
    return build_tree(tmp_path / "ix", {"exchange.yml": EXCHANGE, "members/README.md": "m\n"})


def test_a_member_comes_with_its_name_and_its_addresses_on_this_lan(
        exchange: Path, peeringdb_server: PeeringDbFixtureServer) -> None:
    report = add_member(exchange, 3333, source_settings(peeringdb_server.url))
    assert [p.name for p in report.written] == ["AS3333.yml"]
    (member,) = load_checked(exchange).members
    assert member.asn == 3333 and member.name == "RIPE NCC"
    # ixlan 1's active ports; not the deleted one, not the one on ixlan 2.
    assert [str(s.ip) for s in member.sessions] == ["206.223.116.33", "2001:504:0:1::33",
                                                   "206.223.116.34"]
    assert member.as_sets == () and member.max_prefixes.ipv4 is None  # refresh's business
    assert any("206.223.116.34" in w and "is_rs_peer" in w for w in report.warnings)
    asked = {r.path: r.query for r in peeringdb_server.requests}
    assert asked["/api/netixlan"] == {"asn": ["3333"], "ixlan_id": ["1"]}


def test_an_existing_member_file_is_never_overwritten(
        exchange: Path, peeringdb_server: PeeringDbFixtureServer) -> None:
    add_member(exchange, 3333, source_settings(peeringdb_server.url))
    path = exchange / "members" / "AS3333.yml"
    path.write_text(path.read_text() + "description: edited by hand\n")
    edited = path.read_bytes()
    with pytest.raises(ScaffoldRefused, match="exists already"):
        add_member(exchange, 3333, source_settings(peeringdb_server.url))
    assert path.read_bytes() == edited


def test_no_address_on_the_lan_writes_nothing(
        exchange: Path, peeringdb_server: PeeringDbFixtureServer) -> None:
    with pytest.raises(InvalidInput, match="no address of AS10745 on ixlan 1"):
        add_member(exchange, 10745, source_settings(peeringdb_server.url))
    with pytest.raises(SourceFailed, match="no network AS213279"):
        add_member(exchange, 213279, source_settings(peeringdb_server.url))
    assert sorted(p.name for p in (exchange / "members").iterdir()) == ["README.md"]


def test_without_ixlan_id_rsgen_says_which_setting_is_missing(
        exchange: Path, peeringdb_server: PeeringDbFixtureServer) -> None:
    (exchange / "exchange.yml").write_text(EXCHANGE.replace("peeringdb: {ixlan_id: 1}\n", ""))
    with pytest.raises(InvalidInput, match=r"peeringdb\.ixlan_id"):
        add_member(exchange, 3333, source_settings(peeringdb_server.url))
    assert peeringdb_server.requests == []


@pytest.mark.parametrize("name", ['RIPE: "NCC" # !!python/object &x *x', "<b>R&D</b>",
                                  "Réseaux IP Européens"])
def test_a_name_that_looks_like_yaml_or_html_is_written_as_text(
        exchange: Path, make_peeringdb_server: MakePeeringDbServer, name: str) -> None:
    records = copy.deepcopy(load_fixture_records())
    next(r for r in records if r["asn"] == 3333)["name"] = name
    server = make_peeringdb_server(records)
    add_member(exchange, 3333, source_settings(server.url))
    assert load_checked(exchange).members[0].name == name


@pytest.mark.parametrize("name", ["RIPE\nasn: 1", "RIPE\u2028NCC", "\u202eCCN EPIR", "x" * 101])
def test_a_name_no_reviewer_could_read_is_refused(
        exchange: Path, make_peeringdb_server: MakePeeringDbServer, name: str) -> None:
    records = copy.deepcopy(load_fixture_records())
    next(r for r in records if r["asn"] == 3333)["name"] = name
    server = make_peeringdb_server(records)
    with pytest.raises(InvalidInput, match="would not pass rsgen check: name"):
        add_member(exchange, 3333, source_settings(server.url))
    assert sorted(p.name for p in (exchange / "members").iterdir()) == ["README.md"]


def test_the_command_line(exchange: Path, peeringdb_server: PeeringDbFixtureServer) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rsgen", "member", "add", "-C",
                               str(exchange), "--peeringdb-url", peeringdb_server.url, *args],
                              capture_output=True, text=True, check=False, timeout=120)

    dry = run("--dry-run", "AS63312")
    assert dry.returncode == 0, dry.stderr
    assert "members/AS63312.yml: would be written" in dry.stdout
    assert not (exchange / "members" / "AS63312.yml").exists()
    done = run("63312")
    assert done.returncode == 0, done.stderr
    assert "AS63312.yml: written" in done.stdout
    assert run("AS63312").returncode == ExitCode.USAGE
    assert run("AS10745").returncode == ExitCode.INVALID_INPUT
    assert run("not-an-asn").returncode == ExitCode.USAGE


def test_a_directory_that_is_no_exchange_is_named(tmp_path: Path) -> None:
    for command in (["member", "add", "AS3333"], ["import", "ixf", str(tmp_path / "x.json")]):
        (tmp_path / "x.json").write_text('{"member_list": []}')
        result = subprocess.run([sys.executable, "-m", "rsgen", *command[:2], "-C",
                                 str(tmp_path / "missing"), *command[2:]],
                                capture_output=True, text=True, check=False, timeout=120)
        assert result.returncode == ExitCode.INVALID_INPUT, result.stderr
        assert "no exchange.yml" in result.stderr
