"""The exchange's routing plan: what each route server does with each member's routes.

`plan(config, snapshot, settings)` is the one place policy is decided: route server -> member
-> family -> session, with the checks in the order the filters run them, the limits and where
each came from, the next hops, and every BIRD symbol the config defines. The templates only
format it, `rsgen verify` takes its sessions, names, limits and expectations from it, and
`rsgen context` prints it (`plan_json`). Pure: no I/O, no environment (passwords come in
`settings`).
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

import rsgen
from rsgen.errors import InvalidInput, NoSnapshot, Problem
from rsgen.model import (
    BlackholeSettings,
    Config,
    Exchange,
    Member,
    PeeringLan,
    PolicySettings,
    RouteServer,
    Session,
    Snapshot,
)
from rsgen.policy import (
    accepted_prefixes,
    blackhole_prefixes,
    choose_as_sets,
    max_prefixes,
    receive_limit,
)
from rsgen.rules import IRR_INFO_ID, REJECT_REASON_ID, RPKI_INFO_ID, RPKI_INVALID, Scope, checks_for
from rsgen.settings import Settings
from rsgen.values import (
    AsSetName,
    IPAddress,
    PrefixList,
    PrefixRange,
    Secret,
    check_password,
    safe_comment,
)

BIRD_SYMBOL_MAX = 64  # BIRD refuses longer symbol names
_NON_SYMBOL = re.compile(r"[^A-Za-z0-9_]")


def bird_symbol(*parts: str | int) -> str:
    """A BIRD symbol from its parts joined by '_', e.g. ("AS3333", "PREFIXES", "V4").

    Every name rsgen defines in a config comes through here: anything but letters, digits and
    '_' becomes '_', and a name BIRD would refuse (over 64 characters) is an error here rather
    than a `bird -p` failure later.
    """
    name = _NON_SYMBOL.sub("_", "_".join(str(p) for p in parts))
    if not name or name[0].isdigit():
        raise ValueError(f"BIRD symbol {name!r} must start with a letter or '_'")
    if len(name) > BIRD_SYMBOL_MAX:
        raise ValueError(f"BIRD symbol {name!r} longer than {BIRD_SYMBOL_MAX} characters")
    return name


def protocol_name(asn: int, address: IPAddress) -> str:
    """A member session's BGP protocol, e.g. AS3333_192_0_2_10: from the ASN and the address,
    so reordering sessions in a member file changes nothing in the config."""
    return bird_symbol(f"AS{asn}", address.compressed)


@dataclass(frozen=True)
class Limit:
    """A number the config uses, and where it came from (shown in a comment and in context)."""

    value: int
    source: str


@dataclass(frozen=True)
class SessionPlan:
    protocol: str  # BIRD protocol name on the route server
    address: IPAddress  # the member router's address
    local: IPAddress  # the route server's address in this family
    description: str  # scrubbed
    password_env: str | None  # the variable the member file names
    password: Secret | None  # its value (shown as <secret> everywhere but the config)


@dataclass(frozen=True)
class FamilyPlan:
    """One member's routes of one IP version on one route server."""

    version: int
    import_filter: str  # BIRD filter name
    prefix_set: str  # BIRD constant: the member's IRR prefixes
    prefixes: PrefixList
    next_hops: tuple[IPAddress, ...]  # the only next hops accepted: the member's own
    next_hop_set: str  # BIRD constant: next_hops as a set
    import_limit: Limit  # accepted routes (the policy's max-prefix)
    receive_limit: Limit  # all routes received, filtered ones included (memory guard)
    limit_action: str  # BIRD's limit action, for both limits
    checks: tuple[str, ...]  # rule names, in the order the import filter applies them
    # BLACKHOLE requests: the member's registered space down to host routes (None: the
    # exchange takes no blackhole requests in this family).
    blackhole_prefix_set: str | None
    blackhole_prefixes: tuple[PrefixRange, ...]
    # IPv6: after the next-hop check, keep only the checked global next hop (an UPDATE may
    # carry another router's link-local address beside it, which filters never see).
    global_next_hop_only: bool
    sessions: tuple[SessionPlan, ...]


