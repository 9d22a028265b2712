"""`rsgen refresh` against local PeeringDB and IRR servers: what lands in the snapshot, and
what a failing source leaves behind (the previous data, and a report naming the member)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rsgen.errors import ExitCode, InvalidInput
from rsgen.load import load_checked
from rsgen.refresher import RefreshFailed, RefreshReport, refresh
from rsgen.snapshot import read_snapshot
from tests.fixtures.irr_plugin import MakeIrrServer
from tests.fixtures.peeringdb_plugin import MakePeeringDbServer
from tests.helpers import build_tree, source_settings

RPSL = (Path(__file__).parent / "fixtures" / "rpsl" / "small-exchange.rpsl").read_text()

EXCHANGE = """
name: Test IX
route_servers:
  - {name: rs1, asn: 65500, router_id: 198.51.100.1, ipv4: 198.51.100.1, ipv6: "2001:db8::1"}
peering_lan: {ipv4: 198.51.100.0/24, ipv6: "2001:db8::/64"}
irr: {sources: [RIPE, RADB], timeout: 10, parallel: 2}
"""


def _net(asn: int, irr_as_set: str, p4: int = 10, p6: int = 5) -> dict[str, object]:
    return {"asn": asn, "name": f"Net {asn}", "irr_as_set": irr_as_set, "info_prefixes4": p4,
            "info_prefixes6": p6, "info_never_via_route_servers": False, "status": "ok"}


def _member(asn: int, last_octet: int, extra: str = "") -> str:
    return (f"asn: {asn}\nname: Net {asn}\n{extra}sessions:\n  - ip: 198.51.100.{last_octet}\n"
            f"  - ip: '2001:db8::{last_octet}'\n")


def small_exchange(directory: Path) -> Path:
    """Two members, AS3333 and AS10745, on an IPv4 and IPv6 peering LAN."""
    return build_tree(directory, {
        "exchange.yml": EXCHANGE,
        "members/AS3333.yml": _member(3333, 33),
        "members/AS10745.yml": _member(10745, 45),
    })


@pytest.fixture
def exchange(tmp_path: Path) -> Path:
    return small_exchange(tmp_path / "ix")


@pytest.fixture
def sources(make_irr_server: MakeIrrServer, make_peeringdb_server: MakePeeringDbServer,
            ) -> dict[str, object]:
    irr = make_irr_server(RPSL)
    peeringdb = make_peeringdb_server(records=[_net(3333, "RIPE::AS-GOOD"), _net(10745, "")])
    return {"irr_host": irr.host, "peeringdb_url": peeringdb.url, "irr": irr,
            "peeringdb": peeringdb}


def _read(exchange: Path, source: str, asn: int) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        (exchange / "snapshot" / source / f"AS{asn}.json").read_text())
    return data


def test_refresh_writes_sorted_per_member_files(exchange: Path, sources: dict[str, object],
                                                ) -> None:
    """PeeringDB's AS-SET is expanded by bgpq4 into origins and aggregated prefix ranges."""
    report = refresh(exchange, settings=source_settings(str(sources["peeringdb_url"]),
                                                        str(sources["irr_host"])))
    assert sorted(report.updated) == [3333, 10745]
    irr = _read(exchange, "irr", 3333)
    assert irr["objects"] == ["RIPE::AS-GOOD"]
    assert irr["origins"] == [2121, 3333]
    assert "193.0.10.0/23{23,24}" in irr["ipv4"]  # type: ignore[operator]
    assert irr["ipv6"] == ["2001:67c:2e8::/48"]
    assert _read(exchange, "irr", 10745)["objects"] == ["AS10745"]  # no AS-SET: the ASN
    assert _read(exchange, "peeringdb", 3333)["info_prefixes4"] == 10
    again = refresh(exchange, settings=source_settings(str(sources["peeringdb_url"]),
                                                       str(sources["irr_host"])))
    assert again.changed_files == []  # same data, same bytes: nothing to review


