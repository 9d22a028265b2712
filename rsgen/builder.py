"""`rsgen build`: snapshot -> rendered, bird-checked configs, written atomically.

A build holds the exchange lock (rsgen.lock; build() takes it, build_stage never does, so
verify can run it under its own) and its configs land together: the default output
directory DIR/out/ is rsgen's own and is swapped whole (rsgen.atomic.DirectorySwap); a
directory given with -o may hold other files, so its configs are renamed in one after another
once all are written (rsgen.atomic.StagedFiles, which documents the microseconds-wide window).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rsgen import buildrecord, forked, incremental, provenance
from rsgen.atomic import DirectorySwap, StagedFiles, write_if_changed
from rsgen.birdcheck import bird_parse
from rsgen.buildrecord import ConfigLayout, InputHashes, MemberWarnings
from rsgen.errors import InvalidInput, NoSnapshot, OutputUnwritable, Problem, TemplatesUnusable
from rsgen.lock import directory_lock, exchange_lock
from rsgen.model import Config, Snapshot
from rsgen.plan import ExchangePlan, config_file, plan
from rsgen.policy import choose_as_sets, max_prefix_warnings
from rsgen.settings import Settings
from rsgen.snapshot import (
    read_checked_snapshot,
    read_meta,
    read_snapshot_files,
    recover_snapshot,
)
from rsgen.templatedir import default_templates_dir

if TYPE_CHECKING:
    from rsgen.refresher import RefreshReport
    from rsgen.render import RenderedConfig

CONFIG_MODE = 0o640  # BIRD configs may name secrets (BGP passwords): not world-readable


@dataclass(frozen=True)
class BuildResult:
    written: tuple[Path, ...]  # every config file, in route-server order
    changed: tuple[Path, ...] = field(default=())  # those whose bytes changed
    example_data: bool = False
    # About the snapshot's provenance (rsgen.provenance) and about PeeringDB limits the build
    # ignored (rsgen.policy.max_prefix_warnings, as "AS<asn>: ...").
    warnings: tuple[str, ...] = ()
    # The refresh build ran first for members the snapshot lacked (not offline); None: none.
    # Returned, not printed: the CLI says what it did.
    refreshed: RefreshReport | None = None
    # What the configs say, decided once (rsgen.plan), and the snapshot it was decided from:
    # verify reads both instead of working anything out again.
    plan: ExchangePlan | None = None
    snapshot: Snapshot | None = None
    # Nothing changed since the last build (rsgen.buildrecord): its configs stand as they
    # were checked; nothing was rendered or run through bird -p now (plan, snapshot: None).
    skipped: bool = False
    # An incremental build (rsgen.incremental): the members whose blocks were rendered and
    # checked anew, the others' reused from the last build (plan, snapshot: None). None: a
    # full build (or none at all).
    incremental: tuple[int, ...] | None = None
    # For the build record: each config's layout (None: not reusable next time) and each
    # member's warnings.
    layouts: Mapping[str, ConfigLayout] | None = None
    member_warnings: Mapping[int, MemberWarnings] = field(default_factory=dict)


PENDING_WARNING = "PENDING, every route it sends is rejected"


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


def render_all(config: Config, snapshot: Snapshot, templates: Path | None = None, *,
               settings: Settings) -> dict[str, str]:
    """Render every route server's config: {file name: text}. Pure apart from reading templates.

    BGP passwords come from `settings.passwords` (RS_PW_*), never from os.environ here."""
    from rsgen.render import render_plan

    return render_plan(plan(config, snapshot, settings), templates)


def build(directory: Path, output: Path | None = None, *, offline: bool = False,
          templates: Path | None = None, settings: Settings | None = None,
          full: bool = False) -> BuildResult:
    """Render and check all configs; write them only when every one passed `bird -p`.

    The command: reads the environment once (`settings`, default Settings.from_environment()),
    takes the exchange lock once, recovers an interrupted snapshot commit, and, without a
    snapshot (or with members missing from it) and not offline, refreshes those members first
    (rsgen.refresher.refresh_stage, under this same lock; its report is result.refreshed, and
    RefreshFailed is raised as by refresh). Then build_stage.

    With a build record that still vouches for the configs (rsgen.buildrecord): nothing
    changed -> nothing is done (result.skipped); only some members' own files changed -> only
    their blocks are rendered and checked (rsgen.incremental; result.incremental), unless
    `full`.

    A symlinked DIR/out is refused (InvalidInput); a symlinked -o directory is the operator's
    choice.
    """
    settings = Settings.from_environment() if settings is None else settings
    if output is None and (directory / "out").is_symlink():
        raise InvalidInput(f"{directory / 'out'}: is a symbolic link; rsgen replaces its own "
                           "output directory whole and never follows a link there",
                           hint="remove the link (rsgen creates out/), or name the directory "
                                "you mean with -o DIR")
    target = output or directory / "out"
    templates_dir = templates or default_templates_dir()
    with exchange_lock(directory, "build"):
        recover_snapshot(directory)
        # Before loading: a record that still holds vouches for these very member files,
        # which loaded and checked when it was written (their bytes are in `inputs`).
        inputs = buildrecord.input_hashes(directory, templates_dir, settings)
        record = _record(directory, target, inputs)
        unchanged = None if full else _unchanged(record, target, inputs)
        if unchanged is not None:
            return unchanged
        # Imported here, as rendering's below: a build with nothing changed needs neither
        # (JSON Schema, YAML and Jinja2: a third of a second at start-up).
        from rsgen.load import load_checked

        config = load_checked(directory)
        names = [config_file(server) for server in config.exchange.route_servers]
        if not full and inputs is not None and record is not None and \
                templates_dir == default_templates_dir():
            result = _incremental(directory, target, config, settings, inputs, record, names)
            if result is not None:
                _write_record(directory, target, inputs, names, result)
                return result
        checked: tuple[Snapshot, list[str]] | None = None
        refreshed: RefreshReport | None = None
        if read_meta(directory) is not None:
            checked = read_checked_snapshot(directory, config.exchange.policy,
                                            settings.snapshot_key)
        if not offline:
            wanted = None if checked is None else sorted(snapshot_gaps(config, checked[0]))
            if wanted is None or wanted:
                refreshed = refresh_stage(directory, config, settings, only=wanted)
                checked = None  # changed on disk: build_stage reads it again
                inputs = buildrecord.input_hashes(directory, templates_dir, settings)
        result = build_stage(directory, config, settings, output, templates=templates,
                             checked=checked)
        _write_record(directory, target, inputs, names, result)
    return dataclasses.replace(result, refreshed=refreshed)


def _write_record(directory: Path, target: Path, inputs: InputHashes | None,
                  names: Sequence[str], result: BuildResult) -> None:
    if _owned_by_rsgen(directory, target):
        # The configs are written: without a record, the next build is a full one.
        with contextlib.suppress(OSError):
            buildrecord.write_record(directory / buildrecord.RECORD_NAME, target, inputs,
                                     names, result.warnings, result.example_data,
                                     CONFIG_MODE, layouts=result.layouts,
                                     member_warnings=result.member_warnings)


def _record(directory: Path, target: Path,
            inputs: InputHashes | None) -> buildrecord.BuildRecord | None:
    """The last build's record, when it is about an output directory rsgen owns."""
    if inputs is None or not target.is_dir() or not _owned_by_rsgen(directory, target):
        return None
    if not _is_default_out(directory, target) and not (target / OWNED_MARKER).is_file():
        return None
    return buildrecord.read_record(directory / buildrecord.RECORD_NAME)


