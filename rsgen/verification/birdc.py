"""Read routes and sessions out of a running BIRD 2 through its control socket (birdc).

Facts about BIRD 2.0.12's output that the parsers rely on (seen in real runs, see
tests/test_birdc.py and tests/fixtures/birdc/):

* `show route` heads each table's routes with a `Table NAME:` line. Without `table` it shows
  the default table of every net type, ROA tables included, leaving out empty ones; Birdc asks
  for `table master4 table master6` so that only the route server's two tables come back.
* A route is a first line `<net> <dest> [<proto> <time>[ from <ip>]][ *] (<pref>)[ [<origin>]]`
  and tab-indented lines (`via ...`, `Type: ...`, `BGP.attr: value`). A further route for the
  same net starts with spaces instead of the net. Long community lists wrap onto lines indented
  by two tabs. `*` marks the best route; filtered routes are marked `*` too.
* `BGP.as_path` prints an AS_SET as `{64503 64502}` and confederation segments as `(...)` and
  `({...})`; BIRD cuts the line at about 480 characters and ends it with `...`.
* An emptied community list still prints, as `BGP.large_community: ` with no value.
* `show protocols` rows are `name proto table state since info`, padded but not aligned once a
  name is longer than 10 characters. `since` holds a space under `timeformat protocol iso long`
  (which rsgen's configs use). BGP protocols show `---` as their table.
* birdc -v prefixes each reply with BIRD's 4-digit code: 8xxx and 9xxx are errors (9001 for a
  syntax error, which is also how an unknown protocol or table name is reported), and birdc then
  exits with 1. Without -v an error looks like data, hence -v.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from rsgen.errors import RsgenError
from rsgen.sources.proc import run

# The route server's tables (templates/bird2/route-server.conf.j2), and BIRD's defaults.
TABLES = ("master4", "master6")

# All used with fullmatch (a "$" would also match before a trailing newline), and with [0-9]
# rather than \d, which also matches other scripts' digits (int() would accept those).
_GREETING = re.compile(r"BIRD \S+ ready\.")
_TABLE = re.compile(r"Table (?P<table>\S+):")
_ROUTE = re.compile(
    r"(?P<net>\S+)?\s+(?P<dest>[^\[]*?)\s*\[(?P<proto>[^\s\]]+)[^\]]*\]"
    r"(?P<best> \*)? \((?P<pref>[^)]*)\)(?: \[(?P<origin>[^\]]*)\])?\s*")
_COMMUNITY = re.compile(r"\(([0-9]+),([0-9]+)\)")
_LARGE_COMMUNITY = re.compile(r"\(([0-9]+), ([0-9]+), ([0-9]+)\)")
_AS_PATH = re.compile(r"[0-9\s{}()]*")
# "2026-11-24 21:36:07" (iso long), "2026-11-24", "21:36:07.253" (iso short): BIRD's formats.
_SINCE = re.compile(
    r"(?P<since>[0-9]{4}-[0-9]{2}-[0-9]{2}(?: [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?)?|\S+)"
    r"\s*(?P<info>.*)")
_PROTOCOLS_HEADER = re.compile(r"Name\s+Proto\s+Table\s+State\s+Since\s+Info\s*")
_REPLY = re.compile(r"(?P<code>[0-9]{4})[ -](?P<text>.*)")
_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# In `show protocols all`: a protocol's first line starts in column 0, its details are
# indented; BIRD marks a channel whose import limit was reached "Import limit: N [HIT]".
_IMPORT_LIMIT_HIT = re.compile(r"\s+Import limit:\s+[0-9]+\s+\[HIT\]\s*")

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class BgpRoute:
    """One route of `show route all`; BGP attributes are empty for routes that carry none."""

    network: IpNetwork
    protocol: str
    table: str
    # The ASNs in the order BIRD prints them. Members of an AS_SET (or of a confederation
    # segment) are included in place, and as_path_has_set says so: a set is unordered, so
    # position-based policy checks (first AS, origin AS, length) do not hold for such a path.
    as_path: tuple[int, ...]
    next_hop: tuple[str, ...]
    large_communities: tuple[tuple[int, int, int], ...]
    communities: tuple[tuple[int, int], ...]
    preferred: bool
    filtered: bool
    as_path_has_set: bool = False
    # BIRD cut the printed path (about 480 characters, roughly 40 four-byte ASNs): as_path
    # holds only the ASNs printed in full. Check lengths with `show route where bgp_path.len`.
    as_path_truncated: bool = False


@dataclass(frozen=True)
class ProtocolStatus:
    """One row of `show protocols`."""

    name: str
    proto: str
    table: str
    state: str
    since: str
    info: str

    @property
    def established(self) -> bool:
        return self.proto == "BGP" and self.info.startswith("Established")


class BirdcError(RsgenError):
    """birdc could not reach BIRD, or BIRD answered a command with an error."""

    def __init__(self, message: str, *, command: str, code: int | None = None,
                 reply: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.command = command
        self.code = code
        self.reply = reply


def parse_routes(text: str, *, filtered: bool = False) -> list[BgpRoute]:
    """Routes in the output of `show route [filtered] all`, in BIRD's order.

    Tables whose nets are not IP prefixes (ROA, flowspec) are skipped.
    Raises ValueError on a line this parser does not understand.
    """
    routes: list[BgpRoute] = []
    table: str | None = None
    skip_table = False
    network: IpNetwork | None = None
    head: re.Match[str] | None = None
    attrs: dict[str, str] = {}
    last_key: str | None = None

    def flush() -> None:
        if head is not None and network is not None and table is not None:
            routes.append(_route(network, table, head, attrs, filtered=filtered))

    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or _GREETING.fullmatch(line):
            continue
        if match := _TABLE.fullmatch(line):
            flush()
            head, attrs, last_key = None, {}, None
            table, skip_table, network = match["table"], False, None
            continue
        if skip_table:
            continue
        if line.startswith("\t\t") and last_key is not None:
            attrs[last_key] += " " + line.strip()  # a wrapped community list
            continue
        if line.startswith("\t"):
            key, sep, value = line[1:].partition(": ")
            if not sep and line.endswith(":"):  # BIRD leaves no space after an empty value
                key, sep, value = line[1:-1], ":", ""
            last_key = key if sep and key.startswith("BGP.") else None
            if last_key is not None:
                attrs[last_key] = value.strip()
            continue
        if table is None:
            raise ValueError(f"line {number}: route before any 'Table NAME:' line: {line!r}")
        next_network = network  # a line that starts with spaces adds a route to the same net
        if not line[0].isspace():
            try:
                next_network = ipaddress.ip_network(line.split(None, 1)[0])
            except ValueError:
                skip_table = True  # e.g. a ROA table's "192.0.2.0/24-24 AS64500"
        match = _ROUTE.fullmatch(line)
        if not skip_table and (match is None or next_network is None):
            raise ValueError(f"line {number}: not a route line of BIRD 2: {line!r}")
        flush()
        head, attrs, last_key, network = match, {}, None, next_network
        if skip_table:
            head = None
    flush()
    return routes


def _route(network: IpNetwork, table: str, head: re.Match[str], attrs: dict[str, str], *,
           filtered: bool) -> BgpRoute:
    as_path, has_set, truncated = parse_as_path(attrs.get("BGP.as_path", ""))
    return BgpRoute(
        network=network,
        protocol=head["proto"],
        table=table,
        as_path=as_path,
        next_hop=tuple(attrs.get("BGP.next_hop", "").split()),
        large_communities=tuple(
            (int(a), int(b), int(c)) for a, b, c in
            _all_matches(_LARGE_COMMUNITY, attrs.get("BGP.large_community", ""))),
        communities=tuple(
            (int(a), int(b)) for a, b in
            _all_matches(_COMMUNITY, attrs.get("BGP.community", ""))),
        preferred=head["best"] is not None,
        filtered=filtered,
        as_path_has_set=has_set,
        as_path_truncated=truncated,
    )


def _all_matches(pattern: re.Pattern[str], value: str) -> list[tuple[str, ...]]:
    """Every match of pattern in value; ValueError if anything but spaces is left over."""
    if pattern.sub("", value).strip():
        raise ValueError(f"unexpected community list from BIRD: {value!r}")
    return [match.groups() for match in pattern.finditer(value)]


def parse_as_path(text: str) -> tuple[tuple[int, ...], bool, bool]:
    """(ASNs, has a set or confederation segment, was truncated) from a BGP.as_path value."""
    truncated = text.endswith("...")
    if truncated:
        text = text[:-3]
        # BIRD writes "..." over the line's last bytes, so the last number may be cut short.
        if text and text[-1].isdigit():
            text = text.rstrip("0123456789")
    if not _AS_PATH.fullmatch(text):
        raise ValueError(f"unexpected AS path from BIRD: {text!r}")
    asns = tuple(int(token) for token in re.findall(r"[0-9]+", text))
    return asns, any(bracket in text for bracket in "{("), truncated


def parse_import_limit_hits(text: str) -> frozenset[str]:
    """The protocols of `show protocols all` output whose import limit BIRD reports as hit.

    >>> sorted(parse_import_limit_hits("p1 BGP --- up 12:00 Established\\n"
    ...                                 "    Import limit:   2 [HIT]\\n"
    ...                                 "p2 BGP --- up 12:00 Established\\n"
    ...                                 "    Import limit:   5\\n"))
    ['p1']
    """
    hits: set[str] = set()
    current: str | None = None
    for line in text.splitlines():
        if not line.strip() or _GREETING.fullmatch(line) or _PROTOCOLS_HEADER.fullmatch(line):
            continue
        if not line[0].isspace():
            current = line.split(None, 1)[0]
        elif current is not None and _IMPORT_LIMIT_HIT.fullmatch(line):
            hits.add(current)
    return frozenset(hits)


def parse_protocols(text: str) -> list[ProtocolStatus]:
    """The rows of `show protocols` (without `all`); ValueError on a row that is too short."""
    rows: list[ProtocolStatus] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or _GREETING.fullmatch(line) or _PROTOCOLS_HEADER.fullmatch(line):
            continue
        fields = line.split(None, 4)
        if len(fields) < 4:
            raise ValueError(f"line {number}: not a row of `show protocols`: {line!r}")
        name, proto, table, state = fields[:4]
        match = _SINCE.fullmatch(fields[4].strip()) if len(fields) == 5 else None
        rows.append(ProtocolStatus(
            name=name, proto=proto, table=table, state=state,
            since=match["since"] if match else "",
            info=match["info"].strip() if match else "",
        ))
    return rows


class Birdc:
    """Commands to one BIRD through birdc; every call runs birdc once."""

    def __init__(self, socket: Path, *, birdc: str = "birdc", timeout: float = 30.0) -> None:
        self.socket = socket
        self.birdc = birdc
        self.timeout = timeout

    def routes(self, *, filtered: bool = False, protocol: str | None = None,
               tables: tuple[str, ...] = TABLES) -> list[BgpRoute]:
        """The routes in tables (all of master4 and master6), or only those from protocol."""
        words = ["show", "route"] + (["filtered"] if filtered else []) + ["all"]
        for table in tables:
            words += ["table", _symbol(table)]
        if protocol is not None:
            words += ["protocol", _symbol(protocol)]
        return parse_routes(self.command(*words), filtered=filtered)

    def exported(self, protocol: str) -> frozenset[IpNetwork]:
        """The prefixes BIRD's export filter passes to `protocol` now (`show route export`:
        the filter run on its channel's table, the next-best route where the best is
        refused)."""
        shown = self.command("show", "route", "export", _symbol(protocol))
        return frozenset(r.network for r in parse_routes(shown))

    def protocols(self) -> list[ProtocolStatus]:
        """Every protocol's row of `show protocols`."""
        return parse_protocols(self.command("show", "protocols"))

    def import_limits_hit(self) -> frozenset[str]:
        """The protocols whose import limit has been reached (`show protocols all`)."""
        return parse_import_limit_hits(self.command("show", "protocols", "all"))

    def command(self, *words: str) -> str:
        """BIRD's answer to one command as plain birdc prints it, without the greeting line.

        Raises BirdcError when birdc cannot reach BIRD or BIRD answers with an error code.
        """
        command = " ".join(words)
        result = run([self.birdc, "-v", "-s", str(self.socket), *words], timeout=self.timeout)
        lines: list[str] = []
        for line in result.stdout.splitlines():
            match = _REPLY.fullmatch(line)
            if match is None:
                # birdc -v indents continuations by 5 spaces; its own messages come unprefixed.
                lines.append(line[5:] if line.startswith("     ") else line)
                continue
            code = int(match["code"])
            if 8000 <= code < 10000:
                raise _bird_error(command, code, match["text"])
            if code != 1:  # 0001 is the greeting
                lines.append(match["text"])
        if result.returncode != 0:
            raise _birdc_failed(command, self.socket, result.stderr.strip() or "\n".join(lines))
        return "\n".join(lines) + "\n" if lines else ""


def _symbol(name: str) -> str:
    """A protocol or table name, checked so that it cannot add words to the command."""
    if not _SYMBOL.fullmatch(name):
        raise ValueError(f"not a BIRD symbol name: {name!r}")
    return name


def _bird_error(command: str, code: int, reply: str) -> BirdcError:
    hint = None
    if "CF_SYM_UNDEFINED" in reply:
        # How BIRD 2 reports a name that its config does not define.
        hint = ("a name in the command is not defined in BIRD's config: a misspelt protocol "
                "or table? `show protocols` lists the protocols")
    return BirdcError(f"BIRD refused {command!r}: {code} {reply}", command=command, code=code,
                      reply=reply, hint=hint)


def _birdc_failed(command: str, socket: Path, output: str) -> BirdcError:
    reply = output or "no output"
    hint = None
    if "Unable to connect" in reply:
        hint = f"is bird running with its control socket at {socket}?"
    return BirdcError(f"birdc could not run {command!r}: {reply}", command=command, reply=reply,
                      hint=hint)