def test_unknown_as_set_keeps_old_data_and_names_the_member(
        exchange: Path, sources: dict[str, object]) -> None:
    """An AS-SET the IRR does not know fails that member only; its old snapshot stays."""
    settings = source_settings(str(sources["peeringdb_url"]), str(sources["irr_host"]))
    refresh(exchange, settings=settings)
    before = (exchange / "snapshot" / "irr" / "AS3333.json").read_bytes()
    (exchange / "members" / "AS3333.yml").write_text(_member(3333, 33, "as_set: AS-MISSING\n"))
    with pytest.raises(RefreshFailed) as caught:
        refresh(exchange, settings=settings)
    assert list(caught.value.report.failed) == [3333]
    assert caught.value.exit_code == ExitCode.SOURCE_FAILED
    assert (exchange / "snapshot" / "irr" / "AS3333.json").read_bytes() == before
    assert caught.value.report.updated == [10745]


def test_prefix_list_that_would_become_empty_is_refused(
        exchange: Path, make_irr_server: MakeIrrServer,
        sources: dict[str, object]) -> None:
    """If the IRR suddenly has no IPv6 routes for a member that had some, keep the old list."""
    refresh(exchange, settings=source_settings(str(sources["peeringdb_url"]),
                                               str(sources["irr_host"])))
    no_v6 = make_irr_server(RPSL.replace("route6: 2001:67c:2e8::/48", "remarks: gone"))
    with pytest.raises(RefreshFailed) as caught:
        refresh(exchange, settings=source_settings(str(sources["peeringdb_url"]), no_v6.host))
    assert "no IPv6 prefixes (had 1)" in caught.value.report.failed[3333]
    assert _read(exchange, "irr", 3333)["ipv6"] == ["2001:67c:2e8::/48"]


def test_peeringdb_failure_still_refreshes_irr(exchange: Path,
                                               sources: dict[str, object]) -> None:
    """A broken PeeringDB answer is reported; IRR data is refreshed from the last known sets."""
    peeringdb = sources["peeringdb"]
    peeringdb.set_mode("malformed")  # type: ignore[attr-defined]
    with pytest.raises(RefreshFailed) as caught:
        refresh(exchange, settings=source_settings(str(sources["peeringdb_url"]),
                                                   str(sources["irr_host"])))
    assert caught.value.report.peeringdb_error
    assert sorted(caught.value.report.updated) == [3333, 10745]
    assert not (exchange / "snapshot" / "peeringdb").exists()


def test_malformed_peeringdb_as_set_is_never_passed_to_bgpq4(
        exchange: Path, make_peeringdb_server: MakePeeringDbServer,
        sources: dict[str, object]) -> None:
    """A hostile irr_as_set is reported and the member is filtered on its own ASN."""
    hostile = make_peeringdb_server(records=[_net(3333, "-h evil.example AS-GOOD"),
                                             _net(10745, "")])
    report = refresh(exchange, settings=source_settings(hostile.url, str(sources["irr_host"])))
    assert "ignored" in report.warnings[3333]
    assert _read(exchange, "irr", 3333)["objects"] == ["AS3333"]
    queries = " ".join(sources["irr"].queries)  # type: ignore[attr-defined]
    assert "evil" not in queries


def test_cli_refresh_reports_failures_with_exit_code_4(exchange: Path,
                                                        sources: dict[str, object]) -> None:
    """The refresh command lists each failed member and exits with the source-failure code
    (a member with data from an earlier refresh; a new one would be pending, tests/
    test_pending.py)."""
    refresh(exchange, settings=source_settings(str(sources["peeringdb_url"]),
                                               str(sources["irr_host"])))
    (exchange / "members" / "AS3333.yml").write_text(_member(3333, 33, "as_set: AS-MISSING\n"))
    result = subprocess.run(
        [sys.executable, "-m", "rsgen", "refresh", "-C", str(exchange),
         "--irr-host", str(sources["irr_host"])],
        capture_output=True, text=True, check=False, timeout=120,
        env={"RSGEN_PEERINGDB_URL": str(sources["peeringdb_url"]), "PATH": "/usr/bin:/bin"})
    assert result.returncode == ExitCode.SOURCE_FAILED, result.stderr
    assert "error: AS3333: " in result.stderr
    assert "AS-MISSING" in result.stderr


