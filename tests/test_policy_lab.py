"""The route server's day-one policy in BIRD 2.0.12, proved in a lab before it goes into rsgen's
templates: announcement control (RFC 8195 style), BLACKHOLE (RFC 7999), GRACEFUL_SHUTDOWN
(RFC 8326), BGP roles and OTC (RFC 9234) and transit-free ASNs in the path.

One BIRD route server with a hand-written config (`rs client`, `interpret communities off`,
`import keep filtered on`, `import table on`, `next hop keep on`, `secondary on` on sorted
tables, one export filter per member as rsgen renders them), two members played by rsgen's
speaker (AS64500 and the transit-free AS174) and three BIRD receivers: AS200000 (32-bit),
AS13030 and AS8283 (16-bit; AS8283 refuses blackholes). The lab runs once with a 16-bit and
once with a 32-bit route-server ASN. Like tests/test_speaker.py, the lab tests need root, bird
and bwrap.

Findings, for BIRD 2.0.12 (each asserted below):

* Announcement control lives in the receiver's export filter, through functions taking the
  receiver's ASN: `announce_to(peer)`, `prepend_times(peer)` / `prepend_member(n)` and
  `strip_control_communities()` (POLICY_FUNCTIONS). Large forms work for every ASN; the
  standard forms are rendered only for a 16-bit route-server ASN: `(0, RS_ASN)` and
  `(RS_ASN, *)` with a 32-bit RS_ASN are refused by `bird -p` ("Can't operate with value out
  of bounds in pair constructor", at preevaluation). For a 32-bit receiver the runtime guard
  `peer <= 65535` keeps `(0, peer)` from being built; "announce to nobody" is tested outside
  that guard, so it holds for 32-bit receivers too (IXP Manager #558, #871, #947).
* `bgp_path.prepend(bgp_path.first)` in an export filter on an `rs client` session prepends
  the member's ASN, and the route server's own ASN stays out of the path.
* The control communities are deleted before export; the member's others (large, standard,
  NO_EXPORT, GRACEFUL_SHUTDOWN) reach the receivers untouched.
* BLACKHOLE: `bgp_next_hop = BLACKHOLE_NEXT_HOP_V4;` in the import filter survives `next hop
  keep on`; the receivers get that address (IPv6: only the global one, the member's
  link-local part is gone) and NO_EXPORT. Nothing answers on the blackhole address and BIRD
  does not care: it only needs it on a directly connected subnet. A blackhole next hop off the
  LAN is accepted and exported by the route server (it still resolves the route through the
  member's own next hop), but a BIRD receiver drops the route as invalid (not even in `show
  route filtered`): the address must be on the peering LAN.
* GRACEFUL_SHUTDOWN: `bgp_local_pref = 0` at import makes the route lose to another member's
  longer path; receivers get the other path.
* Roles: `local role rs_server` on the route server's sessions; a peer without the role
  capability (the speaker, a BIRD without `local role`) still comes up, one with `require
  roles on` does not. A route carrying OTC from a member on an rs_server session is treated as
  withdrawn: not in the table, not among the filtered routes. Exported routes gain OTC = the
  route server's ASN on every session (role-less receivers included).
* Transit-free: `delete(bgp_path, member_asn) ~ TRANSIT_FREE_ASNS` is right for every test
  path; the masks `[= * TF * =]` and `[= ? * TF * =]` flag a transit-free member's own
  routes or prepends.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rsgen.verification import speaker as S
from rsgen.verification.birdc import BgpRoute, Birdc
from rsgen.verification.lab import HostSpec, Lab, confinement
from tests.helpers import python_for_nobody as _python_for_nobody
from tests.test_speaker import _eventually, _hex, _seq

# -- the speaker's OTC attribute ----------------------------------------------------------------


def test_an_update_with_otc_is_byte_exact() -> None:
    route = S.Route(prefix=ipaddress.IPv4Network("203.0.113.0/24"), as_path=(_seq(64500),),
                    next_hop=ipaddress.IPv4Address("192.0.2.10"),
                    large_communities=((64500, 1, 2),), otc=4200000001)
    expected = _hex("""
        ffffffffffffffffffffffffffffffff 0045 02  # length 69, UPDATE
        0000 002a                                 # no withdrawn routes, 42 bytes of attributes
        40 01 01 00                               # ORIGIN IGP
        40 02 06 02 01 0000fbf4                   # AS_PATH: AS_SEQUENCE 64500
        40 03 04 c000020a                         # NEXT_HOP 192.0.2.10
        c0 20 0c 0000fbf4 00000001 00000002       # LARGE_COMMUNITY (64500, 1, 2)
        c0 23 04 fa56ea01                         # OTC (35), optional transitive: 4200000001
        18 cb0071                                 # NLRI 203.0.113.0/24
    """)
    assert S.encode_update(route) == expected


def test_otc_in_the_config_and_its_errors() -> None:
    def config(route: dict[str, Any]) -> S.Config:
        return S.parse_config({"local_asn": 64500, "router_id": "192.0.2.16", "sessions": [
            {"local": "192.0.2.16", "remote": "192.0.2.1", "remote_asn": 64510}],
            "routes": [{"prefix": "203.0.113.0/24", "as_path": "64500", **route}]})

    (route,) = config({"otc": 64500}).sessions[0].routes
    assert route.otc == 64500
    assert S.describe(route).endswith(" otc 64500")
    assert config({}).sessions[0].routes[0].otc is None
    for bad in ("64500", True, -1, 2**32):
        with pytest.raises(S.ConfigError, match=r"otc|ASN"):
            config({"otc": bad})
    # A receiver does not keep it: parse_update skips the attribute.
    (message,), _ = S.split_messages(S.encode_update(route))
    (received,) = S.parse_update(message.body).announced
    assert received.as_path == (_seq(64500),)


# -- the BIRD policy ----------------------------------------------------------------------------

RS_V4, RS_V6 = "192.0.2.1", "2001:db8:ffff::1"
BLACKHOLE_V4, BLACKHOLE_V6 = "192.0.2.66", "2001:db8:ffff::66"  # on the LAN, no host has them
OFF_LAN_BLACKHOLE = "203.0.113.66"
LINK_LOCAL = "fe80::beef:1"
TRANSIT_FREE = (174, 209, 701, 1299, 2914, 3257, 3356)


@dataclass(frozen=True)
class Member:
    name: str  # host and protocol name stem
    asn: int
    number: int  # the host's last address byte
    role: bool = True  # `local role rs_client` (BIRD receivers)
    blackhole_opt_out: bool = False

    @property
    def v4(self) -> str:
        return f"192.0.2.{self.number}"

    @property
    def v6(self) -> str:
        return f"2001:db8:ffff::{self.number:x}"


M1 = Member("m1", 64500, 16)
M2 = Member("m2", 174, 17)
R32 = Member("r32", 200000, 32)
R16 = Member("r16", 13030, 33)
ROPT = Member("ropt", 8283, 34, role=False, blackhole_opt_out=True)
RECEIVERS = (R32, R16, ROPT)
MEMBERS = (M1, M2)


def policy_functions(rs_asn: int) -> str:
    """The announcement-control functions as a template would render them."""
    standard = rs_asn <= 0xFFFF
    return f"""
