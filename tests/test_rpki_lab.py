"""RPKI origin validation (RFC 6811) over RTR (RFC 8210) in BIRD 2.0.12, with stayrtr as the
cache: the adapter verify uses (rsgen/verification/rtr.py), and lab runs that show what BIRD
does with the ROAs.

The lab tests need root (network namespaces), bird, bwrap and stayrtr, like
tests/test_speaker.py, whose structure they copy. Their findings, for BIRD 2.0.12 and stayrtr
0.5.1:

* `roa4 table r4; roa6 table r6;` and one `protocol rpki` per cache (ROV_CONF below) fill the
  ROA tables; `roa_check(r4, net, bgp_path.last)` in a member's import filter, here inside a
  function, gives ROA_VALID / ROA_INVALID / ROA_UNKNOWN. `bgp_path.last` is RFC 6811's origin:
  0 (NONE) for a path that ends in an AS_SET, so such a route is never valid, and invalid when
  a ROA covers it. `roa_check(r4)` without arguments is the same check; `last_nonaggregated`
  would take the ASN before the set and call the route valid.
* A ROA change reaches BIRD within seconds with no signal: stayrtr re-reads its file every
  `-refresh` seconds and sends a Serial Notify; BIRD's `rpki reload` (on by default) then
  re-runs the import filters of every channel whose filter calls roa_check(), from the channel's
  `import table`. A valid route that turns invalid is withdrawn from the receiver, and comes
  back when it turns valid again.
* Sessions that come up before any cache answers have their routes checked against empty ROA
  tables: all unknown, accepted and passed on. Once a cache delivers, the same reload
  re-evaluates them and the invalid ones are withdrawn; BIRD connects to a cache that was down
  after its `retry` interval.
* Two `protocol rpki` into the same tables: with the first cache refusing connections, the
  second one's ROAs are used; BIRD has no order among them, the tables hold the union.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from rsgen.errors import MissingTool
from rsgen.sources.proc import missing_tool
from rsgen.verification import rtr
from rsgen.verification import speaker as S
from rsgen.verification.birdc import BgpRoute, Birdc
from rsgen.verification.lab import LAB_MOUNT, HostSpec, Lab, confinement, pids_in
from rsgen.verification.rtr import Roa
from tests.helpers import eventually, python_for_nobody

T = TypeVar("T")

RS_ASN = 64510
MEMBER_ASN = 64500
NOBODY = 65534
N4, N6 = ipaddress.IPv4Network, ipaddress.IPv6Network
A4 = ipaddress.IPv4Address

# -- the adapter's pure functions ---------------------------------------------------------------


def test_vrp_json_is_sorted_deduplicated_and_in_stayrtrs_format() -> None:
    roas = [Roa(N6("2001:db8::/32"), 48, 64500), Roa(N4("198.51.100.0/24"), 24, 4200000000),
            Roa(N4("10.0.0.0/8"), 24, 0), Roa(N4("198.51.100.0/24"), 24, 4200000000),
            Roa(N4("10.0.0.0/8"), 16, 0)]
    text = rtr.vrp_json(roas)
    assert json.loads(text) == {"roas": [
        {"prefix": "10.0.0.0/8", "maxLength": 16, "asn": 0},
        {"prefix": "10.0.0.0/8", "maxLength": 24, "asn": 0},
        {"prefix": "198.51.100.0/24", "maxLength": 24, "asn": 4200000000},
        {"prefix": "2001:db8::/32", "maxLength": 48, "asn": 64500}]}
    assert text.endswith("}\n")
    assert rtr.vrp_json(reversed(roas)) == text  # the same ROAs give the same bytes
    assert json.loads(rtr.vrp_json([])) == {"roas": []}


@pytest.mark.parametrize(("prefix", "max_length", "asn", "message"), [
    (N4("198.51.100.0/24"), 23, 64500, "max length 23 is outside 24..32"),
    (N4("198.51.100.0/24"), 33, 64500, "outside 24..32"),
    (N6("2001:db8::/32"), 129, 64500, "outside 32..128"),
    (N4("198.51.100.0/24"), 24, -1, "ASN -1"),
    (N4("198.51.100.0/24"), 24, 2**32, "ASN 4294967296"),
])
def test_a_roa_outside_the_rules_is_refused(prefix: rtr.IpNetwork, max_length: int, asn: int,
                                            message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Roa(prefix, max_length, asn)


def test_a_roa_prefix_must_be_a_network() -> None:
    with pytest.raises(TypeError):
        Roa("198.51.100.0/24", 24, 64500)  # type: ignore[arg-type]


def test_stayrtr_argv_binds_only_rtr() -> None:
    argv = rtr.stayrtr_argv("/run/rsgen-lab/vrps.json", A4("192.0.2.250"), 3323)
    assert argv == [
        "stayrtr", "-bind", "192.0.2.250:3323", "-cache", "/run/rsgen-lab/vrps.json",
        "-refresh", "2", "-checktime=false", "-protocol", "1",
        "-metrics.addr=", "-tls.bind=", "-ssh.bind=", "-loglevel", "info"]
    v6 = rtr.stayrtr_argv("/x/v.json", ipaddress.IPv6Address("2001:db8::fa"), 323,
                          stayrtr="/usr/bin/stayrtr", refresh=30, loglevel="debug")
    assert v6[:3] == ["/usr/bin/stayrtr", "-bind", "[2001:db8::fa]:323"]
    assert v6[v6.index("-refresh") + 1] == "30" and v6[-1] == "debug"


@pytest.mark.parametrize(("path", "port", "refresh", "message"), [
    ("vrps.json", 3323, 2, "absolute path"),
    ("https://example.net/vrps.json", 3323, 2, "absolute path"),
    ("/v.json", 0, 2, "port 0"),
    ("/v.json", 65536, 2, "port 65536"),
    ("/v.json", 3323, 0, "refresh 0"),
])
def test_stayrtr_argv_refuses(path: str, port: int, refresh: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rtr.stayrtr_argv(path, A4("192.0.2.250"), port, refresh=refresh)


def test_listening_reads_the_namespaces_listeners() -> None:
    """How start_stayrtr knows stayrtr is ready: its socket in /proc/PID/net/tcp{,6}."""
    with socket.create_server(("127.0.0.1", 0)) as v4:
        port = v4.getsockname()[1]
        assert (A4("127.0.0.1"), port) in rtr.listening(os.getpid())
        if socket.has_ipv6:
            with contextlib.suppress(OSError), socket.create_server(
                    ("::1", 0), family=socket.AF_INET6) as v6:
                assert (ipaddress.IPv6Address("::1"), v6.getsockname()[1]) in \
                    rtr.listening(os.getpid())
    assert (A4("127.0.0.1"), port) not in rtr.listening(os.getpid())


def test_a_missing_stayrtr_names_its_package() -> None:
    error = missing_tool("stayrtr")
    assert isinstance(error, MissingTool)
    assert error.hint == "install it: apt-get install stayrtr"


# -- the lab ------------------------------------------------------------------------------------

# The member's routes (all from AS 64500) and what ROV makes of them with ROAS.
VALID, TOO_LONG, WRONG_ORIGIN = "198.18.1.0/24", "198.18.2.0/25", "198.51.100.0/24"
UNKNOWN, FLIP, SET_END, TRANSIT = "198.19.0.0/24", "203.0.113.0/24", "198.18.4.0/24", \
    "198.18.5.0/24"
VALID6, INVALID6, UNKNOWN6 = "2001:db8:1::/48", "3fff:1::/48", "2001:2::/48"
PATHS = {VALID: "64500", TOO_LONG: "64500", WRONG_ORIGIN: "64500", UNKNOWN: "64500",
         FLIP: "64500", SET_END: "64500 {64501}", TRANSIT: "64500 64501",
         VALID6: "64500", INVALID6: "64500", UNKNOWN6: "64500"}

ROAS = [
    Roa(N4("198.18.0.0/16"), 24, 64500),  # VALID; TOO_LONG is longer than 24
    Roa(N4("198.51.100.0/24"), 24, 64999),
    Roa(N4("203.0.113.0/24"), 24, 64500),
    Roa(N6("2001:db8::/32"), 48, 64500),
    Roa(N6("3fff::/20"), 48, 64999),
]
FLIPPED = [roa if roa.prefix != N4(FLIP) else Roa(roa.prefix, 24, 64999) for roa in ROAS]

VALID_TAG, UNKNOWN_TAG, INVALID_TAG = (RS_ASN, 1000, 1), (RS_ASN, 1000, 2), (RS_ASN, 65520, 14)
OUTCOME = {VALID: VALID_TAG, TOO_LONG: INVALID_TAG, WRONG_ORIGIN: INVALID_TAG,
           UNKNOWN: UNKNOWN_TAG, FLIP: VALID_TAG, SET_END: INVALID_TAG, TRANSIT: INVALID_TAG,
           VALID6: VALID_TAG, INVALID6: INVALID_TAG, UNKNOWN6: UNKNOWN_TAG}
ACCEPTED = {prefix for prefix, tag in OUTCOME.items() if tag != INVALID_TAG}
REJECTED = set(OUTCOME) - ACCEPTED

RTR1, RTR2, RTR_PORT = A4("192.0.2.250"), A4("192.0.2.251"), 3323


def rpki_protocol(name: str, address: A4, *, retry: int = 90) -> str:
    """One RTR cache. `keep`: BIRD ignores the intervals the cache sends (stayrtr: 3600 s
    refresh, 600 s retry, 7200 s expire) and uses these; expire is BIRD's maximum."""
    return f"""
protocol rpki {name} {{
    roa4 {{ table r4; }};
    roa6 {{ table r6; }};
    remote {address} port {RTR_PORT};
    retry keep {retry};
    refresh keep 900;
    expire keep 172800;
}}
"""


