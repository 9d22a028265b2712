"""Jinja2 rendering: the plan (rsgen.plan) -> one BIRD 2 config text per route server.

The template sees only the plan, never raw PeeringDB or IRR text: every string that reaches a
config is a validated symbol, a number, an address or a scrubbed comment, and every `{{ }}`
passes config_value on its way out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from rsgen.plan import ExchangePlan, FamilyPlan, MemberPlan, RouteServerPlan
from rsgen.rules import RULE_BY_NAME, RULES_BY_CODE_ORDER, bird_irr_tag, bird_reject
from rsgen.templatedir import MAIN_TEMPLATE as MAIN_TEMPLATE
from rsgen.templatedir import default_templates_dir as default_templates_dir
from rsgen.values import (
    BOGON_ASN_RANGES,
    BOGON_PREFIXES_V4,
    BOGON_PREFIXES_V6,
    GLOBAL_UNICAST_V6,
    PrefixList,
    PrefixRange,
    Secret,
    safe_comment,
    scrub_config_text,
)

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
    if type(value) is int:  # most values at exchange scale (ASNs, limits): digits only
        return str(value)
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
    if isinstance(prefixes, PrefixList):  # its text, checked once: no object per prefix
        body = prefixes.bird_lines(indent)
    else:
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


def bird_irr_tag_statement(name: str) -> BirdText:
    """The statement tagging a route that fails IRR rule `name` (irr.mode: tag)."""
    return BirdText(bird_irr_tag(name))


def rule_snippet(name: str) -> str:
    """The template of rule `name`'s check (rsgen.rules.Rule.snippet)."""
    return RULE_BY_NAME[name].snippet


def rule_scope(name: str) -> str:
    return RULE_BY_NAME[name].scope.value


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
        # One environment per render: templates do not change under it, so no stat() of the
        # template file on every include (thousands per config at exchange scale).
        auto_reload=False,
    )
    env.filters.update(prefix_set=bird_prefix_set, int_set=bird_int_set,
                       bird_string=bird_string, comment=safe_comment,
                       bird_password=bird_password)
    snippets: dict[str, jinja2.Template] = {}

    def snippet(name: str) -> jinja2.Template:
        """Rule `name`'s snippet, loaded once per environment: it is included in every
        member's filter, thousands of times per config at exchange scale."""
        if name not in snippets:
            snippets[name] = env.get_template(rule_snippet(name))
        return snippets[name]

    env.globals.update(reject=bird_reject_statement, irr_tag=bird_irr_tag_statement,
                       rules_by_code=RULES_BY_CODE_ORDER,
                       snippet=snippet, scope_of=rule_scope)
    return env


# --- what the template sees: the plan, and the exchange-wide constants ---


def template_context(exchange_plan: ExchangePlan, server: RouteServerPlan) -> dict[str, Any]:
    """Everything the route-server template sees for one route server: the plan (rsgen.plan),
    this server's part of it, and the bogon tables. BGP passwords stay Secrets, which print
    as <secret> everywhere but through the bird_password filter."""
    return {
        "plan": exchange_plan,
        "rs": server,
        "rs_family": {family.version: family for family in server.families},
        "policy": exchange_plan.policy,
        "bogon_asns": BOGON_ASN_RANGES,
        "bogon_prefixes_v4": BOGON_PREFIXES_V4,
        "bogon_prefixes_v6": BOGON_PREFIXES_V6,
        "global_unicast_v6": GLOBAL_UNICAST_V6,
    }


IMPORT_FUNCTION_TEMPLATE = "bird2/member-import.conf.j2"

# The shared import functions' parameters: (BIRD type, name, what each member passes).
_IMPORT_PARAMETERS: tuple[tuple[str, str, Callable[[MemberPlan, FamilyPlan], str | None]],
                          ...] = (
    ("ip set", "member_next_hops", lambda member, family: family.next_hop_set),
    ("int set", "member_origins", lambda member, family: member.origin_set),
    ("prefix set", "member_prefixes", lambda member, family: family.prefix_set),
    ("prefix set", "member_blackholes", lambda member, family: family.blackhole_prefix_set),
)
_COMMENT = re.compile(r"#[^\n]*")