# Announcement control (RFC 8195 style), called in the export filter of the member `peer`
# (its ASN). Large communities name any ASN: (RS, 0, peer) not to peer, (RS, 0, 0) to nobody,
# (RS, 1, peer) to peer even so. "Not to peer" wins over "to peer".
function announce_to(int peer) {{
    if (RS_ASN, 0, peer) ~ bgp_large_community then return false;
{'''    # Standard forms, as both ASNs fit 16 bits: 0:peer, 0:RS, RS:peer.
    if peer <= 65535 then
        if (0, peer) ~ bgp_community then return false;
    if (RS_ASN, 0, 0) ~ bgp_large_community || (0, RS_ASN) ~ bgp_community then
        return (RS_ASN, 1, peer) ~ bgp_large_community
            || (peer <= 65535 && (RS_ASN, peer) ~ bgp_community);''' if standard else
'''    # The route server's ASN does not fit 16 bits: no standard forms.
    if (RS_ASN, 0, 0) ~ bgp_large_community then
        return (RS_ASN, 1, peer) ~ bgp_large_community;'''}
    return true;
}}

# (RS, 101..103, peer): prepend the member's ASN 1 to 3 times towards peer; (RS, 101..103, 0):
# towards every member. The one naming peer wins.
function prepend_times(int peer) {{
    if (RS_ASN, 103, peer) ~ bgp_large_community then return 3;
    if (RS_ASN, 102, peer) ~ bgp_large_community then return 2;
    if (RS_ASN, 101, peer) ~ bgp_large_community then return 1;
    if (RS_ASN, 103, 0) ~ bgp_large_community then return 3;
    if (RS_ASN, 102, 0) ~ bgp_large_community then return 2;
    if (RS_ASN, 101, 0) ~ bgp_large_community then return 1;
    return 0;
}}

# bgp_path.first is the member's ASN (the import filter checked it).
function prepend_member(int times) {{
    if times >= 1 then bgp_path.prepend(bgp_path.first);
    if times >= 2 then bgp_path.prepend(bgp_path.first);
    if times >= 3 then bgp_path.prepend(bgp_path.first);
}}

# The control communities are for the route server only; everything else passes untouched.
function strip_control_communities() {{
    bgp_large_community.delete([(RS_ASN, 0..1, *), (RS_ASN, 101..103, *)]);
{'''    bgp_community.delete([(0, *), (RS_ASN, *)]);''' if standard else ''}
}}
"""


def export_filter(member: Member) -> str:
    opt_out = (f"\n    # AS{member.asn} opted out of blackholes (RFC 7999).\n"
               "    if (65535, 666) ~ bgp_community then reject;")
    return f"""
