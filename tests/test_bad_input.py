"""Broken exchange and member files: each is refused with a message that says where and what.

Every case starts from the small valid exchange below, changes one thing the way users really
get it wrong, and checks that `load_checked` reports it at the right file and line. A reviewer
reads these messages on a pull request, so their wording and location are the product.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from rsgen.errors import InvalidInput, Problem
from rsgen.load import load_checked
from rsgen.yamlsafe import MAX_FILE_BYTES

REPO = Path(__file__).resolve().parent.parent

EXCHANGE = """\
# A tiny exchange for the broken-input tests.
name: Test IX
route_servers:
  - name: rs1
    asn: 64500
    router_id: 192.0.2.1
    ipv4: 192.0.2.1
    ipv6: "2001:db8:ffff::1"
peering_lan:
  ipv4: 192.0.2.0/24
  ipv6: "2001:db8:ffff::/64"
irr:
  host: whois.radb.net
  sources: [RIPE, RADB]
policy:
  ipv4_max_length: 24
  ipv6_max_length: 48
"""

AS3333 = """\
# RIPE NCC: both families, explicit AS-SET and limits.
asn: 3333
name: RIPE NCC
as_set: AS-RIPENCC
max_prefixes:
  ipv4: 100
  ipv6: 50
sessions:
  - ip: 192.0.2.10
  - ip: "2001:db8:ffff::10"
    description: second router
"""

AS2914 = """\
asn: 2914
name: NTT
sessions:
  - ip: 192.0.2.20
"""

VALID: dict[str, str] = {
    "exchange.yml": EXCHANGE,
    "members/AS3333.yml": AS3333,
    "members/AS2914.yml": AS2914,
}


@dataclass(frozen=True)
class Symlink:
    """A file written as a symbolic link to `target` (relative to the tree)."""

    target: str


Content = str | bytes | Symlink | None  # None: remove the file


def build_tree(root: Path, files: Mapping[str, Content]) -> Path:
    """Write {relative path: content} under root; None leaves the file out."""
    for relative, content in files.items():
        path = root / relative
        if content is None:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Symlink):
            path.symlink_to(root / content.target)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def edit(text: str, old: str, new: str) -> str:
    """`text` with `old` (which must occur exactly once) replaced: a typo in a case fails loudly."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def member(asn: int) -> dict[str, Content]:
    """Replace AS3333's file by an otherwise identical one for another ASN."""
    return {"members/AS3333.yml": None,
            f"members/AS{asn}.yml": edit(AS3333, "asn: 3333", f"asn: {asn}")}


# Ten levels of nine aliases each: 9**10 "lol"s if anything expanded it.
BILLION_LAUGHS = f"a: &a [{', '.join(['lol'] * 9)}]\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefghi", "bcdefghij", strict=True))


@dataclass(frozen=True)
class Case:
    id: str
    changes: dict[str, Content]
    file: str
    line: int | None
    message: str
    hint: str | None = None


def m(case_id: str, text: str, line: int | None, message: str, hint: str | None = None) -> Case:
    """A case that replaces members/AS3333.yml with `text`."""
    return Case(case_id, {"members/AS3333.yml": text}, "members/AS3333.yml", line, message, hint)


def x(case_id: str, text: str, line: int | None, message: str, hint: str | None = None) -> Case:
    """A case that replaces exchange.yml with `text`."""
    return Case(case_id, {"exchange.yml": text}, "exchange.yml", line, message, hint)


RS2 = "  - name: rs2\n    asn: 64500\n    router_id: 192.0.2.2\n    ipv4: 192.0.2.2\npeering_lan:"

