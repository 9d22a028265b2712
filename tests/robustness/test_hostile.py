"""Hostile input, property-based: member files, PeeringDB and IRR answers, snapshot files.

Every property feeds rsgen generated input that mixes valid structure with hostile text (quotes,
braces, `}; protocol bgp x {`, `include "/etc/passwd";`, NUL, RTL overrides, very long strings)
and checks that a run ends either in a clean error (an RsgenError, or the ValueError a parser
documents) or in configs that the real `bird -p` accepts and that hold exactly the protocols,
filters and sets the members call for: nothing injected, nothing lost.

The examples are derandomized, so CI tests the same inputs on every run. To explore further,
set RSGEN_HOSTILE_EXAMPLES=N: each property then runs N fresh random examples.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, TypeVar
from unittest import mock

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from rsgen.birdcheck import bird_parse
from rsgen.builder import render_all
from rsgen.errors import InvalidInput, NoSnapshot, Problem, SourceFailed
from rsgen.load import load_checked
from rsgen.model import Config, IrrData, Member, PeeringDbNet, RouteServer, Session, Snapshot
from rsgen.plan import plan, protocol_name
from rsgen.policy import choose_as_sets
from rsgen.render import default_templates_dir, make_environment
from rsgen.rules import RULES
from rsgen.settings import Settings
from rsgen.snapshot import read_snapshot
from rsgen.sources import irr
from rsgen.sources.peeringdb import PeeringDbClient, parse_nets
from rsgen.values import (
    MAX_ASN,
    AsSetName,
    PrefixRange,
    parse_as_set,
    parse_as_set_list,
    printable,
)
from rsgen.verification.peers import render_peer, routers
from rsgen.verification.run import peer_sessions
from rsgen.verification.scenarios import member_routes

T = TypeVar("T")

_EXPLORE = os.environ.get("RSGEN_HOSTILE_EXAMPLES", "").strip()


def _settings(examples: int) -> settings:
    """Reproducible in CI (derandomized); RSGEN_HOSTILE_EXAMPLES=N explores N random examples."""
    return settings(max_examples=int(_EXPLORE) if _EXPLORE else examples,
                    derandomize=not _EXPLORE, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example,
                                           HealthCheck.filter_too_much])


# --- the fixed exchange ------------------------------------------------------------------------

# Valid, with a hostile name of its own. rs-b has no IPv4 address, so IPv4 sessions appear in
# rs-a's config only.
EXCHANGE_YML = """\
name: 'Hostile IX "x"; } include "/etc/passwd"; protocol bgp evil {'
route_servers:
  - name: rs-a
    asn: 64500
    router_id: 192.0.2.1
    ipv4: 192.0.2.1
    ipv6: "2001:db8:ffff::1"
  - name: rs-b
    asn: 64500
    router_id: 192.0.2.2
    ipv6: "2001:db8:ffff::2"
peering_lan:
  ipv4: 192.0.2.0/24
  ipv6: "2001:db8:ffff::/64"
"""
LAN_V4 = "192.0.2.0/24"
LAN_V6 = "2001:db8:ffff::/64"
IRR_V4 = ["193.0.0.0/21{21,24}", "203.0.113.0/24"]
IRR_V6 = ["2001:67c:2e8::/48"]

# Characters a BIRD string or comment built from untrusted text may hold (values.safe_comment).
SAFE_TEXT = re.compile(r"[A-Za-z0-9 .,:()/&+_'@#%-]*")
# What bgpq4 may receive as an object: RPSL AS-SET/ASN names, optionally SOURCE:: pinned.
SAFE_OBJECT = re.compile(r"(?:[A-Z][A-Z0-9-]{0,31}::)?AS[A-Z0-9_:-]+")
SAFE_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]{1,5})?")
SAFE_SOURCE = re.compile(r"[A-Z][A-Z0-9-]{0,31}")
# A BGP password BIRD can quote: printable ASCII without space, '"' or '\\'.
PASSWORD = re.compile(r"[!#-\[\]-~]{1,80}")


def _write_exchange(root: Path) -> None:
    (root / "members").mkdir(parents=True)
    (root / "exchange.yml").write_text(EXCHANGE_YML, encoding="utf-8")


@cache
def _bare_config() -> Config:
    """The fixed exchange with no members (loaded once: it is plain frozen data)."""
    with tempfile.TemporaryDirectory(prefix="rsgen-hostile-") as temp:
        _write_exchange(Path(temp))
        return load_checked(Path(temp))


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _write_snapshot(root: Path, config: Config,
                    peeringdb: Mapping[int, PeeringDbNet] | None = None) -> None:
    """A snapshot as `rsgen refresh` leaves it: the objects each member's policy asks for."""
    _write_json(root / "snapshot" / "meta.json", {"format": 1, "example": False})
    nets = peeringdb or {}
    for member in config.members:
        net = nets.get(member.asn)
        record: dict[str, object] = {"asn": member.asn, "in_peeringdb": False}
        if net is not None:
            record = {"asn": net.asn, "in_peeringdb": True, "name": net.name,
                      "irr_as_set": net.irr_as_set, "info_prefixes4": net.info_prefixes4,
                      "info_prefixes6": net.info_prefixes6,
                      "info_never_via_route_servers": net.never_via_route_servers}
        _write_json(root / "snapshot" / "peeringdb" / f"AS{member.asn}.json", record)
        objects = choose_as_sets(member, net).objects
        _write_json(root / "snapshot" / "irr" / f"AS{member.asn}.json",
                    {"asn": member.asn, "objects": [str(o) for o in objects],
                     "origins": [member.asn], "ipv4": IRR_V4, "ipv6": IRR_V6})


# --- what a rendered config must look like ------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Structure:
    """The top-level objects of a BIRD config, as BIRD's lexer sees them."""

    protocols: frozenset[tuple[str, str]]  # (kind, name); an unnamed protocol has name ""
    filters: frozenset[str]
    functions: frozenset[str]
    defines: frozenset[str]
    strings: tuple[tuple[str, str], ...]  # (first word of its line, literal), in order
    includes: int


