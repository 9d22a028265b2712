"""rsgen export ixf: the exchange's IX-F member export (1.0), valid against the official JSON
schema, from the same plan as the configs, byte-identical on repeat, and readable back by
rsgen import ixf."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from rsgen.errors import ExitCode
from rsgen.export import ixf_member_export
from rsgen.load import load_checked
from rsgen.onboard import import_ixf
from rsgen.plan import plan
from rsgen.settings import Settings
from rsgen.snapshot import read_snapshot
from tests.helpers import build_tree, copy_example

SCHEMA = Path("/work/shared/data/ixf/schema/ixp-member-list-1.0.schema.json")
if not SCHEMA.is_file():
    SCHEMA = (Path(__file__).resolve().parents[2] / "shared" / "data" / "ixf" / "schema"
              / "ixp-member-list-1.0.schema.json")
WHEN = "2026-01-31T12:00:00Z"


@pytest.fixture
def example(tmp_path: Path) -> Path:
    directory = copy_example(tmp_path / "ix")
    with (directory / "exchange.yml").open("a") as handle:
        handle.write("ixf:\n  ixf_id: 4242\n  ixp_id: 7\n  vlan_id: 100\n")
    return directory


def _export(directory: Path, timestamp: str = WHEN) -> str:
    config = load_checked(directory)
    return ixf_member_export(plan(config, read_snapshot(directory), Settings()), config,
                             timestamp)


def _validate(document: Any) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == []
    # FormatChecker checks ipv4, ipv6 and email here, not date-time (no RFC 3339 library).
    datetime.datetime.fromisoformat(document["timestamp"])


def test_the_example_exports_valid_ixf_from_its_plan(example: Path) -> None:
    text = _export(example)
    document = json.loads(text)
    _validate(document)
    assert document["version"] == "1.0" and document["timestamp"] == WHEN
    (ixp,) = document["ixp_list"]
    assert (ixp["ixf_id"], ixp["ixp_id"]) == (4242, 7)
    assert ixp["vlan"][0]["ipv4"] == {"prefix": "192.0.2.0", "mask_length": 24}
    config = load_checked(example)
    exchange_plan = plan(config, read_snapshot(example), Settings())
    server = exchange_plan.route_servers[0]
    assert [m["asnum"] for m in document["member_list"]] == [m.asn for m in config.members]
    for member, exported in zip(config.members, document["member_list"], strict=True):
        assert exported["name"] == member.name
        entries = [v[f] for c in exported["connection_list"] for v in c["vlan_list"]
                   for f in ("ipv4", "ipv6") if f in v]
        assert sorted(e["address"] for e in entries) == sorted(str(s.ip)
                                                              for s in member.sessions)
        member_plan = server.member(member.asn)
        assert member_plan is not None
        for entry in entries:
            version = 6 if ":" in entry["address"] else 4
            family = member_plan.family(version)
            assert family is not None
            assert entry["routeserver"] is True
            assert entry["max_prefix"] == family.import_limit.value  # as the config has it
            if member_plan.as_set_source == "ASN only":
                assert "as_macro" not in entry
            else:
                assert entry["as_macro"] == " ".join(str(s) for s in member_plan.as_sets)
    assert _export(example) == text  # the same bytes again


def test_names_cannot_break_out_of_json_or_html(example: Path) -> None:
    path = example / "members" / "AS45669.yml"
    text = path.read_text()
    hostile = '</script><script>alert("x")</script> & Co \u202e'
    path.write_text(text.replace(next(line for line in text.splitlines()
                                      if line.startswith("name:")),
                                 "name: " + json.dumps(hostile)))
    exported = _export(example)
    assert "<" not in exported and ">" not in exported and "&" not in exported
    assert exported.isascii()
    names = [m["name"] for m in json.loads(exported)["member_list"]]
    assert hostile in names


def test_an_export_reads_back_as_the_same_members(example: Path, tmp_path: Path) -> None:
    """export ixf, then import ixf into an empty copy of the exchange: the same members with
    the same sessions (the round trip an exchange moving to rsgen relies on)."""
    source = tmp_path / "export.json"
    source.write_text(_export(example))
    fresh = build_tree(tmp_path / "fresh", {
        "exchange.yml": (example / "exchange.yml").read_text(), "members/README.md": "m\n"})
    report = import_ixf(fresh, str(source))
    assert report.skipped == [] and report.dropped == []
    before = {m.asn: (m.name, {s.ip for s in m.sessions}) for m in load_checked(example).members}
    after = {m.asn: (m.name, {s.ip for s in m.sessions}) for m in load_checked(fresh).members}
    assert after == before


def _run(directory: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rsgen", "export", "ixf", "-C",
                           str(directory), *args], capture_output=True, text=True,
                          check=False, timeout=120, env={**os.environ, **env})


def test_the_command_is_deterministic_and_says_what_is_missing(example: Path,
                                                                tmp_path: Path) -> None:
    first = _run(example, SOURCE_DATE_EPOCH="1767182400")
    again = _run(example, SOURCE_DATE_EPOCH="1767182400")
    assert first.returncode == 0, first.stderr
    assert first.stdout == again.stdout
    assert json.loads(first.stdout)["timestamp"] == "2025-12-31T12:00:00Z"
    pinned = _run(example, "--timestamp", "2025-12-31T13:00:00+01:00")
    assert pinned.stdout == first.stdout  # the same instant, in UTC
    out = tmp_path / "ixf.json"
    assert _run(example, "--timestamp", WHEN, "-o", str(out)).returncode == 0
    _validate(json.loads(out.read_text()))
    assert _run(example, "--timestamp", "yesterday").returncode == ExitCode.USAGE
    assert _run(example, "--timestamp", "2026-01-01T00:00:00").returncode == ExitCode.USAGE
    bare = copy_example(tmp_path / "bare")
    missing = _run(bare, "--timestamp", WHEN)
    assert missing.returncode == ExitCode.INVALID_INPUT and "ixf_id" in missing.stderr
