"""Prefix lists as canonical text, checked in bulk: a big exchange's snapshot holds a million.

rsgen.snapshot writes each IRR prefix list as the text PrefixRange.bird() prints for each entry
("192.0.2.0/23{23,24}", "2001:db8::/32"), sorted by (network, length, ge, le), without
duplicates. Reading it back through ipaddress into an object per entry took most of a build;
check() proves the same of a whole list with a few passes of C code (str and bytes methods,
json, socket, integer arithmetic) and keeps the list as its text:

* every entry is exactly the canonical text of a valid entry of the family: the network as
  ipaddress prints it (a dotted quad without leading zeros; IPv6 compressed, lower case, no
  dotted tail), no host bits set, "/length" within the family, and "{ge,le}" only when the
  range is more than the prefix itself, with length <= ge <= le <= the family's longest;
* the entries are in strictly increasing (network, length, ge, le) order: sorted and unique.

Anything else (a hand-edited list out of order or in upper case, "{24,24}", damage of any
kind) is answered with None, and the caller parses entry by entry as before
(PrefixRange.parse), which gives the old result or the old error message. So check() accepts
only lists the slow path accepts, with the same meaning, and never raises.

Pure; no I/O.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from rsgen.values import MAX_PREFIX_LENGTH, PrefixLengths, PrefixList

# The characters of one family's addresses and numbers, and what is left of an exact entry's
# line ("\n" ends each) once they are deleted; a range's line has "{,}" before its "\n".
_DIGITS = b"0123456789"
_V6_ADDRESS = _DIGITS + b"abcdef:"
_V4_EXACT = b".../\n"
_V6_EXACT = b"/\n"
_RANGE_END = b"{,}\n"
# IPv4 entries become one JSON array of their numbers: json's C parser reads a million of them
# faster than anything else in the standard library, and accepts only canonical decimals
# (no sign, no leading zero, nothing but digits). "}" becomes a space, which JSON allows
# before the comma of the line's "\n"; digits after it ("/24{25,2}6") are a JSON error.
_V4_TO_JSON = str.maketrans({".": ",", "/": ",", "{": ",", ",": ",", "\n": ",", "}": " "})
# A range ends its line: digits after it ("/3{33,48}2") would join the length once the range
# is cut out; such a range is not found, and the count of ranges found is checked.
_V6_RANGE_RE = re.compile(r"\{([0-9a-f]*),([0-9a-f]*)\}(?=\n|\Z)")
# Canonical decimal text of the lengths an IPv6 entry may have (a dict lookup refuses any
# other spelling: "048", "+48", "٤٨").
_V6_LENGTHS = {str(n): n for n in range(MAX_PREFIX_LENGTH[6] + 1)}


def _host_mask_tables(width: int) -> tuple[bytes, ...]:
    """For each byte k of an address of `width` bytes, a bytes.translate table: prefix length
    -> the host bits of that length in byte k (0 beyond the family's longest length)."""
    bits = width * 8
    tables = []
    for k in range(width):
        table = bytearray(256)
        for length in range(bits + 1):
            table[length] = (((1 << (bits - length)) - 1) >> (8 * (width - 1 - k))) & 0xFF
        tables.append(bytes(table))
    return tuple(tables)


_HOST_MASKS = {4: _host_mask_tables(4), 6: _host_mask_tables(16)}
_WIDTH = {4: 4, 6: 16}
# Every length byte 0 .. the family's longest (bytes.translate deletes them; anything left over
# is too long).
_VALID_LENGTHS = {v: bytes(range(MAX_PREFIX_LENGTH[v] + 1)) for v in (4, 6)}


def _ntop_is_ipaddress_text() -> bool:
    """Whether this C library's inet_ntop prints IPv6 addresses as ipaddress does, for every
    pattern of zero and non-zero groups (which groups "::" replaces, "0" for a lone zero
    group) and case; outputs with a dotted IPv4 tail are never accepted, so they may differ."""
    for pattern in range(256):
        for value in (0x1, 0xABCD, 0x100):
            number = 0
            for group in range(8):
                number = (number << 16) | (value if pattern >> group & 1 else 0)
            address = ipaddress.IPv6Address(number)
            text = socket.inet_ntop(socket.AF_INET6, address.packed)
            if "." not in text and text != str(address):
                return False
    return True


# Checked once: another C library (musl, a BSD) may compress differently; then every IPv6 list
# takes the slow path, whose text is ipaddress's.
_NTOP_OK = _ntop_is_ipaddress_text()


@dataclass(frozen=True)
class _Parsed:
    addresses: bytes  # the networks, width bytes each, in entry order
    lengths: bytes  # one per entry
    ranges: list[tuple[int, int, int]]  # (entry index, ge, le) of the "{ge,le}" entries


def check(items: Any, version: int) -> PrefixList | None:
    """`items` (a snapshot file's JSON list) as a PrefixList of IP `version`, when it is the
    canonical, sorted, unique text of valid entries; None otherwise (see the module's
    docstring). Never raises."""
    if type(items) is not list:
        return None
    if not items:
        return PrefixList()
    try:
        text = "\n".join(items)  # TypeError: an item is not a string
        raw = text.encode("ascii")  # UnicodeEncodeError: nor ASCII
    except (TypeError, UnicodeEncodeError):
        return None
    count = len(items)
    ranged = _range_lines(raw, version, count)
    if ranged is None:
        return None
    parsed = _parse_v4(text, ranged, count) if version == 4 else _parse_v6(text, ranged, count)
    if parsed is None:
        return None
    lengths = _checked_lengths(parsed, version)
    if lengths is None or not _host_bits_clear(parsed, version) or \
            not _strictly_increasing(parsed, version, count):
        return None
    return PrefixList.from_canonical(text, count, version, lengths)


def _range_lines(raw: bytes, version: int, count: int) -> list[int] | None:
    """The lines (from 0) that are ranges, when there are `count` lines (an item holding "\n"
    makes more) and each has exactly the separators of an exact entry or a range; None when a
    character or a separator is out of place."""
    address, exact = (_DIGITS, _V4_EXACT) if version == 4 else (_V6_ADDRESS, _V6_EXACT)
    # What is not an address character is left here, so comparing it with the separators of
    # `count` entries also refuses every other character.
    separators = raw.translate(None, address) + b"\n"
    found: list[int] = []
    at = separators.find(b"{")
    while at >= 0:
        # Once the check below passed: the lines before this one are exact entries' and
        # len(found) ranges', each len(_RANGE_END) - 1 longer; "{" is the last but one of an
        # exact line's separators.
        found.append((at - (len(_RANGE_END) - 1) * len(found)) // len(exact))
        at = separators.find(b"{", at + 1)
    # Each "{,}\n" is the end of one line: what is left must be exact entries' lines.
    if found:
        separators = separators.replace(_RANGE_END, b"\n")
    return found if separators == exact * count else None


def _parse_v4(text: str, ranged: list[int], count: int) -> _Parsed | None:
    try:
        numbers = json.loads("[" + text.translate(_V4_TO_JSON) + "]")
    except (ValueError, RecursionError):  # an empty or non-decimal number
        return None
    if len(numbers) != 5 * count + 2 * len(ranged):
        return None
    try:
        fields = bytes(numbers)  # ValueError: a number over 255
    except ValueError:
        return None
    ranges: list[tuple[int, int, int]] = []
    if ranged:
        # Five numbers per entry (four octets, the length), then ge and le for a range: cut
        # the ranges out, so every entry is five numbers again.
        parts, start = [], 0
        for done, line in enumerate(ranged):
            at = 5 * line + 2 * done + 5
            parts.append(fields[start:at])
            ranges.append((line, fields[at], fields[at + 1]))
            start = at + 2
        parts.append(fields[start:])
        fields = b"".join(parts)
    addresses = bytearray(4 * count)
    for k in range(4):
        addresses[k::4] = fields[k::5]
    return _Parsed(bytes(addresses), fields[4::5], ranges)


def _parse_v6(text: str, ranged: list[int], count: int) -> _Parsed | None:
    if not _NTOP_OK:
        return None
    ranges: list[tuple[int, int, int]] = []
    if ranged:
        found = _V6_RANGE_RE.findall(text)
        if len(found) != len(ranged):
            return None
        try:
            ranges = [(line, _V6_LENGTHS[ge], _V6_LENGTHS[le])
                      for line, (ge, le) in zip(ranged, found, strict=True)]
        except KeyError:
            return None
        text = _V6_RANGE_RE.sub("", text)
    tokens = text.replace("/", "\n").split("\n")
    if len(tokens) != 2 * count:
        return None
    networks = tokens[0::2]
    try:
        lengths = bytes(map(_V6_LENGTHS.__getitem__, tokens[1::2]))
        packed = list(map(socket.inet_pton, repeat(socket.AF_INET6), networks))
    except (KeyError, OSError, ValueError):
        return None
    # inet_pton reads every IPv6 spelling; only the one ipaddress prints is canonical.
    if list(map(socket.inet_ntop, repeat(socket.AF_INET6), packed)) != networks:
        return None
    return _Parsed(b"".join(packed), lengths, ranges)


def _checked_lengths(parsed: _Parsed, version: int) -> PrefixLengths | None:
    """The list's length summary, when every length and range is valid for the family."""
    longest = MAX_PREFIX_LENGTH[version]
    lengths = parsed.lengths
    if lengths.translate(None, _VALID_LENGTHS[version]):
        return None
    max_le, admitted = _longest(lengths, longest), 1
    for line, ge, le in parsed.ranges:
        length = lengths[line]
        # {n,n} is the exact prefix, which canonical text writes without braces.
        if not length <= ge <= le <= longest or ge == le == length:
            return None
        max_le = max(max_le, le)
        admitted = max(admitted, (1 << (le - length + 1)) - (1 << (ge - length)))
    return PrefixLengths(_shortest(lengths, longest), max_le, admitted)


# min() and max() of a list's lengths, by searching for each possible length from the end in
# turn (memchr) instead of taking every byte out as an int.
def _shortest(lengths: bytes, longest: int) -> int:
    return next(length for length in range(longest + 1) if length in lengths)


def _longest(lengths: bytes, longest: int) -> int:
    return next(length for length in range(longest, -1, -1) if length in lengths)


def _host_bits_clear(parsed: _Parsed, version: int) -> bool:
    """No network has a bit set beyond its length: one AND of two big integers, the
    addresses and, byte by byte, the host mask of each entry's length."""
    width = _WIDTH[version]
    masks = bytearray(len(parsed.addresses))
    for k, table in enumerate(_HOST_MASKS[version]):
        masks[k::width] = parsed.lengths.translate(table)
    return not int.from_bytes(parsed.addresses, "big") & int.from_bytes(masks, "big")


def _strictly_increasing(parsed: _Parsed, version: int, count: int) -> bool:
    """Whether the entries' (network, length, ge, le) keys strictly increase.

    Each key is a lane of bytes (a zero guard byte, the network, length, ge, le) in one big
    integer; the next entries' lanes plus a guard bit each, minus this entries' lanes plus
    one each, keeps a lane's guard bit exactly when the next key is greater. No lane borrows
    from the one above: every result stays within 0 .. 2**(8 * lane) - 1.

    An exact entry's ge and le are written as 0, not as its length: among entries of one
    network and length, the exact one sorts first either way (a canonical range has ge > n,
    or ge == n and le > n), and two exact ones are equal either way.
    """
    if count < 2:
        return True
    width = _WIDTH[version]
    lane = width + 4
    keys = bytearray(lane * count)
    for k in range(width):
        keys[1 + k::lane] = parsed.addresses[k::width]
    keys[1 + width::lane] = parsed.lengths
    for line, ge, le in parsed.ranges:
        keys[lane * line + width + 2] = ge
        keys[lane * line + width + 3] = le
    # One conversion of the keys, then both views of it as integer operations, which are
    # cheaper than converting twice.
    everything = int.from_bytes(keys, "big")
    later = everything & ((1 << (8 * lane * (count - 1))) - 1)
    earlier = everything >> (8 * lane)
    guard = int.from_bytes((b"\x01" + bytes(lane - 1)) * (count - 1), "big")
    one = guard >> (8 * (lane - 1))  # each lane's guard byte moved to its lowest byte
    return (later + guard - earlier - one) & guard == guard