filter export_AS{member.asn} {{
    if source != RTS_BGP then reject;
    if bgp_path ~ [= * {member.asn} * =] then reject;{opt_out if member.blackhole_opt_out else ''}
    if !announce_to({member.asn}) then reject;
    prepend_member(prepend_times({member.asn}));
    strip_control_communities();
    accept;
}}
"""


def import_filter(member: Member, version: int) -> str:
    v = f"V{version}"
    address = member.v4 if version == 4 else member.v6
    length = "net.len < 8 || net.len > 24" if version == 4 else "net.len < 12 || net.len > 48"
    off_lan = (f"""
        # Lab only: one blackhole with a next hop off the peering LAN.
        if net = 198.18.102.1/32 then bgp_next_hop = {OFF_LAN_BLACKHOLE};"""
               if version == 4 else "")
    return f"""
filter import_AS{member.asn}_v{version} {{
    int member_asn = {member.asn};
    if bgp_path.first != member_asn then reject_because(member_asn, 6);
    if bgp_next_hop != {address} then reject_because(member_asn, 5);
    # A transit-free network behind the member; the member's own ASN (prepends too) is not.
    if delete(bgp_path, member_asn) ~ TRANSIT_FREE_ASNS then reject_because(member_asn, 8);
    # BLACKHOLE (RFC 7999), before the prefix-length rule: inside the member's registered
    # space up to a host route; traffic goes to the exchange's blackhole address.
    if (65535, 666) ~ bgp_community then {{
        if net !~ AS{member.asn}_BLACKHOLE_{v} then reject_because(member_asn, 12);
        bgp_next_hop = BLACKHOLE_NEXT_HOP_{v};
        bgp_community.add((65535, 65281));  # NO_EXPORT{off_lan}
        accept;
    }}
    if {length} then reject_because(member_asn, 13);
    if net !~ AS{member.asn}_{v} then reject_because(member_asn, 12);
    # GRACEFUL_SHUTDOWN (RFC 8326): the member is about to take the session down.
    if (65535, 0) ~ bgp_community then bgp_local_pref = 0;
    accept;
}}
"""


def protocols(member: Member, *, import_v4: str, import_v6: str) -> str:
    text = ""
    for version, local, neighbor, name in ((4, RS_V4, member.v4, import_v4),
                                           (6, RS_V6, member.v6, import_v6)):
        # The transit-free member's IPv6 session insists on the role capability it never sends.
        require = "\n    require roles on;" if (member, version) == (M2, 6) else ""
        text += f"""
protocol bgp {member.name}_v{version} from member_t {{
    local {local};
    neighbor {neighbor} as {member.asn};{require}
    ipv{version} {{
        import keep filtered on;
        import table on;
        import filter {name};
        export filter export_AS{member.asn};
        next hop keep on;
        secondary on;
    }};
}}
"""
    return text


def rs_conf(rs_asn: int) -> str:
    parts = [f"""
router id {RS_V4};
log stderr all;
timeformat protocol iso long;
define RS_ASN = {rs_asn};
ipv4 table master4 sorted;
ipv6 table master6 sorted;
protocol device {{}}

define BLACKHOLE_NEXT_HOP_V4 = {BLACKHOLE_V4};
define BLACKHOLE_NEXT_HOP_V6 = {BLACKHOLE_V6};
define TRANSIT_FREE_ASNS = [{", ".join(map(str, TRANSIT_FREE))}];

function reject_because(int member_asn; int reason) {{
    bgp_large_community.add((RS_ASN, 65520, reason));
    reject;
}}
""", policy_functions(rs_asn)]
    for member in MEMBERS:
        parts.append(f"""
define AS{member.asn}_V4 = [ 198.18.0.0/16{{16,24}} ];
define AS{member.asn}_BLACKHOLE_V4 = [ 198.18.0.0/16{{16,32}} ];
define AS{member.asn}_V6 = [ 2001:db8::/32{{32,48}} ];
define AS{member.asn}_BLACKHOLE_V6 = [ 2001:db8::/32{{32,128}} ];
""")
        parts += [import_filter(member, 4), import_filter(member, 6)]
    parts.append("""
template bgp member_t {
    local as RS_ASN;
    rs client;
    interpret communities off;
    long lived graceful restart off;
    local role rs_server;
}
""")
    for member in (*MEMBERS, *RECEIVERS):
        parts.append(export_filter(member))
        if member in MEMBERS:
            parts.append(protocols(member, import_v4=f"import_AS{member.asn}_v4",
                                   import_v6=f"import_AS{member.asn}_v6"))
        else:  # receivers announce nothing
            parts.append(protocols(member, import_v4="none", import_v6="none").replace(
                "import filter none", "import none"))
    return "".join(parts)


def receiver_conf(member: Member, rs_asn: int) -> str:
    role = "\n    local role rs_client;" if member.role else ""
    return f"""
