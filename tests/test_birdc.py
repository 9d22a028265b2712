"""birdc parsers and the Birdc client (rsgen/verification/birdc.py).

The files in tests/fixtures/birdc/ are real output of BIRD 2.0.12 (Debian bird2), captured with
`birdc -s SOCK show route all table master4 table master6`, `... show route filtered all ...`
and `show protocols`. The BIRD behind them ran `timeformat protocol iso long` (as rsgen's configs
do) with static protocols whose import filters set BGP attributes (one with a 60-ASN path and
50 communities, to get BIRD's truncation and line wrapping; `import keep filtered on` plus a
filter that tags and rejects some routes), and BGP sessions on loopback, one of them fed by a
throwaway BGP speaker sending an AS_SET and an IPv6 global + link-local next hop, which static
routes cannot carry. The live tests run a real bird with a smaller config (_LIVE_CONFIG).
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rsgen.sources.proc import run
from rsgen.verification.birdc import (
    BgpRoute,
    Birdc,
    BirdcError,
    parse_as_path,
    parse_protocols,
    parse_routes,
)

FIXTURES = Path(__file__).parent / "fixtures" / "birdc"


def _read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def _by_net(routes: list[BgpRoute], net: str) -> list[BgpRoute]:
    return [route for route in routes if route.network == ipaddress.ip_network(net)]


def test_routes_of_both_tables_with_attributes() -> None:
    """Routes of master4 and master6 come back with their table, protocol and BGP attributes."""
    routes = parse_routes(_read("show_route_all.txt"))
    assert {route.table for route in routes} == {"master4", "master6"}
    member = _by_net(routes, "203.0.113.0/24")[0]
    assert member.protocol == "AS9541_192_0_2_41"
    assert member.table == "master4"
    assert member.as_path == (9541, 64500)
    assert member.next_hop == ("192.0.2.41",)
    assert member.communities == ((65000, 100), (0, 64501))
    assert member.large_communities == ((64500, 1, 2), (4200000000, 4294967295, 7))
    assert member.preferred and not member.filtered
    assert not member.as_path_has_set and not member.as_path_truncated


def test_second_route_for_a_prefix_is_not_preferred() -> None:
    """A prefix with several routes yields one entry each; only the best carries `preferred`."""
    routes = _by_net(parse_routes(_read("show_route_all.txt")), "198.51.100.0/24")
    assert [(route.protocol, route.preferred) for route in routes] == [
        ("AS9541_192_0_2_41", True), ("AS64500_127_0_0_2", False)]
    assert routes[1].next_hop == ("192.0.2.50",)  # its own attributes, not the first route's
    assert routes[1].as_path == (64500,)


def test_emptied_community_list_and_routes_without_bgp_attributes() -> None:
    """An emptied `BGP.large_community:` line and a plain static route give empty tuples."""
    routes = parse_routes(_read("show_route_all.txt"))
    emptied = _by_net(routes, "198.51.100.0/24")[0]
    assert emptied.large_communities == ()
    assert emptied.communities == ((65000, 100), (0, 64501))
    [igp] = _by_net(routes, "192.0.2.0/24")
    assert (igp.protocol, igp.as_path, igp.next_hop, igp.communities) == ("igp4", (), (), ())


def test_as_set_is_flagged_and_kept_in_order() -> None:
    """An AS_SET in the path sets as_path_has_set and keeps its members in printed order."""
    routes = parse_routes(_read("show_route_all.txt"))
    [with_set] = _by_net(routes, "198.18.0.0/15")
    assert with_set.as_path == (64500, 64501, 64503, 64502)
    assert with_set.as_path_has_set
    assert with_set.large_communities == ((64500, 0, 1), (65000, 1101, 2))


def test_ipv6_global_and_link_local_next_hop() -> None:
    """An IPv6 route keeps both next hops BIRD prints (global, then link-local)."""
    [route] = _by_net(parse_routes(_read("show_route_all.txt")), "2001:db8:1::/48")
    assert route.table == "master6"
    assert route.next_hop == ("2001:db8::2", "fe80::2")


def test_wrapped_communities_and_truncated_path() -> None:
    """Long community lists wrapped onto tab-tab lines are read whole; a cut path is flagged."""
    [route] = _by_net(parse_routes(_read("show_route_all.txt")), "10.0.0.0/8")
    assert route.communities == tuple((64496, n) for n in range(50))
    assert route.large_communities == tuple((64496, n, 4294967295) for n in range(20))
    assert route.as_path_truncated
    # BIRD printed 43 whole ASNs (from 4200000059 down) and then "42...": the stub is dropped.
    assert route.as_path == tuple(4200000000 + n for n in range(59, 16, -1))


def test_filtered_routes() -> None:
    """`show route filtered all` routes are marked filtered and keep the reject-reason tag."""
    routes = parse_routes(_read("show_route_filtered_all.txt"), filtered=True)
    assert [(str(route.network), route.table) for route in routes] == [
        ("203.0.113.0/25", "master4"), ("2001:db8:2::/48", "master6"),
        ("2001:db8:bad::/48", "master6")]
    assert all(route.filtered for route in routes)
    assert (65000, 1101, 13) in routes[0].large_communities


def test_parse_as_path_cases() -> None:
    """AS_SET, confederation segments, an empty path and truncation inside a set parse safely."""
    assert parse_as_path("") == ((), False, False)
    assert parse_as_path("64500 {64510}") == ((64500, 64510), True, False)
    assert parse_as_path("(65001 65002) 64500") == ((65001, 65002, 64500), True, False)
    assert parse_as_path("({65003}) 64500") == ((65003, 64500), True, False)
    assert parse_as_path("64500 {64501 645...") == ((64500, 64501), True, True)
    assert parse_as_path("64500 64501 ...") == ((64500, 64501), False, True)
    with pytest.raises(ValueError, match="AS path"):
        parse_as_path("64500 AS64501")


def test_non_ip_tables_are_skipped() -> None:
    """A ROA table in plain `show route all` output does not break parsing of IP tables."""
    text = ("BIRD 2.0.12 ready.\n"
            "Table master4:\n"
            "10.0.0.0/8           unreachable [static2 21:34:50.216] * (200)\n"
            "\tType: static univ\n"
            "\n"
            "Table r4:\n"
            "192.0.2.0/24-24 AS64500  [static1 21:34:50.216] * (200)\n"
            "\tType: static univ\n")
    [route] = parse_routes(text)
    assert (str(route.network), route.table, route.protocol) == ("10.0.0.0/8", "master4",
                                                                 "static2")


def test_unknown_route_line_is_an_error() -> None:
    """A first line in an unknown format raises instead of being silently dropped."""
    with pytest.raises(ValueError, match="line 2"):
        parse_routes("Table master4:\n10.0.0.0/8 something else entirely\n")


def test_protocols_with_iso_long_times() -> None:
    """`show protocols` rows parse with rsgen's iso-long times, long names and spaced info."""
    rows = {row.name: row for row in parse_protocols(_read("show_protocols.txt"))}
    assert len(rows) == 8
    session = rows["AS64500_127_0_0_2"]
    assert (session.proto, session.table, session.state) == ("BGP", "---", "up")
    assert session.since == "2026-11-24 21:36:07"
    assert session.info == "Established"
    assert session.established
    assert rows["AS64502_127_0_0_4"].info == "Active        Socket: Connection refused"
    assert not rows["AS64502_127_0_0_4"].established
    assert (rows["AS64501_127_0_0_3"].state, rows["AS64501_127_0_0_3"].info) == ("down", "")
    assert rows["AS64500_2001_db8__41"].table == "master6"
    assert not rows["device1"].established