CASES: list[Case] = [
    # --- member files: YAML itself ---
    m("member-yaml-tab-indent", edit(AS3333, "  - ip: 192.0.2.10", "\t- ip: 192.0.2.10"), 9,
      "a tab character, which YAML does not allow here", "replace the tabs"),
    m("member-yaml-unclosed-quote", edit(AS3333, "name: RIPE NCC", 'name: "RIPE NCC'), 3,
      "after a quoted value that runs from here to line 10", "quote opened on this line"),
    m("member-yaml-unclosed-quote-at-end", edit(AS3333, "description: second router",
                                                'description: "second router'), 11,
      "while scanning a quoted scalar", "quote opened on this line is not closed"),
    m("member-yaml-bad-indent", edit(AS3333, "    description:", "   description:"), 11,
      "YAML syntax error: expected <block end>"),
    m("member-yaml-duplicate-key", AS3333 + "name: RIPE NCC again\n", 12,
      "duplicate key 'name'", "keep one"),
    m("member-yaml-anchor-alias", edit(AS3333, "name: RIPE NCC", "name: &n RIPE NCC\n"
                                       "description: *n"), 3,
      "anchors and aliases are not allowed"),
    m("member-yaml-billion-laughs", BILLION_LAUGHS, 1, "anchors and aliases are not allowed"),
    m("member-yaml-two-documents", AS3333 + "---\n" + AS2914, 12, "another document"),
    m("member-empty-file", "", None, "file is empty"),
    m("member-only-comments", "# asn: 3333\n", None, "file is empty"),
    m("member-only-a-list", "- asn: 3333\n- name: RIPE NCC\n", 1,
      "(top level) must be a mapping of keys, not list"),
    Case("member-not-utf8", {"members/AS3333.yml": AS3333.replace("RIPE NCC\n", "R\xe9seau\n")
                             .encode("latin-1")},
         "members/AS3333.yml", 3, "not UTF-8 text", "UTF-8"),
    m("member-nul-byte", edit(AS3333, "name: RIPE", "name: RI\x00PE"), 3,
      "control character U+0000 is not allowed"),
    m("member-oversize", AS3333 + "#" * MAX_FILE_BYTES + "\n", None,
      f"more than the {MAX_FILE_BYTES} allowed"),
    m("member-nesting-too-deep", "asn: " + "[" * 3000 + "]" * 3000 + "\n", None,
      "nesting deeper than 20 levels"),
    m("member-python-tag", edit(AS3333, "asn: 3333", "asn: !!python/name:os.system"), 2,
      "YAML tag !!python/name:os.system is not allowed"),
    m("member-tag-mismatch", edit(AS3333, "asn: 3333", "asn: !!int AS3333"), 2,
      "'AS3333' is not a valid !!int value"),
    m("member-date-value", AS3333 + "description: 2024-05-01\n", 12,
      "unsupported value type date", None),
    m("member-asn-leading-zero-octal", edit(AS3333, "asn: 3333", "asn: 03333"), 2,
      "leading zero, which YAML reads as the octal number 1755"),
    m("member-non-string-key", AS3333 + "on: true\n", 12,
      "mapping keys must be plain names, not bool", "quote the key"),
    # --- member files: keys and types ---
    m("member-unknown-key-did-you-mean", edit(AS3333, "sessions:", "sesions:"), 8,
      "unknown key 'sesions' in (top level)", "did you mean 'sessions'?"),
    m("member-two-unknown-keys", edit(AS3333, "sessions:", "sesions:") + "descripton: x\n", 8,
      "unknown key 'sesions' in (top level)", "did you mean 'sessions'?"),
    m("member-unknown-session-key", edit(AS3333, "    description:", "    descr:"), 11,
      "unknown key 'descr' in sessions[1]", "did you mean 'description'?"),
    m("member-missing-asn", edit(AS3333, "asn: 3333\n", ""), 2,
      "(top level) is missing the required key 'asn'", "README.md"),
    m("member-missing-name", edit(AS3333, "name: RIPE NCC\n", ""), 2,
      "is missing the required key 'name'"),
    m("member-missing-sessions", AS3333.split("sessions:")[0], 2,
      "is missing the required key 'sessions'"),
    m("member-asn-as-string", edit(AS3333, "asn: 3333", 'asn: "AS3333"'), 2,
      "asn must be an integer, not string 'AS3333'", "without 'AS': 3333"),
    m("member-asn-float", edit(AS3333, "asn: 3333", "asn: 3333.0"), 2,
      "asn must be an integer, not number 3333.0"),
    m("member-asn-too-big", edit(AS3333, "asn: 3333", "asn: 4294967296"), 2,
      "asn is 4294967296, out of range (maximum 4294967295)"),
    m("member-max-prefixes-negative", edit(AS3333, "ipv4: 100", "ipv4: -5"), 6,
      "max_prefixes.ipv4 is -5, out of range (minimum 1)"),
    m("member-max-prefixes-string", edit(AS3333, "ipv6: 50", "ipv6: lots"), 7,
      "max_prefixes.ipv6 must be an integer, not string 'lots'"),
    m("member-name-norway-problem", edit(AS3333, "name: RIPE NCC", "name: no"), 3,
      "name must be a string, not boolean False", "quotes"),
    m("member-sessions-empty", AS3333.split("  - ip")[0].replace("sessions:", "sessions: []"), 8,
      "sessions must not be empty"),
    m("member-session-without-ip", edit(AS3333, "  - ip: 192.0.2.10", "  - ip:"), 9,
      "sessions[0].ip must be a string, not empty"),
    m("member-session-plain-address", edit(AS3333, "  - ip: 192.0.2.10", "  - 192.0.2.10"), 9,
      "sessions[0] must be a mapping of keys, not string '192.0.2.10'"),
    # --- member files: values the schema cannot check ---
    m("member-ip-with-length", edit(AS3333, "ip: 192.0.2.10", "ip: 192.0.2.10/24"), 9,
      "sessions[0].ip is '192.0.2.10/24', not an IP address", "without a /length"),
    m("member-ip-garbage", edit(AS3333, "ip: 192.0.2.10", "ip: 192.0.2.300"), 9,
      "sessions[0].ip is '192.0.2.300', not an IP address"),
    m("member-ip-zone-index", edit(AS3333, "2001:db8:ffff::10", "2001:db8:ffff::10%eth0"), 10,
      "an address with a zone index", "remove %eth0"),
    m("member-as-set-shell", edit(AS3333, "as_set: AS-RIPENCC", "as_set: AS-FOO; rm -rf /"), 4,
      "'AS-FOO;' is not an AS-SET name", "as registered in the IRR"),
    m("member-as-set-leading-dash", edit(AS3333, "as_set: AS-RIPENCC", "as_set: -oops"), 4,
      "'-oops' is not an AS-SET name"),
    m("member-as-set-bare-prefix", edit(AS3333, "as_set: AS-RIPENCC", "as_set: AS-"), 4,
      "'AS-' is not an AS-SET name"),
    m("member-as-set-bad-source", edit(AS3333, "as_set: AS-RIPENCC", "as_set: ripe_db::AS-FOO"),
      4, "IRR source must be letters and digits"),
    m("member-as-set-blank", edit(AS3333, "as_set: AS-RIPENCC", 'as_set: " , "'), 4,
      "which names no AS-SET", "remove as_set"),
    m("member-as-set-list-item", edit(AS3333, "as_set: AS-RIPENCC",
                                      "as_set:\n  - AS-RIPENCC\n  - AS RIPE"), 6,
      "as_set[1] is malformed: 'AS RIPE' is not an AS-SET name"),
    m("member-as-set-list-duplicate", edit(AS3333, "as_set: AS-RIPENCC",
                                           "as_set: [AS-RIPENCC, AS-RIPENCC]"), 4,
      "as_set lists the same value twice"),
    m("member-as-set-empty-list", edit(AS3333, "as_set: AS-RIPENCC", "as_set: []"), 4,
      "as_set must not be empty"),
    # --- member files: names and placement ---
    Case("member-file-not-named-for-asn", {"members/foo.yml": AS3333}, "members/foo.yml", None,
         "member file names must be AS<asn>.yml", "e.g. members/AS3333.yml"),
    Case("member-file-leading-zero", {"members/AS3333.yml": None, "members/AS03333.yml": AS3333},
         "members/AS03333.yml", None, "member file names must be AS<asn>.yml",
         "without leading zeros"),
    Case("member-file-yaml-suffix", {"members/AS3333.yml": None, "members/AS3333.yaml": AS3333},
         "members/AS3333.yaml", None, "member file names must be AS<asn>.yml"),
    m("member-asn-not-file-name", edit(AS3333, "asn: 3333", "asn: 3320"), 2,
      "asn is 3320 but the file is named for AS3333", "members/AS3320.yml"),
    Case("member-file-is-symlink", {"elsewhere/AS3333.yml": AS3333,
                                    "members/AS3333.yml": Symlink("elsewhere/AS3333.yml")},
         "members/AS3333.yml", None, "must be regular files, not links"),
    Case("members-dir-missing", {"members/AS3333.yml": None, "members/AS2914.yml": None},
         "members/", None, "no members/ directory", "one AS<asn>.yml file per member"),
    # --- member files: checks across files ---
    m("member-session-used-by-other-member", edit(AS3333, "192.0.2.10", "192.0.2.20"), 9,
      "session address 192.0.2.20 is also used in members/AS2914.yml", "one member session"),
    m("member-session-outside-lan", edit(AS3333, "192.0.2.10", "198.51.100.10"), 9,
      "session address 198.51.100.10 is outside the peering LAN", "192.0.2.0/24"),
    m("member-session-is-route-server", edit(AS3333, "192.0.2.10", "192.0.2.1"), 9,
      "session address 192.0.2.1 belongs to route server rs1"),
    m("member-session-broadcast", edit(AS3333, "192.0.2.10", "192.0.2.255"), 9,
      "is the peering LAN's network or broadcast address"),
    m("member-session-ipv6-subnet-anycast", edit(AS3333, "2001:db8:ffff::10", "2001:db8:ffff::"),
      10, "is the peering LAN's network or broadcast address"),
    Case("member-asn-private-16bit", member(64512), "members/AS64512.yml", 2,
         "AS64512 is not a public ASN: private use (RFC 6996)", "public ASN"),
    Case("member-asn-private-65000", member(65000), "members/AS65000.yml", 2,
         "AS65000 is not a public ASN: private use (RFC 6996)"),
    Case("member-asn-private-32bit", member(4200000000), "members/AS4200000000.yml", 2,
         "AS4200000000 is not a public ASN: private use (RFC 6996)"),
    Case("member-asn-as-trans", member(23456), "members/AS23456.yml", 2,
         "AS23456 is not a public ASN: AS_TRANS (RFC 6793)"),
    Case("member-asn-documentation", member(64496), "members/AS64496.yml", 2,
         "AS64496 is not a public ASN: documentation (RFC 5398)"),
    Case("member-asn-is-route-server-asn", member(64500), "members/AS64500.yml", 2,
         "AS64500 is the route servers' own ASN", "member's own ASN"),
    Case("member-ipv6-session-without-ipv6-route-server",
         {"exchange.yml": edit(EXCHANGE, '    ipv6: "2001:db8:ffff::1"\n', "")},
         "members/AS3333.yml", 10, "no route server has an IPv6 address", "IPv6 sessions"),
    # --- exchange.yml: YAML itself ---
    Case("exchange-missing", {"exchange.yml": None}, "exchange.yml", None, "no exchange.yml in",
         "pass -C DIR"),
    x("exchange-empty", "\n", None, "file is empty"),
    x("exchange-only-a-list", "- name: Test IX\n- route_servers: []\n", 1,
      "(top level) must be a mapping of keys, not list"),
    x("exchange-yaml-tab", edit(EXCHANGE, "  ipv4: 192.0.2.0/24", "\tipv4: 192.0.2.0/24"), 10,
      "a tab character, which YAML does not allow here"),
    x("exchange-yaml-bad-indent", edit(EXCHANGE, "    router_id:", "   router_id:"), 6,
      "YAML syntax error"),
    x("exchange-duplicate-key", edit(EXCHANGE, "peering_lan:", "name: Other IX\npeering_lan:"), 9,
      "duplicate key 'name'"),
    x("exchange-merge-key", edit(EXCHANGE, "    asn: 64500", "    <<: {asn: 64500}"), 5,
      "YAML merge keys (<<) are not allowed"),
    x("exchange-anchor-alias", edit(EXCHANGE, "ipv4_max_length: 24\n  ipv6_max_length: 48",
                                    "ipv4_max_length: &len 24\n  ipv6_max_length: *len"), 16,
      "anchors and aliases are not allowed", "in full"),
    x("exchange-date-value", edit(EXCHANGE, "name: Test IX", "name: 2024-05-01"), 2,
      "unsupported value type date", None),
    Case("exchange-not-utf8", {"exchange.yml": EXCHANGE.replace("Test IX", "T\xe9st IX")
                               .encode("latin-1")}, "exchange.yml", 2, "not UTF-8 text"),
    # --- exchange.yml: keys and types ---
    x("exchange-unknown-key-did-you-mean", edit(EXCHANGE, "route_servers:", "route_server:"), 3,
      "unknown key 'route_server' in (top level)", "did you mean 'route_servers'?"),
    x("exchange-unknown-policy-key", edit(EXCHANGE, "ipv6_max_length", "ipv6_max_len"), 17,
      "unknown key 'ipv6_max_len' in policy", "did you mean 'ipv6_max_length'?"),
    x("exchange-unknown-key-no-match", EXCHANGE + "colour: blue\n", 18,
      "unknown key 'colour' in (top level)", "known keys: blackhole, irr, ixf, name, peering_lan"),
    x("exchange-missing-route-servers", EXCHANGE.replace(EXCHANGE[EXCHANGE.index("route_servers"):
                                                                   EXCHANGE.index("peering_lan")],
                                                         ""), 2,
      "(top level) is missing the required key 'route_servers'"),
    x("exchange-missing-peering-lan", edit(EXCHANGE, 'peering_lan:\n  ipv4: 192.0.2.0/24\n'
                                           '  ipv6: "2001:db8:ffff::/64"\n', ""), 2,
      "(top level) is missing the required key 'peering_lan'"),
    x("exchange-route-servers-empty", EXCHANGE.replace(
        EXCHANGE[EXCHANGE.index("route_servers"):EXCHANGE.index("peering_lan")],
        "route_servers: []\n"), 3, "route_servers must not be empty"),
    x("exchange-route-server-missing-router-id", edit(EXCHANGE, "    router_id: 192.0.2.1\n", ""),
      4, "route_servers[0] is missing the required key 'router_id'"),
    x("exchange-route-server-asn-string", edit(EXCHANGE, "asn: 64500", "asn: AS64500"), 5,
      "route_servers[0].asn must be an integer, not string 'AS64500'", "without 'AS'"),
    x("exchange-route-server-name-capitals", edit(EXCHANGE, "name: rs1", "name: RS1"), 4,
      "route_servers[0].name has a malformed value 'RS1'", "lower-case letters"),
    x("exchange-irr-host-with-space", edit(EXCHANGE, "host: whois.radb.net",
                                           "host: whois radb.net"), 13,
      "irr.host has a malformed value 'whois radb.net'", "IRR host name"),
    x("exchange-irr-host-leading-dash", edit(EXCHANGE, "host: whois.radb.net",
                                             "host: -oProxyCommand=x"), 13,
      "irr.host has a malformed value '-oProxyCommand=x'", "IRR host name"),
    x("exchange-irr-source-lower-case", edit(EXCHANGE, "[RIPE, RADB]", "[RIPE, radb]"), 14,
      "irr.sources[1] has a malformed value 'radb'", "in capitals"),
    x("exchange-irr-sources-repeated", edit(EXCHANGE, "[RIPE, RADB]", "[RIPE, RIPE]"), 14,
      "irr.sources lists the same value twice"),
    x("exchange-max-prefix-action-unknown", EXCHANGE + "  max_prefix_action: shutdown\n", 18,
      "it must be one of: restart, disable, block, warn"),
    x("exchange-policy-length-negative", edit(EXCHANGE, "ipv6_max_length: 48",
                                              "ipv6_max_length: -1"), 17,
      "policy.ipv6_max_length is -1, out of range (minimum 0)"),
    # --- exchange.yml: values the schema cannot check ---
    x("exchange-route-server-ip-with-length", edit(EXCHANGE, "ipv4: 192.0.2.1\n",
                                                   "ipv4: 192.0.2.1/24\n"), 7,
      "route_servers[0].ipv4 is '192.0.2.1/24', not an IP address", "without a /length"),
    x("exchange-route-server-ipv6-in-ipv4", edit(EXCHANGE, "ipv4: 192.0.2.1\n",
                                                 "ipv4: 2001:db8:ffff::1\n"), 7,
      "route_servers[0].ipv4 is '2001:db8:ffff::1', not an IPv4 address"),
    x("exchange-router-id-garbage", edit(EXCHANGE, "router_id: 192.0.2.1", "router_id: rs1"), 6,
      "route_servers[0].router_id is 'rs1', not an IP address"),
    x("exchange-peering-lan-host-bits", edit(EXCHANGE, "192.0.2.0/24", "192.0.2.1/24"), 10,
      "192.0.2.1/24 has host bits set", "network address with its length"),
    x("exchange-peering-lan-wrong-family", edit(EXCHANGE, "ipv4: 192.0.2.0/24",
                                                "ipv4: 2001:db8:fffe::/64"), 10,
      "peering_lan.ipv4 is '2001:db8:fffe::/64', not an IPv4 network"),
    x("exchange-duplicate-route-server-name", edit(EXCHANGE, "peering_lan:",
                                                   RS2.replace("rs2", "rs1")), 9,
      "route_servers[1].name repeats the name 'rs1'", "names the output file"),
    x("exchange-duplicate-route-server-address", edit(EXCHANGE, "peering_lan:",
                                                      RS2.replace("ipv4: 192.0.2.2",
                                                                  "ipv4: 192.0.2.1")), 12,
      "route_servers[1].ipv4 is 192.0.2.1, also the address of route server rs1"),
    x("exchange-route-server-outside-lan", edit(EXCHANGE, "ipv4: 192.0.2.1\n",
                                                "ipv4: 198.51.100.1\n"), 7,
      "route_servers[0].ipv4 is 198.51.100.1, outside the peering LAN 192.0.2.0/24",
      "fix peering_lan"),
    x("exchange-route-server-without-address", edit(
        EXCHANGE, '    ipv4: 192.0.2.1\n    ipv6: "2001:db8:ffff::1"\n', ""), 4,
      "route_servers[0] needs an ipv4 or ipv6 address"),
    x("exchange-min-length-above-max", edit(EXCHANGE, "  ipv4_max_length: 24",
                                            "  ipv4_min_length: 25\n  ipv4_max_length: 24"), 16,
      "policy.ipv4_min_length is 25, longer than ipv4_max_length 24"),
    x("exchange-max-length-below-default-min", edit(EXCHANGE, "ipv6_max_length: 48",
                                                    "ipv6_max_length: 8"), 17,
      "policy.ipv6_max_length is 8, shorter than the default ipv6_min_length 12"),
]