@dataclass(frozen=True)
class ImportFunction:
    """One BIRD function holding the import checks of every member filter of one shape."""

    name: str
    version: int
    signature: BirdText
    body: BirdText


@dataclass(frozen=True)
class ImportCall:
    """What a member's import filter says: the function, and its own ASN and sets."""

    function: str
    arguments: BirdText


@dataclass(frozen=True)
class ReusedMember:
    """A member whose block an incremental build (rsgen.incremental) takes from the last
    build's config as it is: the templates see only its ASN, through member_block."""

    asn: int
    text: str  # its block, exactly as the last build rendered it
    functions: tuple[str, ...]  # the import functions its filters call


@dataclass(frozen=True)
class MemberBlock:
    """Where one member's part of a config (member.conf.j2) sits in its text."""

    asn: int
    start: int
    end: int
    functions: tuple[str, ...]  # the import functions its filters call


@dataclass(frozen=True)
class RenderedConfig:
    name: str
    text: str
    functions: tuple[ImportFunction, ...]  # every import function the config defines
    # Each member's block, in config order; None when the template did not render each
    # member once through member_block (then nothing of this config can be reused).
    blocks: tuple[MemberBlock, ...] | None


def import_functions(env: jinja2.Environment, exchange_plan: ExchangePlan,
                     server: RouteServerPlan,
                     ) -> tuple[tuple[ImportFunction, ...], dict[tuple[int, int], ImportCall]]:
    """The import checks of each member and family, rendered with parameters in place of the
    member's own sets and merged where the text is the same.

    BIRD 2 makes every keyword a filter body uses a symbol of that body's scope, and the next
    body's lookup walks all of them: three filters per member made `bird -p` quadratic in
    members (docs/scale.md). A member's filter is now one call of a function defined once;
    functions are named by a hash of their text, so one member's change never renames
    another member's function (BIRD would reload that member's channels too). Members
    reused as they are (ReusedMember) bring no calls: their blocks are text already."""
    fragment = env.get_template(IMPORT_FUNCTION_TEMPLATE)
    context = template_context(exchange_plan, server)
    functions: dict[str, ImportFunction] = {}
    calls: dict[tuple[int, int], ImportCall] = {}
    bodies = _FragmentMemo()
    for member in server.members:
        if isinstance(member, ReusedMember):
            continue
        for family in member.families:
            shared = _SharedView(member, family)
            body = bodies.get(shared)
            if body is None:
                reads: list[tuple[str, str, Any]] = []
                try:
                    body = fragment.render({**context,
                                            "member": _Recorder(shared, "member", reads),
                                            "family": _Recorder(shared, "family", reads)})
                    bodies.put(reads, body)
                except (TypeError, jinja2.UndefinedError):
                    # A customised template that uses the objects in other ways: render it
                    # from plain copies, as they are.
                    body = fragment.render({**context, **shared.plain()})
            code = _COMMENT.sub("", body)
            used = [(kind, name, own) for kind, name, own in _IMPORT_PARAMETERS
                    if re.search(rf"\b{name}\b", code)]
            signature = "; ".join(["int member_asn", *(f"{kind} {name}"
                                                       for kind, name, _ in used)])
            text = f"{family.version}\0{signature}\0{body}"
            name = f"import_v{family.version}_" + hashlib.sha256(text.encode()).hexdigest()[:12]
            if name not in functions:
                functions[name] = ImportFunction(name, family.version, BirdText(signature),
                                                 BirdText(body))
            arguments = [str(member.asn), *(str(own(member, family)) for _, _, own in used)]
            calls[(member.asn, family.version)] = ImportCall(name, BirdText(", ".join(arguments)))
    ordered = tuple(sorted(functions.values(), key=lambda f: (f.version, f.name)))
    return ordered, calls