def _diagnostics(kind: int, check: str) -> str:
    """Tag (RS, kind, 0|1|2) with what check says: unknown, valid, invalid."""
    return "".join(
        f"    if {check} = {state} then bgp_large_community.add(({RS_ASN}, {kind}, {n}));\n"
        for n, state in enumerate(("ROA_UNKNOWN", "ROA_VALID", "ROA_INVALID")))


LAST_NONAGGREGATED = "roa_check(r4, net, bgp_path.last_nonaggregated)"

# The policy: in a function (as rsgen's templates put checks), one per family; `reject` in a
# function ends the filter.
ROV_CONF = f"""
roa4 table r4;
roa6 table r6;

function rov_v4() {{
    case roa_check(r4, net, bgp_path.last) {{
        ROA_INVALID: {{ bgp_large_community.add(({RS_ASN}, 65520, 14)); reject; }}
        ROA_VALID: bgp_large_community.add(({RS_ASN}, 1000, 1));
        else: bgp_large_community.add(({RS_ASN}, 1000, 2));
    }}
}}
function rov_v6() {{
    case roa_check(r6, net, bgp_path.last) {{
        ROA_INVALID: {{ bgp_large_community.add(({RS_ASN}, 65520, 14)); reject; }}
        ROA_VALID: bgp_large_community.add(({RS_ASN}, 1000, 1));
        else: bgp_large_community.add(({RS_ASN}, 1000, 2));
    }}
}}

filter member_in4 {{
{_diagnostics(2, "roa_check(r4)")}{_diagnostics(3, LAST_NONAGGREGATED)}    rov_v4();
    accept;
}}
filter member_in6 {{
    rov_v6();
    accept;
}}
"""


