"""Security finding 10: a member's self-declared PeeringDB max-prefix had no ceiling.

Anyone can type `info_prefixes4: 4294967295` into their own PeeringDB record, which became
`receive limit 4294967295`: no limit at all, without anything showing up in review. Now a
PeeringDB value above `policy.max_prefixes_ceiling_ipv4/_ipv6` (defaults 1,000,000 and 200,000,
several times what the largest transit carriers declare) is ignored: the exchange default
applies, the config comment says why, and refresh and build warn. Member-file limits are
reviewed in the pull request and stay exact.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rsgen.errors import InvalidInput
from rsgen.load import load_checked
from rsgen.model import MaxPrefixes, Member, PeeringDbNet, PolicySettings, Session
from rsgen.policy import BIRD_LIMIT_MAX, max_prefix_warnings, max_prefixes
from tests.fixtures.irr_plugin import MakeIrrServer
from tests.fixtures.peeringdb_plugin import MakePeeringDbServer
from tests.helpers import REPO, build_tree
from tests.test_bad_input import EXCHANGE, VALID

RPSL = REPO / "tests" / "fixtures" / "rpsl" / "small-exchange.rpsl"
REAL_NET = REPO / "tests" / "fixtures" / "peeringdb" / "net.json"  # real PeeringDB records


def _member(limits: MaxPrefixes | None = None) -> Member:
    return Member(3333, "RIPE NCC", (Session(ipaddress.ip_address("192.0.2.10")),
                                     Session(ipaddress.ip_address("2001:db8::10"))),
                  max_prefixes=limits or MaxPrefixes())


def _net(p4: int | None, p6: int | None) -> PeeringDbNet:
    return PeeringDbNet(3333, "RIPE NCC", "", p4, p6, False)


def test_defaults_sit_well_above_the_largest_real_networks() -> None:
    """The defaults are chosen from real records: the biggest carrier in the fixture data (NTT,
    350,000 / 35,000) gets its PeeringDB value plus headroom, far below the ceiling."""
    policy = PolicySettings()
    assert (policy.max_prefixes_ceiling_ipv4, policy.max_prefixes_ceiling_ipv6) == \
        (1_000_000, 200_000)
    records = json.loads(REAL_NET.read_text())["data"]
    largest4 = max(r["info_prefixes4"] or 0 for r in records)
    largest6 = max(r["info_prefixes6"] or 0 for r in records)
    assert (largest4, largest6) == (350_000, 35_000)
    assert largest4 * 2 < policy.max_prefixes_ceiling_ipv4
    assert largest6 * 5 < policy.max_prefixes_ceiling_ipv6
    assert max_prefixes(_member(), _net(largest4, largest6), policy, 4) == \
        (402_615, "(PeeringDB 350000 + 100) + 15%")


@pytest.mark.parametrize(("p4", "expected"), [
    (4294967295, (100, "PeeringDB value 4294967295 ignored: above the exchange's ceiling "
                       "1000000, exchange default")),
    (1_000_001, (100, "PeeringDB value 1000001 ignored: above the exchange's ceiling 1000000, "
                      "exchange default")),
    (1_000_000, (1_150_115, "(PeeringDB 1000000 + 100) + 15%")),  # at the ceiling: still used
    (30, (150, "(PeeringDB 30 + 100) + 15%")),
])
def test_peeringdb_values_above_the_ceiling_are_ignored(p4: int,
                                                         expected: tuple[int, str]) -> None:
    assert max_prefixes(_member(), _net(p4, None), PolicySettings(), 4) == expected


def test_ipv6_has_its_own_ceiling() -> None:
    policy = PolicySettings(max_prefixes_ceiling_ipv6=1000, default_max_prefixes_ipv6=7)
    assert max_prefixes(_member(), _net(None, 1001), policy, 6)[0] == 7
    assert max_prefixes(_member(), _net(None, 1000), policy, 6)[0] == 1265


def test_member_file_limits_are_exact_and_never_capped() -> None:
    """A limit in the member file was reviewed: above the ceiling it still applies as written."""
    member = _member(MaxPrefixes(ipv4=5_000_000, ipv6=9_999_999))
    policy = PolicySettings()
    assert max_prefixes(member, _net(4294967295, 4294967295), policy, 4) == \
        (5_000_000, "member file")
    assert max_prefixes(member, None, policy, 6) == (9_999_999, "member file")
    assert max_prefix_warnings(member, _net(4294967295, 4294967295), policy) == []


def test_warning_names_value_ceiling_setting_and_fix() -> None:
    (v4, v6) = max_prefix_warnings(_member(), _net(4294967295, 300_000), PolicySettings())
    assert v4 == ("PeeringDB info_prefixes4 4294967295 ignored: above the exchange's ceiling "
                  "1000000 (policy.max_prefixes_ceiling_ipv4); the exchange default 100 "
                  "applies; if the member really announces that many, set max_prefixes.ipv4 "
                  "in its member file")
    assert "info_prefixes6 300000" in v6 and "default 50" in v6
    only_v4 = Member(3333, "x", (Session(ipaddress.ip_address("192.0.2.10")),))
    assert len(max_prefix_warnings(only_v4, _net(4294967295, 300_000), PolicySettings())) == 1


def test_exchange_sets_its_own_ceilings(tmp_path: Path) -> None:
    text = EXCHANGE.replace("policy:\n", "policy:\n  max_prefixes_ceiling_ipv4: 2000000\n"
                                         "  max_prefixes_ceiling_ipv6: 300000\n")
    policy = load_checked(build_tree(tmp_path, {**VALID, "exchange.yml": text})).exchange.policy
    assert (policy.max_prefixes_ceiling_ipv4, policy.max_prefixes_ceiling_ipv6) == \
        (2_000_000, 300_000)


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("max_prefixes_ceiling_ipv4", "20000000", "is 20000000, out of range (maximum 10000000)"),
    ("max_prefixes_ceiling_ipv6", "0", "is 0, out of range (minimum 1)"),
    ("default_max_prefixes_ipv4", "4294967296",
     "is 4294967296, out of range (maximum 10000000)"),
])
def test_limits_settings_must_fit_bird(tmp_path: Path, setting: str, value: str,
                                       message: str) -> None:
    """Exchange-wide limits stay within what BIRD can hold, with a located error otherwise."""
    text = EXCHANGE.replace("policy:\n", f"policy:\n  {setting}: {value}\n")
    with pytest.raises(InvalidInput) as caught:
        load_checked(build_tree(tmp_path, {**VALID, "exchange.yml": text}))
    assert [(p.file, p.line, p.message) for p in caught.value.problems] == [
        ("exchange.yml", 16, f"policy.{setting} {message}")]
    assert BIRD_LIMIT_MAX > 10_000_000 * 11  # the largest ceiling plus the largest headroom


def test_refresh_and_build_warn_and_the_config_says_why(
        tmp_path: Path, make_irr_server: MakeIrrServer,
        make_peeringdb_server: MakePeeringDbServer) -> None:
    """End to end: a PeeringDB record claiming 4294967295 prefixes gives the exchange default,
    a comment saying why, a warning from refresh and from build; bird -p accepts the config."""
    exchange = build_tree(tmp_path / "ix", {
        "exchange.yml": "name: Test IX\nroute_servers:\n"
                        "  - {name: rs1, asn: 65500, router_id: 198.51.100.1, "
                        "ipv4: 198.51.100.1}\n"
                        "peering_lan: {ipv4: 198.51.100.0/24}\n"
                        "irr: {sources: [RIPE, RADB], timeout: 10, parallel: 2}\n",
        "members/AS3333.yml": "asn: 3333\nname: RIPE NCC\nsessions:\n  - ip: 198.51.100.33\n",
        "members/AS10745.yml": "asn: 10745\nname: ARIN\nmax_prefixes: {ipv4: 5000000}\n"
                               "sessions:\n  - ip: 198.51.100.45\n",
    })
    irr = make_irr_server(RPSL)
    record = {"name": "x", "irr_as_set": "", "info_prefixes6": 0, "status": "ok",
              "info_never_via_route_servers": False}
    pdb = make_peeringdb_server(records=[
        {**record, "asn": 3333, "irr_as_set": "RIPE::AS-GOOD", "info_prefixes4": 4294967295},
        {**record, "asn": 10745, "info_prefixes4": 4294967295}])
    env = {**os.environ, "RSGEN_PEERINGDB_URL": pdb.url, "RSGEN_IRR_HOST": irr.host}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rsgen", *args, "-C", str(exchange)],
                              capture_output=True, text=True, check=False, timeout=120,
                              cwd=REPO, env=env)

    refreshed = run("refresh")
    assert refreshed.returncode == 0, refreshed.stderr
    warning = ("warning: AS3333: PeeringDB info_prefixes4 4294967295 ignored: above the "
               "exchange's ceiling 1000000 (policy.max_prefixes_ceiling_ipv4); the exchange "
               "default 100 applies")
    assert warning in refreshed.stderr
    assert "AS10745" not in refreshed.stderr  # its member file sets the limit
    built = run("build", "--offline")
    assert built.returncode == 0, built.stderr
    assert built.stderr.count(warning) == 1
    config = (exchange / "out" / "rs1.conf").read_text()
    assert ("        # Max prefixes, counting accepted routes only: PeeringDB value 4294967295 "
            "ignored: above the exchange's ceiling 1000000, exchange default.\n"
            "        import limit 100 action restart;") in config
    assert ("        # Max prefixes, counting accepted routes only: member file.\n"
            "        import limit 5000000 action restart;") in config
    assert "        receive limit 1000 action restart;" in config  # 100 x 4, at least 1000
    assert "        receive limit 20000000 action restart;" in config  # 5000000 x 4
    assert "limit 4294967295" not in config


def test_exchange_sets_headroom_and_receive_limit(tmp_path: Path) -> None:
    """The absolute headroom and the receive-limit sizing are exchange settings, range-checked."""
    text = EXCHANGE.replace("policy:\n", "policy:\n  max_prefix_headroom_absolute: 10\n"
                                         "  receive_limit_multiplier: 2\n"
                                         "  receive_limit_minimum: 500\n")
    policy = load_checked(build_tree(tmp_path / "ok", {**VALID, "exchange.yml": text})) \
        .exchange.policy
    assert (policy.max_prefix_headroom_absolute, policy.receive_limit_multiplier,
            policy.receive_limit_minimum) == (10, 2, 500)
    assert max_prefixes(_member(), _net(4, None), policy, 4) == (17, "(PeeringDB 4 + 10) + 15%")
    bad = EXCHANGE.replace("policy:\n", "policy:\n  receive_limit_multiplier: 0\n")
    with pytest.raises(InvalidInput) as caught:
        load_checked(build_tree(tmp_path / "bad", {**VALID, "exchange.yml": bad}))
    assert [p.message for p in caught.value.problems] == [
        "policy.receive_limit_multiplier is 0, out of range (minimum 1)"]
