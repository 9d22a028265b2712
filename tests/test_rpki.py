"""RPKI origin validation as rsgen plans and verifies it (the BIRD and stayrtr facts under it:
tests/test_rpki_lab.py)."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from rsgen.errors import InvalidInput
from rsgen.load import load_checked
from rsgen.model import Config, RtrServer
from rsgen.plan import plan
from rsgen.settings import Settings
from rsgen.snapshot import read_snapshot
from rsgen.verification.peers import routers
from rsgen.verification.run import lab_hosts, rtr_hosts
from rsgen.verification.scenarios import (
    ACCEPT,
    RPKI_BEFORE_CHANGE,
    member_routes,
    rpki_change_routes,
    rpki_roas,
)
from tests.helpers import REPO


def test_the_plan_names_tables_and_one_protocol_per_cache() -> None:
    rpki = plan(load_checked(REPO), read_snapshot(REPO), Settings()).rpki
    assert rpki is not None
    assert (rpki.roa4_table, rpki.roa6_table) == ("ROA_V4", "ROA_V6")
    assert [(s.protocol, str(s.address), s.port) for s in rpki.servers] == [
        ("RTR_1", "192.0.2.250", 3323), ("RTR_2", "2001:db8:ffff::250", 3323)]


def test_without_rpki_there_is_no_rov_check() -> None:
    config = load_checked(REPO)
    bare = dataclasses.replace(config, exchange=dataclasses.replace(config.exchange, rpki=None))
    exchange_plan = plan(bare, read_snapshot(REPO), Settings())
    assert exchange_plan.rpki is None
    assert all("rpki_invalid" not in f.checks for server in exchange_plan.route_servers
               for m in server.members for f in m.families)


def _routes() -> dict[int, list]:  # type: ignore[type-arg]
    config = load_checked(REPO)
    snapshot = read_snapshot(REPO)
    taken: set = set()  # type: ignore[type-arg]
    return {m.asn: member_routes(m, snapshot.irr[m.asn], config.exchange, taken,
                                 never_via=snapshot.never_via_route_servers)
            for m in config.members}


def test_roas_make_one_route_invalid_and_the_accepted_ones_valid_without_side_effects() -> None:
    """Each rpki_invalid route has a foreign-origin ROA for exactly its prefix; accepted routes
    get their own origin's ROA unless it would cover another route that meets the ROV check."""
    routes, _, roas = rpki_roas(_routes(), [])
    invalid = [r for batch in routes.values() for r in batch if r.rule == "rpki_invalid"]
    assert invalid and all(r.roa_origin not in (None, r.member_asn) for r in invalid)
    valid = [r for batch in routes.values() for r in batch if r.rpki_valid]
    assert valid and all(r.rule == ACCEPT and r.roa_origin == r.member_asn for r in valid)
    by_prefix = {roa.prefix: roa for roa in roas}
    assert len(by_prefix) == len(roas) == len(invalid) + len(valid)
    for roa in roas:
        assert roa.max_length == roa.prefix.prefixlen
        covered = [r for batch in routes.values() for r in batch
                   if r.network.version == roa.prefix.version
                   and r.network.subnet_of(roa.prefix)  # type: ignore[arg-type]
                   and (r.accepted or r.rule in ("rpki_invalid", "next_hop", "origin_as",
                                                 "irr_prefix"))]
        assert len(covered) == 1, (roa, covered)


def test_an_accepted_prefix_another_scenario_reuses_gets_no_roa() -> None:
    routes = _routes()
    accepted = next(r for r in routes[9541] if r.rule == ACCEPT)
    reuse = dataclasses.replace(accepted, member_asn=17557, as_path=(17557, 9541))
    adjusted, _, roas = rpki_roas(routes, [[reuse]])
    assert not next(r for r in adjusted[9541] if r.rule == ACCEPT).rpki_valid
    assert accepted.network not in {roa.prefix for roa in roas}


def test_the_roa_change_turns_one_valid_route_invalid() -> None:
    routes, _, _ = rpki_roas(_routes(), [])
    change = rpki_change_routes(routes, load_checked(REPO).exchange, frozenset())
    assert change is not None
    (before,), (after,), old, new = change
    assert before.rule == RPKI_BEFORE_CHANGE and before.rpki_valid and before.accepted
    assert after.rule == "rpki_invalid" and not after.accepted
    assert (before.network, before.as_path) == (after.network, after.as_path)
    assert old.prefix == new.prefix == before.network and old.asn == before.member_asn
    assert new.asn != old.asn


def _with_caches(*addresses: str) -> Config:
    config = load_checked(REPO)
    assert config.exchange.rpki is not None
    rpki = dataclasses.replace(config.exchange.rpki, rtr_servers=tuple(
        RtrServer(ipaddress.ip_address(a)) for a in addresses))
    return dataclasses.replace(config, exchange=dataclasses.replace(config.exchange, rpki=rpki))


@pytest.mark.parametrize(("addresses", "message"), [
    (("127.0.0.1",), r"cannot place the RTR cache 127\.0\.0\.1: .*not loopback"),
    (("::1",), r"cannot place the RTR cache ::1"),
    (("fe80::1",), r"cannot place the RTR cache fe80::1"),
    (("203.0.113.5", "203.0.113.5"), r"one RTR cache per address; 203\.0\.113\.5 has several"),
])
def test_verify_refuses_rtr_caches_it_cannot_place(addresses: tuple[str, ...],
                                                    message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        rtr_hosts(_with_caches(*addresses))


def test_rtr_caches_off_the_peering_lan_are_reached_on_link() -> None:
    """A cache on a management network: its lab host has that address alone and reaches the
    LAN on-link, and each route server reaches it on-link in its family."""
    assert [name for name, _ in rtr_hosts(load_checked(REPO))] == ["RTR-1", "RTR-2"]
    config = _with_caches("203.0.113.5", "2001:db8:cafe::5", "192.0.2.250")
    hosts = {h.name: h for h in lab_hosts(config, config.members)}
    assert [str(a) for a in hosts["RTR-1"].addresses] == ["203.0.113.5/32"]
    assert [str(n) for n in hosts["RTR-1"].on_link] == ["192.0.2.0/24"]
    assert [str(a) for a in hosts["RTR-2"].addresses] == ["2001:db8:cafe::5/128"]
    assert [str(n) for n in hosts["RTR-2"].on_link] == ["2001:db8:ffff::/64"]
    assert [str(a) for a in hosts["RTR-3"].addresses] == ["192.0.2.250/24"]
    assert hosts["RTR-3"].on_link == ()
    for server in ("rs1", "rs2"):
        assert [str(n) for n in hosts[server].on_link] == ["203.0.113.5/32",
                                                           "2001:db8:cafe::5/128"]
    assert all(hosts[r.name].on_link == () for m in config.members for r in routers(m))
