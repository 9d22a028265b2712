"""Pure policy decisions the plan (rsgen.plan) is made of: which AS-SET, which limits.

No I/O: every function takes values and returns values, so each decision is unit-tested.
"""

from __future__ import annotations

from dataclasses import dataclass

from rsgen.model import IrrData, Member, PeeringDbNet, PolicySettings
from rsgen.values import AsSetName, PrefixList, PrefixRange, parse_as_set_list

BIRD_LIMIT_MAX = 2**32 - 1  # BIRD's receive limit is a 32-bit number ("Number out of range")


@dataclass(frozen=True)
class AsSetChoice:
    """The IRR objects to expand for a member, where they came from, and any warning."""

    objects: tuple[AsSetName, ...]
    origin: str  # "member file", "PeeringDB" or "ASN only"
    warning: str | None = None


def choose_as_sets(member: Member, peeringdb: PeeringDbNet | None) -> AsSetChoice:
    """Member file first, then PeeringDB irr_as_set, then the member's ASN alone.

    A malformed PeeringDB value is never passed on: the member falls back to its ASN, which
    is the narrowest safe filter, and the warning says why.
    """
    if member.as_sets:
        return AsSetChoice(member.as_sets, "member file")
    asn_only = (AsSetName(f"AS{member.asn}"),)
    if peeringdb is None or not peeringdb.irr_as_set.strip():
        return AsSetChoice(asn_only, "ASN only")
    try:
        parsed = parse_as_set_list(peeringdb.irr_as_set)
    except ValueError as exc:
        return AsSetChoice(asn_only, "ASN only",
                           f"PeeringDB irr_as_set ignored: {exc}; set as_set in the member file")
    return AsSetChoice(parsed, "PeeringDB") if parsed else AsSetChoice(asn_only, "ASN only")


def max_prefixes(member: Member, peeringdb: PeeringDbNet | None, policy: PolicySettings,
                 version: int) -> tuple[int, str]:
    """The limit on accepted routes for one address family and where it came from.

    PeeringDB figures are what networks announce today; headroom (absolute and relative, as
    arouteserver sizes it) keeps a member that grows a little from being torn down by the
    exchange. A PeeringDB figure is the member's own claim, unreviewed: above the exchange's
    ceiling it is ignored, so nobody can lift their own limit to "none" by typing a huge
    number into PeeringDB. Member-file limits are reviewed in the pull request and exact
    (the schema keeps them within BIRD's range).
    """
    configured = member.max_prefixes.of(version)
    if configured is not None:
        return configured, "member file"
    default = policy.default_max_prefixes(version)
    announced = _announced(peeringdb, version)
    if announced:
        ceiling = policy.max_prefixes_ceiling(version)
        if announced > ceiling:
            # No ';' here: the config text scrub (rsgen.values) turns it into a space.
            return default, (f"PeeringDB value {announced} ignored: above the exchange's "
                             f"ceiling {ceiling}, exchange default")
        absolute = policy.max_prefix_headroom_absolute
        percent = policy.max_prefix_headroom_percent
        # Headroom on the largest value under the ceiling must still fit BIRD.
        return min(-(-(announced + absolute) * (100 + percent) // 100), BIRD_LIMIT_MAX), \
            f"(PeeringDB {announced} + {absolute}) + {percent}%"
    return default, "exchange default"


def receive_limit(import_limit: int, policy: PolicySettings) -> int:
    """The limit on all routes received from a session, filtered ones included.

    The policy limit (`max_prefixes`) is BIRD's `import limit`: accepted routes only, so a
    member is never torn down for routes the route server refuses anyway. Refused routes are
    still kept (`import keep filtered`) and cost memory: this second limit, a multiple of the
    import limit with a floor, stops a member flooding the route server with them.
    """
    wanted = max(import_limit * policy.receive_limit_multiplier, policy.receive_limit_minimum)
    return min(max(wanted, import_limit), BIRD_LIMIT_MAX)


def max_prefix_warnings(member: Member, peeringdb: PeeringDbNet | None,
                        policy: PolicySettings) -> list[str]:
    """What to tell the operator about this member's limits: PeeringDB values over the ceiling.

    Only for families the member has sessions in and no member-file limit for, i.e. where the
    ignored value would otherwise have been used.
    """
    warnings = []
    for version in (4, 6):
        configured = member.max_prefixes.of(version)
        if configured is not None or not any(s.ip.version == version for s in member.sessions):
            continue
        announced = _announced(peeringdb, version)
        ceiling = policy.max_prefixes_ceiling(version)
        if announced and announced > ceiling:
            limit = policy.default_max_prefixes(version)  # what max_prefixes uses then
            warnings.append(
                f"PeeringDB info_prefixes{version} {announced} ignored: above the exchange's "
                f"ceiling {ceiling} (policy.max_prefixes_ceiling_ipv{version}); the exchange "
                f"default {limit} applies; if the member really announces that many, set "
                f"max_prefixes.ipv{version} in its member file")
    return warnings


def accepted_prefixes(member: Member, irr: IrrData, policy: PolicySettings,
                      version: int) -> PrefixList:
    """The prefix list a member's routes must match: its IRR route objects, and with
    irr.more_specifics in its file their more-specifics down to the exchange's longest
    accepted length (a registered range is never narrowed)."""
    registered = irr.prefixes(version)
    if not member.irr_more_specifics:
        return registered
    longest = policy.max_length(version)
    return PrefixList.sorted_from(PrefixRange.of(p.network, p.ge, max(p.le, longest))
                                  if longest > p.prefixlen else p for p in registered)


def blackhole_prefixes(irr: IrrData, version: int) -> tuple[PrefixRange, ...]:
    """What a member may blackhole (RFC 7999): its registered space, down to a host route.

    Each registered range widened to the family's longest length; a range that an earlier
    kept one already covers (inside it, and admitting no shorter length) is left out, so the
    set is never bigger than the member's prefix list. The registrations are sorted by
    address and then length, so a cover comes before what it covers.
    """
    host = 32 if version == 4 else 128
    kept: list[PrefixRange] = []
    for entry in irr.prefixes(version):
        widened = PrefixRange(entry.version, entry.network_int, entry.prefixlen, entry.ge, host)
        if kept and _covers(kept[-1], widened):
            continue
        kept.append(widened)
    return tuple(kept)


def _covers(outer: PrefixRange, inner: PrefixRange) -> bool:
    """Whether every prefix `inner` admits is admitted by `outer` (both up to host routes)."""
    shift = (32 if outer.version == 4 else 128) - outer.prefixlen
    return inner.prefixlen >= outer.prefixlen and outer.ge <= inner.ge and \
        inner.network_int >> shift == outer.network_int >> shift


def _announced(peeringdb: PeeringDbNet | None, version: int) -> int | None:
    if peeringdb is None:
        return None
    return peeringdb.info_prefixes(version)
