"""The domain, as frozen dataclasses: what `load` produces and every later stage reads.

Nothing here does I/O. Values are already validated when an object exists.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from rsgen.values import PASSWORD_ENV_PREFIX, AsSetName, IPAddress, PrefixList, PrefixRange

T = TypeVar("T")


def _by_family(version: int, ipv4: T, ipv6: T) -> T:
    """The IPv4 or the IPv6 one of a pair of per-family values (every model accessor uses it)."""
    if version == 4:
        return ipv4
    if version == 6:
        return ipv6
    raise ValueError(f"IP version {version!r}: want 4 or 6")


@dataclass(frozen=True)
class Location:
    """Where a value came from, for error messages."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return self.file if self.line is None else f"{self.file}:{self.line}"


@dataclass(frozen=True)
class RouteServer:
    name: str
    asn: int
    router_id: ipaddress.IPv4Address
    ipv4: ipaddress.IPv4Address | None
    ipv6: ipaddress.IPv6Address | None

    def addresses(self) -> tuple[IPAddress, ...]:
        return tuple(a for a in (self.ipv4, self.ipv6) if a is not None)

    def address(self, version: int) -> IPAddress | None:
        """Its address in that IP version's peering LAN, or None when it serves no such family."""
        return _by_family(version, self.ipv4, self.ipv6)


@dataclass(frozen=True)
class PeeringLan:
    ipv4: ipaddress.IPv4Network | None
    ipv6: ipaddress.IPv6Network | None

    def network(self, version: int) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
        return _by_family(version, self.ipv4, self.ipv6)

    def contains(self, address: IPAddress) -> bool:
        network = self.network(address.version)
        return network is not None and address in network


class MaxPrefixAction(StrEnum):
    """What BIRD does when a session exceeds its max-prefix limit (BIRD's limit actions)."""

    RESTART = "restart"  # drop the session, let it come back after BIRD's error wait time
    DISABLE = "disable"  # drop the session until an operator enables it again
    BLOCK = "block"  # keep the session, ignore routes beyond the limit
    WARN = "warn"  # only log


# The transit-free ("tier 1") networks arouteserver checks for by default (its
# transit_free.asns): none of them buys transit, so none can be behind a member's customer
# cone at an exchange; a path through one after the member is a route leak.
TRANSIT_FREE_ASNS = (174, 209, 286, 701, 1239, 1299, 2828, 2914, 3257, 3320, 3356, 3491, 5511,
                     6453, 6461, 6762, 6830, 7018, 12956)


@dataclass(frozen=True)
class PolicySettings:
    """Exchange-wide import policy knobs (exchange.yml `policy:`)."""

    ipv4_min_length: int = 8
    ipv4_max_length: int = 24
    ipv6_min_length: int = 12
    ipv6_max_length: int = 48
    max_as_path_length: int = 32
    # restart, as IXP Manager's route servers (`import limit N action restart`): a member
    # that exceeds its limit with accepted routes comes back by itself once it announces
    # fewer (arouteserver leaves the action unset by default and suggests `shutdown`, which
    # is BIRD's `disable`: down until an operator acts). Filtered routes no longer count.
    max_prefix_action: MaxPrefixAction = MaxPrefixAction.RESTART
    # Used when neither the member file nor PeeringDB gives a limit.
    default_max_prefixes_ipv4: int = 100
    default_max_prefixes_ipv6: int = 50
    # Headroom on PeeringDB's info_prefixes4/6, sized like arouteserver (its
    # max_prefix.peering_db.increment, defaults absolute 100, relative 15):
    # (PeeringDB + absolute) * (1 + percent / 100). Many networks enter their exact route
    # count, and a small one (4 routes) would otherwise be cut off by its next prefix.
    # Member files give exact limits.
    max_prefix_headroom_percent: int = 15
    max_prefix_headroom_absolute: int = 100
    # The limit above counts accepted routes (BIRD `import limit`). Filtered routes are kept
    # too (`import keep filtered`), so a second, generous limit on all received routes
    # (`receive limit`) guards the route server's memory: this many times the import limit,
    # at least receive_limit_minimum.
    receive_limit_multiplier: int = 4
    receive_limit_minimum: int = 1000
    # A member's own PeeringDB info_prefixes4/6 above these is ignored (the exchange default
    # applies, with a warning): anyone can type 4294967295 into PeeringDB, which would make
    # the limit no limit at all. Chosen from real data: the biggest transit carriers declare
    # 350,000 IPv4 / 35,000 IPv6 (AS2914 NTT; AS3491 PCCW 160,000 / 8,000): the ceilings are
    # about 3x and 6x that, near the size of the whole Internet table (about 1,000,000 IPv4
    # and 200,000 IPv6 routes in 2025), which no member sends a route server. Member-file
    # limits are reviewed and exact: never capped.
    max_prefixes_ceiling_ipv4: int = 1_000_000
    max_prefixes_ceiling_ipv6: int = 200_000
    # Log every rejected route (BIRD `print`): off, since a full reload (a new config, a route
    # refresh) logs every filtered route again; `birdc show route filtered all` lists them.
    log_rejected_routes: bool = False
    # BGP roles (RFC 9234, `local role rs_server`): routes with OTC from a member are leaks.
    bgp_roles: bool = True
    # Networks that buy no transit: behind a route-server member they mean a leak (reason 8).
    transit_free_asns: tuple[int, ...] = TRANSIT_FREE_ASNS

    def min_length(self, version: int) -> int:
        return _by_family(version, self.ipv4_min_length, self.ipv6_min_length)

    def max_length(self, version: int) -> int:
        return _by_family(version, self.ipv4_max_length, self.ipv6_max_length)

    def default_max_prefixes(self, version: int) -> int:
        return _by_family(version, self.default_max_prefixes_ipv4,
                          self.default_max_prefixes_ipv6)

    def max_prefixes_ceiling(self, version: int) -> int:
        return _by_family(version, self.max_prefixes_ceiling_ipv4,
                          self.max_prefixes_ceiling_ipv6)


