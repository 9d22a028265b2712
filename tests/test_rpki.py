"""RPKI origin validation as rsgen plans and verifies it (the BIRD and stayrtr facts under it:
tests/test_rpki_lab.py)."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from rsgen.errors import InvalidInput
from rsgen.load import load_checked
from rsgen.model import RtrServer
from rsgen.plan import plan
from rsgen.settings import Settings
from rsgen.snapshot import read_snapshot
from rsgen.verification.run import rtr_hosts
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


def test_verify_refuses_rtr_caches_it_cannot_place() -> None:
    config = load_checked(REPO)
    assert config.exchange.rpki is not None
    outside = dataclasses.replace(config.exchange.rpki, rtr_servers=(
        RtrServer(ipaddress.ip_address("203.0.113.5")),))
    moved = dataclasses.replace(config, exchange=dataclasses.replace(config.exchange,
                                                                     rpki=outside))
    with pytest.raises(InvalidInput, match=r"203\.0\.113\.5 is outside it"):
        rtr_hosts(moved)
    assert [name for name, _ in rtr_hosts(config)] == ["RTR-1", "RTR-2"]