def _lex(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The code with comments removed and string literals emptied, and each literal with the
    first word of its line (`description`, `password`, `print`...).

    Mirrors BIRD 2's lexer: `#` runs to the end of the line, `/* */` does not nest, a string
    is double-quoted and cannot span lines.
    """
    code: list[str] = []
    strings: list[tuple[str, str]] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "#":
            end = text.find("\n", index)
            index = len(text) if end < 0 else end
        elif text.startswith("/*", index):
            end = text.find("*/", index + 2)
            assert end >= 0, "unterminated /* comment"
            code.append(" ")
            index = end + 2
        elif char == '"':
            end = text.find('"', index + 1)
            assert end >= 0, "unterminated string literal"
            literal = text[index + 1:end]
            assert "\n" not in literal, f"string literal spans lines: {literal!r}"
            line = text[text.rfind("\n", 0, index) + 1:index].split()
            strings.append((line[0] if line else "", literal))
            code.append('""')
            index = end + 1
        else:
            code.append(char)
            index += 1
    return "".join(code), strings


_TOP_LEVEL = re.compile(
    r"\bprotocol\s+(?P<kind>\w+)\s*(?P<pname>\w*)\s*\{"
    r"|\bfilter\s+(?P<filter>\w+)\s*\{"
    r"|\bfunction\s+(?P<function>\w+)\s*\("
    r"|\bdefine\s+(?P<define>\w+)\s*="
    r"|\b(?P<include>include)\b")


def structure(text: str) -> Structure:
    """Parse a rendered config's top level; assert its braces balance and it is plain ASCII."""
    bad = sorted({c for c in text if not (c == "\n" or " " <= c <= "~")})
    assert not bad, f"config holds characters outside printable ASCII: {bad[:10]!r}"
    code, strings = _lex(text)
    depth_at: list[int] = []
    depth = 0
    for char in code:
        depth_at.append(depth)
        depth += (char == "{") - (char == "}")
        assert depth >= 0, "a '}' closes more than was opened"
    assert depth == 0, "unbalanced braces"
    protocols, filters, functions, defines = set(), set(), set(), set()
    includes = 0
    for match in _TOP_LEVEL.finditer(code):
        if match["include"]:
            includes += 1
            continue
        assert depth_at[match.start()] == 0, f"{match[0]!r} nested inside a block"
        if match["kind"]:
            protocols.add((match["kind"], match["pname"]))
        elif match["filter"]:
            filters.add(match["filter"])
        elif match["function"]:
            functions.add(match["function"])
        else:
            defines.add(match["define"])
    return Structure(frozenset(protocols), frozenset(filters), frozenset(functions),
                     frozenset(defines), tuple(strings), includes)


SHARED_IMPORT = re.compile(r"import_v[46]_[0-9a-f]{12}")


def _serves(server: RouteServer, version: int) -> bool:
    return (server.ipv4 if version == 4 else server.ipv6) is not None


@cache
def _baseline(server_name: str) -> Structure:
    """A config with no members: what every config holds whatever the members are."""
    config = _bare_config()
    rendered = render_all(config, Snapshot(False, {}, {}), settings=Settings())
    text = rendered[f"{server_name}.conf"]
    return structure(text)


def assert_expected_structure(text: str, config: Config, server: RouteServer,
                              environ: Mapping[str, str]) -> None:
    """Exactly the expected protocols, filters, functions and sets; only scrubbed strings."""
    found = structure(text)
    base = _baseline(server.name)
    assert found.includes == 0, "an include statement reached the config"
    sessions = [(m, s) for m in config.members for s in m.sessions if _serves(server, s.ip.version)]
    families = {(m, s.ip.version) for m, s in sessions}
    assert found.protocols == base.protocols | {("bgp", protocol_name(m.asn, s.ip))
                                                for m, s in sessions}
    # A member without a session this route server serves is not in its config at all.
    served = {m for m, _ in families}
    assert found.filters == base.filters | {f"import_AS{m.asn}_v{v}" for m, v in families} \
        | {f"export_AS{m.asn}" for m in served}
    # Members add no function of their own, only the shared import checks their filters
    # call (rsgen.render.import_functions), named by a hash of their text.
    assert base.functions <= found.functions
    assert all(SHARED_IMPORT.fullmatch(name) for name in found.functions - base.functions), \
        found.functions - base.functions
    assert found.defines == base.defines | {f"AS{m.asn}_ORIGINS" for m in served} \
        | {f"AS{m.asn}_PREFIXES_V{v}" for m, v in families} \
        | {f"AS{m.asn}_NEXT_HOPS_V{v}" for m, v in families}
    constants = {literal for _, literal in base.strings} | {rule.text for rule in RULES}
    descriptions = [literal for word, literal in found.strings if word == "description"]
    passwords = [literal for word, literal in found.strings if word == "password"]
    others = [literal for word, literal in found.strings if word not in ("description",
                                                                           "password")]
    assert len(descriptions) == len(sessions), "one description per session"
    assert all(SAFE_TEXT.fullmatch(d) for d in descriptions), descriptions
    assert all(d == d.strip() and len(d) <= 120 for d in descriptions), descriptions
    assert sorted(passwords) == sorted(environ[s.password_env] for _, s in sessions
                                       if s.password_env is not None)
    assert all(PASSWORD.fullmatch(p) for p in passwords), passwords
    assert set(others) <= constants, set(others) - constants


def check_rendered(config: Config, snapshot: Snapshot,
                   environ: Mapping[str, str] | None = None, *, lab: bool = True) -> None:
    """Render every route server's config; each has the expected structure and passes bird -p.
    With `lab`, so do the lab configs `rsgen verify` renders for each member.

    `environ` holds the BGP passwords the member files name (the process environment is
    patched with it while rendering).
    """
    environ = environ or {}
    with mock.patch.dict(os.environ, environ):
        rendered = render_all(config, snapshot, settings=Settings.from_environment())
    servers = config.exchange.route_servers
    assert sorted(rendered) == sorted(f"{s.name}.conf" for s in servers)
    for server in servers:
        name = f"{server.name}.conf"
        assert_expected_structure(rendered[name], config, server, environ)
        bird_parse(rendered[name], name)
    if lab:
        check_lab_rendered(config, snapshot, environ)


def check_lab_rendered(config: Config, snapshot: Snapshot, environ: Mapping[str, str]) -> None:
    """Every simulated member's lab config (`rsgen verify`) holds exactly its own protocols and
    filters, no string but its BGP passwords, and passes bird -p: the member's text cannot add
    a directive to the BIRD that verify starts (the audit's `log "FILE"` attack)."""
    env = make_environment(default_templates_dir())
    taken: set[Any] = set()
    exchange_plan = plan(config, snapshot, Settings.from_environment(environ))
    with mock.patch.dict(os.environ, environ):
        for member in config.members:
            routes = member_routes(member, snapshot.irr[member.asn], config.exchange, taken)
            for router in routers(member):
                sessions = peer_sessions(router, exchange_plan)
                text = render_peer(env, router, sessions, routes, 0)
                found = structure(text)
                families = {r.family for r in routes}
                assert found.includes == 0, "an include statement reached a lab config"
                assert found.protocols == {("device", "")} | \
                    {("static", f"test_v{v}") for v in families} | \
                    {("bgp", s.name) for s in sessions}
                assert found.filters == {f"to_{s.name}" for s in sessions}
                assert not found.functions and not found.defines
                assert sorted(found.strings) == sorted(
                    ("password", s.password.reveal()) for s in sessions if s.password)
                bird_parse(text, f"{router.name}.conf")


def assert_clean_problems(problems: Iterable[Problem], secrets: Iterable[str] = ()) -> None:
    """Each problem names a file, says something readable, and echoes no password."""
    listed = list(problems)
    hidden = [s for s in secrets if len(s) >= 6]  # shorter ones may occur by chance
    assert listed, "an InvalidInput without a single problem"
    for problem in listed:
        assert problem.file, problem
        assert problem.message.strip(), problem
        assert problem.line is None or problem.line >= 1, problem
        assert len(problem.message) <= 400, f"unreadably long error: {problem.message[:200]}..."
        text = str(problem)
        assert not any(secret in text for secret in hidden), "an error shows a password"


# --- strategies for hostile text ----------------------------------------------------------------

HOSTILE_PIECES = (
    '"', "'", "\\", "{", "}", ";", "#", "/*", "*/", "\n", "\r", "\r\n", "\t", "\x00", "\x0b",
    "\x1b[31m", "\u202e", "\u2066", "\u200b", "\ufeff", "\u2028", "\x85", "\U0001f600", "ß",
    "ǅ", "ﬀ", "\u0661", "}; protocol bgp x {", 'include "/etc/passwd";', "protocol static evil { }",
    "{{ 7*7 }}", "{% include 'x' %}", "$(id)", "`id`", "-h", "--", "-S RIPE", "AS-FOO",
    "RIPE::", "@RIPE", "AS3333:", ": ", "- ", "? ", "&a ", "*a", "!!python/object/apply:os.system",
    "<<: ", "---", "...", "%YAML 1.1", "null", "~", "yes", "0x1F", ".inf", "2001-13-45",
)
LONG_TEXT = ("x" * 101, "}; protocol bgp x {" * 60, "\u202e" * 3000, "A" * 70000,
             'include "/etc/passwd";\n' * 500)


def weighted(good: st.SearchStrategy[T], bad: st.SearchStrategy[T],
             ratio: int = 3) -> st.SearchStrategy[T]:
    """`good` about `ratio` times as often as `bad` (shrinking towards `good`).

    Not st.one_of(good, good, good, bad): Hypothesis weighs distinct strategies, not entries.
    """
    # sampled_from draws evenly; st.integers favours its bounds.
    return st.sampled_from(range(ratio + 1)).flatmap(lambda i: good if i < ratio else bad)


def hostile_text(max_pieces: int = 8) -> st.SearchStrategy[str]:
    """Any text, hostile fragments strung together, or a very long string."""
    return weighted(short_hostile_text(10**6, max_pieces), st.sampled_from(LONG_TEXT), ratio=8)


def short_hostile_text(limit: int, max_pieces: int = 8) -> st.SearchStrategy[str]:
    """Hostile text of at most `limit` characters (what a schema's maxLength lets through)."""
    return st.one_of(
        st.text(max_size=min(30, limit)),
        st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=3)),
                 max_size=max_pieces).map(lambda pieces: "".join(pieces)[:limit]),
    )


