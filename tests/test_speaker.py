"""The raw BGP speaker (rsgen/verification/speaker.py): byte-exact encodings, and, in a lab with
real BIRD, what BIRD 2 does with the UPDATEs only this speaker can send.

The lab tests need root (network namespaces), bird and bwrap, like tests/test_lab.py. Their
findings, for BIRD 2.0.12:

* IPv6 next hop G + link-local L (32 bytes), `next hop keep on` at the route server: the route
  server and the receiving peer both show `BGP.next_hop: G L`. `bgp_next_hop = G` and
  `bgp_next_hop ~ [ G ]` are true in an import filter (they see only G), `bgp_next_hop = L` is
  false. `bgp_next_hop = bgp_next_hop;` in the import filter leaves only G, at the route
  server and at the receiver.
* AS_SET anywhere in the path: `bgp_path.len <= N && bgp_path ~ [= ? ... ? =]` with N + 1
  question marks, where N bounds the path length (the route server's max_as_path_length).
  BIRD lets an AS_SET match one or more mask items (nest/a-path.c), while a path without one
  matches exactly `len` of them; `len` counts an AS_SET as 1. `bgp_path.last = 0` only flags
  a trailing AS_SET; `bgp_path.last != bgp_path.last_nonaggregated` flags both test paths but
  misses `64500 {64501} 64500` (the last ASN equals the one before the set) and `{64501 64502}`.
* `bgp_path ~ [ 64501 ]`, `bgp_path ~ [ 64512..65534 ]` and `[= * 64501 * =]` match ASNs inside
  an AS_SET; `[= 64500 64501 64502 =]` even matches `64500 {64501 64502}`.
* `show route all` prints an AS_SET as `BGP.as_path: 64500 {64501 64502}` and, since BIRD has no
  origin AS for it, the route line ends in `[i]`, not `[AS...i]`: rsgen's parser reads both.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from rsgen.verification import speaker as S
from rsgen.verification.birdc import BgpRoute, Birdc
from rsgen.verification.lab import HostSpec, Lab, confinement, pids_in
from tests.helpers import REPO, eventually, python_for_nobody

T = TypeVar("T")

G4 = ipaddress.IPv4Address("192.0.2.16")
G6 = ipaddress.IPv6Address("2001:db8:ffff::10")
LINK_LOCAL = ipaddress.IPv6Address("fe80::beef:1")  # not any host's: "another router"
NOBODY = 65534


def _seq(*asns: int) -> S.Segment:
    return S.Segment("sequence", asns)


def _set(*asns: int) -> S.Segment:
    return S.Segment("set", asns)


# -- encodings ----------------------------------------------------------------------------------

def _hex(text: str) -> bytes:
    """Bytes from hex written in commented groups: anything after '#' on a line is ignored."""
    return bytes.fromhex("".join(line.split("#")[0] for line in text.splitlines()))


def test_open_is_byte_exact() -> None:
    expected = _hex("""
        ffffffffffffffffffffffffffffffff 002b 01  # marker, length 43, OPEN
        04 fbf4 005a c000020a                     # version 4, AS 64500, hold 90, 192.0.2.10
        0e 02 0c                                  # 14 bytes of parameters: capabilities, 12
        01 04 0001 00 01                          # multiprotocol IPv4 unicast
        41 04 0000fbf4                            # 4-octet ASN 64500
    """)
    assert S.encode_open(64500, ipaddress.IPv4Address("192.0.2.10"), ["ipv4"]) == expected


def test_open_with_a_four_byte_asn_carries_as_trans_and_both_families() -> None:
    message = S.encode_open(4200000000, ipaddress.IPv4Address("192.0.2.10"), ["ipv6", "ipv4"])
    body = message[19:]
    assert body[1:3] == (23456).to_bytes(2, "big")
    assert body[10:] == _hex("02 12  01 04 0001 00 01  01 04 0002 00 01  41 04 fa56ea00")
    peer = S.parse_open(body)
    assert (peer.asn, peer.four_octet_asn, peer.families) == (
        4200000000, True, frozenset({"ipv4", "ipv6"}))
    assert peer.hold_time == 90 and str(peer.router_id) == "192.0.2.10"


def test_ipv4_update_is_byte_exact() -> None:
    route = S.Route(prefix=ipaddress.IPv4Network("203.0.113.0/24"),
                    as_path=(_seq(64500, 64501),), next_hop=ipaddress.IPv4Address("192.0.2.10"),
                    communities=((64500, 1),), large_communities=((64500, 1, 2),))
    expected = _hex("""
        ffffffffffffffffffffffffffffffff 0049 02  # length 73, UPDATE
        0000 002e                                 # no withdrawn routes, 46 bytes of attributes
        40 01 01 00                               # ORIGIN IGP
        40 02 0a 02 02 0000fbf4 0000fbf5          # AS_PATH: AS_SEQUENCE 64500 64501
        40 03 04 c000020a                         # NEXT_HOP 192.0.2.10
        c0 08 04 fbf4 0001                        # COMMUNITIES (64500,1)
        c0 20 0c 0000fbf4 00000001 00000002       # LARGE_COMMUNITY (64500, 1, 2)
        18 cb0071                                 # NLRI 203.0.113.0/24
    """)
    assert S.encode_update(route) == expected


def test_ipv6_update_with_link_local_next_hop_and_as_set_is_byte_exact() -> None:
    route = S.Route(prefix=ipaddress.IPv6Network("2001:db8:1::/48"),
                    as_path=(_seq(64500), _set(64501, 64502)), next_hop=G6,
                    link_local=ipaddress.IPv6Address("fe80::1234"))
    expected = _hex("""
        ffffffffffffffffffffffffffffffff 005d 02  # length 93, UPDATE
        0000 0046                                 # no withdrawn routes, 70 bytes of attributes
        40 01 01 00                               # ORIGIN IGP
        40 02 10 02 01 0000fbf4                   # AS_PATH: AS_SEQUENCE 64500,
                 01 02 0000fbf5 0000fbf6          #   AS_SET {64501 64502}
        80 0e 2c 0002 01 20                       # MP_REACH_NLRI: IPv6 unicast, next hop 32 bytes
        20010db8ffff00000000000000000010          #   global 2001:db8:ffff::10
        fe800000000000000000000000001234          #   link-local fe80::1234
        00 30 20010db80001                        #   reserved, NLRI 2001:db8:1::/48
    """)
    assert S.encode_update(route) == expected


def test_withdrawals() -> None:
    assert S.encode_withdraw(ipaddress.IPv4Network("203.0.113.0/24")) == _hex(
        "ffffffffffffffffffffffffffffffff 001b 02  0004 18cb0071  0000")
    assert S.encode_withdraw(ipaddress.IPv6Network("2001:db8:1::/48")) == _hex(
        "ffffffffffffffffffffffffffffffff 0024 02  0000 000d"
        "  80 0f 0a 0002 01 30 20010db80001")


def test_keepalive_and_notification() -> None:
    assert S.encode_keepalive() == b"\xff" * 16 + b"\x00\x13\x04"
    assert S.encode_notification(6, 2) == b"\xff" * 16 + b"\x00\x15\x03\x06\x02"


def test_long_paths_use_extended_length_and_split_sequences() -> None:
    route = S.Route(prefix=ipaddress.IPv4Network("203.0.113.0/24"),
                    as_path=(_seq(*([64500] * 300)),), next_hop=ipaddress.IPv4Address(G4))
    body = S.encode_update(route)[19:]
    as_path = body[4 + 4:]
    assert as_path[:4] == _hex("50 02 04b4")  # extended length: 2 segments, 1204 bytes
    assert as_path[4:6] == _hex("02 ff") and as_path[4 + 2 + 255 * 4:][:2] == _hex("02 2d")


def test_split_messages_checks_lengths_and_keeps_a_partial_message() -> None:
    two = S.encode_keepalive() + S.encode_notification(6, 2, b"x")
    messages, rest = S.split_messages(two + two[:10])
    assert messages == [S.Message(S.KEEPALIVE, b""), S.Message(S.NOTIFICATION, b"\x06\x02x")]
    assert rest == two[:10]
    assert str(S.parse_notification(messages[1].body)) == "code 6 subcode 2 data 78"
    with pytest.raises(S.BgpError, match="length 18") as bad:
        S.split_messages(b"\xff" * 16 + b"\x00\x12\x04")
    assert (bad.value.code, bad.value.subcode) == (1, 2)
    with pytest.raises(S.BgpError, match="marker"):
        S.split_messages(b"\x00" * 19)
    with pytest.raises(S.BgpError, match="KEEPALIVE of length 20"):
        S.split_messages(b"\xff" * 16 + b"\x00\x14\x04\x00")
    with pytest.raises(S.BgpError, match="message length 5000"):
        S.split_messages(b"\xff" * 16 + b"\x13\x88\x02")
    with pytest.raises(S.BgpError, match="type 9"):
        S.split_messages(b"\xff" * 16 + b"\x00\x13\x09")


def test_a_cut_short_open_is_an_error() -> None:
    body = S.encode_open(64500, ipaddress.IPv4Address("192.0.2.10"), ["ipv4"])[19:]
    with pytest.raises(S.BgpError, match="length does not match"):
        S.parse_open(body[:-1])
    with pytest.raises(S.BgpError, match="hold time 2"):
        S.negotiated_hold_time(90, 2)
    assert S.negotiated_hold_time(90, 30) == 30


def test_config_routes_per_family_and_as_path_notations() -> None:
    config = S.parse_config({
        "local_asn": 64500, "router_id": "192.0.2.16",
        "sessions": [{"local": "192.0.2.16", "remote": "192.0.2.1", "remote_asn": 64510},
                     {"local": "2001:db8:ffff::10", "remote": "2001:db8:ffff::1",
                      "remote_asn": 64510}],
        "routes": [{"prefix": "203.0.113.0/24", "as_path": "64500 {64501 64502} 64503"},
                   {"prefix": "2001:db8:1::/48", "as_path": [64500, {"set": [64501]}],
                    "link_local": "fe80::beef:1", "large_communities": [[64500, 1, 2]]}]})
    v4, v6 = config.sessions
    assert [str(r.prefix) for r in v4.routes] == ["203.0.113.0/24"]
    assert v4.routes[0].as_path == (_seq(64500), _set(64501, 64502), _seq(64503))
    assert v4.routes[0].next_hop == G4
    (route,) = v6.routes
    assert (route.next_hop, route.link_local) == (G6, LINK_LOCAL)
    assert route.as_path == (_seq(64500), _set(64501))
    assert route.large_communities == ((64500, 1, 2),)


@pytest.mark.parametrize(("change", "message"), [
    ({"password": "secret"}, "TCP MD5 passwords are not supported"),
    ({"remote": "2001:db8:ffff::1"}, "different families"),
    ({"name": 7}, "name: a non-empty string"),
    ({"routes": [{"prefix": "203.0.113.0/24", "as_path": "64500 {64501"}]}, "'{' without '}'"),
    ({"routes": [{"prefix": "203.0.113.0/24", "colour": "red"}]}, "unknown keys"),
])
def test_unusable_configs_are_refused(change: dict[str, Any], message: str) -> None:
    session = {"local": "192.0.2.16", "remote": "192.0.2.1", "remote_asn": 64510, **change}
    with pytest.raises(S.ConfigError, match=message):
        S.parse_config({"local_asn": 64500, "router_id": "192.0.2.16", "sessions": [session]})


def test_the_entry_point_refuses_a_password_with_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "speaker.json"
    config.write_text(json.dumps({"local_asn": 64500, "router_id": "192.0.2.16", "sessions": [
        {"local": "192.0.2.16", "remote": "192.0.2.1", "remote_asn": 64510,
         "password": "secret"}]}))
    done = subprocess.run([sys.executable, "-m", "rsgen.verification.speaker", str(config)],
                          cwd=REPO, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert "sessions[0]: TCP MD5 passwords are not supported" in done.stderr
    assert "secret" not in done.stderr


def test_a_session_negotiates_the_hold_time_and_keeps_the_session_alive(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Against a fake peer on loopback offering hold time 3: OPEN, KEEPALIVE, the route, then
    keepalives (every third of the negotiated hold time) while the peer answers each one."""
    listener = socket.create_server(("127.0.0.1", 0))
    monkeypatch.setattr(S, "BGP_PORT", listener.getsockname()[1])
    config = S.parse_config({
        "local_asn": 64500, "router_id": "192.0.2.16",
        "sessions": [{"local": "127.0.0.1", "remote": "127.0.0.1", "remote_asn": 64510}],
        "routes": [{"prefix": "203.0.113.0/24", "as_path": "64500 {64501}"}]})
    session = S.Session(64500, ipaddress.IPv4Address("192.0.2.16"), config.sessions[0])
    session.start()
    received: list[S.Message] = []
    try:
        listener.settimeout(30)
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(30)
            conn.sendall(S.encode_open(64510, ipaddress.IPv4Address("192.0.2.1"), ["ipv4"],
                                       hold_time=3) + S.encode_keepalive())
            buffer = b""
            while [m.type for m in received[2:]].count(S.KEEPALIVE) < 2:
                data = conn.recv(4096)
                assert data, f"the speaker closed the session after {received}"
                messages, buffer = S.split_messages(buffer + data)
                received += messages
                conn.sendall(S.encode_keepalive() * sum(m.type == S.KEEPALIVE
                                                        for m in messages))
    finally:
        session.stop()
        listener.close()
    assert [m.type for m in received[:3]] == [S.OPEN, S.KEEPALIVE, S.UPDATE]
    assert S.parse_open(received[0].body).asn == 64500
    assert received[2] == S.Message(S.UPDATE, S.encode_update(config.sessions[0].routes[0])[19:])