def rs_conf(caches: str) -> str:
    return f"""
router id 192.0.2.1;
log stderr all;
timeformat protocol iso long;
protocol device {{}}
{ROV_CONF}
{caches}
template bgp member_t {{
    local as {RS_ASN};
    rs client;
    interpret communities off;
}}
protocol bgp m4 from member_t {{
    local 192.0.2.1; neighbor 192.0.2.16 as {MEMBER_ASN};
    ipv4 {{ import filter member_in4; export none; next hop keep on;
            import keep filtered on; import table on; }};
}}
protocol bgp m6 from member_t {{
    local 2001:db8:ffff::1; neighbor 2001:db8:ffff::10 as {MEMBER_ASN};
    ipv6 {{ import filter member_in6; export none; next hop keep on;
            import keep filtered on; import table on; }};
}}
protocol bgp recv4 from member_t {{
    local 192.0.2.1; neighbor 192.0.2.32 as 64505;
    ipv4 {{ import none; export all; next hop keep on; }};
}}
protocol bgp recv6 from member_t {{
    local 2001:db8:ffff::1; neighbor 2001:db8:ffff::20 as 64505;
    ipv6 {{ import none; export all; next hop keep on; }};
}}
"""


RECEIVER_CONF = """
router id 192.0.2.32;
log stderr all;
protocol device {}
protocol bgp rs4 {
    local 192.0.2.32 as 64505; neighbor 192.0.2.1 as 64510;
    ipv4 { import all; export none; };
}
protocol bgp rs6 {
    local 2001:db8:ffff::20 as 64505; neighbor 2001:db8:ffff::1 as 64510;
    ipv6 { import all; export none; };
}
"""