NAME_TEXT = hostile_text().map(lambda t: t[:100] or "}")  # the schema wants 1 to 100 chars

ANY_VALUE: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), hostile_text(),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=5), st.integers(),
                                                         max_size=2))

VALID_AS_SETS = ("AS-FOO", "RIPE::AS-FOO", "AS-FOO@RADB", "AS3333:AS-BAR", "as-foo, AS-BAR",
                 "AS3333", "AS-FOO_BAR-2 RIPE::AS-BAZ")
ODD_IPS = ("192.0.2.010", "192.0.2.10/32", "::ffff:192.0.2.10", "fe80::1%eth0",
           "2001:db8:ffff::10%}; protocol x {", " 192.0.2.10", "192.0.2.10\n", "0xC0.0.2.10",
           "3221226001", "\u0661\u0669\u0662.0.2.10", "192.0.2.0", "192.0.2.255", "192.0.2.1",
           "2001:db8:ffff::", "2001:db8:ffff::1", "2001:0db8:ffff:0000:0000:0000:0000:0010", "")
PUBLIC_ASNS = st.one_of(st.sampled_from([3333, 17557, 58453, 2914, 131072, 4199999999, 1]),
                        st.integers(1, MAX_ASN))

# Hosts on the peering LAN other than the route servers' (ODD_IPS has those and the edges).
LAN_IP: st.SearchStrategy[str] = st.one_of(
    st.integers(3, 254).map(lambda n: f"192.0.2.{n}"),
    st.integers(3, 2**64 - 1).map(lambda n: str(ipaddress.ip_network(LAN_V6)[n])),
    st.integers(3, 2**64 - 1).map(lambda n: ipaddress.ip_network(LAN_V6)[n].exploded),
)
ANY_IP: st.SearchStrategy[Any] = weighted(
    LAN_IP, st.one_of(st.sampled_from(ODD_IPS), hostile_text(),
                      st.ip_addresses().map(str), ANY_VALUE), ratio=12)
AS_SET: st.SearchStrategy[Any] = weighted(st.sampled_from(VALID_AS_SETS), st.one_of(
    hostile_text(),
    st.lists(st.one_of(st.sampled_from(VALID_AS_SETS), hostile_text(),
                       st.sampled_from(["RIPE\n::AS-FOO", "AS-FOO\n@RIPE", "AS123\n@RIPE",
                                        "as-\ufb00"])),
             min_size=1, max_size=3),
    ANY_VALUE), ratio=2)
PASSWORD_REF: st.SearchStrategy[Any] = weighted(
    weighted(st.just("env:RS_PW_A"), st.sampled_from(["env:RS_PW_B", "env:RS_PW_UNSET"])),
    st.one_of(st.sampled_from(["env:RS_PW_A\n", "env:rs_pw_a", "s3cret", "env:", "env:A-B",
                               "env:" + "A" * 70, "env:RS_PW_A\x00"]), hostile_text(4)))
# What the environment holds for the variables above: RS_PW_A mostly a usable password,
# RS_PW_B one BIRD could not quote.
PASSWORD_ENV: st.SearchStrategy[dict[str, str]] = st.fixed_dictionaries({
    "RS_PW_A": weighted(st.from_regex(PASSWORD, fullmatch=True),
                        hostile_text(4).map(lambda t: t.replace("\x00", ""))),  # no NUL in env
    "RS_PW_B": st.sampled_from(["pw\n", 'a"b', "a b", "x" * 81, "", "\u202epw"]),
})