def _unchanged(record: buildrecord.BuildRecord | None, target: Path,
               inputs: InputHashes | None) -> BuildResult | None:
    """The last build's result when its record still vouches for every config in an output
    directory rsgen owns (rsgen.buildrecord); None: build. The configs' names are the
    record's: the same exchange.yml (in `inputs`) named the same route servers."""
    if record is None or inputs is None:
        return None
    names = record.configs
    if not buildrecord.still_valid(record, inputs.digest, target, names, CONFIG_MODE):
        return None
    return BuildResult(tuple(target / name for name in names), (), record.example_data,
                       record.warnings, skipped=True)


def _incremental(directory: Path, target: Path, config: Config, settings: Settings,
                 inputs: InputHashes, record: buildrecord.BuildRecord,
                 names: Sequence[str]) -> BuildResult | None:
    """An incremental build (rsgen.incremental), or None: build in full."""
    reuse = incremental.reusable(record, inputs, target, names, CONFIG_MODE)
    if reuse is None:
        return None
    # Every file read and hashed for provenance; only the changed members' data parsed.
    files = read_snapshot_files(directory, policy=config.exchange.policy,
                                only_members=reuse.changed)
    snapshot = files.snapshot
    changed = Config(config.exchange, incremental.changed_members(config, reuse))
    if snapshot_gaps(changed, snapshot):
        return None  # a full build refreshes them, or says what is missing
    warnings = provenance.enforce(files.statuses(settings.snapshot_key), files.root,
                                  settings.snapshot_key)
    member_warnings = {asn: found for asn, found in record.member_warnings.items()
                       if asn not in reuse.changed}
    member_warnings.update(_member_warnings(changed, snapshot))
    done = incremental.render_and_check(config, changed, snapshot, settings, reuse)
    if done is None:
        return None
    written, changed_files = _write(directory, target, done.rendered)
    return BuildResult(written, changed_files, snapshot.example,
                       tuple(_ordered_warnings(warnings, config, member_warnings)),
                       incremental=done.rendered_members, layouts=done.layouts,
                       member_warnings=member_warnings)


