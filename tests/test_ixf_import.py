"""rsgen import ixf against hostile and broken exports: per-record errors, whole-file refusals,
safely quoted YAML, nothing half-written; and URLs over the local fixture web server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsgen.atomic import create_files
from rsgen.errors import ExitCode, InvalidInput, SourceFailed
from rsgen.ixf import MAX_DEPTH
from rsgen.load import load_checked
from rsgen.memberfile import yaml_string
from rsgen.onboard import import_ixf
from rsgen.sources.ixf import fetch_export, read_export_file
from rsgen.yamlsafe import parse_yaml
from tests.fixtures.ixf_server import IxfFixtureServer, Page
from tests.fixtures.tls import TlsCertificate
from tests.helpers import build_tree

EXCHANGE = """\
name: Test IX
route_servers:
  - {name: rs1, asn: 64500, router_id: 203.0.113.1, ipv4: 203.0.113.1, ipv6: "2001:db8::1"}
peering_lan: {ipv4: 203.0.113.0/24, ipv6: "2001:db8::/64"}
"""
EXISTING = """\
asn: 3333
name: RIPE NCC
sessions:
  - ip: 203.0.113.33
"""


@pytest.fixture
def exchange(tmp_path: Path) -> Path:
    return build_tree(tmp_path / "ix", {"exchange.yml": EXCHANGE,
                                        "members/AS3333.yml": EXISTING})


def _member(asn: Any, name: Any, *vlans: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"asnum": asn, "name": name, **extra,
            "connection_list": [{"ixp_id": 1, "state": "active", "vlan_list": list(vlans)}]}


def _v4(address: str, **fields: Any) -> dict[str, Any]:
    return {"vlan_id": 1, "ipv4": {"address": address, "routeserver": True, **fields}}


def _v6(address: str, **fields: Any) -> dict[str, Any]:
    return {"vlan_id": 1, "ipv6": {"address": address, "routeserver": True, **fields}}


def _export(*members: Any, version: str = "1.0") -> bytes:
    return json.dumps({"version": version, "timestamp": "2026-01-01T00:00:00Z",
                       "ixp_list": [{"ixp_id": 1, "ixf_id": 9, "shortname": "T"}],
                       "member_list": list(members)}).encode()


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((directory / "members").iterdir())}


HOSTILE_NAMES = [
    'Evil: "x" # !!python/object/apply:os.system ["id"] &a *a',
    "<script>alert(1)</script> & <b>Co</b>",
    "Réseaux IP Européens 日本 🚀",
    "- [x, y]\\n{a: b} | > ' \\\\",
    "null",
    "yes",
    "0755",
]


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_every_string_reads_back_as_itself(text: str) -> None:
    """yaml_string: whatever the text (controls, quotes, YAML syntax, astral characters), the
    YAML rsgen writes holds one string that rsgen's own reader gives back unchanged."""
    assert parse_yaml(f"name: {yaml_string(text)}\n", "x.yml").data == {"name": text}


def test_hostile_names_are_imported_exactly_and_pass_check(exchange: Path) -> None:
    members = [_member(196700 + i, name, _v4(f"203.0.113.{10 + i}"))
               for i, name in enumerate(HOSTILE_NAMES)]
    report = import_ixf(exchange, _write(exchange, _export(*members)))
    assert report.imported == len(HOSTILE_NAMES), report.skipped
    names = {m.asn: m.name for m in load_checked(exchange).members}
    for i, name in enumerate(HOSTILE_NAMES):
        assert names[196700 + i] == name


def _write(exchange: Path, data: bytes, name: str = "export.json") -> str:
    path = exchange.parent / name
    path.write_bytes(data)
    return str(path)