def test_protocols_with_default_times() -> None:
    """Rows in BIRD's default time format (today: hh:mm:ss.mmm) parse too."""
    text = ("Name       Proto      Table      State  Since         Info\n"
            "device1    Device     ---        up     21:32:50.777  \n"
            "AS9541_192_0_2_41 BGP        ---        start  21:32:50.777  Passive       \n")
    rows = parse_protocols(text)
    assert [(row.name, row.since, row.info) for row in rows] == [
        ("device1", "21:32:50.777", ""), ("AS9541_192_0_2_41", "21:32:50.777", "Passive")]


def test_protocol_name_cannot_add_words() -> None:
    """A protocol name with spaces is refused before birdc runs (no extra command words)."""
    with pytest.raises(ValueError, match="symbol"):
        Birdc(Path("/nonexistent.ctl")).routes(protocol="x where net = 0.0.0.0/0")


# The live tests: a real bird in the foreground, in a temp dir, killed when the module ends.
_LIVE_CONFIG = """\
router id 192.0.2.1;
protocol device {}
filter member_v4 {
  bgp_path.prepend(64500);
  bgp_path.prepend(9541);
  bgp_next_hop = 192.0.2.41;
  bgp_large_community.add((64500, 1, 2));
  if net = 203.0.113.0/25 then {
    bgp_large_community.add((65000, 1101, 13));
    reject;
  }
  accept;
}
filter member_v6 {
  bgp_path.prepend(4200000001);
  bgp_next_hop = 2001:db8::41;
  accept;
}
protocol static AS9541_192_0_2_41 {
  ipv4 { import keep filtered on; import filter member_v4; };
  route 203.0.113.0/24 unreachable;
  route 203.0.113.0/25 unreachable;
}
protocol static AS64500_2001_db8__41 {
  ipv6 { import filter member_v6; };
  route 2001:db8:100::/48 unreachable;
}
"""


