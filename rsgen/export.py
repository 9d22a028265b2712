"""`rsgen export`: what an exchange publishes about its route servers, from the same plan as
the configs.

as-set: the RPSL as-set object of the route servers' members (RFC 2622 section 5.1), for the
exchange to register in an IRR database, so that networks peering with the route servers can
build their filters from it. Its members are what each member's filter is built from (the
AS-SETs refresh expanded, or the ASN alone), so the object and the configs never disagree.
"""

from __future__ import annotations

import re

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