SHRUNK_RPSL = RPSL.replace("route: 193.0.10.0/23", "remarks: gone").replace(
    "route: 193.0.10.0/24", "remarks: gone").replace("route: 193.0.11.0/24", "remarks: gone")


def test_shrinking_prefix_list_is_refused_until_accepted(
        exchange: Path, make_irr_server: MakeIrrServer, sources: dict[str, object]) -> None:
    """A prefix list losing more than half its prefixes keeps the old data and says how to
    accept the change; --accept-shrink for that member applies it with a warning."""
    peeringdb_url = str(sources["peeringdb_url"])
    refresh(exchange, settings=source_settings(peeringdb_url, str(sources["irr_host"])))
    before = _read(exchange, "irr", 3333)["ipv4"]
    shrunk = make_irr_server(SHRUNK_RPSL)
    with pytest.raises(RefreshFailed) as caught:
        refresh(exchange, settings=source_settings(peeringdb_url, shrunk.host))
    assert caught.value.report.shrunk == [3333]
    assert caught.value.exit_code == ExitCode.HELD_FOR_REVIEW  # not "retry later"
    assert "once the source is fixed" not in str(caught.value)
    assert "IPv4 prefix list would shrink by" in caught.value.report.failed[3333]
    assert "rsgen refresh --accept-shrink AS3333" in str(caught.value)
    assert _read(exchange, "irr", 3333)["ipv4"] == before

    report = refresh(exchange, settings=source_settings(peeringdb_url, shrunk.host),
                     accept_shrink={3333})
    assert "accepted by --accept-shrink" in report.warnings[3333]
    assert _read(exchange, "irr", 3333)["ipv4"] == ["185.193.200.0/22", "193.0.0.0/21"]


def test_max_shrink_setting_of_100_refuses_only_emptying(
        exchange: Path, make_irr_server: MakeIrrServer, sources: dict[str, object]) -> None:
    """irr.max_shrink_percent: 100 lets lists shrink freely but never to empty."""
    exchange_yml = exchange / "exchange.yml"
    exchange_yml.write_text(exchange_yml.read_text().replace(
        "parallel: 2}", "parallel: 2, max_shrink_percent: 100}"))
    peeringdb_url = str(sources["peeringdb_url"])
    refresh(exchange, settings=source_settings(peeringdb_url, str(sources["irr_host"])))
    report = refresh(exchange, settings=source_settings(peeringdb_url,
                                                        make_irr_server(SHRUNK_RPSL).host))
    assert 3333 in report.updated


def test_cli_rejects_a_malformed_accept_shrink_list(exchange: Path) -> None:
    """--accept-shrink takes ASNs; anything else is a usage error (exit 2)."""
    result = subprocess.run([sys.executable, "-m", "rsgen", "refresh", "-C", str(exchange),
                             "--accept-shrink", "AS-FOO"], capture_output=True, text=True,
                            check=False, timeout=60)
    assert result.returncode == ExitCode.USAGE
    assert "--accept-shrink" in result.stderr


def test_irr_hosts_in_order_of_preference(exchange: Path, make_irr_server: MakeIrrServer,
                                          sources: dict[str, object]) -> None:
    """irr.host as a list: a host that refuses connections passes every member to the next;
    the report says what the expansion cost. --irr-host would name one host alone."""
    down = make_irr_server(RPSL, mode="refuse")
    exchange_yml = exchange / "exchange.yml"
    exchange_yml.write_text(exchange_yml.read_text().replace(
        "irr: {", f"irr: {{host: ['{down.host}', '{sources['irr_host']}'], "))
    config = load_checked(exchange)
    assert config.exchange.irr.hosts == (down.host, str(sources["irr_host"]))
    report = refresh(exchange, settings=source_settings(str(sources["peeringdb_url"])))
    assert sorted(report.updated) == [3333, 10745] and report.failed == {}
    assert report.irr_cost is not None and "for 2 members" in report.irr_cost


@pytest.mark.parametrize("hosts", ["[]", "['whois.radb.net', 'whois.radb.net']",
                                   "['-h evil']"])
