"""`rsgen build`: snapshot -> rendered, bird-checked configs, written atomically."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rsgen.atomic import write_if_changed
from rsgen.birdcheck import bird_parse
from rsgen.errors import NoSnapshot, Problem
from rsgen.load import load_checked
from rsgen.model import Config, Snapshot
from rsgen.policy import choose_as_sets
from rsgen.render import (
    default_templates_dir,
    make_environment,
    render_route_server,
    template_context,
)
from rsgen.snapshot import read_meta, read_snapshot


@dataclass(frozen=True)
class BuildResult:
    written: tuple[Path, ...]  # every config file, in route-server order
    changed: tuple[Path, ...] = field(default=())  # those whose bytes changed
    example_data: bool = False


def snapshot_gaps(config: Config, snapshot: Snapshot) -> dict[int, str]:
    """Members the snapshot cannot serve, and why: no data, or data for other IRR objects.

    A member file whose as_set changed since the last refresh must not be built from the old
    expansion: the reviewer would see the new AS-SET and get the old filter.
    """
    gaps = {}
    for member in config.members:
        irr = snapshot.irr.get(member.asn)
        if irr is None:
            gaps[member.asn] = "no IRR data"
            continue
        wanted = choose_as_sets(member, snapshot.peeringdb.get(member.asn)).objects
        if irr.objects != wanted:
            gaps[member.asn] = (f"IRR data is for {' '.join(map(str, irr.objects))}, "
                                f"but the member now uses {' '.join(map(str, wanted))}")
    return gaps


def render_all(config: Config, snapshot: Snapshot, templates: Path | None = None,
               ) -> dict[str, str]:
    """Render every route server's config: {file name: text}. Pure apart from reading templates."""
    env = make_environment(templates or default_templates_dir())
    return {f"{server.name}.conf": render_route_server(env, template_context(config, snapshot,
                                                                             server))
            for server in config.exchange.route_servers}


def build(directory: Path, output: Path | None = None, *, offline: bool = False,
          templates: Path | None = None, bird: str = "bird",
          refresh_missing: Callable[[list[int] | None], None] | None = None) -> BuildResult:
    """Render and check all configs; write them only when every one passed `bird -p`.

    Without a snapshot (or with members missing from it) and not offline, `refresh_missing`
    is called first with the ASNs to fetch (None: everything).
    """
    config = load_checked(directory)
    if not offline and refresh_missing is not None:
        if read_meta(directory) is None:
            refresh_missing(None)
        else:
            gaps = snapshot_gaps(config, read_snapshot(directory))
            if gaps:
                refresh_missing(sorted(gaps))
    snapshot = read_snapshot(directory)
    gaps = snapshot_gaps(config, snapshot)
    if gaps:
        problems = tuple(Problem(f"AS{asn}: {why}", f"members/AS{asn}.yml")
                         for asn, why in sorted(gaps.items()))
        raise NoSnapshot(f"the snapshot is missing or out of date for {len(gaps)} member(s)",
                         hint="run rsgen refresh, or build without --offline",
                         problems=problems)
    rendered = render_all(config, snapshot, templates)
    for name, text in rendered.items():
        bird_parse(text, name, bird)
    out = output if output is not None else directory / "out"
    written, changed = [], []
    for name, text in rendered.items():
        path = out / name
        written.append(path)
        if write_if_changed(path, text, mode=0o640):
            changed.append(path)
    return BuildResult(tuple(written), tuple(changed), snapshot.example)