def _located(problems: tuple[Problem, ...]) -> str:
    return "\n".join(f"  {p.file}:{p.line}: {p.message} (hint: {p.hint})" for p in problems)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_broken_input_is_reported_where_it_is(tmp_path: Path, case: Case) -> None:
    """A broken file is refused with a message naming the file, the line and the mistake.

    This is what a reviewer sees on a member's pull request: it must point at the line to fix
    and say what is wrong there (with a hint where one helps), and it must never be a crash.
    """
    build_tree(tmp_path, {**VALID, **case.changes})
    with pytest.raises(InvalidInput) as caught:
        load_checked(tmp_path)
    problems = caught.value.problems
    matches = [p for p in problems
               if p.file == case.file and p.line == case.line and case.message in p.message]
    assert matches, (f"expected {case.file}:{case.line}: ...{case.message}..., got:\n"
                     f"{_located(problems)}")
    if case.hint is not None:
        assert any(case.hint in (p.hint or "") for p in matches), _located(problems)


def test_case_ids_are_unique() -> None:
    """Each case is reported under its own name, so a failure names one mistake."""
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))


def test_valid_tree_loads(tmp_path: Path) -> None:
    """The starting tree of every case is itself valid: each case fails for its change alone."""
    config = load_checked(build_tree(tmp_path, VALID))
    assert [m.asn for m in config.members] == [2914, 3333]
    assert [s.name for s in config.exchange.route_servers] == ["rs1"]
    (rs1,) = config.exchange.route_servers
    assert str(rs1.ipv4) == "192.0.2.1"
    assert str(rs1.ipv6) == "2001:db8:ffff::1"