@dataclass(frozen=True)
class MemberPlan:
    asn: int
    name: str  # scrubbed
    as_sets: tuple[AsSetName, ...]  # the IRR objects expanded
    as_set_source: str  # "member file", "PeeringDB" or "ASN only"
    as_set_warning: str  # scrubbed; empty when none
    origin_set: str  # BIRD constant: origin ASNs of the AS-SETs
    origins: tuple[int, ...]
    export_filter: str  # BIRD filter name: what this member receives
    families: tuple[FamilyPlan, ...]
    irr_more_specifics: bool  # the prefix lists admit more-specifics (member file)
    irr_tag: bool  # IRR failures tagged (RS, IRR_INFO_ID, reason), not rejected (irr.mode)
    receives_blackholes: bool  # false: its export filter refuses BLACKHOLE routes
    add_path: bool  # ADD-PATH tx on its sessions: every path its export filter admits
    # Not empty (scrubbed): the IRR expands its objects to nothing (IrrData.pending). Its
    # sessions are configured; its empty origin and prefix sets reject every route, and IRR
    # tag mode is off for it, so nothing is accepted.
    pending: str = ""

    def family(self, version: int) -> FamilyPlan | None:
        return next((f for f in self.families if f.version == version), None)


@dataclass(frozen=True)
class CheckPlan:
    """One exchange-wide check of one family: applied to every member's routes first."""

    rule: str
    code: int
    text: str


@dataclass(frozen=True)
class ExchangeFamilyPlan:
    version: int
    checks_function: str  # BIRD function running the exchange-wide checks
    checks: tuple[CheckPlan, ...]
    peering_lan: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    min_length: int
    max_length: int
    # BLACKHOLE routes' new next hop in this family; None: no blackhole requests taken.
    blackhole_next_hop: IPAddress | None


@dataclass(frozen=True)
class RouteServerPlan:
    name: str
    asn: int
    router_id: ipaddress.IPv4Address
    ipv4: ipaddress.IPv4Address | None
    ipv6: ipaddress.IPv6Address | None
    config_file: str
    families: tuple[ExchangeFamilyPlan, ...]  # the families this route server serves
    members: tuple[MemberPlan, ...]  # sorted by ASN; only members with a session here
    # Announcement control also in standard communities (0:peer, 0:RS, RS:peer): only when
    # the route server's ASN fits 16 bits (BIRD refuses a 32-bit one in a pair).
    standard_control_communities: bool

    def address(self, version: int) -> IPAddress | None:
        return self.ipv4 if version == 4 else self.ipv6

    def member(self, asn: int) -> MemberPlan | None:
        return next((m for m in self.members if m.asn == asn), None)


@dataclass(frozen=True)
class RtrPlan:
    protocol: str  # BIRD rpki protocol name
    address: IPAddress
    port: int


@dataclass(frozen=True)
class RpkiPlan:
    """Origin validation: the ROA tables every route server fills from its RTR caches."""

    roa4_table: str
    roa6_table: str
    servers: tuple[RtrPlan, ...]
    invalid: str  # "reject" (reason 14) or "tag" (kept with invalid_tag, never exported)
    info_id: int  # large communities (RS, info_id, 1) valid and (RS, info_id, 2) unknown
    invalid_tag: int  # (RS, info_id, invalid_tag): invalid, kept ("tag")

    def table(self, version: int) -> str:
        return self.roa4_table if version == 4 else self.roa6_table


@dataclass(frozen=True)
class ExchangePlan:
    rsgen_version: str
    exchange: str  # scrubbed name
    peering_lan: PeeringLan
    policy: PolicySettings
    reject_reason_id: int
    # The route server's informational large communities (RS, id, value), which members'
    # routes lose on arrival: RPKI results, and IRR failures of members in tag mode.
    rpki_info_id: int
    irr_info_id: int
    example_data: bool
    # PeeringDB's networks that are never reachable via route servers (the snapshot's list).
    never_via_route_servers: tuple[int, ...]
    rpki: RpkiPlan | None  # None: no origin validation (exchange.yml has no rpki:)
    # BLACKHOLE (RFC 7999): the next hop per family (exchange.yml blackhole:); None: off.
    blackhole: BlackholeSettings | None
    route_servers: tuple[RouteServerPlan, ...]

    def route_server(self, name: str) -> RouteServerPlan:
        for server in self.route_servers:
            if server.name == name:
                return server
        raise KeyError(name)


