"""A minimal BGP-4 speaker that `rsgen verify` can run as a simulated member.

BIRD cannot be made to send some UPDATEs verify needs: an IPv6 next hop of the member's global
address plus a *different* router's link-local address, or AS paths with AS_SET segments. This
module encodes exactly those (and ordinary routes) itself.

The encoding and parsing functions are pure. The process entry point

    python -m rsgen.verification.speaker CONFIG.json

connects actively to every session's remote on port 179 (it never listens, so it runs as an
unprivileged user), announces the configured routes, keeps the sessions up, reconnects after a
drop, and on SIGHUP re-reads CONFIG.json and withdraws or announces the difference. CONFIG.json:

    {"local_asn": 64500, "router_id": "192.0.2.10",
     "sessions": [{"local": "192.0.2.10", "remote": "192.0.2.1", "remote_asn": 64999},
                  {"local": "2001:db8:ffff::10", "remote": "2001:db8:ffff::1",
                   "remote_asn": 64999, "routes": [...]}],
     "routes": [{"prefix": "203.0.113.0/24", "as_path": "64500 {64501 64502}",
                 "next_hop": "192.0.2.10", "link_local": null,
                 "communities": [[64500, 1]], "large_communities": [[64500, 1, 2]],
                 "otc": 64500}]}

A session announces the routes of its own "routes" list if it has one, else the top-level
ones, in either case only those of its families ("families": ["ipv4", "ipv6"], by default the
family of its addresses). A route's next hop defaults to the session's local address;
"as_path" is BIRD's notation (a string, `{...}` an AS_SET) or a list of ASNs and
{"set": [...]} / {"sequence": [...]} objects. "otc", an ASN, adds the Only to Customer
attribute (RFC 9234), which a route leaked by the member would carry; it is only sent, and is
not among what the received_file shows.

It also keeps, per session, a table of the routes it currently receives (a session that goes
down loses them all). With "received_file": "PATH" at the top level it writes every session's
table there as JSON, atomically, at start and whenever a table changes:

    {"sessions": {"<session name>": [{"prefix": "203.0.113.0/24",
        "as_path": "64500 {64501 64502}", "as_path_asns": [64500, 64501, 64502],
        "as_path_has_set": true, "next_hops": ["192.0.2.10"],
        "communities": [[65535, 65281]], "large_communities": [[64500, 65520, 12]]}]}}

A session's name is its "name" in CONFIG.json, verbatim, else "LOCAL->REMOTE".
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import selectors
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

IPv4Address = ipaddress.IPv4Address
IPv6Address = ipaddress.IPv6Address
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Family = Literal["ipv4", "ipv6"]

BGP_PORT = 179
HOLD_TIME = 90
AS_TRANS = 23456
MARKER = b"\xff" * 16
HEADER_LENGTH = 19
MAX_MESSAGE_LENGTH = 4096

OPEN, UPDATE, NOTIFICATION, KEEPALIVE, ROUTE_REFRESH = 1, 2, 3, 4, 5
_TYPE_NAMES = {OPEN: "OPEN", UPDATE: "UPDATE", NOTIFICATION: "NOTIFICATION",
               KEEPALIVE: "KEEPALIVE", ROUTE_REFRESH: "ROUTE-REFRESH"}

# Path attribute flags and type codes.
OPTIONAL, TRANSITIVE, EXTENDED_LENGTH = 0x80, 0x40, 0x10
ATTR_ORIGIN, ATTR_AS_PATH, ATTR_NEXT_HOP, ATTR_COMMUNITIES = 1, 2, 3, 8
ATTR_MP_REACH, ATTR_MP_UNREACH, ATTR_LARGE_COMMUNITY = 14, 15, 32
ATTR_OTC = 35  # Only to Customer (RFC 9234): optional transitive, one 4-byte ASN
ORIGIN_IGP = 0
SEGMENT_CODES = {"set": 1, "sequence": 2}
SEGMENT_KINDS: dict[int, Literal["sequence", "set"]] = {1: "set", 2: "sequence"}
# The flags' optional and transitive bits each attribute this speaker reads must carry.
_ATTRIBUTE_FLAGS = {ATTR_ORIGIN: TRANSITIVE, ATTR_AS_PATH: TRANSITIVE, ATTR_NEXT_HOP: TRANSITIVE,
                    ATTR_COMMUNITIES: OPTIONAL | TRANSITIVE,
                    ATTR_LARGE_COMMUNITY: OPTIONAL | TRANSITIVE,
                    ATTR_MP_REACH: OPTIONAL, ATTR_MP_UNREACH: OPTIONAL}

# Capability codes, and (AFI, SAFI) per family.
CAP_MULTIPROTOCOL, CAP_FOUR_OCTET_ASN = 1, 65
AFI_SAFI: dict[Family, tuple[int, int]] = {"ipv4": (1, 1), "ipv6": (2, 1)}

# NOTIFICATION error codes (RFC 4271 section 4.5) and the subcodes used here.
ERR_HEADER, ERR_OPEN, ERR_UPDATE, ERR_HOLD_TIMER, ERR_FSM, ERR_CEASE = 1, 2, 3, 4, 5, 6
SUB_BAD_LENGTH, SUB_BAD_TYPE, SUB_NOT_SYNCHRONIZED = 2, 3, 1
SUB_BAD_VERSION, SUB_BAD_PEER_AS, SUB_BAD_HOLD_TIME, SUB_UNSUPPORTED_CAPABILITY = 1, 2, 6, 7
SUB_ADMIN_SHUTDOWN = 2
# UPDATE message error subcodes (RFC 4271 section 6.3).
SUB_MALFORMED_ATTRIBUTES, SUB_MISSING_WELL_KNOWN, SUB_ATTRIBUTE_FLAGS = 1, 3, 4
SUB_ATTRIBUTE_LENGTH, SUB_INVALID_ORIGIN, SUB_OPTIONAL_ATTRIBUTE = 5, 6, 9
SUB_INVALID_NETWORK, SUB_MALFORMED_AS_PATH = 10, 11

_RECONNECT_DELAY = 1.5
_CONNECT_TIMEOUT = 5.0
_WAIT_SLICE = 0.5  # longest sleep of a session thread before it looks at its stop flag again


class BgpError(Exception):
    """A protocol error, with the NOTIFICATION code and subcode that reports it to the peer."""

    def __init__(self, message: str, code: int, subcode: int = 0, data: bytes = b"") -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.data = data


class ConfigError(Exception):
    """CONFIG.json is unusable; the message says which part and why."""


# -- data ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Segment:
    """One AS_PATH segment: an ordered AS_SEQUENCE or an unordered AS_SET."""

    kind: Literal["sequence", "set"]
    asns: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.kind not in SEGMENT_CODES:
            raise ValueError(f"segment kind {self.kind!r}: use 'sequence' or 'set'")
        if not self.asns:
            raise ValueError("an AS path segment needs at least one ASN")
        for asn in self.asns:
            _check_asn(asn)


@dataclass(frozen=True)
class Route:
    """One route to announce; link_local only with an IPv6 next hop (a 32-byte next hop)."""

    prefix: IpNetwork
    as_path: tuple[Segment, ...]
    next_hop: IpAddress
    link_local: IPv6Address | None = None
    communities: tuple[tuple[int, int], ...] = ()
    large_communities: tuple[tuple[int, int, int], ...] = ()
    otc: int | None = None  # the Only to Customer attribute's ASN (RFC 9234), if sent

    def __post_init__(self) -> None:
        if self.otc is not None:
            _check_asn(self.otc)
        if self.next_hop.version != self.prefix.version:
            # IPv6 over an IPv4 next hop (RFC 8950) is not needed by verify.
            raise ValueError(f"{self.prefix}: next hop {self.next_hop} is of the other family")
        if self.link_local is not None and (self.prefix.version != 6
                                            or not self.link_local.is_link_local):
            raise ValueError(f"{self.prefix}: link_local {self.link_local} must be an IPv6 "
                             "fe80::/10 address, for an IPv6 route")
        for pair in self.communities:
            if len(pair) != 2 or not all(0 <= v <= 0xFFFF for v in pair):
                raise ValueError(f"{self.prefix}: community {pair}: two 16-bit numbers")
        for triple in self.large_communities:
            if len(triple) != 3 or not all(0 <= v <= 0xFFFFFFFF for v in triple):
                raise ValueError(f"{self.prefix}: large community {triple}: three 32-bit numbers")

    @property
    def family(self) -> Family:
        return family_of(self.prefix)


@dataclass(frozen=True)
class ReceivedRoute:
    """One route as the peer sent it. next_hops: the global address, then the link-local one
    when the peer sent a 32-byte IPv6 next hop."""

    prefix: IpNetwork
    as_path: tuple[Segment, ...]
    next_hops: tuple[str, ...]
    communities: tuple[tuple[int, int], ...] = ()
    large_communities: tuple[tuple[int, int, int], ...] = ()


@dataclass(frozen=True)
class ReceivedUpdate:
    """What one UPDATE says: IPv4 and IPv6 withdrawals, and the routes it announces."""

    withdrawn: tuple[IpNetwork, ...]
    announced: tuple[ReceivedRoute, ...]


@dataclass(frozen=True)
class Message:
    """One BGP message off the wire: its type and its body (the bytes after the header)."""

    type: int
    body: bytes


@dataclass(frozen=True)
class PeerOpen:
    """What the peer's OPEN says."""

    version: int
    asn: int  # the 4-octet capability's ASN when present, else the 2-byte field
    hold_time: int
    router_id: IPv4Address
    four_octet_asn: bool
    families: frozenset[Family]


