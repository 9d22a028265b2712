"""Jinja2 rendering: config + snapshot -> one BIRD 2 config text per route server.

The template sees only plain view objects built here, never raw PeeringDB or IRR text: every
string that reaches a config is a validated symbol, a number, an address or a scrubbed comment.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

import rsgen
from rsgen.errors import InvalidInput, NoSnapshot, Problem
from rsgen.model import Config, Member, RouteServer, Session, Snapshot
from rsgen.policy import (
    choose_as_sets,
    max_prefixes,
    protocol_name,
    receive_limit,
    set_name,
)
from rsgen.rules import REJECT_REASON_ID, RULES, bird_reject
from rsgen.values import (
    BOGON_ASN_RANGES,
    BOGON_PREFIXES_V4,
    BOGON_PREFIXES_V6,
    GLOBAL_UNICAST_V6,
    IPAddress,
    PrefixRange,
    Secret,
    check_password,
    safe_comment,
    scrub_config_text,
)

MAIN_TEMPLATE = "bird2/route-server.conf.j2"


def default_templates_dir() -> Path:
    """Templates shipped in the package, or the repository's templates/ in a source checkout."""
    package_dir = Path(rsgen.__file__).parent
    for candidate in (package_dir / "templates", package_dir.parent / "templates"):
        if (candidate / MAIN_TEMPLATE).is_file():
            return candidate
    raise InvalidInput("rsgen's BIRD templates are missing from this installation",
                       hint="reinstall rsgen, or pass --templates DIR")


# --- filters: plain functions, each unit-tested ---


class BirdText(str):
    """Config text rsgen built itself from validated values (a prefix set, a quoted string):
    the only kind of string the environment's finalize hook lets through unscrubbed."""

    __slots__ = ()


def config_value(value: Any) -> Any:
    """The finalize hook of every rsgen template (route server and verify lab alike).

    Each `{{ ... }}` passes through here. BirdText is rsgen's own output and goes as it is; any
    other string may hold untrusted text (a member name, PeeringDB, IRR), so every character
    outside the safe set, a newline or a quote included, becomes a space: whatever reaches a
    config stays inside the comment or string literal the template put it in. Other values
    (numbers, addresses, prefixes, enums) must already print as safe text.
    """
    if isinstance(value, BirdText | jinja2.Undefined) or value is None:
        return value
    if isinstance(value, str):
        return scrub_config_text(value)
    text = str(value)
    if scrub_config_text(text) != text:
        raise TypeError(f"template value {type(value).__name__} prints unsafe config text "
                        f"{text[:40]!r}: build it with a filter that returns BirdText")
    return text


def bird_prefix_set(prefixes: Sequence[PrefixRange], indent: str = "    ") -> BirdText:
    """A BIRD prefix set literal, one prefix per line so review diffs are per prefix."""
    if not prefixes:
        return BirdText("[]")
    body = ",\n".join(f"{indent}{p.bird()}" for p in prefixes)
    return BirdText(f"[\n{body}\n]")


def bird_int_set(values: Iterable[int], per_line: int = 10, indent: str = "    ") -> BirdText:
    """A BIRD integer (ASN) set literal, sorted, a few per line."""
    items = sorted(set(values))
    if not items:
        return BirdText("[]")
    rows = [", ".join(str(v) for v in items[i:i + per_line])
            for i in range(0, len(items), per_line)]
    return BirdText("[\n" + ",\n".join(f"{indent}{row}" for row in rows) + "\n]")


def bird_password(secret: Secret) -> BirdText:
    """The one place a Secret is revealed: a BIRD string literal (checked when it was read)."""
    return BirdText(f'"{secret.reveal()}"')


def bird_string(text: str) -> BirdText:
    """A quoted BIRD string from untrusted text: scrubbed to safe characters first."""
    return BirdText('"' + safe_comment(text) + '"')


def bird_reject_statement(name: str) -> BirdText:
    """The statement rejecting a route for rule `name`; its text is rsgen's own rule table."""
    return BirdText(bird_reject(name))