_MISSING = object()


class _SharedView:
    """A member and one of its families as the shared import function sees them: its own
    sets replaced by the function's parameters."""

    __slots__ = ("family", "member")

    def __init__(self, member: MemberPlan, family: FamilyPlan) -> None:
        self.member = member
        self.family = family

    def plain(self) -> dict[str, Any]:
        """The view as plain plan objects (dataclass copies)."""
        member = dataclasses.replace(self.member, origin_set="member_origins")
        family = dataclasses.replace(
            self.family, next_hop_set="member_next_hops", prefix_set="member_prefixes",
            blackhole_prefix_set=None if self.family.blackhole_prefix_set is None
            else "member_blackholes")
        return {"member": member, "family": family}

    def read(self, which: str, name: str) -> Any:
        """The attribute `name` of `member` or `family`; `NAME#bool` and `NAME#len`: the
        truth and size of a prefix list, which is all a template learns of it here."""
        base, _, use = name.partition("#")
        if use:
            value = self.read(which, base)
            return bool(value) if use == "bool" else len(value)
        if which == "member":
            if name == "origin_set":
                return "member_origins"
            return getattr(self.member, name, _MISSING)
        if name == "next_hop_set":
            return "member_next_hops"
        if name == "prefix_set":
            return "member_prefixes"
        if name == "blackhole_prefix_set":
            return None if self.family.blackhole_prefix_set is None else "member_blackholes"
        return getattr(self.family, name, _MISSING)


class _Recorder:
    """`member` or `family` in the import-function template: each attribute it reads is
    noted, so another member whose same attributes are equal gets the same text without a
    render (the template is a pure function of what it reads; thousands of members share a
    handful of shapes)."""

    __slots__ = ("_reads", "_view", "_which")

    def __init__(self, view: _SharedView, which: str, reads: list[tuple[str, str, Any]]):
        self._view = view
        self._which = which
        self._reads = reads

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = self._view.read(self._which, name)
        if isinstance(value, PrefixList):  # a member's own: only its truth or size is read
            self._reads.append((self._which, name, _SIZED))
            return _SizedOnly(value, self._which, name, self._reads)
        self._reads.append((self._which, name, value))
        if value is _MISSING:
            raise AttributeError(name)
        return value

    def __str__(self) -> str:  # no object's address may reach a config
        raise TypeError(f"the import-function template may read the {self._which}'s "
                        "attributes, not print the whole object")

    __repr__ = __str__


_SIZED = "(a prefix list)"


class _SizedOnly:
    """A prefix list in the import-function template: its truth and size, each noted when
    read; anything else (iterating, printing) is a TypeError, and the render falls back."""

    __slots__ = ("_name", "_reads", "_value", "_which")

    def __init__(self, value: PrefixList, which: str, name: str,
                 reads: list[tuple[str, str, Any]]) -> None:
        self._value = value
        self._which = which
        self._name = name
        self._reads = reads

    def __bool__(self) -> bool:
        result = bool(self._value)
        self._reads.append((self._which, f"{self._name}#bool", result))
        return result

    def __len__(self) -> int:
        result = len(self._value)
        self._reads.append((self._which, f"{self._name}#len", result))
        return result

    def __iter__(self) -> Any:
        raise TypeError("a member's prefix list is a parameter of the import function")

    def __str__(self) -> str:
        raise TypeError("a member's prefix list is a parameter of the import function")

    __repr__ = __str__