@dataclass(frozen=True)
class Notification:
    code: int
    subcode: int
    data: bytes

    def __str__(self) -> str:
        extra = f" data {self.data.hex()}" if self.data else ""
        return f"code {self.code} subcode {self.subcode}{extra}"


def family_of(item: IpNetwork | IpAddress) -> Family:
    return "ipv4" if item.version == 4 else "ipv6"


def _check_asn(asn: int) -> None:
    if isinstance(asn, bool) or not isinstance(asn, int) or not 0 <= asn <= 0xFFFFFFFF:
        raise ValueError(f"ASN {asn!r}: a number from 0 to 4294967295")


# -- encoding -----------------------------------------------------------------------------------

def encode_message(kind: int, body: bytes) -> bytes:
    """Header (marker, length, type) plus body."""
    length = HEADER_LENGTH + len(body)
    if length > MAX_MESSAGE_LENGTH:
        raise ValueError(f"a BGP message of {length} bytes is longer than {MAX_MESSAGE_LENGTH}")
    return MARKER + struct.pack("!HB", length, kind) + body


def encode_open(asn: int, router_id: IPv4Address, families: Iterable[Family],
                hold_time: int = HOLD_TIME) -> bytes:
    """OPEN with the 4-octet ASN capability and one multiprotocol capability per family."""
    _check_asn(asn)
    capabilities = b""
    for family in sorted(set(families)):  # "ipv4" before "ipv6": a stable encoding
        afi, safi = AFI_SAFI[family]
        capabilities += struct.pack("!BBHBB", CAP_MULTIPROTOCOL, 4, afi, 0, safi)
    capabilities += struct.pack("!BBI", CAP_FOUR_OCTET_ASN, 4, asn)
    parameters = struct.pack("!BB", 2, len(capabilities)) + capabilities  # 2: capabilities
    two_byte = asn if asn <= 0xFFFF else AS_TRANS
    body = struct.pack("!BHH4sB", 4, two_byte, hold_time, router_id.packed,
                       len(parameters)) + parameters
    return encode_message(OPEN, body)


def encode_keepalive() -> bytes:
    return encode_message(KEEPALIVE, b"")


def encode_notification(code: int, subcode: int = 0, data: bytes = b"") -> bytes:
    return encode_message(NOTIFICATION, struct.pack("!BB", code, subcode) + data)


