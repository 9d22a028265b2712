"""Typed values and their validators: ASNs, AS-SET names, prefix ranges, safe config text.

Everything here is pure and small; data from PeeringDB and IRR is untrusted, so it passes
through these parsers before it can reach bgpq4's argv or a BIRD config.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import overload

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Reserved, private and documentation ASNs (IANA "Special-Purpose AS Numbers" and unallocated
# 32-bit space boundaries used as bogons by route servers). Inclusive ranges.
BOGON_ASN_RANGES: tuple[tuple[int, int, str], ...] = (
    (0, 0, "reserved (RFC 7607)"),
    (23456, 23456, "AS_TRANS (RFC 6793)"),
    (64496, 64511, "documentation (RFC 5398)"),
    (64512, 65534, "private use (RFC 6996)"),
    (65535, 65535, "reserved (RFC 7300)"),
    (65536, 65551, "documentation (RFC 5398)"),
    (65552, 131071, "reserved by IANA"),
    (4200000000, 4294967294, "private use (RFC 6996)"),
    (4294967295, 4294967295, "reserved (RFC 7300)"),
)

MAX_ASN = 4294967295

# IANA special-purpose IPv4 registry: never globally routable (any prefix inside is a bogon).
BOGON_PREFIXES_V4: tuple[str, ...] = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
)
# IPv6: only global unicast is routable, and inside it these are not.
GLOBAL_UNICAST_V6 = "2000::/3"
BOGON_PREFIXES_V6: tuple[str, ...] = (
    "2001::/32", "2001:2::/48", "2001:10::/28", "2001:db8::/32", "2002::/16", "3ffe::/16",
    "3fff::/20",
)


def outside_ipv6_global_unicast(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    """The BIRD config's prefix_outside_ipv6_global_unicast(): IPv6 outside 2000::/3.

    >>> outside_ipv6_global_unicast(ipaddress.ip_network("fd00::/8"))
    True
    >>> outside_ipv6_global_unicast(ipaddress.ip_network("2001:db8::/32"))
    False
    """
    return isinstance(network, ipaddress.IPv6Network) and \
        not network.subnet_of(ipaddress.IPv6Network(GLOBAL_UNICAST_V6))


def is_bogon_prefix(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    """Never globally routable: what the BIRD config's prefix_is_bogon() and
    prefix_outside_ipv6_global_unicast() reject together (each with its own reason).

    >>> is_bogon_prefix(ipaddress.ip_network("10.1.0.0/16"))
    True
    >>> is_bogon_prefix(ipaddress.ip_network("fc00::/7"))
    True
    >>> is_bogon_prefix(ipaddress.ip_network("2400:fc00::/32"))
    False
    """
    if isinstance(network, ipaddress.IPv4Network):
        return any(network.subnet_of(ipaddress.IPv4Network(b)) for b in BOGON_PREFIXES_V4)
    if outside_ipv6_global_unicast(network):
        return True
    return any(network.subnet_of(ipaddress.IPv6Network(b)) for b in BOGON_PREFIXES_V6)


def bogon_asn_reason(asn: int) -> str | None:
    """Why an ASN may not appear in a member's AS path, or None when it may.

    >>> bogon_asn_reason(64512)
    'private use (RFC 6996)'
    >>> bogon_asn_reason(17557) is None
    True
    """
    for low, high, why in BOGON_ASN_RANGES:
        if low <= asn <= high:
            return why
    return None


# An AS-SET name as RPSL (RFC 2622 section 5.1) allows it: "AS-" names, optionally hierarchical
# with ASN or AS-SET components ("AS3333:AS-FOO"). Letters, digits, "-" and "_" only, which also
# keeps every name safe for argv and for BIRD comments. Patterns are used with fullmatch: with
# match, "$" would also accept a trailing newline ("RIPE\n::AS-FOO").
_SET_COMPONENT = r"AS-[A-Z0-9][A-Z0-9_-]*"
_HIER_COMPONENT = rf"(?:AS[0-9]+|{_SET_COMPONENT})"
_AS_SET_RE = re.compile(rf"(?:{_HIER_COMPONENT}:)*{_SET_COMPONENT}(?::{_HIER_COMPONENT})*")
_ASN_OBJECT_RE = re.compile(r"AS([0-9]{1,10})")
_SOURCE_RE = re.compile(r"[A-Z][A-Z0-9-]{0,31}")
MAX_AS_SET_LENGTH = 128


@dataclass(frozen=True, order=True)
class AsSetName:
    """An IRR object to expand: an AS-SET (maybe hierarchical) or a single aut-num "AS123".

    `source` pins the IRR database ("RIPE::AS-FOO" or "AS-FOO@RIPE" in PeeringDB).
    """

    name: str
    source: str | None = None

    def __str__(self) -> str:
        return f"{self.source}::{self.name}" if self.source else self.name

    @property
    def is_asn(self) -> bool:
        return _ASN_OBJECT_RE.fullmatch(self.name) is not None


def parse_as_set(text: str) -> AsSetName:
    """Parse one AS-SET in any form PeeringDB holds; raise ValueError with the reason otherwise.

    >>> parse_as_set("RIPE::as-foo")
    AsSetName(name='AS-FOO', source='RIPE')
    >>> parse_as_set("AS-FOO@RADB")
    AsSetName(name='AS-FOO', source='RADB')
    >>> parse_as_set("AS3333:AS-BAR")
    AsSetName(name='AS3333:AS-BAR', source=None)
    """
    if not isinstance(text, str):  # JSON (a snapshot file, an API answer) may hold any type
        raise ValueError(f"expected an AS-SET name, not {type(text).__name__}")
    raw = text.strip()
    if not raw:
        raise ValueError("empty AS-SET name")
    if len(raw) > MAX_AS_SET_LENGTH:
        raise ValueError(f"AS-SET name longer than {MAX_AS_SET_LENGTH} characters")
    if not raw.isascii():
        # str.upper() would turn some letters into others ("ﬀ" -> "FF"): refuse, never guess.
        raise ValueError(f"{raw!r} is not an AS-SET name: RPSL names are ASCII letters, digits, "
                         "'-' and '_'")
    upper = raw.upper()
    source: str | None = None
    if "::" in upper:
        source, _, upper = upper.partition("::")
    elif "@" in upper:
        upper, _, source = upper.partition("@")
    if source is not None and not _SOURCE_RE.fullmatch(source):
        raise ValueError(f"{raw!r}: IRR source must be letters and digits, like RIPE or RADB")
    match = _ASN_OBJECT_RE.fullmatch(upper)
    if match:
        if int(match.group(1)) > MAX_ASN:
            raise ValueError(f"{raw!r}: ASN out of range")
        return AsSetName(upper, source)
    if not _AS_SET_RE.fullmatch(upper):
        raise ValueError(
            f"{raw!r} is not an AS-SET name (expected AS-NAME, AS123:AS-NAME, "
            "SOURCE::AS-NAME or AS-NAME@SOURCE; letters, digits, '-' and '_' only)"
        )
    return AsSetName(upper, source)


def parse_as_set_list(text: str) -> tuple[AsSetName, ...]:
    """Parse PeeringDB's irr_as_set field: several names separated by spaces or commas.

    Duplicates are dropped, order is kept (the first is the member's primary set).

    >>> [str(s) for s in parse_as_set_list("RIPE::AS-FOO, AS-BAR AS-FOO@RIPE")]
    ['RIPE::AS-FOO', 'AS-BAR']
    """
    seen: list[AsSetName] = []
    for token in re.split(r"[\s,]+", text.strip()):
        if not token:
            continue
        parsed = parse_as_set(token)
        if parsed not in seen:
            seen.append(parsed)
    return tuple(seen)


@dataclass(frozen=True, order=True)
class PrefixRange:
    """A prefix and the lengths accepted under it, as bgpq4 -A emits and BIRD sets express.

    >>> PrefixRange.parse("192.0.2.0/23{23,24}").bird()
    '192.0.2.0/23{23,24}'
    >>> str(PrefixRange.parse("2001:db8::/32"))
    '2001:db8::/32'
    """

    version: int
    network_int: int
    prefixlen: int
    ge: int
    le: int

    @classmethod
    def of(cls, network: IPNetwork, ge: int | None = None, le: int | None = None) -> PrefixRange:
        low = network.prefixlen if ge is None else ge
        high = network.prefixlen if le is None else le
        if not network.prefixlen <= low <= high <= network.max_prefixlen:
            raise ValueError(f"{network}: bad length range {low}-{high}")
        return cls(network.version, int(network.network_address), network.prefixlen, low, high)

    @classmethod
    def parse(cls, text: str) -> PrefixRange:
        match = re.fullmatch(r"([0-9A-Fa-f:.]+/[0-9]{1,3})(?:\{([0-9]{1,3}),([0-9]{1,3})\})?", text)
        if not match:
            raise ValueError(f"{text!r} is not a prefix or prefix{{min,max}}")
        network = ipaddress.ip_network(match.group(1), strict=True)
        if match.group(2) is None:
            return cls.of(network)
        return cls.of(network, int(match.group(2)), int(match.group(3)))

    @property
    def network(self) -> IPNetwork:
        return ipaddress.ip_network((self.network_int, self.prefixlen)) if self.version == 4 \
            else ipaddress.IPv6Network((self.network_int, self.prefixlen))

    def matches(self, network: IPNetwork) -> bool:
        """Whether BIRD's `network ~ [this]` holds: inside the prefix, length within range."""
        if network.version != self.version or not self.ge <= network.prefixlen <= self.le:
            return False
        return network.supernet(new_prefix=self.prefixlen) == self.network \
            if network.prefixlen >= self.prefixlen else False

    @property
    def exact(self) -> bool:
        return self.ge == self.le == self.prefixlen

    def bird(self) -> str:
        """BIRD prefix-set syntax."""
        net = self.network
        return str(net) if self.exact else f"{net}{{{self.ge},{self.le}}}"

    __str__ = bird

    @classmethod
    def from_canonical(cls, text: str) -> PrefixRange:
        """The entry whose bird() text `text` is, for text known to be canonical (a PrefixList
        checked by rsgen.prefixtext): no ipaddress, a few string operations."""
        network, _, lengths = text.partition("/")
        version = 6 if ":" in network else 4
        packed = socket.inet_pton(socket.AF_INET6 if version == 6 else socket.AF_INET, network)
        length, _, span = lengths.partition("{")
        prefixlen = int(length)
        if not span:
            return cls(version, int.from_bytes(packed, "big"), prefixlen, prefixlen, prefixlen)
        low, _, high = span[:-1].partition(",")
        return cls(version, int.from_bytes(packed, "big"), prefixlen, int(low), int(high))


MAX_PREFIX_LENGTH = {4: 32, 6: 128}


@dataclass(frozen=True)
class PrefixLengths:
    """What rsgen.plausible asks of a whole prefix list, summed up once."""

    shortest: int  # the smallest prefix length
    longest: int  # the greatest `le`
    widest: int  # the most prefixes one entry admits (rsgen.plausible.entry_prefixes)


class PrefixList(Sequence[PrefixRange]):
    """One address family's IRR prefix list: a sequence of PrefixRange.

    A list read from the snapshot is held as its canonical text (each entry as bird() prints
    it, one per line), which rsgen.prefixtext proved valid, sorted and unique: rendering it is
    one str.replace, and the entries are made only when asked for (verify, irr.more_specifics,
    blackholes). A list made from PrefixRanges (bgpq4's answer, a test) keeps them, in the
    order given. Equal lists have equal entries, whatever they are held as; a PrefixList also
    equals the tuple of its entries.
    """

    __slots__ = ("_count", "_lengths", "_ranges", "_sorted", "_text", "_version")

    def __init__(self, ranges: Iterable[PrefixRange] = ()) -> None:
        self._ranges: tuple[PrefixRange, ...] | None = tuple(ranges)
        self._count = len(self._ranges)
        self._text: str | None = None
        self._version: int | None = self._ranges[0].version if self._ranges else None
        self._lengths: PrefixLengths | None = None
        self._sorted = self._count < 2

    @classmethod
    def from_canonical(cls, text: str, count: int, version: int,
                       lengths: PrefixLengths) -> PrefixList:
        """A list from `count` entries' canonical text joined by "\\n", strictly increasing:
        only for text rsgen.prefixtext.check proved so."""
        made = cls()
        made._ranges, made._count, made._text = None, count, text
        made._version, made._lengths, made._sorted = version, lengths, True
        return made

    @classmethod
    def sorted_from(cls, ranges: Iterable[PrefixRange]) -> PrefixList:
        """The entries sorted, without duplicates."""
        made = cls(sorted(set(ranges)))
        made._sorted = True
        return made

    @property
    def version(self) -> int | None:
        """4 or 6 (the first entry's); None for an empty list."""
        return self._version

    @property
    def text(self) -> str:
        """The entries' bird() text, one per line (no final newline)."""
        if self._text is None:
            self._text = "\n".join(r.bird() for r in self._entries())
        return self._text

    def texts(self) -> list[str]:
        return self.text.split("\n") if self._count else []

    def bird_lines(self, indent: str) -> str:
        """The entries as the lines of a BIRD set literal: indented, comma-separated."""
        return indent + self.text.replace("\n", ",\n" + indent)

    def lengths(self) -> PrefixLengths | None:
        """The shortest prefix, longest `le` and widest entry; None for an empty list."""
        if self._lengths is None and self._count:
            entries = self._entries()
            self._lengths = PrefixLengths(
                min(r.prefixlen for r in entries), max(r.le for r in entries),
                max((1 << (r.le - r.prefixlen + 1)) - (1 << (r.ge - r.prefixlen))
                    for r in entries))
        return self._lengths

    def sorted_unique(self) -> PrefixList:
        """The entries sorted and without duplicates (this list when it already is)."""
        return self if self._sorted else PrefixList.sorted_from(self._entries())

    def all_of_version(self, version: int) -> bool:
        """Whether every entry is of IP `version` (a checked text list is of one version)."""
        if self._ranges is None:
            return self._version == version
        return all(r.version == version for r in self._ranges)

    def _entries(self) -> tuple[PrefixRange, ...]:
        if self._ranges is None:
            self._ranges = tuple(map(PrefixRange.from_canonical, self.texts()))
        return self._ranges

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __iter__(self) -> Iterator[PrefixRange]:
        return iter(self._entries())

    @overload
    def __getitem__(self, index: int) -> PrefixRange: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[PrefixRange, ...]: ...

    def __getitem__(self, index: int | slice) -> PrefixRange | tuple[PrefixRange, ...]:
        return self._entries()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PrefixList):
            if self._count != other._count:
                return False
            if self._ranges is not None and other._ranges is not None:
                return self._ranges == other._ranges
            return self.text == other.text  # bird() text is one-to-one with entries
        if isinstance(other, tuple):
            return self._entries() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._entries())  # as the equal tuple's

    def __repr__(self) -> str:
        return f"PrefixList({self.texts()!r})"


