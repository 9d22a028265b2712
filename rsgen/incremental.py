"""An incremental build: render and check only the members whose own inputs changed.

A member's block in a config (bird2/member.conf.j2: its sets, filters and sessions) depends
on the shared inputs (rsgen's code and templates, `bird --version`, exchange.yml, the
snapshot's meta.json and never-via list, passwords, the snapshot key) and on its own:
members/AS<asn>.yml and snapshot/{irr,peeringdb}/AS<asn>.json. When the build record
(rsgen.buildrecord) vouches for the configs in out/ and the shared inputs are as it recorded,
a member whose own files are byte for byte as recorded has the block it had: that block is
taken from the vouched config as it is, and only the changed members are planned, rendered
and checked. The result is the same bytes a full build writes (tests/test_incremental.py
compares them for many kinds of change).

What is still done in full: every member file is loaded and validated (the checks across
members, say a duplicate address, see them all), and every snapshot file is read and hashed
for provenance; the changed members' snapshot files are parsed and checked as in a full build.

The check: `bird -p` reads the new config with the reused blocks left out (the shared part,
every import function, the changed blocks). That is sound because a block refers only to the
shared part and to its own names, and every name a changed block defines holds its member's
ASN (AS<asn>, once) while the shared part's names hold none: a changed block can clash with
nothing it is not checked with. The reused blocks were checked with the same shared part
(the shared inputs are unchanged; the import functions they call are still defined) by the
build that wrote them. Anything unexpected (a customised templates directory, a name outside
that scheme, a partial check BIRD rejects, a changed member missing from the snapshot) makes
the build a full one, which reports what it finds as always.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rsgen import buildrecord
from rsgen.birdcheck import bird_parse
from rsgen.buildrecord import BuildRecord, ConfigLayout, InputHashes
from rsgen.errors import BirdRejected
from rsgen.model import Config, Member, Snapshot
from rsgen.settings import Settings

if TYPE_CHECKING:
    from rsgen.render import RenderedConfig

# A name a config defines: the word after define / filter / function / protocol <kind> /
# <kind> table (each at the start of a line, as rsgen's templates write them).
_DEFINED = re.compile(
    r"^[ \t]*(?:define|filter|function|protocol[ \t]+\w+|template[ \t]+\w+|\w+[ \t]+table)"
    r"[ \t]+(\w+)", re.MULTILINE)
_ASN_TOKEN = re.compile(r"(?<![A-Za-z0-9])[Aa][Ss]([0-9]+)(?![0-9])")


@dataclass(frozen=True)
class Reusable:
    """What the last build left that this one may reuse."""

    record: BuildRecord
    texts: Mapping[str, str]  # config name -> the vouched config's text
    changed: frozenset[int]  # ASNs whose own inputs differ from the record's (or are new)


def reusable(record: BuildRecord | None, inputs: InputHashes, target: Path,
             names: Sequence[str], mode: int) -> Reusable | None:
    """The last build's configs and layout when this build may reuse them; None: build in
    full (no record with a layout, shared inputs changed, a config not the very file the
    record vouches for)."""
    if record is None or not record.shared or record.shared != inputs.shared:
        return None
    if tuple(record.configs) != tuple(names) or record.output != str(target.resolve()):
        return None
    if sorted(record.layouts) != sorted(names):
        return None
    texts = {}
    for name in names:
        text = buildrecord.read_vouched(target / name, record.outputs[name], mode)
        if text is None:
            return None
        texts[name] = text
    everyone = set(inputs.members) | set(record.members)
    changed = frozenset(asn for asn in everyone
                        if inputs.members.get(asn) != record.members.get(asn))
    return Reusable(record, texts, changed)


def changed_members(config: Config, reuse: Reusable) -> tuple[Member, ...]:
    return tuple(member for member in config.members if member.asn in reuse.changed)


@dataclass(frozen=True)
class IncrementalConfigs:
    rendered: dict[str, str]  # config name -> text, byte for byte what a full build writes
    layouts: dict[str, ConfigLayout]
    rendered_members: tuple[int, ...]  # ASNs whose blocks were rendered and checked anew


def render_and_check(config: Config, changed: Config, snapshot: Snapshot,
                     settings: Settings, reuse: Reusable) -> IncrementalConfigs | None:
    """Every config, the changed members' blocks rendered and the rest reused, each checked
    by `bird -p` without its reused blocks; None: this build must be a full one.

    `changed` is `config` with only the changed members (changed_members); `snapshot` holds
    their data (and the shared part: meta, never-via)."""
    import dataclasses

    from rsgen.plan import MemberPlan, plan
    from rsgen.render import (
        BirdText,
        ImportFunction,
        ReusedMember,
        default_templates_dir,
        make_environment,
        render_config,
    )

    partial = plan(changed, snapshot, settings)
    present = {member.asn for member in config.members}
    env = make_environment(default_templates_dir())
    rendered: dict[str, str] = {}
    layouts: dict[str, ConfigLayout] = {}
    checks: list[tuple[str, str]] = []
    for server in partial.route_servers:
        name = server.config_file
        layout = reuse.record.layouts[name]
        old = reuse.texts[name]
        stand_ins: list[ReusedMember] = []
        functions: dict[str, ImportFunction] = {}
        for asn, start, end, called in layout.blocks:
            if asn in reuse.changed or asn not in present:
                continue
            stand_ins.append(ReusedMember(asn, old[start:end], called))
            for function in called:
                if function not in layout.functions:
                    return None
                version, signature, body = layout.functions[function]
                functions[function] = ImportFunction(function, version, BirdText(signature),
                                                     BirdText(body))
        members: list[MemberPlan | ReusedMember] = [*server.members, *stand_ins]
        members.sort(key=lambda member: member.asn)
        # The templates see the stand-ins only through member_block (rsgen.render).
        merged = dataclasses.replace(server, members=tuple(members))  # type: ignore[arg-type]
        full = render_config(env, partial, merged, reused_functions=functions.values())
        part = render_config(env, partial, merged, reused_functions=functions.values(),
                             leave_out_reused=True)
        new_layout = layout_of(full)
        if new_layout is None or not _names_owned(part.text,
                                                  {m.asn for m in server.members}):
            return None
        rendered[name] = full.text
        layouts[name] = new_layout
        checks.append((name, part.text))
    if not _checked(checks, settings.tools.bird):
        return None
    return IncrementalConfigs(rendered, layouts,
                              tuple(member.asn for member in changed.members))


def layout_of(config: RenderedConfig) -> ConfigLayout | None:
    """A rendered config's layout for the record: its blocks' places and the import
    functions they call; None when its blocks are unknown (a template that does not render
    members through member_block)."""
    if config.blocks is None:
        return None
    functions = {f.name: (f.version, str(f.signature), str(f.body)) for f in config.functions}
    if any(name not in functions for block in config.blocks for name in block.functions):
        return None
    return ConfigLayout(tuple((block.asn, block.start, block.end, block.functions)
                              for block in config.blocks), functions)


def _names_owned(text: str, rendered: set[int]) -> bool:
    """Whether every name `text` (a config without its reused blocks) defines either holds
    no ASN (the shared part) or exactly one, of a member rendered here."""
    for match in _DEFINED.finditer(text):
        asns = _ASN_TOKEN.findall(match.group(1))
        if len(asns) > 1 or (asns and int(asns[0]) not in rendered):
            return False
    return True


def _checked(checks: Sequence[tuple[str, str]], bird: str) -> bool:
    """`bird -p` on each partial config, two at a time; False when BIRD rejects one (the
    full build that follows reports it with the whole config's line numbers)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(bird_parse, text, name, bird, keep_rejected=False)
                   for name, text in checks]
        ok = True
        for future in futures:
            try:
                future.result()
            except BirdRejected:
                ok = False
    return ok