def encode_prefix(prefix: IpNetwork) -> bytes:
    """Length in bits, then only the bytes the length needs."""
    return bytes([prefix.prefixlen]) + prefix.network_address.packed[:(prefix.prefixlen + 7) // 8]


def encode_attribute(flags: int, code: int, value: bytes) -> bytes:
    """One path attribute; the extended-length form when the value is over 255 bytes."""
    if len(value) > 255:
        return struct.pack("!BBH", flags | EXTENDED_LENGTH, code, len(value)) + value
    return struct.pack("!BBB", flags, code, len(value)) + value


def encode_as_path(segments: Sequence[Segment]) -> bytes:
    """AS_PATH value with 4-byte ASNs; a sequence over 255 ASNs becomes several segments."""
    out = b""
    for segment in segments:
        asns = segment.asns
        if segment.kind == "set" and len(asns) > 255:
            raise ValueError("an AS_SET holds at most 255 ASNs")
        for start in range(0, len(asns), 255):
            chunk = asns[start:start + 255]
            out += struct.pack(f"!BB{len(chunk)}I", SEGMENT_CODES[segment.kind], len(chunk),
                               *chunk)
    return out


def _common_attributes(route: Route) -> list[tuple[int, bytes]]:
    """(type code, encoded attribute) for everything but the next hop."""
    attributes = [
        (ATTR_ORIGIN, encode_attribute(TRANSITIVE, ATTR_ORIGIN, bytes([ORIGIN_IGP]))),
        (ATTR_AS_PATH, encode_attribute(TRANSITIVE, ATTR_AS_PATH, encode_as_path(route.as_path))),
    ]
    if route.communities:
        value = b"".join(struct.pack("!HH", *pair) for pair in route.communities)
        attributes.append((ATTR_COMMUNITIES,
                           encode_attribute(OPTIONAL | TRANSITIVE, ATTR_COMMUNITIES, value)))
    if route.large_communities:
        value = b"".join(struct.pack("!III", *triple) for triple in route.large_communities)
        attributes.append((ATTR_LARGE_COMMUNITY,
                           encode_attribute(OPTIONAL | TRANSITIVE, ATTR_LARGE_COMMUNITY, value)))
    if route.otc is not None:
        attributes.append((ATTR_OTC, encode_attribute(OPTIONAL | TRANSITIVE, ATTR_OTC,
                                                      struct.pack("!I", route.otc))))
    return attributes


def encode_update(route: Route) -> bytes:
    """An UPDATE announcing one route: IPv4 in the NLRI field, IPv6 in MP_REACH_NLRI."""
    attributes = _common_attributes(route)
    if route.family == "ipv4":
        attributes.append((ATTR_NEXT_HOP,
                           encode_attribute(TRANSITIVE, ATTR_NEXT_HOP, route.next_hop.packed)))
        nlri = encode_prefix(route.prefix)
    else:
        next_hop = route.next_hop.packed + (route.link_local.packed if route.link_local else b"")
        afi, safi = AFI_SAFI["ipv6"]
        value = (struct.pack("!HBB", afi, safi, len(next_hop)) + next_hop + b"\x00"
                 + encode_prefix(route.prefix))
        attributes.append((ATTR_MP_REACH, encode_attribute(OPTIONAL, ATTR_MP_REACH, value)))
        nlri = b""
    # By type code: the order RFC 4271 recommends, and a stable byte string for the tests.
    encoded = b"".join(attribute for _, attribute in sorted(attributes))
    return encode_message(UPDATE, struct.pack("!HH", 0, len(encoded)) + encoded + nlri)


def encode_withdraw(prefix: IpNetwork) -> bytes:
    """An UPDATE withdrawing one prefix: IPv4 in the withdrawn field, IPv6 in MP_UNREACH_NLRI."""
    if prefix.version == 4:
        withdrawn = encode_prefix(prefix)
        return encode_message(UPDATE, struct.pack("!H", len(withdrawn)) + withdrawn
                              + struct.pack("!H", 0))
    afi, safi = AFI_SAFI["ipv6"]
    value = struct.pack("!HB", afi, safi) + encode_prefix(prefix)
    attribute = encode_attribute(OPTIONAL, ATTR_MP_UNREACH, value)
    return encode_message(UPDATE, struct.pack("!HH", 0, len(attribute)) + attribute)


# -- parsing ------------------------------------------------------------------------------------

def split_messages(buffer: bytes) -> tuple[list[Message], bytes]:
    """The complete messages at the start of buffer, and the incomplete rest.

    Raises BgpError (a header error, to send as NOTIFICATION) on a bad marker, length or type.
    """
    messages: list[Message] = []
    while len(buffer) >= HEADER_LENGTH:
        if buffer[:16] != MARKER:
            raise BgpError("message header without the all-ones marker", ERR_HEADER,
                           SUB_NOT_SYNCHRONIZED)
        length, kind = struct.unpack("!HB", buffer[16:19])
        if not HEADER_LENGTH <= length <= MAX_MESSAGE_LENGTH:
            raise BgpError(f"message length {length}", ERR_HEADER, SUB_BAD_LENGTH,
                           struct.pack("!H", length))
        if kind not in _TYPE_NAMES:
            raise BgpError(f"message type {kind}", ERR_HEADER, SUB_BAD_TYPE, bytes([kind]))
        minimum = {OPEN: 29, UPDATE: 23, NOTIFICATION: 21, KEEPALIVE: 19}.get(kind, 19)
        if length < minimum or (kind == KEEPALIVE and length != HEADER_LENGTH):
            raise BgpError(f"{_TYPE_NAMES[kind]} of length {length}", ERR_HEADER,
                           SUB_BAD_LENGTH, struct.pack("!H", length))
        if len(buffer) < length:
            break
        messages.append(Message(kind, buffer[HEADER_LENGTH:length]))
        buffer = buffer[length:]
    return messages, buffer


def parse_open(body: bytes) -> PeerOpen:
    """The peer's OPEN; BgpError (an OPEN message error) when it is malformed."""
    if len(body) < 10:
        raise BgpError("OPEN shorter than 10 bytes", ERR_HEADER, SUB_BAD_LENGTH)
    version, two_byte, hold_time, router_id, parameters_length = struct.unpack(
        "!BHH4sB", body[:10])
    parameters = body[10:]
    if len(parameters) != parameters_length:
        raise BgpError("OPEN optional parameters length does not match", ERR_OPEN, 0)
    asn, four_octet, families = two_byte, False, set[Family]()
    for kind, value in _type_length_values(parameters, "OPEN optional parameter"):
        if kind != 2:  # only capabilities (RFC 5492) are defined
            continue
        for code, data in _type_length_values(value, "capability"):
            if code == CAP_FOUR_OCTET_ASN and len(data) == 4:
                asn, four_octet = struct.unpack("!I", data)[0], True
            elif code == CAP_MULTIPROTOCOL and len(data) == 4:
                afi, _, safi = struct.unpack("!HBB", data)
                families.update(name for name, pair in AFI_SAFI.items() if pair == (afi, safi))
    return PeerOpen(version, asn, hold_time, IPv4Address(router_id), four_octet,
                    frozenset(families))


def _type_length_values(data: bytes, what: str) -> Iterator[tuple[int, bytes]]:
    """(type, value) of each one-byte-type, one-byte-length item; BgpError when one is cut."""
    position = 0
    while position < len(data):
        if position + 2 > len(data):
            raise BgpError(f"{what} cut short", ERR_OPEN, 0)
        kind, length = data[position], data[position + 1]
        value = data[position + 2:position + 2 + length]
        if len(value) != length:
            raise BgpError(f"{what} cut short", ERR_OPEN, 0)
        position += 2 + length
        yield kind, value


def parse_notification(body: bytes) -> Notification:
    if len(body) < 2:
        raise BgpError("NOTIFICATION shorter than 2 bytes", ERR_HEADER, SUB_BAD_LENGTH)
    return Notification(body[0], body[1], body[2:])


def negotiated_hold_time(ours: int, theirs: int) -> int:
    """The smaller hold time; the peer's must be 0 or at least 3 (RFC 4271)."""
    if theirs in (1, 2):
        raise BgpError(f"unacceptable hold time {theirs}", ERR_OPEN, SUB_BAD_HOLD_TIME)
    return min(ours, theirs)


def _update_error(message: str, subcode: int, data: bytes = b"") -> BgpError:
    return BgpError(message, ERR_UPDATE, subcode, data)


def parse_prefixes(data: bytes, version: int, subcode: int = SUB_INVALID_NETWORK,
                   ) -> list[IpNetwork]:
    """Prefixes in the NLRI encoding; BgpError (UPDATE message error `subcode`) when one is
    longer than the family allows or cut short. Bits past the length are ignored (RFC 4271)."""
    width = 4 if version == 4 else 16
    prefixes: list[IpNetwork] = []
    at = 0
    while at < len(data):
        length = data[at]
        size = (length + 7) // 8
        if length > width * 8:
            raise _update_error(f"IPv{version} prefix length {length}", subcode)
        if at + 1 + size > len(data):
            raise _update_error(f"IPv{version} prefix of length {length} cut short", subcode)
        address = ipaddress.ip_address(data[at + 1:at + 1 + size] + bytes(width - size))
        prefixes.append(ipaddress.ip_network((address, length), strict=False))
        at += 1 + size
    return prefixes


def parse_as_path_value(value: bytes) -> tuple[Segment, ...]:
    """An AS_PATH value with 4-byte ASNs (both sides speak them: parse_open insists).

    Adjacent AS_SEQUENCEs are joined: a sender splits one longer than 255 ASNs, and the path
    means the same.
    """
    segments: list[Segment] = []
    at = 0
    while at < len(value):
        if at + 2 > len(value):
            raise _update_error("AS_PATH segment header cut short", SUB_MALFORMED_AS_PATH)
        code, count = value[at], value[at + 1]
        kind = SEGMENT_KINDS.get(code)
        if kind is None:  # confederation segments too: never sent to a route server client
            raise _update_error(f"AS_PATH segment type {code}", SUB_MALFORMED_AS_PATH)
        if count == 0 or at + 2 + 4 * count > len(value):
            raise _update_error(f"AS_PATH segment of {count} ASNs in {len(value) - at - 2} "
                                "bytes", SUB_MALFORMED_AS_PATH)
        asns = struct.unpack_from(f"!{count}I", value, at + 2)
        if kind == "sequence" and segments and segments[-1].kind == "sequence":
            segments[-1] = Segment("sequence", segments[-1].asns + asns)
        else:
            segments.append(Segment(kind, asns))
        at += 2 + 4 * count
    return tuple(segments)


def _split_attributes(data: bytes) -> dict[int, tuple[bytes, bytes]]:
    """Type code -> (value, the whole attribute for a NOTIFICATION's data)."""
    found: dict[int, tuple[bytes, bytes]] = {}
    at = 0
    while at < len(data):
        flags = data[at]
        header = 4 if flags & EXTENDED_LENGTH else 3
        if at + header > len(data):
            raise _update_error("path attribute header cut short", SUB_MALFORMED_ATTRIBUTES)
        code = data[at + 1]
        length = struct.unpack_from("!H", data, at + 2)[0] if header == 4 else data[at + 2]
        end = at + header + length
        if end > len(data):
            raise _update_error(f"path attribute {code} of {length} bytes runs past the "
                                "attributes", SUB_MALFORMED_ATTRIBUTES)
        whole = data[at:end]
        if code in found:
            raise _update_error(f"path attribute {code} twice", SUB_MALFORMED_ATTRIBUTES)
        expected = _ATTRIBUTE_FLAGS.get(code)
        if expected is not None and flags & (OPTIONAL | TRANSITIVE) != expected:
            raise _update_error(f"path attribute {code} with flags {flags:#04x}",
                                SUB_ATTRIBUTE_FLAGS, whole)
        found[code] = (data[at + header:end], whole)
        at = end
    return found


def _mp_family(value: bytes, whole: bytes, what: str) -> Family:
    afi, safi = struct.unpack_from("!HB", value)
    for family, pair in AFI_SAFI.items():
        if pair == (afi, safi):
            return family
    raise _update_error(f"{what} for AFI {afi} SAFI {safi}", SUB_OPTIONAL_ATTRIBUTE, whole)


def _parse_mp_reach(value: bytes, whole: bytes) -> tuple[list[IpNetwork], tuple[str, ...]]:
    """MP_REACH_NLRI: its prefixes, and its next hop (global, then link-local if 32 bytes)."""
    if len(value) < 5 or len(value) < 5 + value[3]:
        raise _update_error(f"MP_REACH_NLRI of {len(value)} bytes", SUB_OPTIONAL_ATTRIBUTE, whole)
    family = _mp_family(value, whole, "MP_REACH_NLRI")
    size = value[3]
    if size not in ((4,) if family == "ipv4" else (16, 32)):
        raise _update_error(f"MP_REACH_NLRI {family} next hop of {size} bytes",
                            SUB_OPTIONAL_ATTRIBUTE, whole)
    width = 4 if family == "ipv4" else 16
    next_hops = tuple(str(ipaddress.ip_address(value[at:at + width]))
                      for at in range(4, 4 + size, width))
    # value[4 + size] is the reserved byte, ignored (RFC 4760).
    version = 4 if family == "ipv4" else 6
    return parse_prefixes(value[5 + size:], version, SUB_OPTIONAL_ATTRIBUTE), next_hops


def _parse_mp_unreach(value: bytes, whole: bytes) -> list[IpNetwork]:
    """MP_UNREACH_NLRI's prefixes; none at all is the family's End-of-RIB marker."""
    if len(value) < 3:
        raise _update_error(f"MP_UNREACH_NLRI of {len(value)} bytes", SUB_OPTIONAL_ATTRIBUTE,
                            whole)
    family = _mp_family(value, whole, "MP_UNREACH_NLRI")
    return parse_prefixes(value[3:], 4 if family == "ipv4" else 6, SUB_OPTIONAL_ATTRIBUTE)


def _sized(attributes: Mapping[int, tuple[bytes, bytes]], code: int, name: str, size: int,
           *, exact: bool = False) -> bytes | None:
    """The value of an attribute, if present, whose length must be `size` (exact) or a
    multiple of it."""
    if code not in attributes:
        return None
    value, whole = attributes[code]
    if (len(value) != size) if exact else (len(value) % size):
        raise _update_error(f"{name} of {len(value)} bytes", SUB_ATTRIBUTE_LENGTH, whole)
    return value


def parse_update(body: bytes) -> ReceivedUpdate:
    """The routes an UPDATE body (the bytes after the header) withdraws and announces.

    IPv4 in the withdrawn and NLRI fields or the MP attributes, IPv6 in MP_REACH_NLRI /
    MP_UNREACH_NLRI. Attributes other than ORIGIN, AS_PATH, NEXT_HOP, COMMUNITIES,
    LARGE_COMMUNITY and the MP ones are skipped. An End-of-RIB marker (no routes) gives an
    empty ReceivedUpdate. BgpError, an UPDATE message error, for anything malformed.
    """
    if len(body) < 4:
        raise _update_error(f"UPDATE body of {len(body)} bytes", SUB_MALFORMED_ATTRIBUTES)
    (withdrawn_length,) = struct.unpack_from("!H", body)
    attributes_at = 2 + withdrawn_length + 2
    if attributes_at > len(body):
        raise _update_error(f"withdrawn routes length {withdrawn_length} runs past the UPDATE",
                            SUB_MALFORMED_ATTRIBUTES)
    (attributes_length,) = struct.unpack_from("!H", body, attributes_at - 2)
    nlri_at = attributes_at + attributes_length
    if nlri_at > len(body):
        raise _update_error(f"total path attribute length {attributes_length} runs past the "
                            "UPDATE", SUB_MALFORMED_ATTRIBUTES)
    withdrawn = parse_prefixes(body[2:2 + withdrawn_length], 4)
    attributes = _split_attributes(body[attributes_at:nlri_at])
    nlri = parse_prefixes(body[nlri_at:], 4)

    if ATTR_MP_UNREACH in attributes:
        withdrawn += _parse_mp_unreach(*attributes[ATTR_MP_UNREACH])
    mp_nlri: list[IpNetwork] = []
    mp_next_hops: tuple[str, ...] = ()
    if ATTR_MP_REACH in attributes:
        mp_nlri, mp_next_hops = _parse_mp_reach(*attributes[ATTR_MP_REACH])
    if not nlri and not mp_nlri:
        return ReceivedUpdate(tuple(withdrawn), ())  # attributes without routes mean nothing

    # Only an UPDATE that announces needs ORIGIN and AS_PATH, and NEXT_HOP for its NLRI.
    required = [ATTR_ORIGIN, ATTR_AS_PATH] + ([ATTR_NEXT_HOP] if nlri else [])
    for code in required:
        if code not in attributes:
            raise _update_error(f"UPDATE without path attribute {code}",
                                SUB_MISSING_WELL_KNOWN, bytes([code]))
    origin = _sized(attributes, ATTR_ORIGIN, "ORIGIN", 1, exact=True)
    if origin is not None and origin[0] > 2:
        raise _update_error(f"ORIGIN {origin[0]}", SUB_INVALID_ORIGIN,
                            attributes[ATTR_ORIGIN][1])
    as_path = parse_as_path_value(attributes[ATTR_AS_PATH][0])
    next_hop = _sized(attributes, ATTR_NEXT_HOP, "NEXT_HOP", 4, exact=True)
    raw = _sized(attributes, ATTR_COMMUNITIES, "COMMUNITIES", 4) or b""
    communities = tuple(struct.iter_unpack("!HH", raw))
    raw = _sized(attributes, ATTR_LARGE_COMMUNITY, "LARGE_COMMUNITY", 12) or b""
    large_communities = tuple(struct.iter_unpack("!III", raw))

    def route(prefix: IpNetwork, next_hops: tuple[str, ...]) -> ReceivedRoute:
        return ReceivedRoute(prefix, as_path, next_hops, communities, large_communities)

    ipv4_next_hops = (str(IPv4Address(next_hop)),) if next_hop is not None else ()
    announced = [route(p, ipv4_next_hops) for p in nlri]
    announced += [route(p, mp_next_hops) for p in mp_nlri]
    return ReceivedUpdate(tuple(withdrawn), tuple(announced))


# -- received routes ----------------------------------------------------------------------------

def apply_update(table: dict[IpNetwork, ReceivedRoute], update: ReceivedUpdate) -> bool:
    """Apply an UPDATE to a session's table of received routes; True if the table changed.

    Withdrawals first: a prefix both withdrawn and announced is announced (RFC 4271 4.3).
    """
    changed = False
    for prefix in update.withdrawn:
        changed |= table.pop(prefix, None) is not None
    for route in update.announced:
        if table.get(route.prefix) != route:
            table[route.prefix] = route
            changed = True
    return changed


def format_as_path(segments: Iterable[Segment]) -> str:
    """BIRD's notation: a sequence as plain numbers, an AS_SET in braces."""
    return " ".join(" ".join(map(str, s.asns)) if s.kind == "sequence"
                    else "{" + " ".join(map(str, s.asns)) + "}" for s in segments)


def prefix_order(prefix: IpNetwork) -> tuple[int, int, int]:
    """IPv4 before IPv6, then by address, then by length."""
    return (prefix.version, int(prefix.network_address), prefix.prefixlen)


def received_route_json(route: ReceivedRoute) -> dict[str, Any]:
    return {
        "prefix": str(route.prefix),
        "as_path": format_as_path(route.as_path),
        "as_path_asns": [asn for segment in route.as_path for asn in segment.asns],
        "as_path_has_set": any(segment.kind == "set" for segment in route.as_path),
        "next_hops": list(route.next_hops),
        "communities": [list(pair) for pair in route.communities],
        "large_communities": [list(triple) for triple in route.large_communities],
    }


def received_json(tables: Mapping[str, Mapping[IpNetwork, ReceivedRoute]]) -> str:
    """The received_file's text: sessions by name, each one's routes by prefix_order."""
    sessions = {name: [received_route_json(tables[name][prefix])
                       for prefix in sorted(tables[name], key=prefix_order)]
                for name in sorted(tables)}
    return json.dumps({"sessions": sessions}, indent=1) + "\n"


def write_received(path: Path, tables: Mapping[str, Mapping[IpNetwork, ReceivedRoute]]) -> None:
    """received_json() into path, atomically: a reader sees the old file or the new one."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o644)  # not mkstemp's 0600: the reader may be another user
            out.write(received_json(tables))
        temporary.replace(path)  # os.replace: atomic within the directory
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


# -- configuration ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SessionConfig:
    local: IpAddress
    remote: IpAddress
    remote_asn: int
    families: frozenset[Family]
    routes: tuple[Route, ...]
    given_name: str | None = None  # the session's "name" in CONFIG.json

    @property
    def name(self) -> str:
        return f"{self.local}->{self.remote}"

    @property
    def received_name(self) -> str:
        """The session's key in the received_file: its configured name, verbatim, so that
        whoever wrote CONFIG.json can map the file back to its sessions."""
        return self.given_name if self.given_name is not None else self.name

    @property
    def key(self) -> tuple[IpAddress, IpAddress]:
        return (self.local, self.remote)


@dataclass(frozen=True)
class Config:
    local_asn: int
    router_id: IPv4Address
    sessions: tuple[SessionConfig, ...]
    received_file: Path | None = None


def parse_as_path(value: object) -> tuple[Segment, ...]:
    """BIRD's notation ("64500 {64501 64502}") or a list of ASNs and {"set"|"sequence": [...]}."""
    if isinstance(value, str):
        return _parse_bird_path(value)
    if not isinstance(value, list):
        raise ValueError(f"as_path {value!r}: a string or a list")
    segments: list[Segment] = []
    run: list[int] = []
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool):
            run.append(item)
            continue
        if run:
            segments.append(Segment("sequence", tuple(run)))
            run = []
        if not (isinstance(item, dict) and len(item) == 1 and next(iter(item)) in SEGMENT_CODES
                and isinstance(next(iter(item.values())), list)):
            raise ValueError(f"as_path item {item!r}: an ASN, {{'set': [...]}} or "
                             "{'sequence': [...]}")
        ((kind, asns),) = item.items()
        segments.append(Segment(kind, tuple(asns)))
    if run:
        segments.append(Segment("sequence", tuple(run)))
    return tuple(segments)