# -- received UPDATEs ---------------------------------------------------------------------------

def _body(withdrawn: str = "", attributes: str = "", nlri: str = "") -> bytes:
    """An UPDATE body from hex parts, with the two length fields computed."""
    w, a, n = _hex(withdrawn), _hex(attributes), _hex(nlri)
    return len(w).to_bytes(2, "big") + w + len(a).to_bytes(2, "big") + a + n


ORIGIN, PATH, NEXT_HOP = "40 01 01 00", "40 02 06 02 01 0000fbf4", "40 03 04 c0000210"


def test_an_ipv4_update_parses_byte_exact() -> None:
    body = _hex("""
        0004 18 c63364                            # withdrawn 198.51.100.0/24
        0045                                      # 69 bytes of attributes
        40 01 01 02                               # ORIGIN INCOMPLETE
        50 02 0010 02 02 fa56ea01 0000fbf4        # AS_PATH, extended length: 4200000001 64500
                   01 01 0000fbf5                 #   AS_SET {64501}
        40 03 04 c0000210                         # NEXT_HOP 192.0.2.16
        80 04 04 00000064                         # MULTI_EXIT_DISC 100: skipped
        c0 08 08 ffffff01 fbf40001                # COMMUNITIES (65535,65281) (64500,1)
        c0 20 0c 0000fbf4 0000fff0 0000000c       # LARGE_COMMUNITY (64500, 65520, 12)
        e0 63 02 abcd                             # unknown optional transitive partial: skipped
        18 cb0071  00  19 cb0071ff                # 203.0.113.0/24, 0.0.0.0/0, 203.0.113.128/25
    """)                                          # (bits past a prefix's length are ignored)
    update = S.parse_update(body)
    assert update.withdrawn == (ipaddress.ip_network("198.51.100.0/24"),)
    assert [str(r.prefix) for r in update.announced] == [
        "203.0.113.0/24", "0.0.0.0/0", "203.0.113.128/25"]
    for route in update.announced:
        assert route.as_path == (_seq(4200000001, 64500), _set(64501))
        assert route.next_hops == ("192.0.2.16",)
        assert route.communities == ((65535, 65281), (64500, 1))
        assert route.large_communities == ((64500, 65520, 12),)