def test_all_problems_reported_in_one_run(tmp_path: Path) -> None:
    """One run lists every mistake in every file, so a pull request is fixed in one round."""
    build_tree(tmp_path, {
        **VALID,
        "exchange.yml": edit(EXCHANGE, "host: whois.radb.net", "host: whois radb.net"),
        "members/AS3333.yml": edit(edit(AS3333, "sessions:", "sesions:"), "asn: 3333",
                                   "asn: AS3333"),
        "members/AS2914.yml": edit(AS2914, "192.0.2.20", "192.0.2.20/24"),
    })
    with pytest.raises(InvalidInput) as caught:
        load_checked(tmp_path)
    where = {(p.file, p.line) for p in caught.value.problems}
    assert {("exchange.yml", 13), ("members/AS3333.yml", 2), ("members/AS3333.yml", 8),
            ("members/AS2914.yml", 4)} <= where


def _rsgen_check(directory: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-c", "from rsgen.cli import main; main()", "check", "-C",
         str(directory)],
        capture_output=True, text=True, timeout=60, cwd=REPO, env=env, check=False)


def test_cli_check_reports_located_errors(tmp_path: Path) -> None:
    """`rsgen check` prints one `error: FILE:LINE: message` line per problem and exits 3."""
    build_tree(tmp_path, {
        **VALID,
        "exchange.yml": edit(EXCHANGE, "host: whois.radb.net", "host: whois radb.net"),
        "members/AS3333.yml": edit(AS3333, "as_set: AS-RIPENCC", "as_set: -oops"),
    })
    result = _rsgen_check(tmp_path)
    assert result.returncode == 3, result.stderr
    lines = result.stderr.splitlines()
    assert any(line.startswith("error: members/AS3333.yml:4: as_set is malformed: '-oops'")
               for line in lines), result.stderr
    assert any(line.startswith("error: exchange.yml:13: irr.host has a malformed value")
               for line in lines), result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_cli_check_accepts_valid_tree(tmp_path: Path) -> None:
    """`rsgen check` on a valid tree says ok, with what it found, and exits 0."""
    result = _rsgen_check(build_tree(tmp_path, VALID))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: Test IX: 2 members, 1 route servers"), result.stdout
    assert result.stderr == ""