def _parse_bird_path(text: str) -> tuple[Segment, ...]:
    """BIRD's printed notation: ASNs, and `{...}` for an AS_SET."""
    segments: list[Segment] = []
    sequence: list[int] = []
    in_set: list[int] | None = None
    for word in text.replace("{", " { ").replace("}", " } ").split():
        if word == "{":
            if in_set is not None:
                raise ValueError(f"as_path {text!r}: nested '{{'")
            if sequence:
                segments.append(Segment("sequence", tuple(sequence)))
                sequence = []
            in_set = []
        elif word == "}":
            if in_set is None:
                raise ValueError(f"as_path {text!r}: '}}' without '{{'")
            segments.append(Segment("set", tuple(in_set)))
            in_set = None
        elif word.isdigit():
            (sequence if in_set is None else in_set).append(int(word))
        else:
            raise ValueError(f"as_path {text!r}: {word!r} is not an ASN")
    if in_set is not None:
        raise ValueError(f"as_path {text!r}: '{{' without '}}'")
    if sequence:
        segments.append(Segment("sequence", tuple(sequence)))
    return tuple(segments)


def _address(value: object, what: str) -> IpAddress:
    if not isinstance(value, str):
        raise ConfigError(f"{what}: an IP address as a string, not {value!r}")
    try:
        return ipaddress.ip_address(value)
    except ValueError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def _route(raw: object, where: str, default_next_hop: Mapping[Family, IpAddress]) -> Route:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a route is an object")
    unknown = set(raw) - {"prefix", "as_path", "next_hop", "link_local", "communities",
                          "large_communities", "otc"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    try:
        prefix = ipaddress.ip_network(raw["prefix"])
        family = family_of(prefix)
        as_path = parse_as_path(raw.get("as_path", []))
        if "next_hop" in raw:
            next_hop = _address(raw["next_hop"], f"{where} next_hop")
        elif family in default_next_hop:
            next_hop = default_next_hop[family]
        else:
            raise ConfigError(f"{where}: {prefix} needs a next_hop (the session is "
                              "not of its family)")
        link_local = raw.get("link_local")
        link = _address(link_local, f"{where} link_local") if link_local is not None else None
        if link is not None and not isinstance(link, IPv6Address):
            raise ConfigError(f"{where}: link_local must be an IPv6 address")
        otc = raw.get("otc")
        if otc is not None and (isinstance(otc, bool) or not isinstance(otc, int)):
            raise ConfigError(f"{where} otc: an ASN as a number, not {otc!r}")
        return Route(prefix=prefix, as_path=as_path, next_hop=next_hop, link_local=link,
                     communities=tuple(_numbers(c, 2) for c in raw.get("communities", [])),
                     large_communities=tuple(_numbers(c, 3)
                                             for c in raw.get("large_communities", [])),
                     otc=otc)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _route_family(raw: object) -> Family | None:
    """The family of a raw route's prefix; None when it has none (_route reports that)."""
    try:
        return family_of(ipaddress.ip_network(raw["prefix"]))  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return None


def _numbers(value: object, count: int) -> Any:
    if not isinstance(value, list) or len(value) != count or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"{value!r}: a list of {count} numbers")
    return tuple(value)