def test_an_ipv6_update_parses_byte_exact() -> None:
    body = _hex("""
        0000 0047                                 # no IPv4 withdrawals, 71 bytes of attributes
        40 01 01 00                               # ORIGIN IGP
        40 02 0a 02 02 0000fbf4 0000fbf5          # AS_PATH 64500 64501
        80 0e 1d 0002 01 10                       # MP_REACH_NLRI: IPv6 unicast, 16-byte next hop
        20010db8ffff00000000000000000010          #   2001:db8:ffff::10
        00 30 20010db80001  00                    #   reserved, 2001:db8:1::/48, ::/0
        80 0f 13 0002 01 30 20010db80009          # MP_UNREACH_NLRI: 2001:db8:9::/48,
                 40 20010db8000a0000              #   2001:db8:a::/64
    """)
    update = S.parse_update(body)
    assert update.withdrawn == (ipaddress.ip_network("2001:db8:9::/48"),
                                ipaddress.ip_network("2001:db8:a::/64"))
    assert update.announced == (
        S.ReceivedRoute(ipaddress.ip_network("2001:db8:1::/48"), (_seq(64500, 64501),),
                        ("2001:db8:ffff::10",)),
        S.ReceivedRoute(ipaddress.ip_network("::/0"), (_seq(64500, 64501),),
                        ("2001:db8:ffff::10",)))


def _as_received(route: S.Route) -> S.ReceivedRoute:
    next_hops = (str(route.next_hop),) + ((str(route.link_local),) if route.link_local else ())
    return S.ReceivedRoute(route.prefix, route.as_path, next_hops, route.communities,
                           route.large_communities)


@pytest.mark.parametrize("route", [
    S.Route(prefix=ipaddress.IPv4Network("203.0.113.0/24"), as_path=(_seq(64500, 64501),),
            next_hop=G4, communities=((64500, 1), (65535, 65281)),
            large_communities=((64500, 1, 2),)),
    S.Route(prefix=ipaddress.IPv6Network("2001:db8:1::/48"),
            as_path=(_seq(4200000000), _set(64501, 64502), _seq(64503)), next_hop=G6,
            link_local=LINK_LOCAL, large_communities=((4200000000, 0, 4294967295),)),
    S.Route(prefix=ipaddress.IPv6Network("2001:db8::/32"), as_path=(_set(64501),), next_hop=G6),
    S.Route(prefix=ipaddress.IPv4Network("10.0.0.0/8"), as_path=(), next_hop=G4),
    # Over 255 bytes of AS_PATH (extended length), split into segments that parse joins again.
    S.Route(prefix=ipaddress.IPv4Network("198.51.100.0/25"),
            as_path=(_seq(*range(64500, 64800)),), next_hop=G4,
            communities=tuple((64500, n) for n in range(100))),
], ids=["ipv4", "ipv6-link-local-set", "ipv6-set-only", "empty-path", "long"])
def test_encode_update_then_parse_gives_the_route_back(route: S.Route) -> None:
    (message,), rest = S.split_messages(S.encode_update(route))
    assert rest == b"" and message.type == S.UPDATE
    assert S.parse_update(message.body) == S.ReceivedUpdate((), (_as_received(route),))


def test_withdrawals_parse() -> None:
    for prefix in (ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("2001:db8::/32")):
        assert S.parse_update(S.encode_withdraw(prefix)[19:]) == S.ReceivedUpdate((prefix,), ())


def test_end_of_rib_markers_are_accepted_and_change_nothing() -> None:
    ipv4 = _hex("0000 0000")  # the empty UPDATE
    ipv6 = _hex("0000 0006  80 0f 03 0002 01")  # MP_UNREACH_NLRI without prefixes
    table = {ipaddress.ip_network("203.0.113.0/24"): S.ReceivedRoute(
        ipaddress.ip_network("203.0.113.0/24"), (_seq(64500),), ("192.0.2.16",))}
    for body in (ipv4, ipv6):
        update = S.parse_update(body)
        assert update == S.ReceivedUpdate((), ())
        assert not S.apply_update(table, update) and len(table) == 1


