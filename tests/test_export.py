"""rsgen export as-set: the route servers' members as RPSL, from the plan the configs use."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from rsgen.errors import ExitCode
from rsgen.export import route_server_as_set
from rsgen.load import load_checked
from rsgen.plan import ExchangePlan, plan
from rsgen.settings import Settings
from rsgen.snapshot import read_snapshot
from rsgen.values import parse_as_set
from tests.helpers import REPO


def _example_plan() -> ExchangePlan:
    return plan(load_checked(REPO), read_snapshot(REPO), Settings())


def test_the_example_route_servers_as_set() -> None:
    exchange_plan = _example_plan()
    text = route_server_as_set(exchange_plan, "AS-KHIX-RS", mnt_by="MAINT-KHIX", source="RADB")
    lines = text.splitlines()
    assert lines[0] == "as-set:         AS-KHIX-RS"
    assert lines[1] == "descr:          Route-server members of Karachi Carrier-Neutral IX " \
                       "(example)"
    assert lines[-2:] == ["mnt-by:         MAINT-KHIX", "source:         RADB"]
    members = [line.split()[1] for line in lines if line.startswith("members:")]
    # What each member's filters are built from, in the order of the members' ASNs.
    expected = [obj.name for server in exchange_plan.route_servers[:1]
                for m in sorted(server.members, key=lambda m: m.asn) for obj in m.as_sets]
    assert members == expected
    assert "AS17557:AS-PTCL" in members and "AS45669" in members  # an AS-SET, an ASN alone
    assert route_server_as_set(_example_plan(), "AS-KHIX-RS", mnt_by="MAINT-KHIX",
                               source="RADB") == text  # deterministic


def test_source_pins_are_dropped_and_each_object_listed_once() -> None:
    exchange_plan = _example_plan()
    server = exchange_plan.route_servers[0]
    first, second = server.members[:2]
    pinned = (parse_as_set("RIPE::AS-SHARED"),)
    members = (dataclasses.replace(first, as_sets=pinned),
               dataclasses.replace(second, as_sets=(parse_as_set("AS-SHARED"),)))
    changed = dataclasses.replace(exchange_plan, route_servers=(
        dataclasses.replace(server, members=members),))
    text = route_server_as_set(changed, "AS64500:AS-RS")
    assert [line for line in text.splitlines() if line.startswith("members:")] == [
        "members:        AS-SHARED"]
    assert "mnt-by" not in text and "source" not in text


@pytest.mark.parametrize(("name", "mnt_by", "source"), [
    ("AS64500", None, None),  # an ASN, not a set
    ("RIPE::AS-RS", None, None),  # a source belongs in --source
    ("AS-RS\nmembers: AS666", None, None),
    ("AS-RS", "MAINT X", None),
    ("AS-RS", None, "radb\n"),
])
def test_malformed_names_are_refused(name: str, mnt_by: str | None, source: str | None) -> None:
    with pytest.raises(ValueError):
        route_server_as_set(_example_plan(), name, mnt_by=mnt_by, source=source)


def test_the_command_prints_it_and_refuses_bad_names() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rsgen", "export", "as-set", "-C",
                               str(REPO), *args], capture_output=True, text=True, check=False,
                              timeout=60)

    done = run("--name", "AS-KHIX-RS")
    assert done.returncode == 0, done.stderr
    assert done.stdout == route_server_as_set(_example_plan(), "AS-KHIX-RS")
    assert run("--name", "AS-KHIX-RS", "--source", "bad source").returncode == ExitCode.USAGE