@dataclass(frozen=True)
class PeeringDbSettings:
    url: str = "https://www.peeringdb.com/api"
    timeout_seconds: float = 30.0
    # The exchange's peering LAN in PeeringDB (an ixlan id): where `rsgen member add` looks
    # for a new member's addresses.
    ixlan_id: int | None = None
    # "rest": the API at `url`; "mirror": a local `peeringdb sync` database, whose path the
    # operator gives (--peeringdb-mirror, RSGEN_PEERINGDB_MIRROR), never exchange.yml.
    source: str = "rest"


@dataclass(frozen=True)
class IxfSettings:
    """exchange.yml `ixf:`: how `rsgen export ixf` names the exchange in an IX-F member export."""

    ixf_id: int | None = None  # the exchange's id in the IX-F database (required to export)
    ixp_id: int = 1  # the export's own id for the exchange, which connections refer to
    vlan_id: int = 1  # the export's id for the peering LAN


@dataclass(frozen=True)
class IrrSettings:
    host: str = "whois.radb.net"
    sources: tuple[str, ...] = ("RIPE", "APNIC", "ARIN", "AFRINIC", "LACNIC", "RADB")
    timeout_seconds: float = 120.0
    parallel: int = 4
    # Share of a member's prefix or origin list a refresh may take away (rsgen.guard).
    max_shrink: float = 0.5
    # More IRR hosts to try, in order, for a member whose expansion `host` fails.
    fallback_hosts: tuple[str, ...] = ()

    @property
    def hosts(self) -> tuple[str, ...]:
        return (self.host, *self.fallback_hosts)


@dataclass(frozen=True)
class RtrServer:
    address: IPAddress
    port: int = 3323


@dataclass(frozen=True)
class RpkiSettings:
    """exchange.yml `rpki:` (ROV is on when an Exchange has one)."""

    rtr_servers: tuple[RtrServer, ...]
    invalid: str = "reject"


@dataclass(frozen=True)
class BlackholeSettings:
    """exchange.yml `blackhole:` (RFC 7999): where BLACKHOLE routes' traffic goes, per family.

    A family without an address accepts no blackhole requests: 65535:666 is then an ordinary
    community and its routes pass the ordinary checks.
    """

    ipv4: ipaddress.IPv4Address | None = None
    ipv6: ipaddress.IPv6Address | None = None

    def next_hop(self, version: int) -> IPAddress | None:
        return _by_family(version, self.ipv4, self.ipv6)