def plan(config: Config, snapshot: Snapshot, settings: Settings) -> ExchangePlan:
    """Decide everything the configs say, for every route server."""
    exchange = config.exchange
    return ExchangePlan(
        rsgen_version=rsgen.__version__,
        exchange=safe_comment(exchange.name),
        peering_lan=exchange.peering_lan,
        policy=exchange.policy,
        reject_reason_id=REJECT_REASON_ID,
        rpki_info_id=RPKI_INFO_ID,
        irr_info_id=IRR_INFO_ID,
        example_data=snapshot.example,
        never_via_route_servers=tuple(sorted(snapshot.never_via_route_servers)),
        rpki=None if exchange.rpki is None else RpkiPlan(
            roa4_table=bird_symbol("ROA_V4"), roa6_table=bird_symbol("ROA_V6"),
            servers=tuple(RtrPlan(bird_symbol("RTR", index + 1), server.address, server.port)
                          for index, server in enumerate(exchange.rpki.rtr_servers)),
            invalid=exchange.rpki.invalid, info_id=RPKI_INFO_ID, invalid_tag=RPKI_INVALID),
        blackhole=exchange.blackhole,
        route_servers=tuple(_route_server(config, snapshot, settings, server)
                            for server in exchange.route_servers),
    )


def _route_server(config: Config, snapshot: Snapshot, settings: Settings,
                  server: RouteServer) -> RouteServerPlan:
    policy = config.exchange.policy
    versions = tuple(v for v in (4, 6) if server.address(v) is not None)
    families = tuple(ExchangeFamilyPlan(
        version=v,
        checks_function=bird_symbol("import_checks", f"v{v}"),
        checks=tuple(CheckPlan(r.name, r.code, r.text)
                     for r in checks_for(Scope.EXCHANGE, v)
                     if _applies(r.name, config.exchange, snapshot)),
        peering_lan=config.exchange.peering_lan.network(v),
        min_length=policy.min_length(v),
        max_length=policy.max_length(v),
        blackhole_next_hop=_blackhole_next_hop(config.exchange, v),
    ) for v in versions)
    members = tuple(m for m in (_member(config, snapshot, settings, server, member)
                                for member in config.members) if m.families)
    return RouteServerPlan(server.name, server.asn, server.router_id, server.ipv4,
                           server.ipv6, config_file(server), families, members,
                           standard_control_communities=server.asn <= 0xFFFF)


def config_file(server: RouteServer) -> str:
    """The name of a route server's config in the output directory."""
    return f"{server.name}.conf"


