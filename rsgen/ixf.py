"""IX-F member exports (the Euro-IX JSON schema, 0.4 to 1.0): reading one into member drafts,
and writing the exchange's own (1.0).

An export is untrusted and, in practice, messy: version strings that are dates, names missing,
`routeserver` or `max_prefix` absent, addresses of other LANs or other exchanges of the same
operator, members listed twice. Reading is per record: every member and every address either
becomes part of a draft or is reported with the reason it was not; only a file that is not an
export at all (not JSON, too big, too deep, no member_list) is refused as a whole.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from rsgen.errors import InvalidInput
from rsgen.memberfile import MemberDraft, name_problem
from rsgen.model import PeeringLan, RouteServer
from rsgen.values import MAX_ASN, IPAddress, bogon_asn_reason, parse_as_set_list

MAX_EXPORT_BYTES = 16 * 1024 * 1024  # the largest real exports (AMS-IX, DE-CIX) are ~5 MB
# Objects and lists in the JSON (counted as "{" and "[" bytes, strings included): bounds the
# memory json.loads needs (16 MiB of "{}," would be five million dicts, over a gigabyte).
# DE-CIX's 689 members are about 12,000.
MAX_CONTAINERS = 500_000
MAX_AS_MACRO_LENGTH = 1024  # as PeeringDB's irr_as_set (rsgen.sources.peeringdb)
MAX_LEFT_OUT = 20  # per member: the rest are counted in one line
MAX_DEPTH = 16  # a 1.0 export nests 9 levels deep (member_list ... mac_addresses)
MAX_MEMBERS = 10000  # as many as an exchange directory may hold (rsgen.load)
MAX_SESSIONS = 64  # the member schema's
MAX_AS_SETS = 16  # the member schema's
MAX_PREFIXES = 10_000_000  # the member schema's
# What the schemas' "state" says of a connection in use; a connection without one counts too.
_LIVE_STATES = frozenset({"active", "operational", "connected", "up", "production"})
KNOWN_VERSIONS = frozenset({"0.4", "0.5", "0.6", "0.7", "1.0"})


@dataclass(frozen=True)
class Notice:
    """One record (or field) of the export and what became of it: untrusted text inside."""

    where: str  # e.g. "member_list[3] (AS3333)" or "...vlan_list[0].ipv6"
    reason: str


@dataclass(frozen=True)
class ExportMembers:
    version: str
    drafts: tuple[tuple[str, MemberDraft], ...]  # each with where it came from
    skipped: tuple[Notice, ...]  # whole members not imported
    dropped: tuple[Notice, ...]  # parts of imported members left out (an address, a field)
    warnings: tuple[str, ...] = field(default=())


def parse_json(raw: bytes, source: str) -> dict[str, Any]:
    """The export as a JSON object; InvalidInput for what is not one (the whole file)."""
    if len(raw) > MAX_EXPORT_BYTES:
        raise InvalidInput(f"{source}: more than {MAX_EXPORT_BYTES} bytes; not an IX-F export "
                           "rsgen reads")
    if raw.count(b"{") + raw.count(b"[") > MAX_CONTAINERS:
        raise InvalidInput(f"{source}: more than {MAX_CONTAINERS} JSON objects and lists; "
                           "not an IX-F export rsgen reads")
    try:
        document = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys,
                              parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{source}: not UTF-8 text (byte {exc.start})") from exc
    except RecursionError as exc:
        raise InvalidInput(f"{source}: JSON nested deeper than {MAX_DEPTH} levels") from exc
    except ValueError as exc:  # JSONDecodeError, duplicate keys, NaN, 4300-digit integers
        raise InvalidInput(f"{source}: not valid JSON ({str(exc)[:120]})",
                           hint="an IX-F member export is one JSON object") from exc
    if _depth(document) > MAX_DEPTH:
        raise InvalidInput(f"{source}: JSON nested deeper than {MAX_DEPTH} levels")
    if not isinstance(document, dict) or not isinstance(document.get("member_list"), list):
        raise InvalidInput(f"{source}: not an IX-F member export: expected a JSON object with "
                           "a member_list", hint="see https://github.com/euro-ix/json-schemas")
    if len(document["member_list"]) > MAX_MEMBERS:
        raise InvalidInput(f"{source}: more than {MAX_MEMBERS} members")
    return document


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"the key {key[:40]!r} appears twice in one object")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth(value: Any) -> int:
    """How deeply `value` nests (iterative: the JSON reader has bounded it already)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value: object) -> str:
    """An export's value as JSON writes it (false, "x"), short, for a reason."""
    return "missing" if value is None else json.dumps(value, ensure_ascii=True)[:60]