def _host(name: str, number: int) -> HostSpec:
    return HostSpec(name, (ipaddress.IPv4Interface(f"192.0.2.{number}/24"),
                           ipaddress.IPv6Interface(f"2001:db8:ffff::{number:x}/64")))


HOSTS = [_host("rs", 1), _host("member", 16), _host("receiver", 32), _host("rtr1", 250),
         _host("rtr2", 251)]


def _speaker_config() -> str:
    return json.dumps({
        "local_asn": MEMBER_ASN, "router_id": "192.0.2.16",
        "routes": [{"prefix": prefix, "as_path": path} for prefix, path in PATHS.items()],
        "sessions": [
            {"local": "192.0.2.16", "remote": "192.0.2.1", "remote_asn": RS_ASN},
            {"local": "2001:db8:ffff::10", "remote": "2001:db8:ffff::1", "remote_asn": RS_ASN}]},
        indent=1)


@dataclass
class RpkiLab:
    lab: Lab
    rs: Birdc
    receiver: Birdc
    workdir: Path

    def start_cache(self, host: str, address: A4, roas: list[Roa]) -> Path:
        return rtr.start_stayrtr(self.lab, host, roas, address, RTR_PORT,
                                 log=self.workdir / f"{host}.log")

    def stayrtr_pid(self, host: str) -> int:
        """stayrtr's own pid: spawn() returns that of the sandbox around it."""
        program = os.path.realpath(shutil.which("stayrtr") or "stayrtr")
        for pid in pids_in([self.lab.netns(host)]):
            with contextlib.suppress(OSError):
                if str(Path(f"/proc/{pid}/exe").readlink()) == program:
                    return pid
        raise AssertionError(f"no stayrtr running on {host}")


@contextlib.contextmanager
def _rpki_lab(workdir: Path, caches: str, *,
              before_bird: Callable[[RpkiLab], None] | None = None) -> Iterator[RpkiLab]:
    if shutil.which("stayrtr") is None:
        # Skipped naming the package outside CI, a failure under CI=true (tests/conftest.py).
        raise missing_tool("stayrtr")
    with Lab(HOSTS, workdir, confine=confinement()) as lab:
        lab.place("rs", "bird.conf", rs_conf(caches))
        lab.place("receiver", "bird.conf", RECEIVER_CONF)
        lab.place("member", "speaker.py", Path(S.__file__).read_text(encoding="utf-8"))
        lab.place("member", "speaker.json", _speaker_config())
        handle = RpkiLab(lab, Birdc(lab.directory("rs") / "bird.ctl"),
                         Birdc(lab.directory("receiver") / "bird.ctl"), workdir)
        if before_bird is not None:
            before_bird(handle)
        for host in ("rs", "receiver"):
            lab.spawn(host, ["bird", "-f", "-c", lab.inside(host, "bird.conf"),
                             "-s", lab.inside(host, "bird.ctl")], log=workdir / f"{host}.log")
        lab.spawn("member", [python_for_nobody(), lab.inside("member", "speaker.py"),
                             lab.inside("member", "speaker.json")],
                  log=workdir / "speaker.log")
        yield handle