def test_bad_irr_host_lists_are_refused(exchange: Path, hosts: str) -> None:
    exchange_yml = exchange / "exchange.yml"
    exchange_yml.write_text(exchange_yml.read_text().replace("irr: {", f"irr: {{host: {hosts}, "))
    with pytest.raises(InvalidInput) as caught:
        load_checked(exchange)
    assert any("irr" in str(p) and "host" in str(p) for p in caught.value.problems), \
        caught.value.problems


@pytest.mark.parametrize(("failed", "shrunk", "peeringdb_error", "code"), [
    ({3333: "shrinks"}, [3333], None, ExitCode.HELD_FOR_REVIEW),
    ({3333: "shrinks", 10745: "no answer"}, [3333], None, ExitCode.SOURCE_FAILED),
    ({3333: "shrinks"}, [3333], "timed out", ExitCode.SOURCE_FAILED),
    ({10745: "no answer"}, [], None, ExitCode.SOURCE_FAILED),
])
def test_held_for_review_and_retry_later_exit_differently(
        failed: dict[int, str], shrunk: list[int], peeringdb_error: str | None,
        code: ExitCode) -> None:
    """Exit 11 only when everything that was not applied is held by the shrink guard: with
    a source down as well, retrying comes first (exit 4)."""
    error = RefreshFailed(RefreshReport(failed=failed, shrunk=shrunk,
                                        peeringdb_error=peeringdb_error))
    assert error.exit_code == code


def test_a_removed_members_snapshot_files_are_pruned(exchange: Path,
                                                    sources: dict[str, object]) -> None:
    """Deleting members/AS10745.yml and refreshing the exchange deletes its snapshot files and
    provenance entries; a refresh of some members only never prunes."""
    settings = source_settings(str(sources["peeringdb_url"]), str(sources["irr_host"]))
    refresh(exchange, settings=settings)
    (exchange / "members" / "AS10745.yml").unlink()
    report = refresh(exchange, only=[3333], settings=settings)
    assert report.pruned == [] and (exchange / "snapshot" / "irr" / "AS10745.json").exists()
    report = refresh(exchange, settings=settings)
    assert report.pruned == [10745]
    assert sorted(p.name for p in (exchange / "snapshot").rglob("AS*.json")) == [
        "AS3333.json", "AS3333.json"]
    manifest = (exchange / "snapshot" / "provenance.json").read_text()
    assert "AS10745" not in manifest and "AS3333" in manifest
    assert set(read_snapshot(exchange).irr) == {3333}
    assert refresh(exchange, settings=settings).pruned == []


def test_cli_refreshes_only_the_members_named(exchange: Path,
                                              sources: dict[str, object]) -> None:
    """--members: an onboarding pull request's refresh changes only that member's files."""
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rsgen", "refresh", "-C", str(exchange),
                               "--peeringdb-url", str(sources["peeringdb_url"]),
                               "--irr-host", str(sources["irr_host"]), *args],
                              capture_output=True, text=True, check=False, timeout=120)

    done = run("--members", "AS3333")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (exchange / "snapshot").rglob("AS*.json")) == [
        "AS3333.json", "AS3333.json"]
    assert not (exchange / "snapshot" / "never_via_route_servers.json").exists()
    for bad, message in (("AS64999", "no member file for AS64999"), ("AS-FOO", "not an AS")):
        refused = run("--members", bad)
        assert refused.returncode == ExitCode.USAGE and message in refused.stderr


def test_cli_refresh_in_a_log_prints_plain_progress_lines(exchange: Path,
                                                          sources: dict[str, object]) -> None:
    """Not on a terminal (a CI log), progress is plain lines on stderr, never silence and
    never a bar's control sequences."""
    done = subprocess.run([sys.executable, "-m", "rsgen", "refresh", "-C", str(exchange),
                           "--peeringdb-url", str(sources["peeringdb_url"]),
                           "--irr-host", str(sources["irr_host"])],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("IRR expansions")]
    assert [line.split(",")[0] for line in lines] == [
        "IRR expansions (bgpq4): 1/2 (50 %)", "IRR expansions (bgpq4): 2/2 (100 %)"]
    assert "\x1b" not in done.stderr