def parse_config(data: object) -> Config:
    """The speaker's configuration from CONFIG.json's parsed content; ConfigError if unusable."""
    if not isinstance(data, dict):
        raise ConfigError("the configuration is a JSON object")
    try:
        local_asn = data["local_asn"]
        _check_asn(local_asn)
        router_id = IPv4Address(data["router_id"])
        raw_sessions = data["sessions"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"local_asn, router_id, sessions: {exc}") from None
    if not isinstance(raw_sessions, list):
        raise ConfigError("sessions: a list")
    received_file = data.get("received_file")
    if received_file is not None and not (isinstance(received_file, str) and received_file):
        raise ConfigError("received_file: a path as a string")
    shared = data.get("routes", [])
    sessions: list[SessionConfig] = []
    for index, raw in enumerate(raw_sessions):
        where = f"sessions[{index}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: an object")
        if raw.get("password"):
            raise ConfigError(f"{where}: TCP MD5 passwords are not supported by this speaker; "
                              "use BIRD for a session with a password")
        given_name = raw.get("name")
        if given_name is not None and not (isinstance(given_name, str) and given_name):
            raise ConfigError(f"{where} name: a non-empty string")
        local = _address(raw.get("local"), f"{where} local")
        remote = _address(raw.get("remote"), f"{where} remote")
        if local.version != remote.version:
            raise ConfigError(f"{where}: local and remote of different families")
        try:
            remote_asn = raw["remote_asn"]
            _check_asn(remote_asn)
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"{where} remote_asn: {exc}") from None
        families_raw = raw.get("families", [family_of(local)])
        if not isinstance(families_raw, list) or not families_raw or not all(
                f in AFI_SAFI for f in families_raw):
            raise ConfigError(f"{where} families: a non-empty list of 'ipv4', 'ipv6'")
        families: frozenset[Family] = frozenset(families_raw)
        raw_routes = raw.get("routes", shared)
        if not isinstance(raw_routes, list):
            raise ConfigError(f"{where} routes: a list")
        default_next_hop: dict[Family, IpAddress] = {family_of(local): local}
        routes = tuple(route for route in (
            _route(r, f"{where} route {i}", default_next_hop) for i, r in enumerate(raw_routes)
            if _route_family(r) in families))
        prefixes = [r.prefix for r in routes]
        if len(set(prefixes)) != len(prefixes):
            raise ConfigError(f"{where}: a prefix is listed twice")
        sessions.append(SessionConfig(local, remote, remote_asn, families, routes, given_name))
    keys = [s.key for s in sessions]
    if len(set(keys)) != len(keys):
        raise ConfigError("sessions: the same local and remote address twice")
    names = [s.received_name for s in sessions]
    for name in names:
        if names.count(name) > 1:  # one key per session in the received_file
            raise ConfigError(f"sessions: the name {name!r} twice")
    return Config(local_asn, router_id, tuple(sessions),
                  Path(received_file) if received_file is not None else None)