def test_broken_records_are_skipped_one_by_one_with_their_reasons(exchange: Path) -> None:
    export = _export(
        _member(196610, "Good Networks", _v4("203.0.113.10", max_prefix=250,
                                             as_macro="AS-GOOD"),
                _v6("2001:db8::10", max_prefix=50, as_macro="AS-GOOD AS-GOOD-V6")),
        _member(196611, "line\nbreak", _v4("203.0.113.11")),
        _member(196612, "\u202eyfilps", _v4("203.0.113.12")),
        _member(196613, 42, _v4("203.0.113.13")),
        _member("196614", "String ASN", _v4("203.0.113.14")),
        _member(True, "Boolean ASN", _v4("203.0.113.15")),
        _member(2**40, "Huge ASN", _v4("203.0.113.16")),
        _member(64512, "Private ASN", _v4("203.0.113.17")),
        ["not", "an", "object"],
        {"asnum": 196615, "name": "No connections", "connection_list": "none"},
        _member(196616, "Outside", _v4("198.51.100.7")),
        _member(196617, "Not said", {"vlan_id": 1, "ipv4": {"address": "203.0.113.18"}}),
        _member(196618, "Said as text", _v4("203.0.113.19", routeserver="yes")),
        _member(196619, "Taken", _v4("203.0.113.33")),  # AS3333's, in members/ already
        _member(196620, "Route server", _v4("203.0.113.1")),
        _member(196610, "Listed twice", _v4("203.0.113.20")),
        _member(196621, "Same address as Good", _v4("203.0.113.10")),
        _member(3333, "Already a member", _v4("203.0.113.34")),
        _member(196622, "Odd fields", _v4("203.0.113.21", max_prefix="100",
                                          as_macro="AS-FOO;rm -rf /"),
                _v4("not-an-address"), _v6("203.0.113.22")),
    )
    report = import_ixf(exchange, _write(exchange, export))
    assert [p.name for p in report.written] == ["AS196610.yml", "AS196622.yml"]
    skipped = {int(n.where.partition("[")[2].partition("]")[0]): n.reason
               for n in report.skipped}
    assert sorted(skipped) == list(range(1, 18))
    expected = {1: "control", 2: "control", 3: "name is int", 4: "asnum", 5: "asnum",
                6: "asnum", 7: "not a public ASN", 8: "not an object", 9: "connection_list",
                10: "outside the peering LAN", 11: "does not say routeserver: true",
                12: 'routeserver: "yes"', 13: "also used in members/AS3333.yml",
                14: "route server", 15: "listed again", 16: "also used in",
                17: "exists already"}
    for index, fragment in expected.items():
        assert fragment in skipped[index], (index, skipped[index])
    config = load_checked(exchange)
    good = next(m for m in config.members if m.asn == 196610)
    assert [str(s.ip) for s in good.sessions] == ["203.0.113.10", "2001:db8::10"]
    assert [str(s) for s in good.as_sets] == ["AS-GOOD", "AS-GOOD-V6"]
    assert (good.max_prefixes.ipv4, good.max_prefixes.ipv6) == (250, 50)
    odd = next(m for m in config.members if m.asn == 196622)
    assert [str(s.ip) for s in odd.sessions] == ["203.0.113.21"]
    assert odd.as_sets == () and odd.max_prefixes.ipv4 is None
    left_out = " | ".join(f"{n.where}: {n.reason}" for n in report.dropped)
    assert "max_prefix" in left_out and "as_macro" in left_out
    assert "not-an-address" in left_out and "not a global IPv6 address" in left_out


@pytest.mark.parametrize(("data", "message"), [
    (b"<html>502 Bad Gateway</html>", "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[" * 100000 + b"]" * 100000, "nested deeper"),
    (json.dumps({"member_list": [], "x": json.loads("[" * (MAX_DEPTH + 1) + "]" *
                                                    (MAX_DEPTH + 1))}).encode(),
     "nested deeper"),
    (b'{"member_list": [' + b"{}," * 500_000 + b"{}]}", "more than 500000 JSON objects"),
    (b'{"member_list": [], "member_list": []}', "appears twice"),
    (b'{"version": "1.0", "member_list": [{"asnum": NaN}]}', "not a JSON number"),
    (b'[{"asnum": 3333}]', "expected a JSON object with a member_list"),
    (b'{"member_list": {"asnum": 3333}}', "expected a JSON object with a member_list"),
])
def test_a_file_that_is_no_export_is_refused_whole(exchange: Path, data: bytes,
                                                   message: str) -> None:
    before = _files(exchange)
    with pytest.raises(InvalidInput, match=message):
        import_ixf(exchange, _write(exchange, data))
    assert _files(exchange) == before