def _member(config: Config, snapshot: Snapshot, settings: Settings, server: RouteServer,
            member: Member) -> MemberPlan:
    irr = snapshot.irr.get(member.asn)
    if irr is None:
        raise NoSnapshot(f"no IRR data for AS{member.asn} in the snapshot",
                         hint="run rsgen refresh (or build without --offline)")
    peeringdb = snapshot.peeringdb.get(member.asn)
    policy = config.exchange.policy
    choice = choose_as_sets(member, peeringdb)
    asn = f"AS{member.asn}"
    families = []
    for version in (4, 6):
        local = server.address(version)
        own = sorted((s for s in member.sessions if s.ip.version == version),
                     key=lambda s: s.ip.packed)
        if local is None or not own:
            continue
        sessions = tuple(SessionPlan(
            protocol=protocol_name(member.asn, s.ip), address=s.ip, local=local,
            description=safe_comment(s.description or member.name),
            password_env=s.password_env, password=session_password(member, s, settings))
            for s in own)
        extra = tuple(a for a in member.extra_next_hops if a.version == version)
        limit, source = max_prefixes(member, peeringdb, policy, version)
        receive = receive_limit(limit, policy)
        blackholes = _blackhole_next_hop(config.exchange, version) is not None
        families.append(FamilyPlan(
            version=version,
            import_filter=bird_symbol("import", asn, f"v{version}"),
            prefix_set=bird_symbol(asn, "PREFIXES", f"V{version}"),
            prefixes=accepted_prefixes(member, irr, policy, version),
            next_hops=tuple(s.address for s in sessions) + extra,
            next_hop_set=bird_symbol(asn, "NEXT_HOPS", f"V{version}"),
            import_limit=Limit(limit, source),
            receive_limit=Limit(receive, f"{policy.receive_limit_multiplier} x the import "
                                         f"limit, at least {policy.receive_limit_minimum}"),
            limit_action=policy.max_prefix_action.value,
            checks=tuple(r.name for r in checks_for(Scope.EXCHANGE, version) + checks_for(
                Scope.MEMBER, version) if _applies(r.name, config.exchange, snapshot)),
            blackhole_prefix_set=bird_symbol(asn, "BLACKHOLE", f"V{version}")
            if blackholes else None,
            blackhole_prefixes=blackhole_prefixes(irr, version) if blackholes else (),
            global_next_hop_only=version == 6,
            sessions=sessions,
        ))
    return MemberPlan(
        asn=member.asn,
        name=safe_comment(member.name),
        as_sets=irr.objects,
        as_set_source=choice.origin,
        as_set_warning=safe_comment(choice.warning or "", limit=200),
        origin_set=bird_symbol(asn, "ORIGINS"),
        origins=irr.origins,
        export_filter=bird_symbol("export", asn),
        families=tuple(families),
        irr_more_specifics=member.irr_more_specifics,
        irr_tag=member.irr_tag and not irr.pending,
        receives_blackholes=member.receives_blackholes,
        add_path=member.add_path,
        pending=safe_comment(irr.pending, limit=300),
    )


def _blackhole_next_hop(exchange: Exchange, version: int) -> IPAddress | None:
    return None if exchange.blackhole is None else exchange.blackhole.next_hop(version)


def _applies(rule: str, exchange: Exchange, snapshot: Snapshot) -> bool:
    """Whether the exchange's settings and data turn a rule on (an empty ASN list: nothing to
    check, and BIRD has no empty int set literal to check against; no RTR cache: no ROV)."""
    if rule == "transit_free":
        return bool(exchange.policy.transit_free_asns)
    if rule == "never_via_route_servers":
        return bool(snapshot.never_via_route_servers)
    if rule == "rpki_invalid":
        return exchange.rpki is not None
    return True


def session_password(member: Member, session: Session, settings: Settings) -> Secret | None:
    """The session's BGP password, from the variable its member file names (read into
    settings at the entry point); InvalidInput when it is unset or unusable."""
    if session.password_env is None:
        return None
    location = session.location or member.location
    secret = settings.passwords.get(session.password_env)
    if secret is None:
        raise InvalidInput("a BGP password is not set", problems=(Problem(
            f"session {session.ip} takes its password from the environment variable "
            f"{session.password_env}, which is not set", location.file, location.line,
            f"set {session.password_env} where rsgen build runs (e.g. a CI secret)"),))
    why = check_password(secret.reveal())
    if why:
        raise InvalidInput("a BGP password is unusable", problems=(Problem(
            f"the password in {session.password_env} (session {session.ip}) {why}",
            location.file, location.line),))
    return secret


# --- the plan as readable JSON (`rsgen context`) ---


def plan_json(value: Any) -> Any:
    """The plan (or any part of it) as JSON-ready data: prefixes and addresses as text,
    secrets as "<secret>", dataclasses as objects with their fields in declaration order."""
    if isinstance(value, PrefixRange):
        return value.bird()
    if isinstance(value, PrefixList):
        return value.texts()
    if isinstance(value, Secret | AsSetName):
        return str(value)
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plan_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): plan_json(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [plan_json(v) for v in value]
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address |
                  ipaddress.IPv4Network | ipaddress.IPv6Network):
        return str(value)
    raise TypeError(f"no JSON form for {type(value).__name__}")