def maybe(value: st.SearchStrategy[Any], present: int = 1, absent: int = 1,
          ) -> st.SearchStrategy[Any]:
    """A value, or the marker _ABSENT (the key is left out), in about that proportion.

    The likelier outcome comes first: Hypothesis often draws the first (simplest) choice.
    """
    if present >= absent:
        return weighted(value, st.just(_ABSENT), ratio=max(1, present // absent))
    return weighted(st.just(_ABSENT), value, ratio=max(1, absent // present))


_ABSENT = object()


def _present(entries: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entries.items() if v is not _ABSENT}


@st.composite
def session_entry(draw: st.DrawFn) -> Any:
    entry = _present({"ip": draw(ANY_IP),
                      "description": draw(maybe(weighted(short_hostile_text(200),
                                                         hostile_text(), ratio=6))),
                      "password": draw(maybe(PASSWORD_REF, absent=4))})
    return draw(weighted(st.just(entry), ANY_VALUE, ratio=20))


@st.composite
def member_doc(draw: st.DrawFn) -> dict[str, Any]:
    """A member file's data: mostly the right keys and valid structure, hostile text, and now
    and then a wrong type, a value out of range or an unknown key."""
    limit = weighted(st.integers(1, 10**7), st.integers() | ANY_VALUE, ratio=6)
    limits = weighted(st.one_of(st.fixed_dictionaries({"ipv4": limit}, optional={"ipv6": limit}),
                                st.fixed_dictionaries({"ipv6": limit})), st.just({}), ratio=10)
    return _present({
        "asn": draw(maybe(weighted(PUBLIC_ASNS, ANY_VALUE, ratio=20), present=30)),
        "name": draw(maybe(weighted(NAME_TEXT, ANY_VALUE, ratio=8), present=30)),
        "description": draw(maybe(weighted(short_hostile_text(200), ANY_VALUE, ratio=8))),
        "as_set": draw(maybe(AS_SET, absent=2)),
        "max_prefixes": draw(maybe(weighted(limits, ANY_VALUE, ratio=6), absent=2)),
        "sessions": draw(maybe(weighted(st.lists(session_entry(), min_size=1, max_size=3),
                                        ANY_VALUE, ratio=20), present=30)),
        draw(st.sampled_from(["sesions", "asn ", "\u202eeman", "x" * 5000])): draw(
            maybe(st.integers(), present=1, absent=30)),
    })


def _file_name(asn: object, draw: st.DrawFn) -> str:
    odd = ["AS3333.yaml", "AS03333.yml", "as3333.yml", "AS3333.yml.bak", ".AS3333.yml",
           "AS\u0663.yml", "AS3333\n.yml", "AS-1.yml", "AS99999999999.yml"]
    if isinstance(asn, int) and not isinstance(asn, bool) and 0 < asn <= MAX_ASN:
        return str(draw(weighted(st.just(f"AS{asn}.yml"), st.sampled_from(odd), ratio=20)))
    return str(draw(st.one_of(st.sampled_from(odd), PUBLIC_ASNS.map(lambda a: f"AS{a}.yml"))))


@st.composite
def mutated(draw: st.DrawFn, text: str) -> bytes:
    """Text with, now and then, a hostile insertion at an arbitrary place; as UTF-8."""
    insertions = weighted(st.just([]), st.lists(st.tuples(st.integers(0, 10**6),
                                                          hostile_text(3)),
                                                min_size=1, max_size=2), ratio=6)
    for position, piece in draw(insertions):
        at = position % (len(text) + 1)
        text = text[:at] + piece + text[at:]
    return text.encode("utf-8")


@st.composite
def dumped_member(draw: st.DrawFn) -> tuple[str, bytes]:
    """A member doc serialized by a YAML emitter: well-formed YAML, hostile values."""
    doc = draw(member_doc())
    text = yaml.safe_dump(doc, allow_unicode=draw(st.booleans()),
                          default_flow_style=draw(st.sampled_from([False, True, None])),
                          sort_keys=draw(st.booleans()))
    return _file_name(doc.get("asn"), draw), draw(mutated(text))


RAW_SCALARS = (
    "3333", "9" * 5000, "0x" + "F" * 5000, "0xffffffffffff", "3_333", "0o6405", "06405", "1:00",
    "2001-13-45", "2001-01-01", "!!int 3333", "!!str 3333", "!!float 3333", "!!binary aGk=",
    "!!timestamp 2001-13-45", "!!int 0x" + "F" * 5000, "&a 3333", "*a",
    "!!python/object/apply:os.system ['id']", ".inf", ".nan", "~", "[3333]", "{a: 1}", "AS3333",
    "3333.0", "-3333", "+3333", "0b110100000101", "1e3", "yes", "? x", "|\n  block",
)


@st.composite
def raw_member(draw: st.DrawFn) -> tuple[str, bytes]:
    """A member file written by hand with values pasted in unescaped: YAML-level injection."""
    def value(good: st.SearchStrategy[str]) -> str:
        raw = draw(weighted(good, st.one_of(st.sampled_from(RAW_SCALARS), hostile_text()),
                            ratio=6))
        quote = draw(st.sampled_from(["", "", '"', "'"]))
        return f"{quote}{raw}{quote}"

    lines = [f"asn: {value(st.just('3333'))}", f"name: {value(NAME_TEXT)}"]
    if draw(st.booleans()):
        lines.append(f"as_set: {value(st.sampled_from(VALID_AS_SETS))}")
    lines.append("sessions:")
    for _ in range(draw(st.integers(1, 3))):
        lines.append(f"  - ip: {value(LAN_IP)}")
        if draw(st.booleans()):
            lines.append(f"    description: {value(hostile_text())}")
    return "AS3333.yml", draw(mutated("\n".join(lines) + "\n"))


ANY_FILE_NAME = st.one_of(PUBLIC_ASNS.map(lambda a: f"AS{a}.yml"), st.just("AS3333.yml"))
MEMBER_FILE: st.SearchStrategy[tuple[str, bytes]] = weighted(dumped_member(), st.one_of(
    raw_member(),
    st.tuples(ANY_FILE_NAME, st.text().map(lambda t: t.encode("utf-8"))),
    st.tuples(ANY_FILE_NAME, st.binary()),
), ratio=4)


def _load_dropping_refused(root: Path) -> Config:
    """load_checked; while it refuses, check the problems and remove the files they name.

    Every problem must point at a member file (exchange.yml is valid), so removing the named
    files must converge to an exchange that loads.
    """
    while True:
        try:
            return load_checked(root)
        except InvalidInput as exc:
            _drop_named_files(root, exc.problems)


def _drop_named_files(root: Path, problems: Iterable[Problem],
                      secrets: Iterable[str] = ()) -> None:
    listed = list(problems)
    assert_clean_problems(listed, secrets)
    for file in {p.file for p in listed}:
        assert file is not None and file.startswith("members/"), file
        # A name with a control character is shown escaped (rsgen.values.printable): the
        # file it names is the one entry of members/ that shows so.
        shown = {f"members/{printable(entry.name)}": entry
                 for entry in (root / "members").iterdir()}
        path = shown.get(file, root / file)
        assert path.is_file(), f"a problem names {file!r}, which does not exist"
        path.unlink()


# --- 1. member files ---------------------------------------------------------------------------


@_settings(examples=300)
@given(files=st.lists(MEMBER_FILE, min_size=1, max_size=3), environ=PASSWORD_ENV)
# Found in CI: a misnamed file is named escaped in the problem (a newline shown as \n).
@example(files=[("AS3333\n.yml", b"asn: 3333\nname: x\nsessions:\n- ip: 192.0.2.3\n")],
         environ={})
@example(files=[("AS3333.yml", b"asn: " + b"9" * 5000 + b"\nname: x\nsessions: []\n")],
         environ={})
@example(files=[("AS3333.yml", b"asn: 0x" + b"F" * 5000 + b"\nname: x\nsessions: []\n")],
         environ={})
@example(files=[("AS3333.yml", b"asn: 3333\nname: 2001-13-45\nsessions: [{ip: 192.0.2.9}]\n")],
         environ={})
@example(files=[("AS3333.yml", b'asn: 3333\nname: x\nas_set: ["RIPE\\n::AS-FOO"]\n'
                               b"sessions: [{ip: 192.0.2.9}]\n")], environ={})
@example(files=[("AS3333.yml", b"asn: 3333\nname: x\nsessions: [{ip: 192.0.2.9}]\n"
                               b"\xe2\x80\xae" + b"x" * 5000 + b": 1\n")], environ={})
@example(files=[("AS3333.yml", b"asn: 3333\nname: x\nsessions:\n  - ip: 192.0.2.9\n"
                               b"    password: env:RS_PW_A\n")], environ={"RS_PW_A": "pw\n"})
@example(files=[("AS3333.yml", b"asn: 3333\nname: x\nsessions:\n  - ip: 192.0.2.9\n"
                               b'    password: "env:RS_PW_A\\n"\n')],
         environ={"RS_PW_A": "pw", "RS_PW_A\n": "pw"})
def test_arbitrary_member_files_end_in_located_errors_or_safe_configs(
        files: list[tuple[str, bytes]], environ: dict[str, str]) -> None:
    """Any member file is refused with file-located problems, or yields configs BIRD accepts
    holding exactly the members' sessions and filters, whatever text the files carry."""
    with tempfile.TemporaryDirectory(prefix="rsgen-hostile-") as temp:
        root = Path(temp)
        _write_exchange(root)
        for name, data in files:
            (root / "members" / name).write_bytes(data)
        while True:
            config = _load_dropping_refused(root)
            _write_snapshot(root, config)
            try:
                check_rendered(config, read_snapshot(root), environ)
            except InvalidInput as exc:  # a password variable unset or unusable
                event("a password refused at render time")
                _drop_named_files(root, exc.problems, secrets=environ.values())
            else:
                event(f"{len(config.members)} of {len(files)} member files rendered")
                return


FREE_TEXT_NAME = st.text(min_size=1, max_size=100) | NAME_TEXT
FREE_TEXT_DESCRIPTION = st.text(max_size=200) | hostile_text().map(lambda t: t[:200])


@st.composite
def wellformed_members(draw: st.DrawFn) -> list[dict[str, Any]]:
    """1-4 valid members (distinct ASNs and addresses) whose free text is hostile."""
    public = st.integers(1, 23455) | st.integers(23457, 64495) | st.integers(131072, 4199999999)
    asns = draw(st.lists(public, min_size=1, max_size=4, unique=True))
    v4 = draw(st.lists(st.integers(10, 250), min_size=len(asns) * 2, max_size=len(asns) * 2,
                       unique=True))
    members = []
    for index, asn in enumerate(asns):
        sessions: list[dict[str, str]] = []
        for slot, family in enumerate(draw(st.sampled_from([(4,), (6,), (4, 6), (4, 4, 6)]))):
            host = v4[index * 2 + min(slot, 1)] if family == 4 else None
            ip = f"192.0.2.{host}" if host is not None else \
                f"2001:db8:ffff::{index + 1:x}:{slot + 1}"
            if any(s["ip"] == ip for s in sessions):
                continue
            session = {"ip": ip}
            if draw(st.booleans()):
                session["description"] = draw(FREE_TEXT_DESCRIPTION)
            sessions.append(session)
        doc: dict[str, Any] = {"asn": asn, "name": draw(FREE_TEXT_NAME), "sessions": sessions}
        if draw(st.booleans()):
            doc["description"] = draw(FREE_TEXT_DESCRIPTION)
        if draw(st.booleans()):
            doc["as_set"] = draw(st.sampled_from(VALID_AS_SETS))
        members.append(doc)
    return members


@_settings(examples=120)
@given(docs=wellformed_members(), allow_unicode=st.booleans())
@example(docs=[{"asn": 3333, "name": '}; protocol bgp x {\ninclude "/etc/passwd";\x00\u202e',
                "description": "\x85\u2028", "sessions": [
                    {"ip": "192.0.2.33", "description": "\"; } protocol static y { #"},
                    {"ip": "2001:db8:ffff::33", "description": ""}]}],
         allow_unicode=True)
def test_hostile_names_and_descriptions_are_scrubbed_not_refused(
        docs: list[dict[str, Any]], allow_unicode: bool) -> None:
    """Member names and descriptions of any text are accepted and reach the config scrubbed:
    every member renders, with exactly its sessions, in configs BIRD accepts."""
    with tempfile.TemporaryDirectory(prefix="rsgen-hostile-") as temp:
        root = Path(temp)
        _write_exchange(root)
        for doc in docs:
            text = yaml.safe_dump(doc, allow_unicode=allow_unicode)
            (root / "members" / f"AS{doc['asn']}.yml").write_text(text, encoding="utf-8")
        config = load_checked(root)
        assert [m.asn for m in config.members] == sorted(d["asn"] for d in docs)
        _write_snapshot(root, config)
        check_rendered(config, read_snapshot(root))


# --- 2. PeeringDB answers ----------------------------------------------------------------------

PDB_MEMBERS_YML = {
    3333: "asn: 3333\nname: RIPE NCC\nsessions:\n  - ip: 192.0.2.33\n"
          "  - ip: \"2001:db8:ffff::33\"\n",
    17557: "asn: 17557\nname: PTCL\nsessions:\n  - ip: 192.0.2.75\n",
    58453: "asn: 58453\nname: CMI\nsessions:\n  - ip: \"2001:db8:ffff::58\"\n",
}
REQUESTED = frozenset(PDB_MEMBERS_YML)

JSON_VALUE: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | hostile_text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["asn", "name", "irr_as_set", "status", "data", "info_prefixes4"])
        | st.text(max_size=5), inner, max_size=4),
    max_leaves=10)

PDB_IRR_AS_SET = st.one_of(st.sampled_from(VALID_AS_SETS), st.just(""), hostile_text(),
                           st.sampled_from(["AS-FOO -h evil", "-AS-FOO", "AS-FOO\nAS-BAR",
                                            "AS-FOO,,", ",", "RIPE::AS-FOO@RADB", "x" * 1025]))


@st.composite
def pdb_record(draw: st.DrawFn) -> dict[str, Any]:
    """A `net` record: the right keys, hostile text, now and then a wrong type or a key gone."""
    def field(good: st.SearchStrategy[Any]) -> Any:
        return draw(weighted(good, ANY_VALUE, ratio=25))

    record: dict[str, Any] = {
        "asn": field(st.sampled_from(sorted(REQUESTED))),
        "name": field(short_hostile_text(255)),
        "irr_as_set": field(PDB_IRR_AS_SET),
        "info_prefixes4": field(st.none() | st.integers(0, 2**32 - 1) | st.just(2**32 - 1)),
        "info_prefixes6": field(st.none() | st.integers(0, 2**32 - 1)),
        "info_never_via_route_servers": field(st.booleans()),
        "status": field(weighted(st.just("ok"), st.sampled_from(["deleted", "pending", ""]),
                                 ratio=10)),
        "extra": field(st.just("PeeringDB adds fields")),
    }
    for key in draw(weighted(st.just([]), st.lists(st.sampled_from(sorted(record)), min_size=1,
                                                   max_size=1), ratio=6)):
        del record[key]
    return record


def _pdb_answer(records: list[dict[str, Any]]) -> bytes:
    return json.dumps({"data": records, "meta": {}}).encode()


_RECORDS = st.lists(pdb_record(), max_size=3, unique_by=lambda r: repr(r.get("asn")))
PDB_BODY: st.SearchStrategy[bytes] = weighted(_RECORDS.map(_pdb_answer), st.one_of(
    JSON_VALUE.map(lambda v: json.dumps(v).encode()),
    st.binary(),
    st.text().map(lambda t: t.encode("utf-8")),
    st.sampled_from([b'{"data": [' + b"[" * 5000, b'{"data": [{"asn": ' + b"9" * 5000 + b"}]}",
                     b'{"data": []}' * 2, b"\xff\xfe{\x00}\x00", b'{"data": [{"asn": NaN}]}',
                     b'{"data": [{"asn": 3333, "name": "\\ud800"}]}'])))


def _assert_valid_nets(nets: Mapping[int, PeeringDbNet]) -> None:
    for asn, net in nets.items():
        assert asn == net.asn and asn in REQUESTED
        assert isinstance(net.name, str) and len(net.name) <= 255
        assert isinstance(net.irr_as_set, str) and len(net.irr_as_set) <= 1024
        for count in (net.info_prefixes4, net.info_prefixes6):
            assert count is None or (type(count) is int and 0 <= count <= 2**32 - 1)
        assert type(net.never_via_route_servers) is bool


@_settings(examples=300)
@given(body=PDB_BODY)
def test_arbitrary_peeringdb_answers_parse_or_fail_cleanly(body: bytes) -> None:
    """Any PeeringDB answer becomes valid net records or one SourceFailed, never a crash."""
    try:
        direct: dict[int, PeeringDbNet] | None = parse_nets(body, REQUESTED)
    except ValueError as exc:
        assert str(exc)
        direct = None
        event("refused")
    else:
        _assert_valid_nets(direct)
        event(f"{len(direct)} nets")

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    client = PeeringDbClient("http://peeringdb.test/api", max_attempts=1,
                             transport=httpx.MockTransport(answer), sleep=lambda _: None)
    try:
        fetched = client.fetch_nets(REQUESTED)
    except SourceFailed as exc:
        assert direct is None and exc.message
    else:
        assert fetched == direct


def _pdb_exchange(root: Path) -> Config:
    _write_exchange(root)
    for asn, text in PDB_MEMBERS_YML.items():
        (root / "members" / f"AS{asn}.yml").write_text(text, encoding="utf-8")
    return load_checked(root)


@st.composite
def accepted_pdb_record(draw: st.DrawFn, asn: int) -> dict[str, Any]:
    return {"asn": asn, "status": "ok",
            "name": draw(hostile_text().map(lambda t: t[:255])),  # PeeringDB's limits
            "irr_as_set": draw(PDB_IRR_AS_SET.map(lambda t: t[:1024])),
            "info_prefixes4": draw(st.none() | st.integers(0, 2**32 - 1) | st.just(2**32 - 1)),
            "info_prefixes6": draw(st.none() | st.integers(0, 2**32 - 1)),
            "info_never_via_route_servers": draw(st.booleans())}


@_settings(examples=100)
@given(records=st.tuples(*(accepted_pdb_record(asn) for asn in sorted(REQUESTED))))
@example(records=tuple({"asn": asn, "status": "ok", "name": "x\n}; protocol bgp evil {",
                        "irr_as_set": "AS-FOO\n-h evil", "info_prefixes4": 2**32 - 1,
                        "info_prefixes6": 2**32 - 1, "info_never_via_route_servers": False}
                       for asn in sorted(REQUESTED)))
def test_hostile_peeringdb_text_renders_safely(records: tuple[dict[str, Any], ...]) -> None:
    """Hostile PeeringDB names and irr_as_set values give configs BIRD accepts: the AS-SET is
    used only when it parses to safe names, else the member falls back to its ASN with a
    warning, and any prefix count gives a limit BIRD can hold."""
    nets = parse_nets(json.dumps({"data": list(records)}).encode(), REQUESTED)
    assert sorted(nets) == sorted(REQUESTED)
    with tempfile.TemporaryDirectory(prefix="rsgen-hostile-") as temp:
        root = Path(temp)
        config = _pdb_exchange(root)
        for member in config.members:
            net = nets[member.asn]
            choice = choose_as_sets(member, net)
            assert choice.objects and all(SAFE_OBJECT.fullmatch(str(o)) for o in choice.objects)
            try:
                parsed = parse_as_set_list(net.irr_as_set)
            except ValueError:
                assert choice.objects == (AsSetName(f"AS{member.asn}"),) and choice.warning
                event("an irr_as_set ignored with a warning")
            else:
                assert choice.objects == (parsed or (AsSetName(f"AS{member.asn}"),))
        _write_snapshot(root, config, nets)
        check_rendered(config, read_snapshot(root))


# --- 3. IRR (bgpq4 -j) output ------------------------------------------------------------------


@st.composite
def prefix_entry(draw: st.DrawFn, version: int) -> Any:
    """A bgpq4 -j prefix entry: mostly well-formed, sometimes wrong in one place."""
    bits = 32 if version == 4 else 128
    length = draw(st.integers(0, bits))
    address = draw(st.ip_addresses(v=version))
    network = ipaddress.ip_network((address, length), strict=False)
    entry: dict[str, Any] = {"prefix": str(network), "exact": draw(st.booleans())}
    if not entry["exact"]:
        entry["less-equal"] = draw(st.integers(length, bits) | st.integers(-1, 200))
        if draw(st.booleans()):
            entry["greater-equal"] = draw(st.integers(length, entry["less-equal"])
                                          if 0 <= length <= entry["less-equal"] <= bits
                                          else st.integers(-1, 200))
    spoil = draw(st.sampled_from([None] * 120 + ["prefix", "exact", "less-equal", "extra",
                                                 "strict", "family"]))
    if spoil == "extra":
        entry["extra"] = 1
    elif spoil == "strict":
        entry["prefix"] = f"{address}/{length}"
    elif spoil == "family":
        entry["prefix"] = "192.0.2.0/24" if version == 6 else "2001:db8::/32"
    elif spoil is not None:
        entry[spoil] = draw(ANY_VALUE)
    return draw(weighted(st.just(entry), JSON_VALUE, ratio=100))


def bgpq4_output(items: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    wrapped = st.lists(items, max_size=6).map(lambda v: json.dumps({"NN": v}, indent=2))
    return weighted(wrapped, st.one_of(
        JSON_VALUE.map(json.dumps), hostile_text(),
        st.sampled_from(['{"NN": ' + "[" * 5000, '{"NN": [' + "9" * 5000 + "]}",
                         '{"NN": [1], "NN": [2]}', '{"NN": [true]}', '{"NN": [1.0]}',
                         '{"XX": []}', '{"NN": {}}', "", "null", '{"NN": [NaN]}'])), ratio=6)


@_settings(examples=200)
@given(out4=bgpq4_output(prefix_entry(4)), out6=bgpq4_output(prefix_entry(6)),
       origins=bgpq4_output(weighted(st.integers(1, MAX_ASN), ANY_VALUE, ratio=60)))
@example(out4='{"NN": ' + "[" * 5000, out6='{"NN": []}', origins='{"NN": [112]}')
@example(out4='{"NN": []}', out6='{"NN": []}', origins='{"NN": [' + "9" * 5000 + "]}")
@example(out4='{"NN": [{"prefix": "0.0.0.0/0", "exact": false, "less-equal": 32}]}',
         out6='{"NN": [{"prefix": "::ffff:192.0.2.0/120", "exact": true}]}',
         origins='{"NN": [4294967295]}')
def test_arbitrary_bgpq4_output_parses_or_fails_cleanly(out4: str, out6: str,
                                                        origins: str) -> None:
    """Any bgpq4 -j output is refused with ValueError or parses to values BIRD accepts in a
    member's filter."""
    parsed: list[Any] = []
    for parse in (lambda: irr.parse_prefixes(out4, 4), lambda: irr.parse_prefixes(out6, 6),
                  lambda: irr.parse_origins(origins)):
        try:
            parsed.append(parse())
        except ValueError as exc:
            assert str(exc)
            parsed.append(None)
    ipv4, ipv6, asns = parsed
    event("all three parse" if None not in parsed else "refused")
    for prefixes, version in ((ipv4, 4), (ipv6, 6)):
        if prefixes is not None:
            assert list(prefixes) == sorted(set(prefixes))
            assert all(isinstance(p, PrefixRange) and p.version == version for p in prefixes)
            assert all(PrefixRange.parse(p.bird()) == p for p in prefixes)
    if asns is not None:
        assert list(asns) == sorted(set(asns)) and all(1 <= a <= MAX_ASN for a in asns)
    if ipv4 is None or ipv6 is None or asns is None:
        return
    base = _bare_config()
    member = Member(3333, "RIPE NCC", tuple(
        Session(ipaddress.ip_address(ip)) for ip in ("192.0.2.33", "2001:db8:ffff::33")))
    config = dataclasses.replace(base, members=(member,))
    snapshot = Snapshot(False, {}, {3333: IrrData((AsSetName("AS-FOO"),), asns, ipv4, ipv6)})
    # Not the lab: verify reads a snapshot, whose plausibility bounds refuse lists such as
    # 0.0.0.0/0{0,32} that leave no prefix outside them to test the IRR rule with.
    check_rendered(config, snapshot, lab=False)


# --- 4. bgpq4's argv ---------------------------------------------------------------------------

_FIXED_OPTIONS = {"-h", "-S", "-j", "-l", irr.LIST_NAME, "-4", "-6", "-A", "-m", "-t"}


@_settings(examples=400)
@given(text=st.one_of(hostile_text(), PDB_IRR_AS_SET,
                      st.lists(st.sampled_from(["AS-FOO", "-", "--", "-h", "RIPE::", "@RIPE",
                                                "AS", "\n", " ", ",", "AS1", ":", "_"]),
                               min_size=1, max_size=8).map("".join),
                      st.lists(st.sampled_from(VALID_AS_SETS), min_size=1, max_size=3).map(
                          " ".join)),
       forged=weighted(st.just([]), st.lists(st.builds(
           AsSetName, hostile_text(4), st.none() | hostile_text(4) | st.just("RIPE\n")),
           min_size=1, max_size=2)),
       host=weighted(st.sampled_from(["whois.radb.net", "127.0.0.1:4343", "rr.ntt.net"]),
                     hostile_text(4) | st.just("whois.radb.net\n")),
       sources=weighted(st.lists(st.sampled_from(["RIPE", "RADB", "ARIN"]), max_size=3,
                                 unique=True),
                        st.lists(hostile_text(4) | st.just("RIPE\n"), max_size=2)),
       query=st.sampled_from(["ipv4", "ipv6", "origins"]),
       max_length=st.none() | st.integers(-1, 129))
@example(text="AS-FOO", forged=[AsSetName("AS-FOO", "RIPE\n")], host="whois.radb.net",
         sources=[], query="ipv4", max_length=None)
@example(text="as-\ufb00 AS-FOO@RIPE", forged=[], host="whois.radb.net", sources=["RIPE"],
         query="origins", max_length=None)
@example(text="AS-FOO", forged=[], host="whois.radb.net\n", sources=["RIPE\n"], query="ipv4",
         max_length=None)
def test_bgpq4_never_gets_an_option_or_unchecked_text_from_data(
        text: str, forged: list[AsSetName], host: str, sources: list[str], query: irr.Query,
        max_length: int | None) -> None:
    """Whatever PeeringDB or a member file says, bgpq4's argv holds rsgen's own options, the
    validated host and sources, and after `--` only RPSL names, none starting with '-'."""
    try:
        parsed = parse_as_set_list(text)
        # The object expanded is the one written, up to ASCII case: no Unicode case mapping
        # turns one name into another ("as-\ufb00" is not AS-FF).
        assert all(o.name.lower() in text.lower() for o in parsed), parsed
        objects = [*parsed, *forged]
        argv = irr.bgpq4_argv(objects, query=query, host=host, sources=sources,
                              max_length=None if query == "origins" else max_length,
                              bgpq4="/usr/bin/bgpq4")
    except ValueError as exc:
        assert str(exc)
        event("refused")
        return
    event("argv built")
    assert argv[0] == "/usr/bin/bgpq4"
    end = argv.index("--")
    options, data = argv[1:end], argv[end + 1:]
    assert options[:2] == ["-h", host] and SAFE_HOST.fullmatch(host)
    rest = options[2:]
    if sources:
        assert rest[:2] == ["-S", ",".join(sources)]
        assert all(SAFE_SOURCE.fullmatch(s) for s in sources)
        rest = rest[2:]
    assert all(a in _FIXED_OPTIONS or (a.isdigit() and max_length == int(a)) for a in rest)
    assert len(data) == len(objects) and data
    for argument, obj in zip(data, objects, strict=True):
        assert not argument.startswith("-")
        assert SAFE_OBJECT.fullmatch(argument), argument
        assert parse_as_set(argument).name == obj.name


# --- 5. snapshot files on disk -----------------------------------------------------------------


@st.composite
def snapshot_file(draw: st.DrawFn, good: dict[str, Any]) -> bytes:
    """A snapshot file: right keys with hostile values, arbitrary JSON, or arbitrary bytes."""
    record = dict(good)
    for key in draw(weighted(st.just([]), st.lists(st.sampled_from(sorted(record)), min_size=1,
                                                   max_size=2, unique=True))):
        if draw(st.booleans()):
            del record[key]
        else:
            record[key] = draw(JSON_VALUE)
    return draw(weighted(st.just(json.dumps(record).encode()), st.one_of(
        JSON_VALUE.map(lambda v: json.dumps(v).encode()), st.binary(),
        st.sampled_from([b"", b"\xff", b'{"asn": 3333,', b"[" * 50])), ratio=8))


GOOD_META = {"format": 1, "example": False}
GOOD_PDB = {"asn": 3333, "in_peeringdb": True, "name": "RIPE NCC", "irr_as_set": "AS-FOO",
            "info_prefixes4": 10, "info_prefixes6": 5, "info_never_via_route_servers": False}
GOOD_IRR = {"asn": 3333, "objects": ["RIPE::AS-FOO"], "origins": [3333], "ipv4": IRR_V4,
            "ipv6": IRR_V6}


@_settings(examples=200)
@given(meta=snapshot_file(GOOD_META), pdb=snapshot_file(GOOD_PDB), irr_file=snapshot_file(GOOD_IRR))
@example(meta=json.dumps(GOOD_META).encode(), pdb=json.dumps(GOOD_PDB).encode(),
         irr_file=json.dumps({**GOOD_IRR, "objects": [1]}).encode())
@example(meta=json.dumps(GOOD_META).encode(), pdb=json.dumps(GOOD_PDB).encode(),
         irr_file=json.dumps({**GOOD_IRR, "objects": ["RIPE\n::AS-FOO"]}).encode())
def test_hostile_snapshot_files_give_no_snapshot_or_safe_data(meta: bytes, pdb: bytes,
                                                              irr_file: bytes) -> None:
    """A damaged or tampered snapshot is refused with NoSnapshot, or its data is valid and
    renders into configs BIRD accepts."""
    with tempfile.TemporaryDirectory(prefix="rsgen-hostile-") as temp:
        root = Path(temp)
        config = _pdb_exchange(root)
        for relative, data in (("meta.json", meta), ("peeringdb/AS3333.json", pdb),
                               ("irr/AS3333.json", irr_file)):
            path = root / "snapshot" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        try:
            snapshot = read_snapshot(root)
        except NoSnapshot as exc:
            assert exc.message and exc.hint
            event("NoSnapshot")
            return
    event("valid snapshot, rendered")
    assert set(snapshot.irr) == {3333} and set(snapshot.peeringdb) <= {3333}
    data = snapshot.irr[3333]
    assert all(SAFE_OBJECT.fullmatch(str(o)) for o in data.objects), data.objects
    assert all(type(a) is int and 0 < a <= MAX_ASN for a in data.origins)
    assert all(p.version == 4 for p in data.ipv4) and all(p.version == 6 for p in data.ipv6)
    only_3333 = dataclasses.replace(config, members=tuple(
        m for m in config.members if m.asn == 3333))
    check_rendered(only_3333, snapshot)


# Beyond what json.loads turns into JSONDecodeError: an integer of more than 4300 digits is a
# plain ValueError, deep nesting a RecursionError: both must still be a clean NoSnapshot.
@pytest.mark.parametrize("content", [b'{"asn": 3333, "origins": [' + b"9" * 5000 + b"]}",
                                     b"[" * 5000], ids=["huge-integer", "deep-nesting"])
def test_snapshot_json_beyond_the_decoders_limits_is_no_snapshot(content: bytes) -> None:
    """A snapshot file the JSON decoder cannot hold is reported as damaged (exit code 6)."""
    with tempfile.TemporaryDirectory(prefix="rsgen-hostile-") as temp:
        root = Path(temp)
        _write_json(root / "snapshot" / "meta.json", GOOD_META)
        path = root / "snapshot" / "irr" / "AS3333.json"
        path.parent.mkdir(parents=True)
        path.write_bytes(content)
        with pytest.raises(NoSnapshot):
            read_snapshot(root)


# --- 6. exchange.yml patterns ------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new"), [
    ("  - name: rs-a\n", '  - name: "rs-a\\n"\n'),
    ("peering_lan:", 'irr:\n  host: "whois.radb.net\\n"\npeering_lan:'),
    ("peering_lan:", 'irr:\n  sources: ["RIPE\\n"]\npeering_lan:'),
    ("peering_lan:", 'peeringdb:\n  url: "https://peeringdb.example/api\\n"\npeering_lan:'),
], ids=["route-server-name", "irr-host", "irr-source", "peeringdb-url"])
def test_exchange_patterns_refuse_a_trailing_newline(old: str, new: str) -> None:
    """A schema pattern ending in `$` refuses a value with a trailing newline, which would
    otherwise reach a config comment (route server name) or bgpq4's argv (host, source)."""
    with tempfile.TemporaryDirectory(prefix="rsgen-hostile-") as temp:
        root = Path(temp)
        _write_exchange(root)
        (root / "exchange.yml").write_text(EXCHANGE_YML.replace(old, new, 1), encoding="utf-8")
        with pytest.raises(InvalidInput) as caught:
            load_checked(root)
    assert [p.file for p in caught.value.problems] == ["exchange.yml"]
    assert "malformed value" in caught.value.problems[0].message