def read_members(document: dict[str, Any], lan: PeeringLan,
                 route_servers: tuple[RouteServer, ...], *, ixp_id: int | None = None,
                 assume_routeserver: bool = False) -> ExportMembers:
    """The member drafts an export gives for this exchange: each member's route-server sessions
    (`routeserver: true`) on the peering LAN, its AS-SETs (as_macro) and limits (max_prefix).

    `ixp_id`: only connections to that exchange of the export (an operator's export may list
    several); otherwise every connection, its addresses still held to the peering LAN.
    `assume_routeserver`: an address whose `routeserver` is absent counts as a session (some
    exporters never write the field); an explicit false never does.
    """
    warnings: list[str] = []
    version = document.get("version")
    if not isinstance(version, str):
        warnings.append(f"version is {_show(version)}, not a string: read as 1.0")
        version = "?"
    elif version not in KNOWN_VERSIONS:
        warnings.append(f"version {version[:40]!r} is not an IX-F schema version rsgen knows "
                        f"({', '.join(sorted(KNOWN_VERSIONS))}): read as 1.0")
    if ixp_id is not None:
        listed = [x.get("ixp_id") for x in document.get("ixp_list") or []
                  if isinstance(x, dict)] if isinstance(document.get("ixp_list"), list) else []
        if ixp_id not in listed:
            raise InvalidInput(f"the export's ixp_list has no ixp_id {ixp_id}; it has "
                               f"{', '.join(str(i)[:20] for i in listed) or 'none'}")
    reader = _Reader(lan, frozenset(a for s in route_servers for a in s.addresses()), ixp_id,
                     assume_routeserver)
    first_at: dict[int, str] = {}
    drafts: list[tuple[str, MemberDraft]] = []
    for index, record in enumerate(document["member_list"]):
        where = f"member_list[{index}]"
        asn = record.get("asnum") if isinstance(record, dict) else None
        if _is_int(asn) and 0 < asn <= MAX_ASN:
            where += f" (AS{asn})"
        mark = len(reader.dropped)
        try:
            draft = reader.member(record, where)
        except _Skip as skip:
            del reader.dropped[mark:]
            reader.skipped.append(Notice(where, str(skip)))
            continue
        if draft.asn in first_at:
            reader.skipped.append(Notice(where, f"AS{draft.asn} is listed again (first at "
                                                f"{first_at[draft.asn]}): only the first is read"))
            continue
        first_at[draft.asn] = where
        drafts.append((where, draft))
    return ExportMembers(version, tuple(drafts), tuple(reader.skipped), tuple(reader.dropped),
                         tuple(warnings))


class _Skip(Exception):
    """This record is not imported; the message says why."""


@dataclass(frozen=True)
class _Address:
    address: IPAddress
    as_sets: tuple[str, ...]
    max_prefix: int | None