def _member_warnings(config: Config, snapshot: Snapshot) -> dict[int, MemberWarnings]:
    """Each member's warnings: PeeringDB limits the build ignores, and pending."""
    policy = config.exchange.policy
    found: dict[int, MemberWarnings] = {}
    for member in config.members:
        limits = tuple(f"AS{member.asn}: {warning}" for warning in max_prefix_warnings(
            member, snapshot.peeringdb.get(member.asn), policy))
        pending = snapshot.irr[member.asn].pending
        if limits or pending:
            found[member.asn] = (limits, (f"AS{member.asn}: {PENDING_WARNING}: {pending}",)
                                 if pending else ())
    return found


def _ordered_warnings(snapshot_warnings: Sequence[str], config: Config,
                      member_warnings: Mapping[int, MemberWarnings]) -> list[str]:
    """The snapshot's warnings, then every member's limit warnings, then every pending one,
    each in member order (as a full build has always said them)."""
    ordered = list(snapshot_warnings)
    for kind in (0, 1):
        ordered += [warning for member in config.members
                    for warning in member_warnings.get(member.asn, ((), ()))[kind]]
    return ordered


def refresh_stage(directory: Path, config: Config, settings: Settings, *,
                  only: Sequence[int] | None = None) -> RefreshReport:
    """rsgen.refresher.refresh_stage, imported when a build refreshes: it brings httpx, a
    quarter of a second to import, which an offline build never needs."""
    from rsgen.refresher import refresh_stage as stage

    return stage(directory, config, settings, only=only)


def build_stage(directory: Path, config: Config, settings: Settings,
                output: Path | None = None, *, templates: Path | None = None,
                checked: tuple[Snapshot, list[str]] | None = None) -> BuildResult:
    """build() from the snapshot as it is (offline), under the exchange lock its caller holds
    (build, verify); never locks, never refreshes, never reads the environment.

    The snapshot must be plausible for the exchange's policy and vouched for by its
    provenance (rsgen.provenance.enforce, with settings.snapshot_key): NoSnapshot otherwise.
    `checked` is read_checked_snapshot's answer when the caller has read it already.
    """
    policy = config.exchange.policy
    snapshot, warnings = checked or read_checked_snapshot(directory, policy,  # or NoSnapshot
                                                          settings.snapshot_key)
    gaps = snapshot_gaps(config, snapshot)
    if gaps:
        problems = tuple(Problem(f"AS{asn}: {why}", f"members/AS{asn}.yml")
                         for asn, why in sorted(gaps.items()))
        raise NoSnapshot(f"the snapshot is missing or out of date for {len(gaps)} "
                         "member(s)", hint="run rsgen refresh, or build without --offline",
                         problems=problems)
    member_warnings = _member_warnings(config, snapshot)
    warnings = _ordered_warnings(warnings, config, member_warnings)
    exchange_plan = plan(config, snapshot, settings)
    rendered, layouts = _render_and_check(exchange_plan, templates, settings.tools.bird)
    written, changed = _write(directory, output or directory / "out", rendered)
    return BuildResult(written, changed, snapshot.example, tuple(warnings),
                       plan=exchange_plan, snapshot=snapshot, layouts=layouts,
                       member_warnings=member_warnings)


def _write(directory: Path, target: Path, rendered: dict[str, str],
           ) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """Every config written (own directory: swapped whole; else staged), and the changed."""
    try:
        if _owned_by_rsgen(directory, target):
            # Only a -o directory needs the marker: DIR/out is rsgen's by its place.
            written, changed = _replace_own(target, rendered,
                                            marker=not _is_default_out(directory, target))
        else:
            written, changed = _replace_in(target, rendered)
    except OSError as exc:  # a place that cannot be written: say which, keep the old files
        raise OutputUnwritable(
            f"cannot write the configs to {target}: {exc.strerror or exc}",
            hint="choose a writable output directory with -o; the previous configs there "
                 "are as they were") from exc
    return written, changed


# bird -p runs at most this many at once: the development machine and small CI runners
# have two cores, and each BIRD holds a whole config's parse in memory.
PARALLEL_CHECKS = 2