def make_environment(templates: Path) -> jinja2.Environment:
    """The one Jinja environment for every config rsgen writes, route server or verify lab."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        undefined=jinja2.StrictUndefined,  # a missing value is an error, never ""
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # BIRD syntax, not HTML: HTML escaping would corrupt it. Untrusted strings are scrubbed
        # by config_value (every {{ }}) and by the filters, which reduce them to safe characters.
        autoescape=False,  # noqa: S701
        finalize=config_value,
    )
    env.filters.update(prefix_set=bird_prefix_set, int_set=bird_int_set,
                       bird_string=bird_string, comment=safe_comment,
                       bird_password=bird_password)
    env.globals.update(reject=bird_reject_statement, rules=RULES,
                       reject_reason_id=REJECT_REASON_ID)
    return env


# --- the view the template sees ---


@dataclass(frozen=True)
class SessionView:
    protocol: str
    ip: IPAddress
    version: int
    description: str
    password: Secret | None = None


@dataclass(frozen=True)
class FamilyView:
    """One member's data for one address family on one route server."""

    version: int
    prefix_set: str  # BIRD constant name
    prefixes: tuple[PrefixRange, ...]
    next_hops: tuple[IPAddress, ...]
    max_prefixes: int  # the policy limit: accepted routes (BIRD import limit)
    max_prefixes_source: str
    receive_limit: int  # all routes received, filtered ones included (memory guard)
    sessions: tuple[SessionView, ...]


@dataclass(frozen=True)
class MemberView:
    asn: int
    name: str
    as_sets: str  # for the comment: validated names only
    as_set_source: str
    as_set_warning: str  # scrubbed; empty when none
    origin_set: str
    origins: tuple[int, ...]
    families: tuple[FamilyView, ...]


def session_password(member: Member, session: Session,
                     environ: Mapping[str, str]) -> Secret | None:
    """The session's BGP password from the environment variable its member file names."""
    if session.password_env is None:
        return None
    location = session.location or member.location
    value = environ.get(session.password_env)
    if value is None:
        raise InvalidInput("a BGP password is not set", problems=(Problem(
            f"session {session.ip} takes its password from the environment variable "
            f"{session.password_env}, which is not set", location.file, location.line,
            f"set {session.password_env} where rsgen build runs (e.g. a CI secret)"),))
    why = check_password(value)
    if why:
        raise InvalidInput("a BGP password is unusable", problems=(Problem(
            f"the password in {session.password_env} (session {session.ip}) {why}",
            location.file, location.line),))
    return Secret(value)


def member_view(member: Member, snapshot: Snapshot, config: Config,
                server: RouteServer, environ: Mapping[str, str]) -> MemberView:
    irr = snapshot.irr.get(member.asn)
    if irr is None:
        raise NoSnapshot(f"no IRR data for AS{member.asn} in the snapshot",
                         hint="run rsgen refresh (or build without --offline)")
    peeringdb = snapshot.peeringdb.get(member.asn)
    choice = choose_as_sets(member, peeringdb)
    families = []
    for version in (4, 6):
        if server.address(version) is None:
            continue
        sessions = tuple(
            SessionView(protocol_name(member, s), s.ip, version,
                        safe_comment(s.description or member.name),
                        session_password(member, s, environ))
            for s in sorted(member.sessions, key=lambda s: s.ip.packed)
            if s.ip.version == version)
        if not sessions:
            continue
        limit, limit_source = max_prefixes(member, peeringdb, config.exchange.policy, version)
        families.append(FamilyView(
            version=version,
            prefix_set=set_name(member, f"PREFIXES_V{version}"),
            prefixes=irr.prefixes(version),
            next_hops=tuple(s.ip for s in sessions),
            max_prefixes=limit,
            max_prefixes_source=limit_source,
            receive_limit=receive_limit(limit, config.exchange.policy),
            sessions=sessions,
        ))
    return MemberView(
        asn=member.asn,
        name=safe_comment(member.name),
        as_sets=" ".join(str(o) for o in irr.objects),
        as_set_source=choice.origin,
        as_set_warning=safe_comment(choice.warning or "", limit=200),
        origin_set=set_name(member, "ORIGINS"),
        origins=irr.origins,
        families=tuple(families),
    )


def template_context(config: Config, snapshot: Snapshot, server: RouteServer,
                     environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Everything the template sees for one route server (`rsgen context` dumps it).

    `environ` supplies BGP passwords (default: the process environment); they stay Secrets,
    which print as <secret> everywhere but in the config itself.
    """
    environ = os.environ if environ is None else environ
    exchange = config.exchange
    return {
        "rsgen_version": rsgen.__version__,
        "exchange": {"name": safe_comment(exchange.name), "peering_lan": exchange.peering_lan},
        "rs": server,
        "policy": exchange.policy,
        "bogon_asns": BOGON_ASN_RANGES,
        "bogon_prefixes_v4": BOGON_PREFIXES_V4,
        "bogon_prefixes_v6": BOGON_PREFIXES_V6,
        "global_unicast_v6": GLOBAL_UNICAST_V6,
        "example_data": snapshot.example,
        "members": [member_view(m, snapshot, config, server, environ)
                    for m in config.members],
    }


def render_route_server(env: jinja2.Environment, context: dict[str, Any]) -> str:
    return env.get_template(MAIN_TEMPLATE).render(context)
