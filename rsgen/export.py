"""`rsgen export`: what an exchange publishes about its route servers, from the same plan as
the configs.

as-set: the RPSL as-set object of the route servers' members (RFC 2622 section 5.1), for the
exchange to register in an IRR database, so that networks peering with the route servers can
build their filters from it. Its members are what each member's filter is built from (the
AS-SETs refresh expanded, or the ASN alone), so the object and the configs never disagree.

ixf: the IX-F member export (Euro-IX JSON schema 1.0) that PeeringDB, IXP databases and
members' tools read: members, their route-server sessions, limits and AS-SETs.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rsgen.model import Config
from rsgen.plan import ExchangePlan
from rsgen.values import AsSetName, parse_as_set, safe_comment

# RFC 2622: attribute names end at column 16 in the IRR databases' own formatting.
_COLUMN = 16
_MAINTAINER_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,79}")
_SOURCE_RE = re.compile(r"[A-Z][A-Z0-9-]{0,31}")


def _attribute(name: str, value: str) -> str:
    return f"{name + ':':<{_COLUMN}}{value}"


def route_server_as_set(exchange_plan: ExchangePlan, name: str, *, mnt_by: str | None = None,
                        source: str | None = None) -> str:
    """The RPSL text of the as-set `name` (an AS-SET name, e.g. AS-EXAMPLE-RS or
    AS64500:AS-RS); ValueError for a name, maintainer or source that is not well-formed."""
    as_set = parse_as_set(name)
    if as_set.is_asn or as_set.source is not None:
        raise ValueError(f"{name!r} is not an as-set name without a source (e.g. AS-EXAMPLE-RS)")
    if mnt_by is not None and not _MAINTAINER_RE.fullmatch(mnt_by):
        raise ValueError(f"{mnt_by!r} is not a maintainer name")
    if source is not None and not _SOURCE_RE.fullmatch(source):
        raise ValueError(f"{source!r} is not an IRR source name")
    members: dict[int, tuple[AsSetName, ...]] = {}
    for server in exchange_plan.route_servers:
        for member in server.members:
            members[member.asn] = member.as_sets
    # Each member's objects once, by the member's ASN; a source pin (RIPE::AS-FOO) is not
    # RPSL member syntax, so it is dropped: the name alone.
    names: list[str] = []
    for asn in sorted(members):
        for obj in members[asn]:
            if obj.name not in names:
                names.append(obj.name)
    lines = [_attribute("as-set", as_set.name),
             _attribute("descr", f"Route-server members of {safe_comment(exchange_plan.exchange)}")]
    lines += [_attribute("members", n) for n in names]
    if mnt_by is not None:
        lines.append(_attribute("mnt-by", mnt_by))
    if source is not None:
        lines.append(_attribute("source", source))
    return "\n".join(lines) + "\n"


IXF_VERSION = "1.0"
# Characters that end a string in HTML or a <script> block: escaped as \u003c etc. in the JSON
# (which means the same), so a member name can never close a page's tag that embeds it.
_HTML_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def ixf_member_export(exchange_plan: ExchangePlan, config: Config, timestamp: str) -> str:
    """The exchange's IX-F member export (schema 1.0) as JSON text: every member with its
    route-server sessions (all of a member's sessions are), their import limits and AS-SETs
    as the configs have them. Same plan and timestamp, same bytes."""
    exchange = config.exchange
    ixf = exchange.ixf
    if ixf.ixf_id is None:
        raise ValueError("exchange.yml has no ixf.ixf_id (the exchange's id in the IX-F "
                         "database), which an IX-F export must name")
    vlan: dict[str, Any] = {"id": ixf.vlan_id, "name": "peering LAN"}
    for family in ("ipv4", "ipv6"):
        network = getattr(exchange.peering_lan, family)
        if network is not None:
            vlan[family] = {"prefix": str(network.network_address),
                            "mask_length": network.prefixlen}
    planned = {m.asn: m for server in exchange_plan.route_servers for m in server.members}
    limits: dict[tuple[int, int], int] = {}
    for server in exchange_plan.route_servers:
        for member_plan in server.members:
            for family_plan in member_plan.families:
                limits.setdefault((member_plan.asn, family_plan.version),
                                  family_plan.import_limit.value)
    members = []
    for member in config.members:
        found = planned.get(member.asn)
        if found is None:
            continue
        macro = " ".join(str(s) for s in found.as_sets) \
            if found.as_set_source != "ASN only" else None
        by_family: dict[int, list[dict[str, Any]]] = {4: [], 6: []}
        for session in member.sessions:
            entry: dict[str, Any] = {"address": str(session.ip), "routeserver": True}
            limit = limits.get((member.asn, session.ip.version))
            if limit is not None:
                entry["max_prefix"] = limit
            if macro:
                entry["as_macro"] = macro
            by_family[session.ip.version].append(entry)
        # A member file does not say which addresses share a router: the n-th of each family
        # go together, as most members list them.
        vlans = []
        for index in range(max(len(by_family[4]), len(by_family[6]))):
            item: dict[str, Any] = {"vlan_id": ixf.vlan_id}
            for version, family in ((4, "ipv4"), (6, "ipv6")):
                if index < len(by_family[version]):
                    item[family] = by_family[version][index]
            vlans.append(item)
        members.append({"asnum": member.asn, "member_type": "peering", "name": member.name,
                        "connection_list": [{"ixp_id": ixf.ixp_id, "state": "active",
                                             "vlan_list": vlans}]})
    document = {
        "version": IXF_VERSION,
        "timestamp": timestamp,
        "ixp_list": [{"ixf_id": ixf.ixf_id, "ixp_id": ixf.ixp_id, "shortname": exchange.name,
                      "vlan": [vlan]}],
        "member_list": members,
    }
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=True) \
        .translate(_HTML_SAFE) + "\n"