def _render_and_check(exchange_plan: ExchangePlan, templates: Path | None, bird: str,
                      ) -> tuple[dict[str, str], dict[str, ConfigLayout] | None]:
    """Every config rendered and accepted by `bird -p` (BirdRejected for the first one in
    route-server order that is not), with each config's layout (None when one has none).

    The second half of the route servers is rendered and checked in a forked child
    (rsgen.forked) while this process does the first half; each check here starts as soon
    as its config is rendered, so the next config renders while BIRD reads this one. Without
    the child's answer, this process does its half too."""
    servers = [server.name for server in exchange_plan.route_servers]
    mine, theirs = servers[:(len(servers) + 1) // 2], servers[(len(servers) + 1) // 2:]
    child = forked.start(lambda: _checked_configs(exchange_plan, templates, bird, theirs,
                                                  keep_rejected=False)) if theirs else None
    try:
        done = _checked_configs(exchange_plan, templates, bird, mine if child else servers)
        if child is not None:
            rest = child.result()
            done += rest if rest is not None else _checked_configs(exchange_plan, templates,
                                                                   bird, theirs)
    except BaseException:
        if child is not None:
            child.abandon()
        raise
    rendered = {name: text for name, text, _ in done}
    layouts = {name: layout for name, _, layout in done if layout is not None}
    return rendered, layouts if len(layouts) == len(done) else None


def _checked_configs(exchange_plan: ExchangePlan, templates: Path | None, bird: str,
                     servers: Sequence[str], *, keep_rejected: bool = True,
                     ) -> list[tuple[str, str, ConfigLayout | None]]:
    """The configs of `servers` (names), rendered and accepted by `bird -p`, in order (a
    child keeps no rejected config: this process checks it again and keeps it)."""
    done: list[tuple[str, str, ConfigLayout | None]] = []
    wanted = dataclasses.replace(exchange_plan, route_servers=tuple(
        server for server in exchange_plan.route_servers if server.name in servers))
    with ThreadPoolExecutor(max_workers=PARALLEL_CHECKS) as pool:
        checks: list[Future[None]] = []
        for config in _render(wanted, templates):
            done.append((config.name, config.text, incremental.layout_of(config)))
            checks.append(pool.submit(bird_parse, config.text, config.name, bird,
                                      keep_rejected=keep_rejected))
        for check in checks:
            check.result()
    return done


def _render(exchange_plan: ExchangePlan, templates: Path | None) -> Iterator[RenderedConfig]:
    """render_configs, with a customised templates directory's faults as usage errors."""
    import jinja2

    from rsgen.render import render_configs

    try:
        yield from render_configs(exchange_plan, templates)
    except jinja2.TemplateNotFound as exc:
        raise TemplatesUnusable(
            f"the templates directory {templates} lacks {exc.name}",
            hint="start from a copy of rsgen's own templates (rsgen/templates/ in the "
                 "installed package) and keep every file") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplatesUnusable(
            f"{exc.filename or exc.name}:{exc.lineno}: template syntax error: {exc.message}",
            hint="fix the template (Jinja2 syntax)") from None


# Marks an output directory that rsgen created and swaps whole on every build.
OWNED_MARKER = ".rsgen-output"


def _owned_by_rsgen(directory: Path, target: Path) -> bool:
    """Whether `target` may be swapped whole: rsgen's own out/, a directory rsgen creates now,
    or one it created before (it holds the marker). A symlink, a mount point, or a directory
    with other owners (say -o /etc/bird) is never swapped: its configs are staged and renamed
    in one by one (StagedFiles)."""
    if target.is_symlink():
        return False  # it points at a directory rsgen does not own
    if not target.exists():
        return True
    if not target.is_dir() or target.is_mount():
        return False
    return _is_default_out(directory, target) or (target / OWNED_MARKER).is_file()


def _is_default_out(directory: Path, target: Path) -> bool:
    own = directory / "out"
    return not own.is_symlink() and _same_directory(target, own)


def _same_directory(first: Path, second: Path) -> bool:
    try:
        return first.samefile(second)
    except OSError:
        return first.resolve() == second.resolve()


def _replace_own(out: Path, rendered: dict[str, str], *, marker: bool,
                 ) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """Swap rsgen's own output directory whole: readers see all old or all new configs."""
    swap = DirectorySwap(out)
    staging = swap.begin()
    changed = []
    try:
        for name, text in rendered.items():
            if write_if_changed(staging / name, text, mode=CONFIG_MODE):
                changed.append(out / name)
        marked = marker and write_if_changed(
            staging / OWNED_MARKER,
            "This directory is written by rsgen build and replaced whole on every build.\n")
        if changed or marked:
            swap.commit()
        else:
            swap.abort()  # nothing to do: out/ keeps its inode and every mtime
    except BaseException:
        swap.abort()
        raise
    return tuple(out / name for name in rendered), tuple(changed)


def _replace_in(out: Path, rendered: dict[str, str]) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """Replace configs in a directory rsgen does not own: write all, then rename all."""
    out.mkdir(parents=True, exist_ok=True)
    with directory_lock(out):
        staged = StagedFiles(out)
        staged.begin()
        try:
            changed = [out / name for name, text in rendered.items()
                       if staged.write(name, text, mode=CONFIG_MODE)]
            staged.commit()
        except BaseException:
            staged.abort()
            raise
    return tuple(out / name for name in rendered), tuple(changed)