@pytest.fixture(scope="module")
def live_bird(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A running bird on _LIVE_CONFIG; yields its control socket."""
    directory = tmp_path_factory.mktemp("bird")
    config = directory / "bird.conf"
    config.write_text(_LIVE_CONFIG, encoding="utf-8")
    socket = directory / "bird.ctl"
    bird = shutil.which("bird")
    if bird is None:
        pytest.fail("bird is not installed: apt-get install bird2")
    with (directory / "bird.log").open("w") as log:
        process = subprocess.Popen([bird, "-f", "-c", str(config), "-s", str(socket)],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while not socket.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("bird did not start: " + (directory / "bird.log").read_text())
            time.sleep(0.02)
        yield socket
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.mark.live
def test_live_routes_and_protocols(live_bird: Path) -> None:
    """Birdc reads both tables, filtered routes, one protocol's routes and the protocol rows."""
    birdc = Birdc(live_bird, timeout=10)
    routes = birdc.routes()
    assert sorted((str(r.network), r.table) for r in routes) == [
        ("2001:db8:100::/48", "master6"), ("203.0.113.0/24", "master4")]
    [filtered] = birdc.routes(filtered=True)
    assert (str(filtered.network), filtered.filtered) == ("203.0.113.0/25", True)
    assert filtered.large_communities == ((64500, 1, 2), (65000, 1101, 13))
    [v6] = birdc.routes(protocol="AS64500_2001_db8__41")
    assert (v6.as_path, v6.next_hop) == ((4200000001,), ("2001:db8::41",))
    assert {row.name: row.state for row in birdc.protocols()} == {
        "device1": "up", "AS9541_192_0_2_41": "up", "AS64500_2001_db8__41": "up"}


@pytest.mark.live
def test_live_command_matches_plain_birdc(live_bird: Path) -> None:
    """command() gives exactly what plain birdc prints, minus the greeting, though it runs -v."""
    plain = run(["birdc", "-s", str(live_bird), "show", "route", "all"], timeout=10).stdout
    assert Birdc(live_bird).command("show", "route", "all") == plain.split("\n", 1)[1]


@pytest.mark.live
def test_live_unknown_protocol_is_a_clear_error(live_bird: Path) -> None:
    """A protocol BIRD does not know raises BirdcError with BIRD's code and a hint."""
    with pytest.raises(BirdcError, match="CF_SYM_UNDEFINED") as caught:
        Birdc(live_bird).routes(protocol="AS1_nosuch")
    assert caught.value.code == 9001
    assert "protocol" in str(caught.value.hint)


@pytest.mark.live
def test_live_runtime_error_code(live_bird: Path) -> None:
    """A runtime error reply (8xxx) raises rather than reading as an empty answer."""
    with pytest.raises(BirdcError, match="Network not found") as caught:
        Birdc(live_bird).command("show", "route", "for", "10.0.0.1")
    assert caught.value.code == 8001


@pytest.mark.live
def test_missing_socket_is_a_clear_error(tmp_path: Path) -> None:
    """No BIRD behind the socket path raises BirdcError naming the socket, not a parse error."""
    socket = tmp_path / "missing.ctl"
    with pytest.raises(BirdcError, match="Unable to connect") as caught:
        Birdc(socket, timeout=10).protocols()
    assert str(socket) in str(caught.value)
    assert caught.value.code is None