router id {member.v4};
log stderr all;
protocol device {{}}
protocol bgp rs_v4 {{
    local {member.v4} as {member.asn};
    neighbor {RS_V4} as {rs_asn};{role}
    ipv4 {{ import all; export none; import keep filtered on; }};
}}
protocol bgp rs_v6 {{
    local {member.v6} as {member.asn};
    neighbor {RS_V6} as {rs_asn};{role}
    ipv6 {{ import all; export none; import keep filtered on; }};
}}
"""


# -- the routes ---------------------------------------------------------------------------------

OTHER_LARGE = [64500, 7, 7]
OTHER_STANDARD = [[64500, 100], [65535, 65281]]  # and NO_EXPORT


@dataclass
class Case:
    """One route of member AS64500 and what each receiver must get: its AS path, or None."""

    prefix: str
    large: list[list[int]]
    standard: list[list[int]]
    expected: dict[int, tuple[int, ...] | None]
    extra: dict[str, Any] = field(default_factory=dict)


def control_cases(rs: int) -> list[Case]:
    everyone: dict[int, tuple[int, ...] | None] = {r.asn: (64500,) for r in RECEIVERS}

    def only(*asns: int) -> dict[int, tuple[int, ...] | None]:
        return {r.asn: (64500,) if r.asn in asns else None for r in RECEIVERS}

    def paths(default: int, **times: int) -> dict[int, tuple[int, ...] | None]:
        by_asn = {R32.asn: times.get("r32", default), R16.asn: times.get("r16", default),
                  ROPT.asn: times.get("ropt", default)}
        return {asn: (64500,) * (1 + n) for asn, n in by_asn.items()}

    cases = [
        Case("198.18.1.0/24", [], [], everyone),
        Case("198.18.2.0/24", [[rs, 0, R16.asn]], [], only(R32.asn, ROPT.asn)),
        Case("198.18.3.0/24", [[rs, 0, R32.asn]], [], only(R16.asn, ROPT.asn)),
        Case("198.18.4.0/24", [[rs, 0, 0]], [], only()),
        Case("198.18.5.0/24", [[rs, 0, 0], [rs, 1, R32.asn]], [], only(R32.asn)),
        Case("198.18.6.0/24", [[rs, 0, 0], [rs, 1, R16.asn]], [], only(R16.asn)),
        # "not to" and "to" the same peer: "not to" wins.
        Case("198.18.7.0/24", [[rs, 0, R32.asn], [rs, 1, R32.asn]], [], only(R16.asn, ROPT.asn)),
        Case("198.18.8.0/24", [[rs, 101, R16.asn]], [], paths(0, r16=1)),
        Case("198.18.9.0/24", [[rs, 102, R32.asn]], [], paths(0, r32=2)),
        Case("198.18.10.0/24", [[rs, 103, 0]], [], paths(3)),
        Case("198.18.11.0/24", [[rs, 101, 0], [rs, 103, R32.asn]], [], paths(1, r32=3)),
        # IPv6 follows the same functions.
        Case("2001:db8:1::/48", [[rs, 0, R32.asn]], [], only(R16.asn, ROPT.asn)),
        Case("2001:db8:2::/48", [[rs, 0, 0], [rs, 1, R32.asn]], [], only(R32.asn)),
    ]
    if rs <= 0xFFFF:
        cases += [
            Case("198.18.20.0/24", [], [[0, R16.asn]], only(R32.asn, ROPT.asn)),
            Case("198.18.21.0/24", [], [[0, rs]], only()),
            Case("198.18.22.0/24", [], [[0, rs], [rs, R16.asn]], only(R16.asn)),
            Case("198.18.23.0/24", [[rs, 1, R32.asn]], [[0, rs]], only(R32.asn)),
            Case("198.18.24.0/24", [[rs, 0, 0]], [[rs, R16.asn]], only(R16.asn)),
            Case("198.18.25.0/24", [], [[0, R16.asn], [rs, R16.asn]], only(R32.asn, ROPT.asn)),
        ]
    else:
        # No standard forms: 0:peer is an ordinary community, passed through.
        cases.append(Case("198.18.20.0/24", [], [[0, R16.asn]], everyone))
    return cases


def strip_case(rs: int) -> Case:
    """Every control community at once, none of which holds anyone back, with the member's
    own: the receivers get exactly the member's own."""
    large = [[rs, 0, 4242], [rs, 1, R32.asn], [rs, 101, 4242], [rs, 102, 4242],
             [rs, 103, 4242], [rs, 2, 5]]
    standard = [[0, 4242], [rs, R16.asn]] if rs <= 0xFFFF else []
    everyone: dict[int, tuple[int, ...] | None] = {r.asn: (64500,) for r in RECEIVERS}
    return Case("198.18.30.0/24", large, [*standard, [65535, 0]], everyone)


# Member AS64500's other routes: blackholes, GSHUT, OTC, transit-free paths.
BLACKHOLE_4, BLACKHOLE_6 = "198.18.100.1/32", "2001:db8:100::1/128"
BLACKHOLE_OUTSIDE, HOST_ROUTE, BLACKHOLE_OFF_LAN = "203.0.113.1/32", "198.18.100.2/32", \
    "198.18.102.1/32"