@pytest.mark.parametrize(("body", "subcode", "message"), [
    (_hex("0000 00"), 1, "UPDATE body of 3 bytes"),
    (_hex("0005 18cb0071 0000"), 1, "withdrawn routes length 5"),
    (_hex("0000 0005 40010100"), 1, "total path attribute length 5"),
    (_body(attributes="40 01"), 1, "header cut short"),
    (_body(attributes="50 02 00"), 1, "header cut short"),
    (_body(attributes="40 01 02 00"), 1, "attribute 1 of 2 bytes runs past"),
    (_body(attributes=f"{ORIGIN} {ORIGIN} {PATH} {NEXT_HOP}", nlri="18cb0071"), 1, "1 twice"),
    (_body(attributes=f"c0 01 01 00 {PATH} {NEXT_HOP}", nlri="18cb0071"), 4, "flags 0xc0"),
    (_body(attributes=f"{ORIGIN} {PATH} 40 08 04 fbf40001", nlri="18cb0071"), 4, "flags 0x40"),
    (_body(attributes=f"{ORIGIN} {NEXT_HOP}", nlri="18cb0071"), 3, "without path attribute 2"),
    (_body(attributes=f"{ORIGIN} {PATH}", nlri="18cb0071"), 3, "without path attribute 3"),
    (_body(attributes=f"40 01 02 0000 {PATH} {NEXT_HOP}", nlri="18cb0071"), 5, "ORIGIN of 2"),
    (_body(attributes=f"40 01 01 03 {PATH} {NEXT_HOP}", nlri="18cb0071"), 6, "ORIGIN 3"),
    (_body(attributes=f"{ORIGIN} {PATH} 40 03 05 c000021000", nlri="18cb0071"), 5,
     "NEXT_HOP of 5"),
    (_body(attributes=f"{ORIGIN} {PATH} {NEXT_HOP} c0 08 06 fbf40001 0000", nlri="18cb0071"),
     5, "COMMUNITIES of 6"),
    (_body(attributes=f"{ORIGIN} {PATH} {NEXT_HOP} c0 20 08 0000fbf4 00000001",
           nlri="18cb0071"), 5, "LARGE_COMMUNITY of 8"),
    (_body(attributes=f"{ORIGIN} 40 02 02 0200 {NEXT_HOP}", nlri="18cb0071"), 11,
     "segment of 0 ASNs"),
    (_body(attributes=f"{ORIGIN} 40 02 06 03 01 0000fbf4 {NEXT_HOP}", nlri="18cb0071"), 11,
     "segment type 3"),
    (_body(attributes=f"{ORIGIN} 40 02 06 02 02 0000fbf4 {NEXT_HOP}", nlri="18cb0071"), 11,
     "segment of 2 ASNs in 4 bytes"),
    (_body(attributes=f"{ORIGIN} 40 02 07 02 01 0000fbf4 02 {NEXT_HOP}", nlri="18cb0071"), 11,
     "segment header cut short"),
    (_body(attributes=f"{ORIGIN} {PATH} {NEXT_HOP}", nlri="21 cb007100 00"), 10,
     "IPv4 prefix length 33"),
    (_body(attributes=f"{ORIGIN} {PATH} {NEXT_HOP}", nlri="18 cb00"), 10, "cut short"),
    (_body(withdrawn="18 cb00"), 10, "cut short"),
    (_body(attributes=f"{ORIGIN} {PATH} 80 0e 04 000201 10"), 9, "MP_REACH_NLRI of 4 bytes"),
    (_body(attributes=f"{ORIGIN} {PATH} 80 0e 06 000201 10 0000"), 9, "MP_REACH_NLRI of 6"),
    (_body(attributes=f"{ORIGIN} {PATH} 80 0e 05 0003 01 00 00"), 9, "AFI 3 SAFI 1"),
    (_body(attributes=f"{ORIGIN} {PATH} 80 0e 08 000201 02 0000 00 00"), 9,
     "ipv6 next hop of 2 bytes"),
    (_body(attributes=f"{ORIGIN} {PATH} 80 0e 17 000201 10 {'00' * 16} 00 81 {'00' * 1}"), 9,
     "IPv6 prefix length 129"),
    (_body(attributes="80 0f 02 0002"), 9, "MP_UNREACH_NLRI of 2 bytes"),
    (_body(attributes="80 0f 04 000201 30"), 9, "IPv6 prefix of length 48 cut short"),
], ids=lambda value: "update" if isinstance(value, bytes) else str(value))
def test_a_malformed_update_is_an_update_message_error(body: bytes, subcode: int,
                                                       message: str) -> None:
    with pytest.raises(S.BgpError, match=message) as error:
        S.parse_update(body)
    assert (error.value.code, error.value.subcode) == (3, subcode)


def test_attribute_errors_carry_the_attribute_as_notification_data() -> None:
    with pytest.raises(S.BgpError) as error:
        S.parse_update(_body(attributes=f"40 01 01 07 {PATH} {NEXT_HOP}", nlri="18cb0071"))
    assert error.value.data == _hex("40 01 01 07")
    with pytest.raises(S.BgpError) as error:
        S.parse_update(_body(attributes=f"{ORIGIN} {NEXT_HOP}", nlri="18cb0071"))
    assert error.value.data == b"\x02"  # the missing attribute's type code


# -- the table of received routes and its file ----------------------------------------------------

def _received_route(prefix: str, path: str = "64500", *hops: str,
                    **rest: Any) -> S.ReceivedRoute:
    network = ipaddress.ip_network(prefix)
    return S.ReceivedRoute(network, S.parse_as_path(path),
                           hops or ("192.0.2.16" if network.version == 4 else str(G6),), **rest)


def test_the_table_follows_announcements_and_withdrawals() -> None:
    table: dict[S.IpNetwork, S.ReceivedRoute] = {}
    a, b = _received_route("203.0.113.0/24"), _received_route("2001:db8::/32")
    assert S.apply_update(table, S.ReceivedUpdate((), (a, b)))
    assert table == {a.prefix: a, b.prefix: b}
    assert not S.apply_update(table, S.ReceivedUpdate((), (a,)))  # the same again
    changed = _received_route("203.0.113.0/24", "64500 64501")
    assert S.apply_update(table, S.ReceivedUpdate((), (changed,)))
    assert table[a.prefix] == changed
    assert S.apply_update(table, S.ReceivedUpdate((b.prefix,), ()))
    assert not S.apply_update(table, S.ReceivedUpdate((b.prefix,), ()))  # not there any more
    # Withdrawn and announced in one UPDATE: announced (RFC 4271 4.3).
    assert S.apply_update(table, S.ReceivedUpdate((b.prefix,), (b,)))
    assert table == {a.prefix: changed, b.prefix: b}


def test_the_received_json_format() -> None:
    routes = [
        _received_route("2001:db8::/32", "64500 {64501 64502}", str(G6), "fe80::1",
                        large_communities=((64500, 65520, 12),)),
        _received_route("203.0.113.0/25", "64500"),
        _received_route("203.0.113.0/24", "64500 64501", communities=((65535, 65281),)),
        _received_route("10.0.0.0/8", "{64501} 64502 4200000000"),
        _received_route("9.0.0.0/8"),
    ]
    text = S.received_json({"z": {}, "rs1 v4": {r.prefix: r for r in routes}})
    assert text == json.dumps({"sessions": {
        "rs1 v4": [
            {"prefix": "9.0.0.0/8", "as_path": "64500", "as_path_asns": [64500],
             "as_path_has_set": False, "next_hops": ["192.0.2.16"], "communities": [],
             "large_communities": []},
            {"prefix": "10.0.0.0/8", "as_path": "{64501} 64502 4200000000",
             "as_path_asns": [64501, 64502, 4200000000], "as_path_has_set": True,
             "next_hops": ["192.0.2.16"], "communities": [], "large_communities": []},
            {"prefix": "203.0.113.0/24", "as_path": "64500 64501", "as_path_asns": [64500, 64501],
             "as_path_has_set": False, "next_hops": ["192.0.2.16"],
             "communities": [[65535, 65281]], "large_communities": []},
            {"prefix": "203.0.113.0/25", "as_path": "64500", "as_path_asns": [64500],
             "as_path_has_set": False, "next_hops": ["192.0.2.16"], "communities": [],
             "large_communities": []},
            {"prefix": "2001:db8::/32", "as_path": "64500 {64501 64502}",
             "as_path_asns": [64500, 64501, 64502], "as_path_has_set": True,
             "next_hops": ["2001:db8:ffff::10", "fe80::1"], "communities": [],
             "large_communities": [[64500, 65520, 12]]}],
        "z": []}}, indent=1) + "\n"