def load_config(path: Path) -> Config:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return parse_config(data)


# -- the process ----------------------------------------------------------------------------------

_log_lock = threading.Lock()


def log(message: str) -> None:
    """One line per event on stderr, with a timestamp."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    with _log_lock:
        print(f"{stamp} speaker: {message}", file=sys.stderr, flush=True)


@dataclass
class Session:
    """One outgoing BGP session, run by its own thread; reconnects until stopped."""

    local_asn: int
    router_id: IPv4Address
    config: SessionConfig
    on_received: Callable[[], None] | None = None  # called after the received table changed
    _received: dict[IpNetwork, ReceivedRoute] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # config, generation, table
    _stop: threading.Event = field(default_factory=threading.Event)
    _wake_read: socket.socket | None = None
    _wake_write: socket.socket | None = None
    _thread: threading.Thread | None = None
    _generation: int = 0

    def start(self) -> None:
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._thread = threading.Thread(target=self._run, name=self.config.name, daemon=True)
        self._thread.start()

    def update(self, config: SessionConfig) -> None:
        """New routes for this session (same addresses); an established session sends the
        difference."""
        with self._lock:
            self.config = config
            self._generation += 1
        self._wake()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)
        for end in (self._wake_read, self._wake_write):
            if end is not None:
                end.close()

    def _wake(self) -> None:
        if self._wake_write is not None:
            with contextlib.suppress(OSError):
                self._wake_write.send(b"x")

    def _current(self) -> tuple[SessionConfig, int]:
        with self._lock:
            return self.config, self._generation

    def received(self) -> tuple[str, dict[IpNetwork, ReceivedRoute]]:
        """The session's received_name and a copy of its table of received routes."""
        with self._lock:
            return self.config.received_name, dict(self._received)

    def _apply_received(self, update: ReceivedUpdate) -> tuple[bool, int]:
        """Whether the table changed, and its size after the UPDATE."""
        with self._lock:
            return apply_update(self._received, update), len(self._received)

    def _clear_received(self) -> bool:
        with self._lock:
            changed = bool(self._received)
            self._received.clear()
            return changed

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._connect_and_serve()
            except BgpError as exc:
                log(f"{self.config.name}: protocol error: {exc}")
            except OSError as exc:
                log(f"{self.config.name}: connection failed: {exc.strerror or exc}")
            except Exception as exc:  # a bug must not end the thread: log, reconnect
                log(f"{self.config.name}: internal error: {exc!r}")
            if self._stop.wait(_RECONNECT_DELAY):
                break

    def _connect_and_serve(self) -> None:
        config, _ = self._current()
        family = socket.AF_INET if config.local.version == 4 else socket.AF_INET6
        with socket.socket(family, socket.SOCK_STREAM) as conn:
            conn.bind((str(config.local), 0))
            conn.settimeout(_CONNECT_TIMEOUT)
            conn.connect((str(config.remote), BGP_PORT))
            conn.setblocking(False)
            log(f"{config.name}: connected")
            _Connection(self, conn).serve()