GSHUT, NO_GSHUT, WITH_OTC = "198.18.200.0/24", "198.18.201.0/24", "198.18.50.0/24"
TRANSIT_FREE_PATHS = {  # prefix: (announced by, path, accepted)
    "198.18.60.0/24": (M1, "64500 174 64999", False),
    "198.18.61.0/24": (M1, "64500 64999", True),
    "198.18.62.0/24": (M1, "64500 64999 174", False),
    "198.18.63.0/24": (M2, "174", True),
    "198.18.64.0/24": (M2, "174 174 64999", True),
    "198.18.65.0/24": (M1, "64500 3356 64999", False),
    "198.18.66.0/24": (M2, "174 64999 174", True),
    "198.18.67.0/24": (M1, "64500 64500 64999", True),
}
BH = [65535, 666]


def m1_routes(rs: int) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = [
        {"prefix": c.prefix, "as_path": "64500", "large_communities": [*c.large, OTHER_LARGE],
         "communities": [*c.standard, *OTHER_STANDARD]}
        for c in [*control_cases(rs), strip_case(rs)]]
    routes += [
        {"prefix": BLACKHOLE_4, "as_path": "64500", "communities": [BH]},
        {"prefix": BLACKHOLE_6, "as_path": "64500", "communities": [BH],
         "link_local": LINK_LOCAL},
        {"prefix": BLACKHOLE_OUTSIDE, "as_path": "64500", "communities": [BH]},
        {"prefix": BLACKHOLE_OFF_LAN, "as_path": "64500", "communities": [BH]},
        {"prefix": HOST_ROUTE, "as_path": "64500"},
        {"prefix": GSHUT, "as_path": "64500", "communities": [[65535, 0]]},
        {"prefix": NO_GSHUT, "as_path": "64500"},
        {"prefix": WITH_OTC, "as_path": "64500", "otc": 64500},
    ]
    routes += [{"prefix": p, "as_path": path} for p, (who, path, _) in TRANSIT_FREE_PATHS.items()
               if who == M1]
    return routes


def m2_routes() -> list[dict[str, Any]]:
    routes = [{"prefix": GSHUT, "as_path": "174 64999"},
              {"prefix": NO_GSHUT, "as_path": "174 64999"}]
    routes += [{"prefix": p, "as_path": path} for p, (who, path, _) in TRANSIT_FREE_PATHS.items()
               if who == M2]
    return routes


def speaker_conf(member: Member, routes: list[dict[str, Any]], rs_asn: int) -> str:
    return json.dumps({"local_asn": member.asn, "router_id": member.v4, "routes": routes,
                       "sessions": [
                           {"local": member.v4, "remote": RS_V4, "remote_asn": rs_asn},
                           {"local": member.v6, "remote": RS_V6, "remote_asn": rs_asn}]},
                      indent=1)


# -- the lab ------------------------------------------------------------------------------------

def _host(member_or_name: Member | str, number: int = 1) -> HostSpec:
    name = member_or_name if isinstance(member_or_name, str) else member_or_name.name
    if isinstance(member_or_name, Member):
        number = member_or_name.number
    return HostSpec(name, (ipaddress.IPv4Interface(f"192.0.2.{number}/24"),
                           ipaddress.IPv6Interface(f"2001:db8:ffff::{number:x}/64")))


@dataclass
class PolicyLab:
    rs_asn: int
    lab: Lab
    rs: Birdc
    receivers: dict[int, Birdc]  # by ASN
    rs_log: Path

    def rs_routes(self) -> tuple[dict[str, list[BgpRoute]], dict[str, list[BgpRoute]]]:
        """Accepted and filtered routes at the route server, each net's routes in a list."""
        tables: tuple[dict[str, list[BgpRoute]], dict[str, list[BgpRoute]]] = ({}, {})
        for table, filtered in zip(tables, (False, True), strict=True):
            for route in self.rs.routes(filtered=filtered):
                table.setdefault(str(route.network), []).append(route)
        return tables


_ROUTES_LINE = re.compile(r"\s+Routes:\s+([0-9]+) imported, (?:[0-9]+ filtered, )?"
                          r"([0-9]+) exported")


def _exported(birdc: Birdc, protocol: str) -> int:
    """How many routes BIRD counts as exported on a protocol (`show protocols all`)."""
    text = birdc.command("show", "protocols", "all", protocol)
    found = _ROUTES_LINE.search(text)
    return int(found.group(2)) if found else 0


@contextlib.contextmanager
def _policy_lab(workdir: Path, rs_asn: int) -> Iterator[PolicyLab]:
    hosts = [_host("rs", 1), *(_host(m) for m in (*MEMBERS, *RECEIVERS))]
    with Lab(hosts, workdir, confine=confinement()) as lab:
        lab.place("rs", "bird.conf", rs_conf(rs_asn))
        for receiver in RECEIVERS:
            lab.place(receiver.name, "bird.conf", receiver_conf(receiver, rs_asn))
        for host in ("rs", *(r.name for r in RECEIVERS)):
            lab.spawn(host, ["bird", "-f", "-c", lab.inside(host, "bird.conf"),
                             "-s", lab.inside(host, "bird.ctl")], log=workdir / f"{host}.log")
        python = _python_for_nobody()
        for member, routes in ((M1, m1_routes(rs_asn)), (M2, m2_routes())):
            lab.place(member.name, "speaker.py", Path(S.__file__).read_text(encoding="utf-8"))
            lab.place(member.name, "speaker.json", speaker_conf(member, routes, rs_asn))
            lab.spawn(member.name, [python, lab.inside(member.name, "speaker.py"),
                                    lab.inside(member.name, "speaker.json")],
                      log=workdir / f"{member.name}.log")
        yield PolicyLab(rs_asn, lab, Birdc(lab.directory("rs") / "bird.ctl"),
                        {r.asn: Birdc(lab.directory(r.name) / "bird.ctl") for r in RECEIVERS},
                        workdir / "rs.log")