class _Reader:
    def __init__(self, lan: PeeringLan, taken: frozenset[IPAddress], ixp_id: int | None,
                 assume_routeserver: bool) -> None:
        self.lan = lan
        self.taken = taken
        self.ixp_id = ixp_id
        self.assume_routeserver = assume_routeserver
        self.skipped: list[Notice] = []
        self.dropped: list[Notice] = []

    def member(self, record: Any, where: str) -> MemberDraft:
        mark = len(self.dropped)  # this member's notes start here (the caller drops them on
        # a skip: what was left out of a member not imported is no news)
        if not isinstance(record, dict):
            raise _Skip(f"is {type(record).__name__}, not an object")
        asn = record.get("asnum")
        if not _is_int(asn) or not 0 < asn <= MAX_ASN:
            raise _Skip(f"asnum is {_show(asn)}, not an AS number")
        bogon = bogon_asn_reason(asn)
        if bogon:
            raise _Skip(f"AS{asn} is not a public ASN: {bogon}")
        name = self._name(record.get("name"), asn, where)
        connections = record.get("connection_list")
        if not isinstance(connections, list):
            raise _Skip(f"connection_list is {_show(connections)}, not a list")
        found: dict[IPAddress, _Address] = {}
        refused: list[str] = []
        for c_index, connection in enumerate(connections):
            for place, item in self._addresses(connection, f"{where}.connection_list[{c_index}]"):
                if isinstance(item, str):
                    refused.append(f"{place}: {item}")
                elif item.address in found:
                    refused.append(f"{place}: {item.address} is listed twice")
                else:
                    found[item.address] = item
        fields = self.dropped[mark:]
        del self.dropped[mark:]  # back below, capped, for a member that is imported
        if not found:
            reasons = [r.partition(": ")[2] for r in refused]
            raise _Skip("no route-server session on the peering LAN: "
                        + ("; ".join(reasons[:8]) if reasons else "the member lists no address")
                        + (f" and {len(reasons) - 8} more" if len(reasons) > 8 else ""))
        if len(found) > MAX_SESSIONS:
            raise _Skip(f"{len(found)} route-server sessions, more than the {MAX_SESSIONS} a "
                        "member file may have")
        notes = [Notice(r.partition(": ")[0], r.partition(": ")[2]) for r in refused] + fields
        self.dropped.extend(notes[:MAX_LEFT_OUT])
        if len(notes) > MAX_LEFT_OUT:
            self.dropped.append(Notice(where, f"{len(notes) - MAX_LEFT_OUT} more addresses or "
                                              "fields left out"))
        as_sets: list[str] = []
        for item in found.values():
            as_sets += [s for s in item.as_sets if s not in as_sets]
        if len(as_sets) > MAX_AS_SETS:
            self.dropped.append(Notice(where, f"{len(as_sets)} AS-SETs, more than "
                                              f"{MAX_AS_SETS}: none taken"))
            as_sets = []
        limits = {v: max((f.max_prefix for f in found.values()
                          if f.address.version == v and f.max_prefix is not None), default=None)
                  for v in (4, 6)}
        return MemberDraft(asn, name, tuple(found), tuple(as_sets), limits[4], limits[6])

    def _name(self, raw: Any, asn: int, where: str) -> str:
        if raw is None:
            self.dropped.append(Notice(where, f"no name in the export: named AS{asn}"))
            return f"AS{asn}"
        if not isinstance(raw, str):
            raise _Skip(f"name is {type(raw).__name__}, not a string")
        name = raw.strip()
        if not name:
            self.dropped.append(Notice(where, f"empty name in the export: named AS{asn}"))
            return f"AS{asn}"
        problem = name_problem(name)
        if problem:
            raise _Skip(problem)
        return name

    def _addresses(self, connection: Any, where: str) -> Iterator[tuple[str, _Address | str]]:
        """Each address of a connection: the sound ones as _Address, others as the reason."""
        if not isinstance(connection, dict):
            yield where, f"is {type(connection).__name__}, not an object"
            return
        ixp = connection.get("ixp_id")
        if self.ixp_id is not None and ixp != self.ixp_id:
            yield where, f"ixp_id {_show(ixp)}, not the chosen {self.ixp_id}"
            return
        state = connection.get("state")
        if state is not None and (not isinstance(state, str)
                                  or state.strip().lower() not in _LIVE_STATES):
            yield where, f"state {_show(state)}: not a connection in use"
            return
        vlans = connection.get("vlan_list")
        if not isinstance(vlans, list):
            yield where, f"vlan_list is {_show(vlans)}, not a list"
            return
        for v_index, vlan in enumerate(vlans):
            place = f"{where}.vlan_list[{v_index}]"
            if not isinstance(vlan, dict):
                yield place, f"is {type(vlan).__name__}, not an object"
                continue
            for family, version in (("ipv4", 4), ("ipv6", 6)):
                if family in vlan:
                    yield f"{place}.{family}", self._address(vlan[family], version)

    def _address(self, entry: Any, version: int) -> _Address | str:
        if not isinstance(entry, dict):
            return f"is {_show(entry)}, not an object"
        text = entry.get("address")
        if not isinstance(text, str):
            return f"address is {_show(text)}, not a string"
        try:
            address = ipaddress.ip_address(text.strip())
        except ValueError:
            return f"address {_show(text)} is not an IP address"
        if address.version != version or getattr(address, "scope_id", None):
            return f"address {_show(text)} is not a global IPv{version} address"
        network = self.lan.network(version)
        if network is None:
            return f"{address}: the exchange has no IPv{version} peering LAN"
        if address not in network:
            return f"{address} is outside the peering LAN {network}"
        if address == network.network_address or (
                version == 4 and address == network.broadcast_address):
            return f"{address} is the peering LAN's network or broadcast address"
        if address in self.taken:
            return f"{address} is a route server's address"
        server = entry.get("routeserver")
        if server is not True and not (server is None and self.assume_routeserver):
            return (f"{address}: routeserver: {_show(server)}, no route-server session"
                    if server is not None else
                    f"{address}: the export does not say routeserver: true (see "
                    "--assume-routeserver)")
        as_sets: tuple[str, ...] = ()
        macro = entry.get("as_macro")
        if isinstance(macro, str) and len(macro) > MAX_AS_MACRO_LENGTH:
            self.dropped.append(Notice(f"{address} as_macro", f"ignored: longer than "
                                                              f"{MAX_AS_MACRO_LENGTH} characters"))
        elif isinstance(macro, str) and macro.strip():
            try:
                as_sets = tuple(str(s) for s in parse_as_set_list(macro))
            except ValueError as exc:
                self.dropped.append(Notice(f"{address} as_macro", f"ignored: {exc}"))
        elif macro is not None and not isinstance(macro, str):
            self.dropped.append(Notice(f"{address} as_macro", f"{_show(macro)} ignored: "
                                                              "not a string"))
        limit = entry.get("max_prefix")
        max_prefix = None
        if _is_int(limit) and 0 < limit <= MAX_PREFIXES:
            max_prefix = limit
        elif limit is not None and limit != 0:
            self.dropped.append(Notice(f"{address} max_prefix", f"{_show(limit)} ignored: "
                                       f"not a count from 1 to {MAX_PREFIXES}"))
        return _Address(address, as_sets, max_prefix)
