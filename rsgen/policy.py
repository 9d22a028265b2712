"""Pure policy decisions: which AS-SET, which max-prefix, which BIRD names.

No I/O: every function takes values and returns values, so each decision is unit-tested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rsgen.model import Member, PeeringDbNet, PolicySettings, Session
from rsgen.values import AsSetName, parse_as_set_list

BIRD_SYMBOL_MAX = 64  # BIRD refuses longer symbol names
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
    """The session limit for one address family and where it came from.

    PeeringDB figures are what networks announce today; headroom keeps a member that grows
    a little from being torn down by the exchange.
    """
    configured = member.max_prefixes.ipv4 if version == 4 else member.max_prefixes.ipv6
    if configured is not None:
        return configured, "member file"
    announced = None
    if peeringdb is not None:
        announced = peeringdb.info_prefixes4 if version == 4 else peeringdb.info_prefixes6
    if announced:
        percent = policy.max_prefix_headroom_percent
        # PeeringDB's count is anyone's input: headroom on a huge one must still fit BIRD.
        return min(-(-announced * (100 + percent) // 100), BIRD_LIMIT_MAX), \
            f"PeeringDB {announced} + {policy.max_prefix_headroom_percent}%"
    default = policy.default_max_prefixes_ipv4 if version == 4 \
        else policy.default_max_prefixes_ipv6
    return default, "exchange default"


_NON_SYMBOL = re.compile(r"[^A-Za-z0-9_]")


def protocol_name(member: Member, session: Session) -> str:
    """A stable BIRD protocol name from the ASN and the address, e.g. AS3333_192_0_2_10.

    Derived from the address rather than the position in the file, so reordering sessions in a
    member file changes nothing in the config.
    """
    address = _NON_SYMBOL.sub("_", session.ip.compressed)
    name = f"AS{member.asn}_{address}"
    if len(name) > BIRD_SYMBOL_MAX:  # cannot happen for real addresses; guard anyway
        raise ValueError(f"BIRD symbol {name!r} longer than {BIRD_SYMBOL_MAX}")
    return name


def set_name(member: Member, what: str) -> str:
    """Name of a per-member BIRD set constant, e.g. AS3333_PREFIXES_V4."""
    return f"AS{member.asn}_{what}"