def test_the_received_file_is_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "received.json"
    route = _received_route("203.0.113.0/24")
    S.write_received(path, {"a": {route.prefix: route}})
    S.write_received(path, {"a": {}, "b": {}})
    assert json.loads(path.read_text()) == {"sessions": {"a": [], "b": []}}
    assert [p.name for p in tmp_path.iterdir()] == ["received.json"]  # no temporary file left
    assert path.stat().st_mode & 0o777 == 0o644
    with pytest.raises(OSError):
        S.write_received(tmp_path / "missing" / "received.json", {})


def test_session_names_and_the_received_file_in_the_config() -> None:
    config = S.parse_config({
        "local_asn": 64500, "router_id": "192.0.2.16", "received_file": "/lab/received.json",
        "sessions": [{"name": " rs1 (v4) ", "local": "192.0.2.16", "remote": "192.0.2.1",
                      "remote_asn": 64510},
                     {"local": "192.0.2.16", "remote": "192.0.2.2", "remote_asn": 64510}]})
    assert config.received_file == Path("/lab/received.json")
    assert [s.received_name for s in config.sessions] == [" rs1 (v4) ", "192.0.2.16->192.0.2.2"]
    assert config.sessions[0].name == "192.0.2.16->192.0.2.1"  # the log keeps the addresses
    with pytest.raises(S.ConfigError, match=r"the name '192\.0\.2\.16->192\.0\.2\.2' twice"):
        S.parse_config({"local_asn": 64500, "router_id": "192.0.2.16", "sessions": [
            {"name": "192.0.2.16->192.0.2.2", "local": "192.0.2.16", "remote": "192.0.2.1",
             "remote_asn": 64510},
            {"local": "192.0.2.16", "remote": "192.0.2.2", "remote_asn": 64510}]})
    with pytest.raises(S.ConfigError, match="received_file: a path"):
        S.parse_config({"local_asn": 64500, "router_id": "192.0.2.16", "received_file": 1,
                        "sessions": []})


