"""IRR tag mode (member file irr.mode: tag): routes failing the IRR checks are accepted with
(RS, 1001, reason) instead of rejected, BLACKHOLE requests stay strict, and no member can set
the route server's informational tags itself. verify proves the behaviour in BIRD
(tests/test_mutation.py); these tests read the configs."""

from __future__ import annotations

import re
from pathlib import Path

from rsgen.builder import build
from tests.helpers import copy_example, filter_bodies, source_settings


def _import_filters(config: str) -> dict[str, str]:
    """Import filter name (import_AS<asn>_v<n>) -> the checks it runs."""
    return filter_bodies(config, r"(import_AS\d+_v\d)")


def _built(directory: Path) -> str:
    build(directory, offline=True, settings=source_settings())
    return (directory / "out" / "rs1.conf").read_text(encoding="utf-8")


def test_the_example_tags_one_members_irr_failures(tmp_path: Path) -> None:
    config = _built(copy_example(tmp_path / "ix"))
    filters = _import_filters(config)
    tagging = {name for name, body in filters.items()
               if "bgp_large_community.add((RS_ASN, 1001, 12));" in body}
    assert tagging == {"import_AS137512_v4", "import_AS137512_v6"}  # irr: {mode: tag}
    for name in tagging:
        body = filters[name]
        assert "bgp_large_community.add((RS_ASN, 1001, 9));" in body
        # Rejected for reason 9 or 12 only as a BLACKHOLE request.
        for line in re.findall(r".*reject_because\(member_asn, (?:9|12),.*", body):
            before = body[:body.index(line)].splitlines()
            assert "blackhole" in before[-1].lower(), (name, before[-1])
    for name, body in filters.items():
        if name not in tagging:
            assert "1001" not in body
            assert 'reject_because(member_asn, 12, "prefix not in' in body
    # Nobody's routes keep tags in the route server's informational namespaces.
    for version in (4, 6):
        checks = config[config.index(f"function import_checks_v{version}("):]
        checks = checks[:checks.index("\n}\n")]
        assert "bgp_large_community.delete([(RS_ASN, 1000, *)]);" in checks
        assert "bgp_large_community.delete([(RS_ASN, 1001, *)]);" in checks


def test_a_tagging_member_without_route_objects_in_a_family(tmp_path: Path) -> None:
    """AS45669 has no IPv6 route objects: in tag mode its IPv6 routes are all tagged, its IPv6
    blackhole requests all refused, and bird -p accepts the config (build runs it)."""
    directory = copy_example(tmp_path / "ix")
    member = directory / "members" / "AS45669.yml"
    text = member.read_text(encoding="utf-8")
    assert text.count("  - ip: 192.0.2.71\n") == 1
    member.write_text(text.replace("  - ip: 192.0.2.71\n",
                                   "  - ip: 192.0.2.71\n  - ip: '2001:db8:ffff::71'\n")
                      + "irr:\n  mode: tag\n", encoding="utf-8")
    body = _import_filters(_built(directory))["import_AS45669_v6"]
    assert "# No IRR route objects for this family: every route is outside them.\n" \
           "    if blackhole_request() then\n" \
           '        reject_because(member_asn, 12, "prefix not in the member\'s IRR route ' \
           'objects");\n' \
           "    bgp_large_community.add((RS_ASN, 1001, 12));\n" in body