@dataclass(frozen=True)
class Seen:
    rs: dict[str, list[BgpRoute]]
    rs_filtered: dict[str, list[BgpRoute]]
    receivers: dict[int, dict[str, BgpRoute]]
    receivers_filtered: dict[int, dict[str, BgpRoute]]


def _settled(policy_lab: PolicyLab) -> Seen:
    """Every route at the route server and the receivers, once all have arrived.

    The route server has imported every route its members send (accepted or filtered), and
    each receiver holds as many routes as the route server counts as exported to it, with
    every session up. BIRD 2 runs the export filters as a route enters the table, so those
    counts are final then.
    """
    m1_prefixes = {r["prefix"] for r in m1_routes(policy_lab.rs_asn)} - {WITH_OTC}
    m2_prefixes = {r["prefix"] for r in m2_routes()}

    sessions = {f"{m.name}_v{v}" for m in (*MEMBERS, *RECEIVERS) for v in (4, 6)} - {"m2_v6"}

    def probe() -> Seen | None:
        up = {p.name for p in policy_lab.rs.protocols() if p.established}
        if not sessions <= up:
            return None
        rs, rs_filtered = policy_lab.rs_routes()
        from_m1 = {p for p, routes in (*rs.items(), *rs_filtered.items())
                   if any(r.protocol.startswith("m1_") for r in routes)}
        from_m2 = {p for p, routes in (*rs.items(), *rs_filtered.items())
                   if any(r.protocol.startswith("m2_") for r in routes)}
        if from_m1 != m1_prefixes or from_m2 != m2_prefixes:
            return None
        receivers: dict[int, dict[str, BgpRoute]] = {}
        receivers_filtered: dict[int, dict[str, BgpRoute]] = {}
        for asn, birdc in policy_lab.receivers.items():
            name = next(r.name for r in RECEIVERS if r.asn == asn)
            exported = sum(_exported(policy_lab.rs, f"{name}_v{v}") for v in (4, 6))
            # A BIRD receiver drops the blackhole whose next hop is off the LAN as invalid.
            exported -= _exported_to(policy_lab, BLACKHOLE_OFF_LAN, f"{name}_v4")
            routes = {str(r.network): r for r in birdc.routes()}
            filtered = {str(r.network): r for r in birdc.routes(filtered=True)}
            if len(routes) + len(filtered) < exported:
                return None
            receivers[asn], receivers_filtered[asn] = routes, filtered
        return Seen(rs, rs_filtered, receivers, receivers_filtered)

    return _eventually(probe, "every route at the route server and the receivers", 90)


@pytest.fixture(scope="module", params=[59900, 210000], ids=["rs-16-bit", "rs-32-bit"])
def policy_lab(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolicyLab]:
    with _policy_lab(tmp_path_factory.mktemp("policy-lab"), request.param) as lab:
        yield lab


@pytest.fixture(scope="module")
def seen(policy_lab: PolicyLab) -> Seen:
    return _settled(policy_lab)


def _communities(route: BgpRoute) -> tuple[set[tuple[int, ...]], set[tuple[int, ...]]]:
    return set(route.large_communities), set(route.communities)


# -- tests --------------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_standard_forms_do_not_parse_with_a_32_bit_route_server_asn(tmp_path: Path) -> None:
    """Why the standard forms are rendered only for a 16-bit RS_ASN: `bird -p` refuses them."""
    config = rs_conf(210000).replace(
        "    bgp_large_community.delete([(RS_ASN, 0..1, *), (RS_ASN, 101..103, *)]);\n",
        "    bgp_large_community.delete([(RS_ASN, 0..1, *), (RS_ASN, 101..103, *)]);\n"
        "    if (0, RS_ASN) ~ bgp_community then reject;\n")
    bird = shutil.which("bird")
    assert bird is not None, "bird is not installed"
    for text, ok in ((rs_conf(59900), True), (rs_conf(210000), True), (config, False)):
        path = tmp_path / "bird.conf"
        path.write_text(text)
        done = subprocess.run([bird, "-p", "-c", str(path)], capture_output=True, text=True,
                              check=False, timeout=30)
        assert (done.returncode == 0) == ok, done.stderr
    assert "Can't operate with value out of bounds in pair constructor" in done.stderr