def _eventually(probe: Callable[[], T | None], what: str, timeout: float = 90.0) -> T:
    return eventually(probe, what, timeout)


@dataclass(frozen=True)
class Seen:
    accepted: dict[str, BgpRoute]  # at the route server
    filtered: dict[str, BgpRoute]
    receiver: dict[str, BgpRoute]


def _seen(lab: RpkiLab) -> Seen:
    return Seen({str(r.network): r for r in lab.rs.routes()},
                {str(r.network): r for r in lab.rs.routes(filtered=True)},
                {str(r.network): r for r in lab.receiver.routes()})


def _seen_when(lab: RpkiLab, condition: Callable[[Seen], bool]) -> Callable[[], Seen | None]:
    def probe() -> Seen | None:
        seen = _seen(lab)
        return seen if condition(seen) else None
    return probe


def _rov(route: BgpRoute) -> set[tuple[int, int, int]]:
    """The route's ROV tags."""
    return {c for c in route.large_communities if c in (VALID_TAG, UNKNOWN_TAG, INVALID_TAG)}


def _diag(route: BgpRoute, kind: int) -> set[int]:
    return {c for a, b, c in route.large_communities if (a, b) == (RS_ASN, kind)}


def _settled(outcome: dict[str, tuple[int, int, int]]) -> Callable[[Seen], bool]:
    """Every route as outcome says: rejected at the route server with INVALID_TAG, or accepted
    with its tag there and at the receiver (which may lag behind the route server)."""
    def condition(seen: Seen) -> bool:
        accepted = {prefix for prefix, tag in outcome.items() if tag != INVALID_TAG}
        if set(seen.accepted) != accepted or set(seen.receiver) != accepted or \
                set(seen.filtered) != set(outcome) - accepted:
            return False
        return all(_rov(routes[prefix]) == {tag} for prefix, tag in outcome.items()
                   for routes in ((seen.accepted, seen.receiver) if prefix in accepted
                                  else (seen.filtered,)))
    return condition


def _protocol(birdc: Birdc, name: str) -> tuple[str, str]:
    (row,) = [p for p in birdc.protocols() if p.name == name]
    return row.state, row.info


@pytest.fixture(scope="module")
def rpki_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RpkiLab]:
    """One cache (rtr1), running before BIRD starts."""
    def start_cache(lab: RpkiLab) -> None:
        lab.start_cache("rtr1", RTR1, ROAS)

    workdir = tmp_path_factory.mktemp("rpki-lab")
    with _rpki_lab(workdir, rpki_protocol("rtr1", RTR1), before_bird=start_cache) as lab:
        yield lab


@pytest.fixture(scope="module")
def seen(rpki_lab: RpkiLab) -> Seen:
    return _eventually(_seen_when(rpki_lab, _settled(OUTCOME)),
                       "every route checked against the ROAs")


@pytest.mark.slow
def test_the_rpki_protocol_loads_the_roas(rpki_lab: RpkiLab, seen: Seen) -> None:
    """(a) `protocol rpki` is up and the ROA tables hold stayrtr's VRPs, one per family."""
    state, info = _protocol(rpki_lab.rs, "rtr1")
    assert (state, info) == ("up", "Established")
    shown = rpki_lab.rs.command("show", "route", "table", "r4")
    assert "198.18.0.0/16-24 AS64500" in shown and "198.51.100.0/24-24 AS64999" in shown
    assert "2001:db8::/32-48 AS64500" in rpki_lab.rs.command("show", "route", "table", "r6")


@pytest.mark.slow
def test_invalid_routes_are_rejected_and_the_others_tagged(seen: Seen) -> None:
    """(a) Invalid: filtered with (RS, 65520, 14); valid (RS, 1000, 1) and unknown
    (RS, 1000, 2) reach the receiver with their tag."""
    for prefix in ACCEPTED:
        assert _rov(seen.accepted[prefix]) == {OUTCOME[prefix]}, prefix
        assert _rov(seen.receiver[prefix]) == {OUTCOME[prefix]}, prefix
    for prefix in REJECTED:
        assert _rov(seen.filtered[prefix]) == {INVALID_TAG}, prefix