class _FragmentMemo:
    """Rendered import-function bodies by what their render read: for each distinct list of
    attributes read, the bodies by the values read."""

    def __init__(self) -> None:
        self._by_reads: dict[tuple[tuple[str, str], ...], dict[tuple[Any, ...], str]] = {}

    def get(self, view: _SharedView) -> str | None:
        for names, bodies in self._by_reads.items():
            values = tuple(_SIZED if isinstance(value, PrefixList) else value
                           for value in (view.read(which, name) for which, name in names))
            try:
                found = bodies.get(values)
            except TypeError:  # a value that cannot be a key: render
                return None
            if found is not None:
                return found
        return None

    def put(self, reads: Sequence[tuple[str, str, Any]], body: str) -> None:
        names = tuple((which, name) for which, name, _ in reads)
        values = tuple(value for _, _, value in reads)
        with contextlib.suppress(TypeError):
            self._by_reads.setdefault(names, {})[values] = body


MEMBER_TEMPLATE = "bird2/member.conf.j2"


def render_config(env: jinja2.Environment, exchange_plan: ExchangePlan,
                  server: RouteServerPlan, *,
                  reused_functions: Iterable[ImportFunction] = (),
                  leave_out_reused: bool = False) -> RenderedConfig:
    """One route server's config, with each member's block.

    `server.members` may hold ReusedMember stand-ins (an incremental build): their blocks
    are their recorded text (or nothing, with `leave_out_reused`: the part of the config a
    partial `bird -p` must see), and `reused_functions` the import functions they call."""
    functions, calls = import_functions(env, exchange_plan, server)
    merged = {f.name: f for f in (*reused_functions, *functions)}
    functions = tuple(sorted(merged.values(), key=lambda f: (f.version, f.name)))
    member_template = env.get_template(MEMBER_TEMPLATE)
    context = {**template_context(exchange_plan, server), "import_functions": functions,
               "import_calls": calls}
    # Per block: ASN, length, its first characters and hash (to find it again in the
    # config), functions. Not the text: Jinja copies each block into the config's pieces,
    # and a third copy of 31 MB would raise a 1,000-member build's peak memory.
    blocks: list[tuple[int, int, str, int, tuple[str, ...]]] = []

    def member_block(member: MemberPlan | ReusedMember) -> BirdText:
        """A member's block: the route-server template calls this for each member."""
        if isinstance(member, ReusedMember):
            text = BirdText("" if leave_out_reused else member.text)
            called = member.functions
        else:
            text = BirdText(member_template.render({**context, "member": member}))
            called = tuple(sorted({calls[(member.asn, family.version)].function
                                   for family in member.families}))
        blocks.append((member.asn, len(text), text[:_LEAD], hash(text), called))
        return text

    text = env.get_template(MAIN_TEMPLATE).render({**context, "member_block": member_block})
    in_order = [block[0] for block in blocks] == [member.asn for member in server.members]
    return RenderedConfig(server.config_file, text, functions,
                          _located(text, blocks) if in_order and not leave_out_reused
                          else None)


_LEAD = 200  # characters of a block's start it is looked for by


def _located(text: str, blocks: Sequence[tuple[int, int, str, int, tuple[str, ...]]],
             ) -> tuple[MemberBlock, ...] | None:
    """Each block's place in `text`, found in order by its first characters and proved by
    its hash; None when one is not there (a template that changes what member_block gave)."""
    located = []
    at = 0
    for asn, length, lead, digest, functions in blocks:
        start = text.find(lead, at)
        if start < 0 or hash(text[start:start + length]) != digest:
            return None
        at = start + length
        located.append(MemberBlock(asn, start, at, functions))
    return tuple(located)


def render_plan(exchange_plan: ExchangePlan, templates: Path | None = None) -> dict[str, str]:
    """Every route server's config, {file name: text}: formatting only, all decisions are in
    the plan. Pure apart from reading the templates."""
    return {config.name: config.text for config in render_configs(exchange_plan, templates)}


def render_configs(exchange_plan: ExchangePlan,
                   templates: Path | None = None) -> Iterator[RenderedConfig]:
    """Each route server's config with its blocks (RenderedConfig), one at a time, so a
    caller can start checking one config while the next renders."""
    env = make_environment(templates or default_templates_dir())
    for server in exchange_plan.route_servers:
        yield render_config(env, exchange_plan, server)