@pytest.mark.slow
def test_sessions_and_roles(policy_lab: PolicyLab, seen: Seen) -> None:
    """`local role rs_server` everywhere: the speaker and ROPT send no role capability and
    come up; M2's IPv6 session, with `require roles on`, does not."""
    states = {p.name: p for p in policy_lab.rs.protocols() if p.proto == "BGP"}
    up = {name for name, p in states.items() if p.established}
    everyone = {f"{m.name}_v{v}" for m in (*MEMBERS, *RECEIVERS) for v in (4, 6)}
    assert up == everyone - {"m2_v6"}
    # The speaker tries again and again; each try ends the same way.
    _in_log(policy_lab.rs_log, "m2_v6: Error: Role mismatch (undefined)")
    for receiver in RECEIVERS:
        shown = policy_lab.rs.command("show", "protocols", "all", f"{receiver.name}_v4")
        local, neighbor = shown.split("Neighbor capabilities")
        assert "Role: rs_server" in local
        assert ("Role: rs_client" in neighbor.split("Session:")[0]) == receiver.role
    shown = policy_lab.rs.command("show", "protocols", "all", "m1_v4")
    assert "Role:" not in shown.split("Neighbor capabilities")[1].split("Session:")[0]


@pytest.mark.slow
def test_announcement_control(policy_lab: PolicyLab, seen: Seen) -> None:
    got = {case.prefix: {asn: (seen.receivers[asn][case.prefix].as_path
                               if case.prefix in seen.receivers[asn] else None)
                         for asn in seen.receivers}
           for case in control_cases(policy_lab.rs_asn)}
    assert got == {case.prefix: case.expected for case in control_cases(policy_lab.rs_asn)}
    # A refusal from a runtime error (e.g. a pair built from a 32-bit ASN) would look the same
    # at the receivers; BIRD would log it. The `peer <= 65535` guards keep it from happening.
    log = policy_lab.rs_log.read_text()
    assert "<ERR>" not in log and "out of bounds" not in log, log
    for case in control_cases(policy_lab.rs_asn):
        for asn, path in case.expected.items():
            if path is not None:
                assert policy_lab.rs_asn not in seen.receivers[asn][case.prefix].as_path


@pytest.mark.slow
def test_control_communities_are_removed_and_the_others_pass(policy_lab: PolicyLab,
                                                             seen: Seen) -> None:
    rs = policy_lab.rs_asn
    case = strip_case(rs)
    for asn, routes in seen.receivers.items():
        large, standard = _communities(routes[case.prefix])
        assert large == {tuple(OTHER_LARGE), (rs, 2, 5)}, asn
        assert standard == {(64500, 100), (65535, 65281), (65535, 0)}, asn
    # Every delivered control case: only the member's own communities remain.
    for case in control_cases(rs):
        kept_standard = {tuple(c) for c in case.standard} if rs > 0xFFFF else set()
        for asn, routes in seen.receivers.items():
            if case.prefix in routes:
                large, standard = _communities(routes[case.prefix])
                assert large == {tuple(OTHER_LARGE)}, (case.prefix, asn)
                assert standard == {(64500, 100), (65535, 65281)} | kept_standard, (
                    case.prefix, asn)


@pytest.mark.slow
def test_blackholes(policy_lab: PolicyLab, seen: Seen) -> None:
    """Accepted within the member's space up to /32 and /128, next hop rewritten to the
    blackhole address, NO_EXPORT added; the opted-out receiver gets nothing."""
    (at_rs,) = seen.rs[BLACKHOLE_4]
    assert at_rs.next_hop == (BLACKHOLE_V4,)
    (at_rs6,) = seen.rs[BLACKHOLE_6]
    assert at_rs6.next_hop == (BLACKHOLE_V6,)  # the link-local part is gone
    # The rewrite is an attribute only: the route server still resolves the route through the
    # member's own address (`show route`'s "via").
    shown = policy_lab.rs.command("show", "route", "for", BLACKHOLE_4, "all")
    assert f"via {M1.v4} on lan0" in shown, shown
    for asn, routes in seen.receivers.items():
        if asn == ROPT.asn:
            assert BLACKHOLE_4 not in routes and BLACKHOLE_6 not in routes
            continue
        for prefix, hop in ((BLACKHOLE_4, BLACKHOLE_V4), (BLACKHOLE_6, BLACKHOLE_V6)):
            route = routes[prefix]
            assert route.next_hop == (hop,), (asn, prefix)
            assert set(route.communities) == {(65535, 666), (65535, 65281)}
            assert route.as_path == (64500,)
        shown = policy_lab.receivers[asn].command("show", "route", "for", BLACKHOLE_4)
        assert f"via {BLACKHOLE_V4} on lan0" in shown, shown
    # Outside the member's space: rejected as not in its IRR data; a host route without the
    # community: too long.
    assert _reasons(seen, BLACKHOLE_OUTSIDE) == {12}
    assert _reasons(seen, HOST_ROUTE) == {13}