def test_a_file_over_the_size_cap_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b" " * 2000)
    assert read_export_file(path, limit=2000) == b" " * 2000
    with pytest.raises(InvalidInput, match="more than 1999 bytes"):
        read_export_file(path, limit=1999)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(InvalidInput, match="not a regular file"):
        read_export_file(tmp_path / "fifo")


def test_files_are_created_all_or_none(tmp_path: Path) -> None:
    """A file that exists (or appears) is never replaced, and the files made before it by the
    same call are removed again; no temporary file is left."""
    (tmp_path / "b.yml").write_text("theirs\n")
    with pytest.raises(FileExistsError):
        create_files([(tmp_path / "a.yml", "a\n"), (tmp_path / "b.yml", "b\n"),
                      (tmp_path / "c.yml", "c\n")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.yml"]
    assert (tmp_path / "b.yml").read_text() == "theirs\n"
    create_files([(tmp_path / "a.yml", "a\n"), (tmp_path / "c.yml", "c\n")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yml", "b.yml", "c.yml"]


def test_dry_run_writes_nothing(exchange: Path) -> None:
    before = _files(exchange)
    report = import_ixf(exchange, _write(exchange, _export(
        _member(196610, "Good", _v4("203.0.113.10")))), dry_run=True)
    assert [d.asn for d in report.would_write] == [196610] and not report.written
    assert _files(exchange) == before


def test_ixp_id_picks_one_exchange_of_the_export(exchange: Path) -> None:
    member = _member(196610, "Two places", _v4("203.0.113.10"))
    member["connection_list"].append({"ixp_id": 2, "vlan_list": [_v4("203.0.113.11")]})
    document = json.loads(_export(member))
    document["ixp_list"].append({"ixp_id": 2, "ixf_id": 10, "shortname": "U"})
    source = _write(exchange, json.dumps(document).encode())
    report = import_ixf(exchange, source, ixp_id=1, dry_run=True)
    assert [str(a) for a in report.would_write[0].sessions] == ["203.0.113.10"]
    assert any("not the chosen 1" in n.reason for n in report.dropped)
    with pytest.raises(InvalidInput, match="no ixp_id 7"):
        import_ixf(exchange, source, ixp_id=7)


# --- URLs ---

GOOD = _export(_member(196610, "Good", _v4("203.0.113.10")))


@pytest.fixture
def trusted(tls_certificate: TlsCertificate, monkeypatch: pytest.MonkeyPatch) -> TlsCertificate:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_certificate.certificate))
    return tls_certificate


def test_an_https_url_is_imported(exchange: Path, trusted: TlsCertificate) -> None:
    with IxfFixtureServer({"/members.json": Page(body=GOOD)}, tls=trusted) as server:
        report = import_ixf(exchange, server.url("/members.json"))
    assert [p.name for p in report.written] == ["AS196610.yml"]
    first_line = (exchange / "members" / "AS196610.yml").read_text().splitlines()[0]
    assert first_line.startswith("# Written by rsgen from IX-F export https://127.0.0.1:")


def test_plain_http_is_refused_unless_a_test_allows_it(exchange: Path) -> None:
    with IxfFixtureServer({"/members.json": Page(body=GOOD)}) as server:
        with pytest.raises(InvalidInput, match="only https:// URLs"):
            import_ixf(exchange, server.url("/members.json"))
        assert server.requests == []
        report = import_ixf(exchange, server.url("/members.json"), allow_http=True)
    assert report.imported == 1


@pytest.mark.parametrize(("page", "message"), [
    (Page(404, b"no"), "HTTP 404"),
    (Page(body=b" " * 5000, chunked=True), "larger than 4096 bytes"),
    (Page(body=b" " * 5000), "larger than 4096 bytes"),
])
def test_a_url_that_gives_no_export_fails_as_a_source(trusted: TlsCertificate, page: Page,
                                                      message: str) -> None:
    with IxfFixtureServer({"/x": page}, tls=trusted) as server, \
            pytest.raises(SourceFailed, match=message):
        fetch_export(server.url("/x"), limit=4096)


def test_no_redirect_from_https_to_http(exchange: Path, trusted: TlsCertificate) -> None:
    with IxfFixtureServer({"/members.json": Page(body=GOOD)}) as plain:
        target = plain.url("/members.json")
        with IxfFixtureServer({"/x": Page(302, headers=(("Location", target),))},
                              tls=trusted) as server:
            before = _files(exchange)
            with pytest.raises(SourceFailed, match="not followed from https to http"):
                import_ixf(exchange, server.url("/x"))
        assert plain.requests == [] and _files(exchange) == before


# --- the command line ---

def test_the_command_reports_each_skipped_record_printably(exchange: Path) -> None:
    source = _write(exchange, _export(_member(196610, "Good", _v4("203.0.113.10")),
                                      _member(196611, "Bad\x1b[2J", _v4("203.0.113.11"))))
    result = subprocess.run([sys.executable, "-m", "rsgen", "import", "ixf", "-C",
                             str(exchange), source], capture_output=True, text=True,
                            check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "members/AS196610.yml: written" in result.stdout
    assert "1 member(s) imported, 1 skipped" in result.stdout
    assert "skipped: member_list[1] (AS196611): name holds control" in result.stderr
    assert "\x1b" not in result.stderr + result.stdout
    broken = subprocess.run([sys.executable, "-m", "rsgen", "import", "ixf", "-C",
                             str(exchange), _write(exchange, b"{", "broken.json")],
                            capture_output=True, text=True, check=False, timeout=120)
    assert broken.returncode == ExitCode.INVALID_INPUT and "not valid JSON" in broken.stderr


def test_a_member_built_to_be_big_is_cut_short(exchange: Path) -> None:
    """Hundreds of addresses with 20 KB as_macros, thousands of bad ones: each member is judged
    once, and what is reported about one member stays a few lines."""
    wide = _member(196630, "Wide", *(_v6(f"2001:db8::{i:x}", as_macro="AS-X " * 4000,
                                         max_prefix=-1) for i in range(1, 300)))
    many = _member(196631, "Many", _v4("203.0.113.40"),
                   *(_v4(f"198.51.100.{i % 250}") for i in range(3000)))
    report = import_ixf(exchange, _write(exchange, _export(wide, many)))
    (skipped,) = report.skipped
    assert "298 route-server sessions, more than the 64" in skipped.reason  # ::1: the RS
    assert [p.name for p in report.written] == ["AS196631.yml"]
    assert len(report.dropped) == 21
    assert report.dropped[-1].reason == "2980 more addresses or fields left out"


def test_an_import_waits_for_no_other_run(exchange: Path) -> None:
    """While another rsgen run holds the exchange (here: this test), an import exits 8 and
    writes nothing."""
    from rsgen.lock import exchange_lock

    source = _write(exchange, GOOD)
    before = _files(exchange)
    with exchange_lock(exchange, "build"):
        result = subprocess.run([sys.executable, "-m", "rsgen", "import", "ixf", "-C",
                                 str(exchange), source], capture_output=True, text=True,
                                check=False, timeout=120)
    assert result.returncode == ExitCode.LOCKED, result.stderr
    assert _files(exchange) == before
