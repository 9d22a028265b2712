"""Load an exchange directory: safe YAML -> JSON Schema -> frozen model, every error located.

All problems in all files are collected before failing, so one `rsgen check` run shows a
reviewer everything that is wrong with a pull request.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
import stat
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rsgen import schemafast
from rsgen.consistency import consistency_problems
from rsgen.errors import InvalidInput, Problem
from rsgen.model import (
    BlackholeSettings,
    Config,
    Exchange,
    IrrSettings,
    IxfSettings,
    Location,
    MaxPrefixAction,
    MaxPrefixes,
    Member,
    PeeringDbSettings,
    PeeringLan,
    PolicySettings,
    RouteServer,
    RpkiSettings,
    RtrServer,
    Session,
)
from rsgen.values import (
    PASSWORD_ENV_PREFIX,
    AsSetName,
    IPAddress,
    parse_as_set,
    parse_as_set_list,
    printable,
)
from rsgen.yamlsafe import (
    JsonPath,
    YamlDocument,
    YamlProblem,
    key_text,
    parse_yaml,
    read_yaml,
)

if TYPE_CHECKING:
    import jsonschema

EXCHANGE_FILE = "exchange.yml"
MEMBERS_DIR = "members"
MEMBER_FILE_RE = re.compile(r"AS([1-9][0-9]{0,9})\.yml")  # fullmatch: "$" passes "\n"
MAX_MEMBER_FILES = 10000

# What to tell a user whose value does not match a pattern, by key name.
_PATTERN_HINTS = {
    "name": "route server names are lower-case letters, digits and '-', starting with a letter",
    "host": "an IRR host name, optionally with :port, like whois.radb.net or 127.0.0.1:4343",
    "sources": "IRR source names in capitals, like RIPE or RADB",
    "url": "an http:// or https:// URL without spaces",
    "password": f"passwords must never be committed: write password: env:{PASSWORD_ENV_PREFIX}"
                "NAME (capitals, digits, '_') and set that variable where rsgen build runs",
}
_SECRET_KEYS = frozenset({"password"})
# What a password reference looks like, to tell a wrongly named variable (shown: a name is no
# secret) from a literal password (never shown).
_ENV_REFERENCE_RE = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]{0,63})")
_PASSWORD_PREFIX_HINT = (
    f"write env:{PASSWORD_ENV_PREFIX}NAME with NAME in capitals, digits and '_' (e.g. "
    f"env:{PASSWORD_ENV_PREFIX}AS3333) and set that variable where rsgen build runs: only "
    f"{PASSWORD_ENV_PREFIX} variables are read, so a member file cannot name another of the "
    "runner's secrets (GITHUB_TOKEN, PEERINGDB_API_KEY)")


def _is_integer(_checker: object, instance: object) -> bool:
    """JSON Schema's "integer" without whole floats: YAML's `asn: 3333.0` is not an ASN."""
    return isinstance(instance, int) and not isinstance(instance, bool)


@cache
def _ecma_pattern(pattern: str) -> re.Pattern[str]:
    """A schema pattern as ECMA-262 reads it, where a final `$` ends the text.

    Python's `$` also matches before a trailing newline, so "rs1\n" would pass "^[a-z0-9]+$"
    and carry the newline into a config comment or bgpq4's argv.
    """
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern(validator: Any, pattern: str, instance: Any,
             _schema: Any) -> Iterator[jsonschema.ValidationError]:
    import jsonschema  # only when a file is invalid (see _validator)

    if validator.is_type(instance, "string") and not _ecma_pattern(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _validator(schema_name: str) -> Any:
    """The full validator of a schema, made once. jsonschema is imported only here: a build
    whose files are all valid (rsgen.schemafast says so) never needs it."""
    import jsonschema

    extended = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        jsonschema.Draft202012Validator,
        validators={"pattern": _pattern},
        type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer",
                                                                           _is_integer))
    return extended(schema(schema_name))


@cache
def _surely_valid(schema_name: str) -> schemafast.Check:
    """True for a document the full validator would find no error in; False when unsure."""
    check = schemafast.compiled(schema(schema_name), _ecma_pattern)
    return check if check is not None else lambda _data: False


@cache
def schema(name: str) -> dict[str, Any]:
    """A bundled JSON Schema by name ("exchange" or "member")."""
    text = resources.files("rsgen.schema").joinpath(f"{name}.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def load_exchange_dir(directory: Path) -> Config:
    """Read and validate exchange.yml and members/*.yml; raise InvalidInput with all problems."""
    problems: list[Problem] = []
    exchange = _load_exchange(directory, problems)
    members = list(_load_members(directory, problems))
    if problems or exchange is None:
        raise InvalidInput(f"{len(problems)} problem(s) in the exchange definition",
                           problems=tuple(problems))
    members.sort(key=lambda m: m.asn)
    return Config(exchange, tuple(members))


def _validated(path: Path, display: str, schema_name: str,
               problems: list[Problem]) -> YamlDocument | None:
    try:
        document = read_yaml(path, display)
    except YamlProblem as exc:
        problems.append(exc.problem)
        return None
    return _checked(document, schema_name, problems)


def _checked(document: YamlDocument, schema_name: str,
             problems: list[Problem]) -> YamlDocument | None:
    display = document.file
    if document.data is None:
        problems.append(Problem("file is empty", display, hint="see README.md for the keys"))
        return None
    if _surely_valid(schema_name)(document.data):
        return document
    found: list[Problem] = []
    for error in _schema_errors(document.data, schema_name):
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            found.extend(_unknown_keys(error, document))
        else:
            found.append(_describe(error, document))
    problems.extend(found)
    return None if found else document


def _schema_errors(data: Any, schema_name: str) -> list[jsonschema.ValidationError]:
    return sorted(_validator(schema_name).iter_errors(data),
                  key=lambda e: [str(p) for p in e.absolute_path])


def _dotted(path: JsonPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _unknown_keys(error: jsonschema.ValidationError, document: YamlDocument) -> list[Problem]:
    """One problem per misspelt or unknown key, in file order, each with a suggestion."""
    path: JsonPath = tuple(error.absolute_path)
    allowed = sorted(error.schema.get("properties", {})) if isinstance(error.schema, dict) else []
    instance = error.instance if isinstance(error.instance, dict) else {}
    found = []
    for key in sorted(set(instance) - set(allowed)):
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(allowed)}"
        found.append(Problem(f"unknown key {key_text(key)} in {_dotted(path)}", document.file,
                             document.key_lines.get((*path, key), document.line_of(path)),
                             hint))
    return sorted(found, key=lambda p: p.line or 0)


def _describe(error: jsonschema.ValidationError, document: YamlDocument) -> Problem:
    """Turn a JSON Schema error into a sentence that says what to change."""
    path: JsonPath = tuple(error.absolute_path)
    where = _dotted(path)
    line = document.line_of(path)
    kind = error.validator
    if kind == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        name = missing[0] if missing else "?"
        return Problem(f"{where} is missing the required key {name!r}", document.file, line,
                       "see README.md for the keys and their meaning")
    if kind == "type":
        wanted = error.validator_value
        value = error.instance
        hint = None
        if wanted == "integer" and isinstance(value, str) and re.fullmatch(r"(?i)as[0-9]+", value):
            hint = f"write the number alone, without 'AS': {value[2:]}"
        elif wanted == "string" and isinstance(value, bool):
            hint = "put the value in quotes: YAML reads yes/no/on/off as true/false"
        elif wanted == "string" and isinstance(value, int | float):
            hint = "put the value in quotes to make it text"
        elif wanted == "array" and isinstance(value, dict) and any(
                isinstance(k, str) and k.startswith("-") for k in value):
            hint = "a list item needs a space after the dash: '- ip: ...', not '-ip: ...'"
        shown = _short(value)
        return Problem(f"{where} must be {_a(wanted)}, not {_json_type(value)}"
                       f"{' ' + shown if shown else ''}", document.file, line, hint)
    if kind == "pattern":
        key = str(path[-1]) if path and isinstance(path[-1], str) else \
            (str(path[-2]) if len(path) > 1 else "")
        if key == "password" and isinstance(error.instance, str):
            variable = _ENV_REFERENCE_RE.fullmatch(error.instance)
            if variable:  # a reference, to a variable not meant for BGP passwords
                return Problem(f"{where} names the environment variable "
                               f"{_short(variable.group(1))}; BGP passwords are read only from "
                               f"variables named {PASSWORD_ENV_PREFIX}<NAME>", document.file,
                               line, _PASSWORD_PREFIX_HINT)
        shown = "(value not shown)" if key in _SECRET_KEYS else _short(error.instance)
        return Problem(f"{where} has a malformed value {shown}", document.file, line,
                       _PATTERN_HINTS.get(key))
    if kind == "enum":
        allowed_values: list[Any] = error.schema.get("enum", []) \
            if isinstance(error.schema, dict) else []
        options = ", ".join(str(v) for v in allowed_values)
        return Problem(f"{where} is {_short(error.instance)}; it must be one of: {options}",
                       document.file, line)
    if kind in ("minimum", "maximum", "exclusiveMinimum"):
        return Problem(f"{where} is {error.instance}, out of range ({kind} "
                       f"{error.validator_value})", document.file, line)
    if kind in ("minItems", "minProperties", "minLength"):
        return Problem(f"{where} must not be empty", document.file, line)
    if kind in ("maxItems", "maxLength", "maxProperties"):
        return Problem(f"{where} is too long (at most {error.validator_value})", document.file,
                       line)
    if kind == "uniqueItems":
        return Problem(f"{where} lists the same value twice", document.file, line)
    if kind == "oneOf":
        # Describe the alternative the value's type selected (a list that is empty or has
        # duplicates), not the fact that no alternative matched.
        fitting = [e for e in error.context or () if e.validator != "type" or e.relative_path]
        if fitting:
            return _describe(fitting[0], document)
        return Problem(f"{where} must be a string or a list of strings", document.file, line)
    return Problem(f"{where}: {error.message}", document.file, line)


def _a(type_name: object) -> str:
    names = {"integer": "an integer", "string": "a string", "object": "a mapping of keys",
             "array": "a list", "number": "a number", "boolean": "true or false"}
    return names.get(str(type_name), str(type_name))


def _json_type(value: Any) -> str:
    if value is None:
        return "empty"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "mapping"}.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value) if value is not None else ""
    return text if len(text) <= 60 else text[:57] + "..."


# --- conversion to the model (values the schema cannot check: addresses, AS-SET names) ---


class _Collector:
    """Collects located problems while converting one document."""

    def __init__(self, document: YamlDocument, problems: list[Problem]) -> None:
        self.document = document
        self.problems = problems
        self.failed = False

    def problem(self, path: JsonPath, message: str, hint: str | None = None) -> None:
        self.failed = True
        self.problems.append(Problem(f"{_dotted(path)} {message}", self.document.file,
                                     self.document.line_of(path), hint))

    def location(self, path: JsonPath) -> Location:
        return Location(self.document.file, self.document.line_of(path))

    def address(self, path: JsonPath, text: str, version: int | None = None) -> Any:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            self.problem(path, f"is {text!r}, not an IP address",
                         "write an address like 192.0.2.10 or 2001:db8::10, without a /length")
            return None
        if version is not None and address.version != version:
            self.problem(path, f"is {text!r}, not an IPv{version} address")
            return None
        zone = getattr(address, "scope_id", None)
        if zone:
            self.problem(path, f"is {text!r}, an address with a zone index",
                         f"remove %{zone}: peering addresses are global")
            return None
        return address

    def network(self, path: JsonPath, text: str, version: int) -> Any:
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            self.problem(path, f"is {text!r}, not a network: {exc}",
                         "write the network address with its length, like 192.0.2.0/24")
            return None
        if network.version != version:
            self.problem(path, f"is {text!r}, not an IPv{version} network")
            return None
        return network


def _load_exchange(directory: Path, problems: list[Problem]) -> Exchange | None:
    path = directory / EXCHANGE_FILE
    if not os.path.lexists(path):  # a link, or anything else there, read_yaml refuses by name
        problems.append(Problem(f"no {EXCHANGE_FILE} in {directory}", EXCHANGE_FILE,
                                hint="run rsgen in the exchange directory or pass -C DIR"))
        return None
    document = _validated(path, EXCHANGE_FILE, "exchange", problems)
    if document is None:
        return None
    data = document.data
    c = _Collector(document, problems)
    servers = []
    for index, raw in enumerate(data["route_servers"]):
        base: JsonPath = ("route_servers", index)
        router_id = c.address((*base, "router_id"), raw["router_id"], 4)
        ipv4 = c.address((*base, "ipv4"), raw["ipv4"], 4) if "ipv4" in raw else None
        ipv6 = c.address((*base, "ipv6"), raw["ipv6"], 6) if "ipv6" in raw else None
        if "ipv4" not in raw and "ipv6" not in raw:
            c.problem(base, "needs an ipv4 or ipv6 address (or both)")
        servers.append(RouteServer(raw["name"], raw["asn"], router_id, ipv4, ipv6))
    lan_raw = data["peering_lan"]
    lan = PeeringLan(
        c.network(("peering_lan", "ipv4"), lan_raw["ipv4"], 4) if "ipv4" in lan_raw else None,
        c.network(("peering_lan", "ipv6"), lan_raw["ipv6"], 6) if "ipv6" in lan_raw else None,
    )
    pdb_raw = data.get("peeringdb", {})
    defaults_pdb = PeeringDbSettings()
    peeringdb = PeeringDbSettings(pdb_raw.get("url", defaults_pdb.url).rstrip("/"),
                                  float(pdb_raw.get("timeout", defaults_pdb.timeout_seconds)),
                                  pdb_raw.get("ixlan_id"),
                                  pdb_raw.get("source", defaults_pdb.source))
    irr_raw = data.get("irr", {})
    defaults_irr = IrrSettings()
    hosts = irr_raw.get("host", defaults_irr.host)
    hosts = [hosts] if isinstance(hosts, str) else list(hosts)
    irr = IrrSettings(hosts[0],
                      tuple(irr_raw.get("sources", defaults_irr.sources)),
                      float(irr_raw.get("timeout", defaults_irr.timeout_seconds)),
                      irr_raw.get("parallel", defaults_irr.parallel),
                      irr_raw.get("max_shrink_percent", defaults_irr.max_shrink * 100) / 100,
                      fallback_hosts=tuple(hosts[1:]))
    policy_raw = dict(data.get("policy", {}))
    if "max_prefix_action" in policy_raw:
        policy_raw["max_prefix_action"] = MaxPrefixAction(policy_raw["max_prefix_action"])
    if "transit_free_asns" in policy_raw:
        policy_raw["transit_free_asns"] = tuple(sorted(policy_raw["transit_free_asns"]))
    policy = PolicySettings(**policy_raw)
    for family in ("ipv4", "ipv6"):
        low, high = getattr(policy, f"{family}_min_length"), getattr(policy, f"{family}_max_length")
        if low > high and ("policy", f"{family}_min_length") in document.lines:
            c.problem(("policy", f"{family}_min_length"),
                      f"is {low}, longer than {family}_max_length {high}")
        elif low > high:  # only the maximum is written: point at it, not at a default
            c.problem(("policy", f"{family}_max_length"),
                      f"is {high}, shorter than the default {family}_min_length {low}")
    rpki = None
    if "rpki" in data:
        rtr = []
        for index, raw in enumerate(data["rpki"]["rtr_servers"]):
            address = c.address(("rpki", "rtr_servers", index, "host"), raw["host"])
            if address is not None:
                rtr.append(RtrServer(address, raw.get("port", 3323)))
        rpki = RpkiSettings(tuple(rtr), data["rpki"].get("invalid", "reject"))
    blackhole = None
    if "blackhole" in data:
        raw_hole = data["blackhole"]
        blackhole = BlackholeSettings(
            c.address(("blackhole", "ipv4"), raw_hole["ipv4"], 4) if "ipv4" in raw_hole else None,
            c.address(("blackhole", "ipv6"), raw_hole["ipv6"], 6) if "ipv6" in raw_hole else None)
        _check_blackhole_addresses(c, blackhole, servers, lan)
    _check_server_addresses(c, servers, lan, lan_raw)
    names = [s.name for s in servers]
    for index, name in enumerate(names):
        if names.index(name) != index:
            c.problem(("route_servers", index, "name"), f"repeats the name {name!r}",
                      "each route server needs its own name: it names the output file")
    if c.failed:
        return None
    ixf_raw = data.get("ixf", {})
    ixf = IxfSettings(ixf_raw.get("ixf_id"), ixf_raw.get("ixp_id", 1), ixf_raw.get("vlan_id", 1))
    return Exchange(data["name"], tuple(servers), lan, peeringdb, irr, policy,
                    Location(EXCHANGE_FILE, 1), rpki, blackhole, ixf)


def _check_blackhole_addresses(c: _Collector, blackhole: BlackholeSettings,
                               servers: list[RouteServer], lan: PeeringLan) -> None:
    """A blackhole next hop is an unused host address on the peering LAN: members' routers
    accept a next hop only on a connected network (BIRD drops the route otherwise), and one
    that a router has would send the attack traffic to it."""
    taken = {a: s.name for s in servers for a in s.addresses()}
    for family in ("ipv4", "ipv6"):
        address = getattr(blackhole, family)
        if address is None:
            continue
        path: JsonPath = ("blackhole", family)
        network = lan.network(address.version)
        if network is None:
            c.problem(path, f"is {address}, but peering_lan has no {family} network",
                      f"add peering_lan.{family} or remove this address")
        elif address not in network or address == network.network_address or \
                (address.version == 4 and address == network.broadcast_address):
            c.problem(path, f"is {address}, not a host address on the peering LAN {network}",
                      "use an unused address on the peering LAN: members' routers accept a "
                      "next hop only on a connected network")
        elif address in taken:
            c.problem(path, f"is {address}, the address of route server {taken[address]}",
                      "use an address no router has")


def _check_server_addresses(c: _Collector, servers: list[RouteServer], lan: PeeringLan,
                            lan_raw: dict[str, Any]) -> None:
    """Each route server address is its own, and a usable host address on the peering LAN."""
    owners: dict[IPAddress, str] = {}
    for index, server in enumerate(servers):
        for family, address in (("ipv4", server.ipv4), ("ipv6", server.ipv6)):
            if address is None:
                continue
            path: JsonPath = ("route_servers", index, family)
            network = lan.network(address.version)
            if address in owners:
                c.problem(path, f"is {address}, also the address of route server "
                          f"{owners[address]}", "each route server needs its own addresses")
            owners.setdefault(address, server.name)
            if family not in lan_raw:
                c.problem(path, f"is {address}, but peering_lan has no {family} network",
                          f"add peering_lan.{family} or remove this address")
            elif network is None:
                continue  # the peering LAN itself is malformed, and reported
            elif address not in network:
                c.problem(path, f"is {address}, outside the peering LAN {network}",
                          "fix peering_lan or the route server address")
            elif address == network.network_address or \
                    (address.version == 4 and address == network.broadcast_address):
                c.problem(path, f"is {address}, the peering LAN's network or broadcast address")


def _member_files(directory: Path, problems: list[Problem]) -> Iterator[tuple[Path, int]]:
    members_dir = directory / MEMBERS_DIR
    try:
        mode = members_dir.lstat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is None:
        problems.append(Problem(f"no {MEMBERS_DIR}/ directory", f"{MEMBERS_DIR}/",
                                hint="create it with one AS<asn>.yml file per member"))
        return
    if not stat.S_ISDIR(mode):
        what = "a symbolic link" if stat.S_ISLNK(mode) else "a file"
        problems.append(Problem(f"must be a directory, not {what}", f"{MEMBERS_DIR}/",
                                hint="commit the member files themselves in members/: rsgen "
                                     "reads nothing outside the exchange directory"))
        return
    entries = sorted(members_dir.iterdir())
    if len(entries) > MAX_MEMBER_FILES:
        problems.append(Problem(f"more than {MAX_MEMBER_FILES} files", f"{MEMBERS_DIR}/"))
        return
    for entry in entries:
        display = f"{MEMBERS_DIR}/{printable(entry.name)}"
        odd = not entry.name.isprintable() or entry.name != entry.name.strip()
        if entry.name.startswith(".") or (entry.suffix.lower() not in (".yml", ".yaml")
                                          and not odd):
            continue  # README.md, editor files: not member definitions
        # A name with a newline or another control character ("AS3333.yml\n") is refused
        # like any misnamed member file, never skipped: it may be meant to look like one.
        match = None if odd else MEMBER_FILE_RE.fullmatch(entry.name)
        if entry.is_symlink() or not entry.is_file():
            problems.append(Problem("member files must be regular files, not links or "
                                    "directories", display))
        elif not match:
            problems.append(Problem("member file names must be AS<asn>.yml", display,
                                    hint="rename it after the member's ASN, in decimal without "
                                    "leading zeros, e.g. members/AS3333.yml"))
        else:
            yield entry, int(match.group(1))


def _load_members(directory: Path, problems: list[Problem]) -> Iterator[Member]:
    for path, file_asn in _member_files(directory, problems):
        display = f"{MEMBERS_DIR}/{path.name}"  # an AS<asn>.yml name: printable
        document = _validated(path, display, "member", problems)
        if document is None:
            continue
        member = _member(document, problems)
        if member is None:
            continue
        if member.asn != file_asn:
            problems.append(Problem(f"asn is {member.asn} but the file is named for "
                                    f"AS{file_asn}", display, document.line_of(("asn",)),
                                    f"rename the file to members/AS{member.asn}.yml or fix asn"))
            continue
        yield member


def _member(document: YamlDocument, problems: list[Problem]) -> Member | None:
    data = document.data
    c = _Collector(document, problems)
    as_sets: tuple[AsSetName, ...] = ()
    raw_sets = data.get("as_set")
    as_set_hint = "use the AS-SET name as registered in the IRR, e.g. AS-EXAMPLE or " \
        "RIPE::AS-EXAMPLE"
    if isinstance(raw_sets, str):
        try:
            as_sets = parse_as_set_list(raw_sets)
        except ValueError as exc:
            c.problem(("as_set",), f"is malformed: {exc}", as_set_hint)
        else:
            if not as_sets:
                c.problem(("as_set",), f"is {raw_sets!r}, which names no AS-SET",
                          "name the AS-SET, or remove as_set to use PeeringDB's irr_as_set")
    elif isinstance(raw_sets, list):
        parsed = []
        for index, item in enumerate(raw_sets):
            try:
                parsed.append(parse_as_set(item))
            except ValueError as exc:
                c.problem(("as_set", index), f"is malformed: {exc}", as_set_hint)
        as_sets = tuple(parsed)
    sessions = []
    for index, raw in enumerate(data["sessions"]):
        path: JsonPath = ("sessions", index, "ip")
        address = c.address(path, raw["ip"])
        if address is not None:
            password = raw.get("password")
            sessions.append(Session(address, raw.get("description"), c.location(path),
                                    password.removeprefix("env:") if password else None))
    limits = data.get("max_prefixes", {})
    extra = [c.address(("next_hops", i), text) for i, text in enumerate(data.get("next_hops", []))]
    if c.failed:
        return None
    return Member(
        asn=data["asn"],
        name=data["name"],
        sessions=tuple(sessions),
        as_sets=as_sets,
        max_prefixes=MaxPrefixes(limits.get("ipv4"), limits.get("ipv6")),
        description=data.get("description"),
        location=c.location(("asn",)),  # where problems with the member as a whole point
        extra_next_hops=tuple(sorted((a for a in extra if a is not None),
                                     key=lambda a: (a.version, a.packed))),
        irr_more_specifics=bool(data.get("irr", {}).get("more_specifics", False)),
        irr_tag=data.get("irr", {}).get("mode", "reject") == "tag",
        add_path=bool(data.get("add_path", False)),
        receives_blackholes=bool(data.get("blackhole", {}).get("receive", True)),
    )


def load_checked(directory: Path) -> Config:
    """Load and run the cross-file checks: what `rsgen check` verifies, as one call."""
    config = load_exchange_dir(directory)
    problems = consistency_problems(config)
    if problems:
        raise InvalidInput(f"{len(problems)} problem(s) in the exchange definition",
                           problems=tuple(problems))
    return config


def member_from_text(text: str, display: str) -> Member:
    """A member file's text, read as `rsgen check` reads members/AS<asn>.yml (safe YAML, the
    schema, the model; not the cross-file checks): for files rsgen writes, checked before
    they are written. InvalidInput with every problem otherwise."""
    problems: list[Problem] = []
    member = None
    try:
        document = _checked(parse_yaml(text, display), "member", problems)
    except YamlProblem as exc:
        problems.append(exc.problem)
        document = None
    if document is not None:
        member = _member(document, problems)
    match = MEMBER_FILE_RE.fullmatch(display.rpartition("/")[2])
    if member is not None and (match is None or int(match.group(1)) != member.asn):
        problems.append(Problem(f"asn is {member.asn}, not the file's", display))
    if problems or member is None:
        raise InvalidInput(f"{display} would not pass rsgen check", problems=tuple(problems))
    return member