class _Connection:
    """The BGP state machine over one TCP connection, from sending OPEN until it closes."""

    def __init__(self, session: Session, conn: socket.socket) -> None:
        self.session = session
        self.conn = conn
        self.name = session.config.name
        self.buffer = b""
        self.selector = selectors.DefaultSelector()
        self.hold_time = HOLD_TIME
        self.keepalive_every: float = HOLD_TIME / 3
        self.last_received = time.monotonic()
        self.last_sent = time.monotonic()
        self.established = False
        self.families: frozenset[Family] = frozenset()
        self.announced: dict[IpNetwork, Route] = {}
        self.generation = -1
        self.received_changed = False  # since the last on_received call

    def send(self, data: bytes) -> None:
        self.conn.setblocking(True)  # the few messages verify sends fit any socket buffer
        try:
            self.conn.sendall(data)
        finally:
            self.conn.setblocking(False)
        self.last_sent = time.monotonic()

    def serve(self) -> None:
        session = self.session
        assert session._wake_read is not None
        self.selector.register(self.conn, selectors.EVENT_READ)
        self.selector.register(session._wake_read, selectors.EVENT_READ)
        try:
            config, _ = session._current()
            self.send(encode_open(session.local_asn, session.router_id, config.families))
            self._loop()
        except BgpError as exc:
            with contextlib.suppress(OSError):
                self.send(encode_notification(exc.code, exc.subcode, exc.data))
            log(f"{self.name}: sent NOTIFICATION code {exc.code} subcode {exc.subcode}: {exc}")
        finally:
            self.selector.close()
            if self.established:
                log(f"{self.name}: session down")
            # A lost session withdraws everything the peer sent on it.
            self.received_changed |= session._clear_received()
            self._publish()

    def _publish(self) -> None:
        """Tell the speaker the received table changed (once per batch of messages: BIRD
        sends one UPDATE per route, and each call rewrites the received_file)."""
        if self.received_changed:
            self.received_changed = False
            if self.session.on_received is not None:
                self.session.on_received()

    def _loop(self) -> None:
        session = self.session
        while True:
            if session._stop.is_set():
                if self.established:
                    with contextlib.suppress(OSError):
                        self.send(encode_notification(ERR_CEASE, SUB_ADMIN_SHUTDOWN))
                    log(f"{self.name}: sent NOTIFICATION cease (shutting down)")
                return
            now = time.monotonic()
            # Until established, our own hold time bounds the wait for OPEN and KEEPALIVE.
            hold = self.hold_time if self.established else HOLD_TIME
            if hold and now - self.last_received > hold:
                raise BgpError("hold timer expired", ERR_HOLD_TIMER)
            if self.established and self.keepalive_every and \
                    now - self.last_sent >= self.keepalive_every:
                self.send(encode_keepalive())
            if self.established:
                self._sync_routes()
            timeout = _WAIT_SLICE
            if self.established and self.keepalive_every:
                timeout = max(0.0, min(timeout, self.last_sent + self.keepalive_every - now))
            for key, _ in self.selector.select(timeout):
                if key.fileobj is self.conn:
                    if not self._receive():
                        return
                elif session._wake_read is not None:
                    with contextlib.suppress(BlockingIOError):
                        session._wake_read.recv(4096)  # drained; the loop re-checks all

    def _receive(self) -> bool:
        """Read and handle what arrived; False once the peer closed the connection."""
        try:
            data = self.conn.recv(65536)
        except BlockingIOError:
            return True
        except ConnectionResetError:
            log(f"{self.name}: connection reset by the peer")
            return False
        if not data:
            log(f"{self.name}: connection closed by the peer")
            return False
        self.last_received = time.monotonic()
        messages, self.buffer = split_messages(self.buffer + data)
        keep = all(self._handle(message) for message in messages)
        self._publish()
        return keep

    def _handle(self, message: Message) -> bool:
        if message.type == NOTIFICATION:
            log(f"{self.name}: received NOTIFICATION {parse_notification(message.body)}")
            return False
        if message.type == OPEN:
            if self.families:
                raise BgpError("a second OPEN", ERR_FSM)
            self._accept_open(parse_open(message.body))
        elif message.type == KEEPALIVE:
            if not self.families:
                raise BgpError("KEEPALIVE before OPEN", ERR_FSM)
            if not self.established:
                self.established = True
                log(f"{self.name}: established (hold time {self.hold_time} s, families "
                    f"{', '.join(sorted(self.families))})")
        elif message.type == UPDATE:
            if not self.established:
                raise BgpError("UPDATE before the session is established", ERR_FSM)
            update = parse_update(message.body)
            changed, size = self.session._apply_received(update)
            if changed:
                self.received_changed = True
                log(f"{self.name}: received UPDATE, {len(update.announced)} routes, "
                    f"{len(update.withdrawn)} withdrawals; {size} routes received")
        return True

    def _accept_open(self, peer: PeerOpen) -> None:
        config, _ = self.session._current()
        if peer.version != 4:
            raise BgpError(f"BGP version {peer.version}", ERR_OPEN, SUB_BAD_VERSION,
                           struct.pack("!H", 4))
        if peer.asn != config.remote_asn:
            raise BgpError(f"peer ASN {peer.asn}, expected {config.remote_asn}", ERR_OPEN,
                           SUB_BAD_PEER_AS)
        if not peer.four_octet_asn:
            # AS4_PATH for 2-byte peers is not implemented: every BIRD 2 speaks 4-byte ASNs.
            raise BgpError("the peer lacks the 4-octet ASN capability", ERR_OPEN,
                           SUB_UNSUPPORTED_CAPABILITY)
        self.hold_time = negotiated_hold_time(HOLD_TIME, peer.hold_time)
        self.keepalive_every = self.hold_time / 3
        # A peer without multiprotocol capabilities speaks IPv4 unicast only (RFC 4760).
        offered = peer.families or frozenset[Family]({"ipv4"})
        self.families = frozenset(config.families & offered)
        if not self.families:
            raise BgpError("no address family in common", ERR_OPEN, SUB_UNSUPPORTED_CAPABILITY)
        log(f"{self.name}: received OPEN from AS{peer.asn} router id {peer.router_id}")
        self.send(encode_keepalive())

    def _sync_routes(self) -> None:
        """Withdraw what is no longer wanted, announce what is new or changed."""
        config, generation = self.session._current()
        if generation == self.generation:
            return
        self.generation = generation
        wanted = {r.prefix: r for r in config.routes if r.family in self.families}
        for prefix in [p for p in self.announced if p not in wanted]:
            self.send(encode_withdraw(prefix))
            del self.announced[prefix]
            log(f"{self.name}: withdrew {prefix}")
        for prefix, route in wanted.items():
            if self.announced.get(prefix) != route:
                self.send(encode_update(route))
                self.announced[prefix] = route
                log(f"{self.name}: announced {describe(route)}")