@dataclass(frozen=True)
class Exchange:
    name: str
    route_servers: tuple[RouteServer, ...]
    peering_lan: PeeringLan
    peeringdb: PeeringDbSettings = field(default_factory=PeeringDbSettings)
    irr: IrrSettings = field(default_factory=IrrSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    location: Location = Location("exchange.yml")
    rpki: RpkiSettings | None = None
    blackhole: BlackholeSettings | None = None
    ixf: IxfSettings = field(default_factory=IxfSettings)


@dataclass(frozen=True)
class Session:
    ip: IPAddress
    description: str | None = None
    location: Location | None = None
    # The environment variable holding the BGP password: the password itself never enters
    # the repository, the snapshot or rsgen's model, only the rendered config.
    password_env: str | None = None

    def __post_init__(self) -> None:
        # Only RS_PW_* variables hold BGP passwords: never let a model name another secret.
        if self.password_env is not None and not (
                self.password_env.startswith(PASSWORD_ENV_PREFIX)
                and len(self.password_env) > len(PASSWORD_ENV_PREFIX)):
            raise ValueError(f"password variable must be named {PASSWORD_ENV_PREFIX}<NAME>")


@dataclass(frozen=True)
class MaxPrefixes:
    ipv4: int | None = None
    ipv6: int | None = None

    def of(self, version: int) -> int | None:
        return _by_family(version, self.ipv4, self.ipv6)


@dataclass(frozen=True)
class Member:
    asn: int
    name: str
    sessions: tuple[Session, ...]
    as_sets: tuple[AsSetName, ...] = ()  # empty: take PeeringDB's irr_as_set, else the ASN
    max_prefixes: MaxPrefixes = MaxPrefixes()
    description: str | None = None
    location: Location = Location("members/?")
    # Other routers of the member on the peering LAN that its routes may name as next hop.
    extra_next_hops: tuple[IPAddress, ...] = ()
    # Accept more-specifics of registered prefixes down to the policy's maximum length.
    irr_more_specifics: bool = False
    # IRR tag mode (member file irr.mode: tag): routes failing an IRR check are accepted,
    # tagged (RS, IRR_INFO_ID, reason), instead of rejected.
    irr_tag: bool = False
    # ADD-PATH towards the member: every accepted path, not only the best (member file).
    add_path: bool = False
    # Receive other members' BLACKHOLE routes (member file blackhole.receive).
    receives_blackholes: bool = True


@dataclass(frozen=True)
class Config:
    """Everything `load` reads from an exchange directory."""

    exchange: Exchange
    members: tuple[Member, ...]  # sorted by ASN


# --- the snapshot: enrichment data fetched by `refresh`, committed beside the member files ---


@dataclass(frozen=True)
class PeeringDbNet:
    """The fields of a PeeringDB `net` object that policy uses (all untrusted text)."""

    asn: int
    name: str
    irr_as_set: str
    info_prefixes4: int | None
    info_prefixes6: int | None
    never_via_route_servers: bool

    def info_prefixes(self, version: int) -> int | None:
        return _by_family(version, self.info_prefixes4, self.info_prefixes6)


@dataclass(frozen=True)
class IrrData:
    """A member's IRR expansion, as bgpq4 returned it.

    The prefix lists may be given as any sequence of PrefixRange (a tuple, in tests): they are
    kept as PrefixLists.
    """

    objects: tuple[AsSetName, ...]  # what was expanded
    origins: tuple[int, ...]  # sorted, unique
    ipv4: PrefixList  # sorted, unique
    ipv6: PrefixList
    # Not empty: a member whose objects the IRR expands to nothing, and why (refresh writes
    # this for a new member, or for a reviewed shrink to empty): its sessions are configured,
    # and every route it sends is rejected, until its route objects are registered.
    pending: str = ""

    def __post_init__(self) -> None:
        for name in ("ipv4", "ipv6"):
            value: Sequence[PrefixRange] = getattr(self, name)
            if not isinstance(value, PrefixList):
                object.__setattr__(self, name, PrefixList(value))

    def prefixes(self, version: int) -> PrefixList:
        return _by_family(version, self.ipv4, self.ipv6)


@dataclass(frozen=True)
class Snapshot:
    example: bool  # True for the bundled example exchange's made-up data
    peeringdb: Mapping[int, PeeringDbNet]  # by ASN; a member absent from PeeringDB is absent
    irr: Mapping[int, IrrData]  # by ASN
    # Networks that declare in PeeringDB they are never reachable via route servers
    # (info_never_via_route_servers): all of PeeringDB's, not only the members.
    never_via_route_servers: frozenset[int] = frozenset()