@pytest.mark.slow
def test_the_origin_is_the_last_asn_and_a_trailing_as_set_has_none(seen: Seen) -> None:
    """(a) `64500 64501` is checked for 64501 (invalid against the AS 64500 ROA); a path
    ending in an AS_SET has no origin (RFC 6811): `bgp_path.last` and `roa_check(r4)` say
    invalid, `last_nonaggregated` would take 64500 and say valid."""
    set_end = seen.filtered[SET_END]
    assert (_diag(set_end, 2), _diag(set_end, 3)) == ({2}, {1})
    transit = seen.filtered[TRANSIT]
    assert (_diag(transit, 2), _diag(transit, 3)) == ({2}, {2})
    for prefix, tag in ((VALID, 1), (UNKNOWN, 0), (WRONG_ORIGIN, 2), (TOO_LONG, 2)):
        route = seen.accepted.get(prefix) or seen.filtered[prefix]
        assert _diag(route, 2) == _diag(route, 3) == {tag}, prefix


@pytest.mark.slow
def test_stayrtr_runs_unprivileged_and_listens_only_for_rtr(rpki_lab: RpkiLab,
                                                            seen: Seen) -> None:
    pid = rpki_lab.stayrtr_pid("rtr1")
    status = Path(f"/proc/{pid}/status").read_text()
    assert f"\nUid:\t{NOBODY}\t" in status
    assert rtr.listening(pid) == {(RTR1, RTR_PORT)}
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert f"{LAB_MOUNT}/{rtr.VRP_FILE}".encode() in argv


@pytest.mark.slow
def test_a_roa_change_withdraws_a_route_and_the_reverse_restores_it(rpki_lab: RpkiLab,
                                                                    seen: Seen) -> None:
    """(b) FLIP's ROA moves to another ASN: BIRD re-runs the import filter (rpki reload, from
    the import table) and the receiver loses the route; moved back, it returns."""
    rtr.update_roas(rpki_lab.lab, "rtr1", FLIPPED)
    after = _eventually(_seen_when(rpki_lab, _settled({**OUTCOME, FLIP: INVALID_TAG})),
                        "the route made invalid withdrawn")
    assert _rov(after.filtered[FLIP]) == {INVALID_TAG}
    assert "198.18.1.0/24" in after.receiver  # the other routes stay
    rtr.update_roas(rpki_lab.lab, "rtr1", ROAS)
    back = _eventually(_seen_when(rpki_lab, _settled(OUTCOME)),
                       "the route made valid again")
    assert _rov(back.receiver[FLIP]) == {VALID_TAG}
    log = (rpki_lab.workdir / "rtr1.log").read_text()
    assert log.count("New update") >= 3  # the first load and both changes


@pytest.mark.slow
def test_routes_learnt_before_the_cache_answers_are_checked_once_it_does(
        tmp_path: Path) -> None:
    """(c) and (d): two caches, neither running when the sessions come up: every route is
    unknown and passed on. Then only the second cache starts: its ROAs arrive, the routes are
    re-evaluated, the invalid ones withdrawn; the first cache stays down."""
    caches = rpki_protocol("rtr1", RTR1, retry=5) + rpki_protocol("rtr2", RTR2, retry=5)
    with _rpki_lab(tmp_path, caches) as lab:
        before = _eventually(_seen_when(lab, _settled(dict.fromkeys(OUTCOME, UNKNOWN_TAG))),
                             "every route accepted with no ROAs")
        for prefix in OUTCOME:
            assert _rov(before.receiver[prefix]) == {UNKNOWN_TAG}, prefix
        assert _protocol(lab.rs, "rtr1")[0] == _protocol(lab.rs, "rtr2")[0] == "start"

        lab.start_cache("rtr2", RTR2, ROAS)
        after = _eventually(_seen_when(lab, _settled(OUTCOME)),
                            "the routes re-evaluated once the second cache delivered")
        for prefix in ACCEPTED:
            assert _rov(after.receiver[prefix]) == {OUTCOME[prefix]}, prefix
        assert _protocol(lab.rs, "rtr2") == ("up", "Established")
        assert _protocol(lab.rs, "rtr1")[0] == "start"