def describe(route: Route) -> str:
    """A route in one line, the AS path in BIRD's notation."""
    path = format_as_path(route.as_path)
    next_hop = f"{route.next_hop}" + (f" {route.link_local}" if route.link_local else "")
    extras = "".join(f" ({a},{b})" for a, b in route.communities)
    extras += "".join(f" ({a}, {b}, {c})" for a, b, c in route.large_communities)
    extras += f" otc {route.otc}" if route.otc is not None else ""
    return f"{route.prefix} path [{path}] via {next_hop}{extras}"


class Speaker:
    """All sessions of one CONFIG.json; reload() applies a rewritten file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.config = load_config(path)
        self.sessions: dict[tuple[IpAddress, IpAddress], Session] = {}
        # Held to change self.sessions and to write the received_file: a session thread never
        # sees the dict mid-change, and an older snapshot never replaces a newer one.
        self._lock = threading.Lock()

    def start(self) -> None:
        """Write the (empty) received_file, then start every session; OSError if the file
        cannot be written."""
        if self.config.received_file is not None:
            write_received(self.config.received_file,
                           {c.received_name: {} for c in self.config.sessions})
        for config in self.config.sessions:
            self._add(config)

    def _add(self, config: SessionConfig) -> None:
        session = Session(self.config.local_asn, self.config.router_id, config,
                          on_received=self.save_received)
        with self._lock:
            self.sessions[config.key] = session
        session.start()
        log(f"{config.name}: session to AS{config.remote_asn} started, "
            f"{len(config.routes)} routes")

    def reload(self) -> None:
        try:
            new = load_config(self.path)
        except ConfigError as exc:
            log(f"reload failed, keeping the old configuration: {exc}")
            return
        if (new.local_asn, new.router_id) != (self.config.local_asn, self.config.router_id):
            # Changing them means new OPENs: restart every session.
            self.stop()
            self.config = new
            try:
                self.start()
            except OSError as exc:
                log(f"cannot write {new.received_file}: {exc}")
            log("reloaded: new ASN or router id, every session restarted")
            return
        self.config = new
        wanted = {s.key: s for s in new.sessions}
        for key in [k for k in self.sessions if k not in wanted]:
            with self._lock:
                session = self.sessions.pop(key)
            session.stop()  # outside the lock: its thread may be waiting for it
            log(f"{session.config.name}: session removed")
        for key, config in wanted.items():
            if key in self.sessions:
                self.sessions[key].update(config)
            else:
                self._add(config)
        self.save_received()  # names, sessions or the file itself may have changed
        log(f"reloaded {self.path}")

    def save_received(self) -> None:
        """Every session's received routes into the received_file, if there is one. Called by
        the session threads; a failure is logged, the sessions carry on."""
        with self._lock:
            path = self.config.received_file
            if path is None:
                return
            tables = dict(session.received() for session in self.sessions.values())
            try:
                write_received(path, tables)
            except OSError as exc:
                log(f"cannot write {path}: {exc}")

    def stop(self) -> None:
        with self._lock:
            sessions = list(self.sessions.values())
            self.sessions.clear()
        for session in sessions:
            session.stop()


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m rsgen.verification.speaker CONFIG.json", file=sys.stderr)
        return 2
    try:
        speaker = Speaker(Path(argv[0]))
    except ConfigError as exc:
        log(f"error: {exc}")
        return 2
    # Signals are blocked in every thread (the session threads inherit the mask) and taken
    # here with sigwait: no handler runs in the middle of a session's work.
    signals = {signal.SIGHUP, signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        speaker.start()
    except OSError as exc:
        log(f"error: cannot write {speaker.config.received_file}: {exc}")
        return 2
    while signal.sigwait(signals) == signal.SIGHUP:
        log("SIGHUP: reloading")
        speaker.reload()
    log("stopping")
    speaker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