@pytest.mark.slow
def test_a_blackhole_next_hop_off_the_lan(policy_lab: PolicyLab, seen: Seen) -> None:
    """The route server accepts and exports it; the BIRD receivers drop it as invalid."""
    (at_rs,) = seen.rs[BLACKHOLE_OFF_LAN]
    assert at_rs.next_hop == (OFF_LAN_BLACKHOLE,)
    assert _exported_to(policy_lab, BLACKHOLE_OFF_LAN, "r32_v4")
    for asn in (R32.asn, R16.asn):
        assert BLACKHOLE_OFF_LAN not in seen.receivers[asn]
        assert BLACKHOLE_OFF_LAN not in seen.receivers_filtered[asn]
    _in_log(policy_lab.lab.workdir / "r32.log",
            f"rs_v4: Invalid NEXT_HOP attribute - address {OFF_LAN_BLACKHOLE} not directly "
            "reachable", f"rs_v4: Invalid route {BLACKHOLE_OFF_LAN} withdrawn")


def _in_log(path: Path, *lines: str) -> None:
    """Wait for each line in a BIRD log (a line BIRD writes as it handles the route)."""
    def probe() -> bool | None:
        text = path.read_text()
        return True if all(line in text for line in lines) else None

    _eventually(probe, f"{lines} in {path.name}")


def _exported_to(policy_lab: PolicyLab, prefix: str, protocol: str) -> bool:
    shown = policy_lab.rs.command("show", "route", "for", prefix, "export", protocol)
    return prefix in shown


def _reasons(seen: Seen, prefix: str) -> set[int]:
    return {c for route in seen.rs_filtered.get(prefix, [])
            for a, b, c in route.large_communities if b == 65520}


@pytest.mark.slow
def test_graceful_shutdown(policy_lab: PolicyLab, seen: Seen) -> None:
    """The GSHUT route (shorter path) gets local pref 0 and loses to M2's longer path."""
    shown = policy_lab.rs.command("show", "route", "for", GSHUT, "all")
    assert "BGP.local_pref: 0" in shown, shown
    best = {r.protocol for r in seen.rs[GSHUT] if r.preferred}
    assert best == {"m2_v4"}
    assert {r.protocol for r in seen.rs[NO_GSHUT] if r.preferred} == {"m1_v4"}
    for asn, routes in seen.receivers.items():
        assert routes[GSHUT].as_path == (174, 64999), asn
        assert routes[NO_GSHUT].as_path == (64500,), asn


@pytest.mark.slow
def test_otc(policy_lab: PolicyLab, seen: Seen) -> None:
    """A member's route with OTC is invisible at the route server; exported routes carry
    OTC = the route server's ASN to every receiver, with or without a role."""
    assert WITH_OTC not in seen.rs and WITH_OTC not in seen.rs_filtered
    # Although the member's speaker sends no role capability: the local role decides.
    _in_log(policy_lab.rs_log, "m1_v4: Route leak detected - OTC attribute from downstream",
            f"m1_v4: Invalid route {WITH_OTC} withdrawn")
    for asn, birdc in policy_lab.receivers.items():
        shown = birdc.command("show", "route", "for", "198.18.1.0/24", "all")
        assert f"BGP.otc: {policy_lab.rs_asn}" in shown, (asn, shown)


@pytest.mark.slow
def test_transit_free_asns(policy_lab: PolicyLab, seen: Seen) -> None:
    accepted = {p for p, (_, _, ok) in TRANSIT_FREE_PATHS.items() if ok}
    assert {p for p in TRANSIT_FREE_PATHS if p in seen.rs} == accepted
    assert {p for p in TRANSIT_FREE_PATHS if _reasons(seen, p) == {8}} == \
        set(TRANSIT_FREE_PATHS) - accepted
    for prefix in accepted:
        assert prefix in seen.receivers[R16.asn], prefix


TF = "[" + ", ".join(map(str, TRANSIT_FREE)) + "]"
CANDIDATES = {
    "delete": "delete(bgp_path, bgp_path.first) ~ TRANSIT_FREE_ASNS",
    "mask": f"bgp_path ~ [= * {TF} * =]",
    "mask_after_first": f"bgp_path ~ [= ? * {TF} * =]",
    "mask_of_defined_set": "bgp_path ~ [= ? * TRANSIT_FREE_ASNS * =]",
}


@pytest.mark.slow
def test_which_transit_free_expressions_are_right(policy_lab: PolicyLab, seen: Seen) -> None:
    """Each candidate, evaluated by `show route where` on the route server (bgp_path.first
    stands for member_asn: the import filter checks they are equal)."""
    matched: dict[str, set[str]] = {}
    for name, expression in CANDIDATES.items():
        hits: set[str] = set()
        for filtered in ((), ("filtered",)):
            words = ["show", "route", *filtered, "table", "master4", "where", expression]
            text = policy_lab.rs.command(*words)
            hits |= {p for p in TRANSIT_FREE_PATHS if text.startswith(p) or f"\n{p} " in text}
        matched[name] = {TRANSIT_FREE_PATHS[p][1] for p in hits}
    leaks = {path for _, path, ok in TRANSIT_FREE_PATHS.values() if not ok}
    assert matched == {
        "delete": leaks,
        "mask": leaks | {"174", "174 174 64999", "174 64999 174"},
        "mask_after_first": leaks | {"174 174 64999", "174 64999 174"},
        "mask_of_defined_set": leaks | {"174 174 64999", "174 64999 174"},
    }