# What untrusted text may keep inside a BIRD comment or string literal: no newline, no quote,
# no backslash, no braces or semicolons. ('%' appears in rsgen's own "+ 15%" comments.)
_SAFE_TEXT_RE = re.compile(r"[^A-Za-z0-9 .,:()/&+_'@#%-]")


def scrub_config_text(text: str) -> str:
    """Every character outside the safe set becomes a space (nothing else changes).

    The scrub every string reaching a generated config passes (rsgen.render.config_value).

    >>> scrub_config_text('x"; log "/etc/cron.d/x" all;\\n')
    'x   log  /etc/cron.d/x  all  '
    """
    return _SAFE_TEXT_RE.sub(" ", text)


def safe_comment(text: str, limit: int = 120) -> str:
    """Reduce free text (member names, PeeringDB fields) to a harmless one-line BIRD comment.

    >>> safe_comment('Evil"; } protocol x {\\n')
    'Evil protocol x'
    """
    cleaned = " ".join(scrub_config_text(text).split())
    return cleaned[:limit].strip()


def brief(items: Iterable[str], limit: int = 5) -> str:
    """The first few items for a one-line message.

    >>> brief(["a", "b", "c"], limit=2)
    'a, b and 1 more'
    """
    listed = list(items)
    shown = ", ".join(listed[:limit])
    return shown if len(listed) <= limit else f"{shown} and {len(listed) - limit} more"


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """Text for a terminal or a log: every character a terminal could act on, shown as an escape.

    Untrusted text (member names, PeeringDB fields, IRR data, bgpq4's stderr) may hold C0 and
    C1 controls (ESC starts colour, cursor and title sequences; CR and BS overwrite a line),
    bidi overrides (U+202E, U+2066-U+2069) that reorder what a reviewer reads, and line
    separators (U+2028, U+2029) that fake a new line. Everything str.isprintable() refuses
    (categories Cc, Cf, Cs, Co, Cn, Zl, Zp, and Zs other than the space) becomes a Python-style
    escape; nothing else changes, so the result is always one line.

    >>> printable("AS3333\\x1b[2J \\u202eevil\\n")
    'AS3333\\\\x1b[2J \\\\u202eevil\\\\n'
    """
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char.isprintable():
            out.append(char)
        elif char in _ESCAPES:
            out.append(_ESCAPES[char])
        else:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


# BGP passwords are read only from environment variables with this prefix (member files say
# `password: env:RS_PW_NAME`): a pull request must not be able to name another of the CI
# runner's secrets (GITHUB_TOKEN, PEERINGDB_API_KEY) and have it written into a config.
PASSWORD_ENV_PREFIX = "RS_PW_"  # noqa: S105 (a variable name prefix, not a password)

# Printable ASCII without '"', '\\' or space; fullmatch, so a trailing newline is refused too.
_PASSWORD_RE = re.compile(r"[!#-\[\]-~]{1,80}")


class Secret:
    """A value that must reach a config but never a log, a report or `rsgen context`.

    >>> Secret("s3cret")
    <secret>
    >>> Secret("s3cret").reveal()
    's3cret'
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


def check_password(value: str) -> str | None:
    """Why a BGP password cannot go into a BIRD config string, or None when it can.

    >>> check_password('ok-Pass_1!'), check_password('has "quote"') is not None
    (None, True)
    """
    if not _PASSWORD_RE.fullmatch(value):
        return ("must be 1 to 80 printable ASCII characters without spaces, double quotes "
                "or backslashes")
    return None