def test_the_speaker_writes_what_a_peer_sends_and_forgets_it_when_the_session_drops(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Against a fake peer on loopback: the received_file starts empty, shows the routes the
    peer announces, loses a withdrawn one, and empties when the peer closes the session."""
    listener = socket.create_server(("127.0.0.1", 0))
    monkeypatch.setattr(S, "BGP_PORT", listener.getsockname()[1])
    received = tmp_path / "received.json"
    config = tmp_path / "speaker.json"
    config.write_text(json.dumps({
        "local_asn": 64500, "router_id": "192.0.2.16", "received_file": str(received),
        "sessions": [{"name": "rs", "local": "127.0.0.1", "remote": "127.0.0.1",
                      "remote_asn": 64510}], "routes": []}))
    speaker = S.Speaker(config)
    speaker.start()

    def routes_when(condition: Callable[[list[dict[str, Any]]], bool],
                    ) -> Callable[[], list[dict[str, Any]] | None]:
        def probe() -> list[dict[str, Any]] | None:
            routes: list[dict[str, Any]] = json.loads(received.read_text())["sessions"]["rs"]
            return routes if condition(routes) else None
        return probe

    try:
        assert json.loads(received.read_text()) == {"sessions": {"rs": []}}
        listener.settimeout(30)
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(30)
            conn.sendall(S.encode_open(64510, ipaddress.IPv4Address("192.0.2.1"), ["ipv4"])
                         + S.encode_keepalive())
            messages: list[S.Message] = []
            buffer = b""
            while S.KEEPALIVE not in [m.type for m in messages]:  # the speaker's answer
                data = conn.recv(4096)
                assert data, "the speaker closed the session"
                new, buffer = S.split_messages(buffer + data)
                messages += new
            one = S.Route(prefix=ipaddress.IPv4Network("203.0.113.0/24"),
                          as_path=(_seq(64505), _set(64506, 64507)),
                          next_hop=ipaddress.IPv4Address("192.0.2.32"),
                          communities=((64505, 7),), large_communities=((64505, 1, 2),))
            two = S.Route(prefix=ipaddress.IPv4Network("198.51.100.0/24"),
                          as_path=(_seq(64505),), next_hop=ipaddress.IPv4Address("192.0.2.32"))
            conn.sendall(S.encode_update(one) + S.encode_update(two)
                         + S.encode_message(S.UPDATE, _hex("0000 0000")))  # End-of-RIB
            routes = _eventually(routes_when(lambda r: len(r) == 2), "both routes", 30)
            assert routes == [
                {"prefix": "198.51.100.0/24", "as_path": "64505", "as_path_asns": [64505],
                 "as_path_has_set": False, "next_hops": ["192.0.2.32"], "communities": [],
                 "large_communities": []},
                {"prefix": "203.0.113.0/24", "as_path": "64505 {64506 64507}",
                 "as_path_asns": [64505, 64506, 64507], "as_path_has_set": True,
                 "next_hops": ["192.0.2.32"], "communities": [[64505, 7]],
                 "large_communities": [[64505, 1, 2]]}]
            conn.sendall(S.encode_withdraw(two.prefix))
            _eventually(routes_when(lambda r: [e["prefix"] for e in r] == ["203.0.113.0/24"]),
                        "the withdrawal", 30)
        # The peer closed the connection: the session is down, its routes are gone.
        _eventually(routes_when(lambda r: r == []), "the routes dropped with the session", 30)
    finally:
        speaker.stop()
        listener.close()


# -- the lab ----------------------------------------------------------------------------------

# The test paths of (b), each on its own IPv4 prefix.
AS_SET_LAST, AS_SET_MIDDLE, NORMAL = "64500 {64501 64502}", "64500 {64501} 64503", "64500 64501"
SAME_ENDS, SET_ONLY, PRIVATE_IN_SET = "64500 {64501} 64500", "{64501 64502}", "64500 {65001}"
PATHS = {
    "198.51.100.0/27": AS_SET_LAST, "198.51.100.32/27": AS_SET_MIDDLE,
    "198.51.100.64/27": NORMAL, "198.51.100.96/27": SAME_ENDS,
    "198.51.100.128/27": SET_ONLY, "198.51.100.160/27": PRIVATE_IN_SET,
}
WITH_SET = {prefix for prefix, path in PATHS.items() if "{" in path}
# (a): the same G + L next hop on two prefixes; the route server rewrites bgp_next_hop on KEEP_NH.
KEEP_NH, REWRITE_NH, PLAIN_NH = "2001:db8:1::/48", "2001:db8:2::/48", "2001:db8:3::/48"

MAX_PATH = 32
HAS_AS_SET = f"bgp_path.len <= {MAX_PATH} && bgp_path ~ [= {' '.join(['?'] * (MAX_PATH + 1))} =]"

# Tags (64510, 2, n) / (64510, 3, n): which filter expressions were true for the route.
CANDIDATES = {
    1: "bgp_path.last = 0",
    2: "bgp_path.last != bgp_path.last_nonaggregated",
    3: HAS_AS_SET,
    11: "bgp_path ~ [ 64501 ]",
    12: "bgp_path ~ [ 64512..65534 ]",
    13: "bgp_path ~ [= * 64501 * =]",
    14: "bgp_path ~ [= 64500 64501 64502 =]",
}

RS_CONF = f"""
router id 192.0.2.1;
log stderr all;
protocol device {{}}

filter member_in {{
    if bgp_next_hop = {G6} then bgp_large_community.add((64510, 1, 1));
    if bgp_next_hop ~ [ {G6} ] then bgp_large_community.add((64510, 1, 2));
    if bgp_next_hop = {LINK_LOCAL} then bgp_large_community.add((64510, 1, 3));
    if net = {REWRITE_NH} then bgp_next_hop = bgp_next_hop;
{"".join(f"    if {expr} then bgp_large_community.add((64510, {2 if n < 10 else 3}, {n}));{chr(10)}"
         for n, expr in CANDIDATES.items())}
    bgp_large_community.add((64510, 4, bgp_path.len));
    accept;
}}

template bgp member_t {{
    local as 64510;
    rs client;
    interpret communities off;
}}
protocol bgp m4 from member_t {{
    local 192.0.2.1; neighbor {G4} as 64500;
    ipv4 {{ import filter member_in; export none; next hop keep on; import keep filtered on; }};
}}
protocol bgp m6 from member_t {{
    local 2001:db8:ffff::1; neighbor {G6} as 64500;
    ipv6 {{ import filter member_in; export none; next hop keep on; import keep filtered on; }};
}}
protocol bgp r4 from member_t {{
    local 192.0.2.1; neighbor 192.0.2.32 as 64505;
    ipv4 {{ import none; export all; next hop keep on; }};
}}
protocol bgp r6 from member_t {{
    local 2001:db8:ffff::1; neighbor 2001:db8:ffff::20 as 64505;
    ipv6 {{ import none; export all; next hop keep on; }};
}}
"""

# The receiver rejects what HAS_AS_SET flags, and keeps it for `show route filtered`.
RECEIVER_CONF = f"""
router id 192.0.2.32;
log stderr all;
protocol device {{}}
filter from_rs {{
    if {HAS_AS_SET} then reject;
    accept;
}}
protocol bgp rs4 {{
    local 192.0.2.32 as 64505; neighbor 192.0.2.1 as 64510;
    ipv4 {{ import filter from_rs; export none; import keep filtered on; }};
}}
protocol bgp rs6 {{
    local 2001:db8:ffff::20 as 64505; neighbor 2001:db8:ffff::1 as 64510;
    ipv6 {{ import all; export none; }};
}}
"""


def _host(name: str, number: int) -> HostSpec:
    return HostSpec(name, (ipaddress.IPv4Interface(f"192.0.2.{number}/24"),
                           ipaddress.IPv6Interface(f"2001:db8:ffff::{number:x}/64")))


HOSTS = [_host("rs", 1), _host("member", 16), _host("receiver", 32)]


def _speaker_config(routes: list[dict[str, Any]]) -> str:
    return json.dumps({"local_asn": 64500, "router_id": str(G4), "routes": routes, "sessions": [
        {"local": str(G4), "remote": "192.0.2.1", "remote_asn": 64510},
        {"local": str(G6), "remote": "2001:db8:ffff::1", "remote_asn": 64510}]}, indent=1)


FIRST_ROUTES: list[dict[str, Any]] = [
    *({"prefix": prefix, "as_path": path} for prefix, path in PATHS.items()),
    {"prefix": KEEP_NH, "as_path": "64500", "link_local": str(LINK_LOCAL)},
    {"prefix": REWRITE_NH, "as_path": "64500", "link_local": str(LINK_LOCAL)},
    {"prefix": PLAIN_NH, "as_path": "64500"},
]


@dataclass
class SpeakerLab:
    lab: Lab
    rs: Birdc
    receiver: Birdc
    config: Path  # the speaker's CONFIG.json, as the host sees it
    log: Path

    def speaker_pid(self) -> int:
        """The speaker's own pid: spawn() returns that of the sandbox around it."""
        for pid in pids_in([self.lab.netns("member")]):
            with contextlib.suppress(OSError):
                if b"speaker.py" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[1]:
                    return pid
        raise AssertionError("the speaker is not running")


@contextlib.contextmanager
def _speaker_lab(workdir: Path, routes: list[dict[str, Any]], *, rs_conf: str = RS_CONF,
                 receiver_conf: str = RECEIVER_CONF,
                 speaker_config: Callable[[Lab], str] | None = None) -> Iterator[SpeakerLab]:
    with Lab(HOSTS, workdir, confine=confinement()) as lab:
        lab.place("rs", "bird.conf", rs_conf)
        lab.place("receiver", "bird.conf", receiver_conf)
        # The speaker needs only the standard library: a copy runs where `nobody` can read it.
        lab.place("member", "speaker.py", Path(S.__file__).read_text(encoding="utf-8"))
        config = lab.place("member", "speaker.json", speaker_config(lab) if speaker_config
                           else _speaker_config(routes))
        for host in ("rs", "receiver"):
            lab.spawn(host, ["bird", "-f", "-c", lab.inside(host, "bird.conf"),
                             "-s", lab.inside(host, "bird.ctl")], log=workdir / f"{host}.log")
        log = workdir / "speaker.log"
        lab.spawn("member", [python_for_nobody(), lab.inside("member", "speaker.py"),
                             lab.inside("member", "speaker.json")], log=log)
        yield SpeakerLab(lab, Birdc(lab.directory("rs") / "bird.ctl"),
                         Birdc(lab.directory("receiver") / "bird.ctl"), config, log)


def _eventually(probe: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    return eventually(probe, what, timeout)


def _routes_when(birdc: Birdc, prefixes: set[str], *, filtered: bool = False,
                 ) -> Callable[[], dict[str, BgpRoute] | None]:
    def probe() -> dict[str, BgpRoute] | None:
        routes = {str(r.network): r for r in birdc.routes(filtered=filtered)}
        return routes if prefixes <= set(routes) else None
    return probe


def _tags(route: BgpRoute, kind: int) -> set[int]:
    return {c for a, b, c in route.large_communities if (a, b) == (64510, kind)}


ALL_PREFIXES = set(PATHS) | {KEEP_NH, REWRITE_NH, PLAIN_NH}


@pytest.fixture(scope="module")
def speaker_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpeakerLab]:
    with _speaker_lab(tmp_path_factory.mktemp("speaker-lab"), FIRST_ROUTES) as lab:
        yield lab


@dataclass(frozen=True)
class Seen:
    rs: dict[str, BgpRoute]
    receiver: dict[str, BgpRoute]
    receiver_filtered: dict[str, BgpRoute]


@pytest.fixture(scope="module")
def seen(speaker_lab: SpeakerLab) -> Seen:
    """Every route at the route server and at the receiver, once all have arrived."""
    accepted = ALL_PREFIXES - WITH_SET
    return Seen(
        rs=_eventually(_routes_when(speaker_lab.rs, ALL_PREFIXES), "routes at the rs"),
        receiver=_eventually(_routes_when(speaker_lab.receiver, accepted), "receiver routes"),
        receiver_filtered=_eventually(
            _routes_when(speaker_lab.receiver, WITH_SET, filtered=True), "filtered routes"))


@pytest.mark.slow
def test_the_speaker_runs_unprivileged_and_its_sessions_come_up(speaker_lab: SpeakerLab,
                                                                seen: Seen) -> None:
    """Both sessions come up although the speaker only connects out (BIRD's own attempts to
    connect to it fail), and it runs as nobody."""
    states = {p.name: p.established for p in speaker_lab.rs.protocols() if p.proto == "BGP"}
    assert states == {"m4": True, "m6": True, "r4": True, "r6": True}
    status = Path(f"/proc/{speaker_lab.speaker_pid()}/status").read_text()
    assert f"\nUid:\t{NOBODY}\t" in status
    log = speaker_lab.log.read_text()
    assert "192.0.2.16->192.0.2.1: established (hold time 90 s, families ipv4)" in log
    assert f"announced {KEEP_NH} path [64500] via {G6} {LINK_LOCAL}" in log


@pytest.mark.slow
def test_a_link_local_next_hop_passes_next_hop_keep_unchanged(seen: Seen) -> None:
    """(a) G + L from the member: `next hop keep on` hands both on to the receiver."""
    assert seen.rs[KEEP_NH].next_hop == (str(G6), str(LINK_LOCAL))
    assert seen.receiver[KEEP_NH].next_hop == (str(G6), str(LINK_LOCAL))
    assert seen.receiver[PLAIN_NH].next_hop == (str(G6),)


@pytest.mark.slow
def test_reassigning_bgp_next_hop_drops_the_link_local_part(seen: Seen) -> None:
    """(a) `bgp_next_hop = bgp_next_hop;` in the import filter keeps only the global G."""
    assert seen.rs[REWRITE_NH].next_hop == (str(G6),)
    assert seen.receiver[REWRITE_NH].next_hop == (str(G6),)


@pytest.mark.slow
def test_next_hop_tests_in_a_filter_see_only_the_global_address(seen: Seen) -> None:
    """(a) `bgp_next_hop = G` and `bgp_next_hop ~ [ G ]` hold for G + L; `= L` does not."""
    for prefix in (KEEP_NH, REWRITE_NH, PLAIN_NH):
        assert _tags(seen.rs[prefix], 1) == {1, 2}, prefix


@pytest.mark.slow
def test_which_expressions_flag_an_as_set(seen: Seen) -> None:
    """(b) What each candidate says per path; only HAS_AS_SET (3) flags exactly the AS_SETs."""
    flagged = {PATHS[prefix]: _tags(seen.rs[prefix], 2) for prefix in PATHS}
    assert flagged == {
        AS_SET_LAST: {1, 2, 3},
        AS_SET_MIDDLE: {2, 3},
        NORMAL: set(),
        SAME_ENDS: {3},  # last == last_nonaggregated == 64500
        SET_ONLY: {1, 3},  # last == last_nonaggregated == 0
        PRIVATE_IN_SET: {1, 2, 3},
    }
    # bgp_path.len counts an AS_SET as one.
    lengths = {PATHS[prefix]: _tags(seen.rs[prefix], 4) for prefix in PATHS}
    assert lengths == {AS_SET_LAST: {2}, AS_SET_MIDDLE: {3}, NORMAL: {2}, SAME_ENDS: {3},
                       SET_ONLY: {1}, PRIVATE_IN_SET: {2}}


@pytest.mark.slow
def test_int_sets_and_masks_match_asns_inside_an_as_set(seen: Seen) -> None:
    """(b) `bgp_path ~ [ 64501 ]` / `[ 64512..65534 ]` look into AS_SETs, and a mask may treat
    the set as any sequence of its members."""
    matched = {PATHS[prefix]: _tags(seen.rs[prefix], 3) for prefix in PATHS}
    assert matched == {
        AS_SET_LAST: {11, 13, 14},
        AS_SET_MIDDLE: {11, 13},
        NORMAL: {11, 13},
        SAME_ENDS: {11, 13},
        SET_ONLY: {11, 13},
        PRIVATE_IN_SET: {12},
    }


@pytest.mark.slow
def test_a_filter_rejects_exactly_the_as_set_paths(seen: Seen) -> None:
    """(b) The receiver's `if HAS_AS_SET then reject;` keeps the plain paths only."""
    assert set(PATHS) & set(seen.receiver) == set(PATHS) - WITH_SET
    assert set(PATHS) & set(seen.receiver_filtered) == WITH_SET


@pytest.mark.slow
def test_the_birdc_parser_reads_as_set_paths(seen: Seen) -> None:
    """(b) `BGP.as_path: 64500 {64501 64502}` (route line `[i]`) parses, flagged as a set."""
    route = seen.receiver_filtered["198.51.100.0/27"]
    assert (route.as_path, route.as_path_has_set) == ((64500, 64501, 64502), True)
    route = seen.rs["198.51.100.32/27"]
    assert (route.as_path, route.as_path_has_set) == ((64500, 64501, 64503), True)
    route = seen.rs["198.51.100.64/27"]
    assert (route.as_path, route.as_path_has_set) == ((64500, 64501), False)


@pytest.mark.slow
def test_how_birdc_shows_an_as_set_path(speaker_lab: SpeakerLab, seen: Seen) -> None:
    """(b) The raw text: a trailing AS_SET leaves BIRD without an origin AS, so `[i]`."""
    shown = speaker_lab.rs.command("show", "route", "for", "198.51.100.0/27", "all")
    head = next(line for line in shown.splitlines() if line.startswith("198.51.100.0/27"))
    assert head.endswith(" [i]")
    assert "\tBGP.as_path: 64500 {64501 64502}\n" in shown
    shown = speaker_lab.rs.command("show", "route", "for", "198.51.100.32/27", "all")
    assert "\tBGP.as_path: 64500 {64501} 64503\n" in shown and "[AS64503i]" in shown


@pytest.mark.slow
def test_sighup_withdraws_changes_and_adds_routes(tmp_path: Path) -> None:
    """A rewritten CONFIG.json and SIGHUP: the route server sees exactly the new list; a
    session the route server drops comes back with it."""
    first = [{"prefix": "203.0.113.0/25", "as_path": "64500"},
             {"prefix": "203.0.113.128/25", "as_path": "64500"},
             {"prefix": "2001:db8:5::/48", "as_path": "64500"}]
    with _speaker_lab(tmp_path, first) as lab:
        _eventually(_routes_when(lab.rs, {"203.0.113.0/25", "203.0.113.128/25",
                                          "2001:db8:5::/48"}), "first routes")
        second: list[dict[str, Any]] = [
            {"prefix": "203.0.113.0/25", "as_path": "64500 64501",
             "large_communities": [[64500, 7, 7]]},
            {"prefix": "2001:db8:6::/48", "as_path": "64500 {64501}",
             "link_local": str(LINK_LOCAL)}]
        lab.lab.place("member", "speaker.json", _speaker_config(second))
        os.kill(lab.speaker_pid(), signal.SIGHUP)

        def updated() -> dict[str, BgpRoute] | None:
            routes = {str(r.network): r for r in lab.rs.routes()}
            changed = routes.get("203.0.113.0/25")
            if set(routes) == {"203.0.113.0/25", "2001:db8:6::/48"} and changed is not None \
                    and changed.as_path == (64500, 64501):
                return routes
            return None

        routes = _eventually(updated, "the routes after SIGHUP")
        assert (64500, 7, 7) in routes["203.0.113.0/25"].large_communities
        assert routes["2001:db8:6::/48"].next_hop == (str(G6), str(LINK_LOCAL))
        log = lab.log.read_text()
        assert "withdrew 203.0.113.128/25" in log and "withdrew 2001:db8:5::/48" in log

        # The route server restarts the session: the speaker reconnects and announces again.
        lab.rs.command("restart", "m4")
        _eventually(lambda: True if lab.log.read_text().count(
            "192.0.2.16->192.0.2.1: established") >= 2 else None, "the reconnect")
        _eventually(_routes_when(lab.rs, {"203.0.113.0/25"}), "routes after the reconnect")


# The route server passes the receiver's routes on to the speaker; the receiver (AS 64505)
# originates them with a 4-byte ASN prepended and a community and a large community.
RECEIVE_RS_CONF = f"""
router id 192.0.2.1;
log stderr all;
protocol device {{}}
template bgp client_t {{
    local as 64510;
    rs client;
    interpret communities off;
}}
protocol bgp m4 from client_t {{
    local 192.0.2.1; neighbor {G4} as 64500;
    ipv4 {{ import all; export all; next hop keep on; }};
}}
protocol bgp m6 from client_t {{
    local 2001:db8:ffff::1; neighbor {G6} as 64500;
    ipv6 {{ import all; export all; next hop keep on; }};
}}
protocol bgp r4 from client_t {{
    local 192.0.2.1; neighbor 192.0.2.32 as 64505;
    ipv4 {{ import all; export none; }};
}}
protocol bgp r6 from client_t {{
    local 2001:db8:ffff::1; neighbor 2001:db8:ffff::20 as 64505;
    ipv6 {{ import all; export none; }};
}}
"""
ORIGINATOR_CONF = """
router id 192.0.2.32;
log stderr all;
protocol device {}
protocol static s4 { ipv4; route 198.18.0.0/24 blackhole; }
protocol static s4b { ipv4; route 198.18.1.0/24 blackhole; }
protocol static s6 { ipv6; route 2001:db8:77::/48 blackhole; }
filter to_rs {
    bgp_path.prepend(4200000001);
    bgp_community.add((64505, 7));
    bgp_large_community.add((64505, 1, 2));
    accept;
}
protocol bgp rs4 {
    local 192.0.2.32 as 64505; neighbor 192.0.2.1 as 64510;
    ipv4 { import none; export filter to_rs; };
}
protocol bgp rs6 {
    local 2001:db8:ffff::20 as 64505; neighbor 2001:db8:ffff::1 as 64510;
    ipv6 { import none; export filter to_rs; };
}
"""
V4_NAME, V6_NAME = "rs (v4)", f"{G6}->2001:db8:ffff::1"  # a configured name; the default


@pytest.mark.slow
def test_the_received_file_shows_what_the_route_server_sends(tmp_path: Path) -> None:
    """Routes a BIRD peer announces through a BIRD route server appear in the received_file,
    with their AS path, next hops and communities; a withdrawal removes one, a session the
    route server shuts down empties its list, and its routes return with it."""
    def speaker_config(lab: Lab) -> str:
        return json.dumps({
            "local_asn": 64500, "router_id": str(G4), "routes": [],
            "received_file": lab.inside("member", "received.json"),
            "sessions": [
                {"name": V4_NAME, "local": str(G4), "remote": "192.0.2.1", "remote_asn": 64510},
                {"local": str(G6), "remote": "2001:db8:ffff::1", "remote_asn": 64510}]})

    with _speaker_lab(tmp_path, [], rs_conf=RECEIVE_RS_CONF, receiver_conf=ORIGINATOR_CONF,
                      speaker_config=speaker_config) as lab:
        received = lab.lab.directory("member") / "received.json"

        def sessions_when(condition: Callable[[dict[str, dict[str, Any]]], bool],
                          ) -> Callable[[], dict[str, dict[str, Any]] | None]:
            """The file's sessions, each as prefix -> entry, once condition holds."""
            def probe() -> dict[str, dict[str, Any]] | None:
                data = json.loads(received.read_text())
                assert list(data) == ["sessions"]
                sessions = {name: {e["prefix"]: e for e in entries}
                            for name, entries in data["sessions"].items()}
                return sessions if condition(sessions) else None
            return probe

        v4 = {"198.18.0.0/24", "198.18.1.0/24"}
        sessions = _eventually(sessions_when(
            lambda s: set(s[V4_NAME]) == v4 and set(s[V6_NAME]) == {"2001:db8:77::/48"}),
            "the route server's routes in the received_file")
        assert set(sessions) == {V4_NAME, V6_NAME}
        for prefix in v4:
            assert sessions[V4_NAME][prefix] == {
                "prefix": prefix, "as_path": "64505 4200000001",
                "as_path_asns": [64505, 4200000001], "as_path_has_set": False,
                "next_hops": ["192.0.2.32"], "communities": [[64505, 7]],
                "large_communities": [[64505, 1, 2]]}
        entry = sessions[V6_NAME]["2001:db8:77::/48"]
        assert (entry["as_path"], entry["communities"], entry["large_communities"]) == (
            "64505 4200000001", [[64505, 7]], [[64505, 1, 2]])
        # The global address of the originator, and what the route server holds besides it
        # (its link-local one, if BIRD sent it).
        (at_rs,) = [r for r in lab.rs.routes() if str(r.network) == "2001:db8:77::/48"]
        assert entry["next_hops"][0] == "2001:db8:ffff::20"
        assert entry["next_hops"] == list(at_rs.next_hop)

        lab.receiver.command("disable", "s4b")
        _eventually(sessions_when(lambda s: set(s[V4_NAME]) == {"198.18.0.0/24"}),
                    "the withdrawal in the received_file")

        lab.rs.command("disable", "m6")
        sessions = _eventually(sessions_when(lambda s: s[V6_NAME] == {}),
                               "the routes of the session gone down")
        assert set(sessions[V4_NAME]) == {"198.18.0.0/24"}  # the other session keeps its own
        lab.rs.command("enable", "m6")
        _eventually(sessions_when(lambda s: set(s[V6_NAME]) == {"2001:db8:77::/48"}),
                    "the routes after the session came back")
