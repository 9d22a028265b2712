"""How verify results are shown: a member x rule table for people, versioned JSON for CI."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

import rsgen
from rsgen.rules import RULES_BY_CODE_ORDER as RULES
from rsgen.values import printable
from rsgen.verification.run import VerifyReport
from rsgen.verification.scenarios import (
    ACCEPT,
    ALTERNATIVE_PATH,
    ANNOUNCEMENT_CONTROL,
    AUTHORISED_NEXT_HOP,
    BLACKHOLE,
    GRACEFUL_SHUTDOWN,
    GRACEFUL_SHUTDOWN_ALTERNATIVE,
    IMPORT_LIMIT,
    IRR_TAGGED,
    LINK_LOCAL_NEXT_HOP,
    MORE_SPECIFIC,
    MULTI_ROUTER_BEST,
    ROUTE_LEAK,
    RPKI_BEFORE_CHANGE,
    RPKI_INVALID_TAGGED,
    WELL_KNOWN_COMMUNITIES,
)

JSON_FORMAT = 1


def to_json(report: VerifyReport) -> dict[str, Any]:
    """The --json document; its keys are a contract (tests pin them): add, never rename."""
    return {
        "format": JSON_FORMAT,
        "rsgen_version": rsgen.__version__,
        "exchange": report.exchange,
        "ok": report.ok,
        "seconds": round(report.seconds, 1),
        "route_servers": report.route_servers,
        "members": report.members,
        "checks": len(report.outcomes),
        "failed": sum(not o.ok for o in report.outcomes),
        "results": [
            {
                "member": o.route.member_asn,
                "family": f"ipv{o.route.family}",
                "rule": o.route.rule,
                "prefix": str(o.route.network),
                "as_path": list(o.route.as_path),
                "next_hop": str(o.route.next_hop) if o.route.next_hop else None,
                "communities": [list(c) for c in o.route.communities],
                "isolated": o.route.isolated,
                "expected": o.expected,
                "seen": o.seen,
                "receivers_expected": o.receivers_expected,
                "receivers_seen": o.receivers_seen,
                "ok": o.ok,
                "problems": list(o.problems),
            }
            for o in report.outcomes
        ],
    }


def _plain(text: object) -> str:
    """Untrusted text (the exchange's name, what BIRD reported) for a rich console: terminal
    controls shown as escapes, and `[` escaped so it cannot open rich markup ([link=...]).
    Print it with emoji=False: rich would turn ":1234:" (in fd00:1234::/32) into an emoji."""
    return escape(printable(str(text)))


# The checks beyond one route per rule share the table's last column.
_OTHER = "other"
_OTHER_SCENARIOS = frozenset({MULTI_ROUTER_BEST, ALTERNATIVE_PATH, IMPORT_LIMIT, MORE_SPECIFIC,
                              AUTHORISED_NEXT_HOP, BLACKHOLE, GRACEFUL_SHUTDOWN,
                              GRACEFUL_SHUTDOWN_ALTERNATIVE, ROUTE_LEAK, RPKI_BEFORE_CHANGE,
                              *ANNOUNCEMENT_CONTROL})
_OK, _FAIL = "[green]ok[/green]", "[red]FAIL[/red]"


def print_table(report: VerifyReport, console: Console) -> None:
    """One row per member and family, one column per rule: a tick, or what was seen."""
    # Text: neither markup nor emoji codes (":1234:" in an IPv6 prefix) are interpreted.
    table = Table(title=Text(printable(f"rsgen verify: {report.exchange} "
                                       f"({', '.join(report.route_servers)})")),
                  show_lines=False)
    table.add_column("member", no_wrap=True)
    table.add_column("accept", justify="center", no_wrap=True)
    table.add_column("no-export", justify="center", no_wrap=True)
    for rule in RULES:
        table.add_column(str(rule.code), justify="center", no_wrap=True)
    table.add_column("other", justify="center", no_wrap=True)
    columns = (ACCEPT, WELL_KNOWN_COMMUNITIES, *(rule.name for rule in RULES), _OTHER)
    rows: dict[tuple[int, int], dict[str, str]] = {}
    for outcome in report.outcomes:
        key = (outcome.route.member_asn, outcome.route.family)
        name = outcome.route.rule
        column = ACCEPT if name == LINK_LOCAL_NEXT_HOP else \
            "rpki_invalid" if name == RPKI_INVALID_TAGGED else \
            IRR_TAGGED.get(name, _OTHER if name in _OTHER_SCENARIOS else name)
        cells = rows.setdefault(key, {})
        if cells.get(column) != _FAIL:  # a column of several checks fails if one does
            cells[column] = _OK if outcome.ok else _FAIL
    for (asn, family), cells in sorted(rows.items()):
        table.add_row(f"AS{asn} v{family}", *(cells.get(c, "-") for c in columns))
    console.print(table, emoji=False)
    console.print("no-export: accepted with NO_EXPORT and NO_ADVERTISE, which must reach every "
                  "other member, and with the route server's own tags, which must not; accept "
                  "includes, for the member rsgen's speaker plays, its IPv6 route sent with a "
                  "foreign link-local next hop, which must not reach anyone; "
                  "origin and IRR columns of a member in IRR tag mode: accepted and tagged; "
                  "other: the blackhole, shared-prefix, graceful-shutdown, "
                  "announcement-control, import-limit, more-specific and extra next-hop "
                  "checks; "
                  "rules: "
                  + ", ".join(f"{rule.code} {rule.text}" for rule in RULES), emoji=False)
    failed = [o for o in report.outcomes if not o.ok]
    for outcome in failed:
        route = outcome.route
        console.print(f"[red]MISMATCH[/red] AS{route.member_asn} {_plain(route.rule)} "
                      f"{_plain(route.network)}: expected {_plain(outcome.expected)}",
                      emoji=False)
        for problem in outcome.problems[:5]:
            console.print(f"    {_plain(problem)}", emoji=False)
    verdict = "[green]all as expected[/green]" if not failed else \
        f"[red]{len(failed)} of {len(report.outcomes)} checks failed[/red]"
    console.print(f"{len(report.outcomes)} checks, {len(report.members)} members, "
                  f"{report.seconds:.1f} s: {verdict}")
