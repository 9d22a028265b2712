"""The command line: thin wrappers over rsgen's library functions, and one error boundary.

click is used rather than argparse for its per-command options and its test runner. The
environment (RSGEN_PEERINGDB_URL, RSGEN_IRR_HOST, RSGEN_SNAPSHOT_KEY, PEERINGDB_API_KEY, RS_PW_*)
is read by rsgen.settings.Settings.from_environment once per command (_settings), with the
command-line options winning, and passed down as a value.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

import rsgen
from rsgen.envelope import JsonRun, error_json, problem_json
from rsgen.errors import ExitCode, Problem, RsgenError
from rsgen.values import printable

if TYPE_CHECKING:
    from rsgen.settings import Settings

log = logging.getLogger("rsgen")
F = TypeVar("F", bound=Callable[..., Any])


def _directory_option(function: F) -> F:
    return click.option("-C", "directory", type=click.Path(file_okay=False, path_type=Path),
                        default=Path(), show_default=True,
                        help="The exchange directory (exchange.yml, members/, snapshot/).")(
                            function)


def _source_options(function: F) -> F:
    # No click envvar: Settings.from_environment reads RSGEN_PEERINGDB_URL and RSGEN_IRR_HOST,
    # and an option given here overrides them (_settings).
    function = click.option("--peeringdb-url",
                            help="PeeringDB API base URL [env RSGEN_PEERINGDB_URL].")(function)
    function = _mirror_option(function)
    return click.option("--irr-host", metavar="HOST[:PORT]",
                        help="IRR whois server for bgpq4 [env RSGEN_IRR_HOST].")(function)


def _mirror_option(function: F) -> F:
    return click.option("--peeringdb-mirror", metavar="PATH",
                        help="Read PeeringDB from this `peeringdb sync` SQLite database "
                             "instead of the API [env RSGEN_PEERINGDB_MIRROR].")(function)


def _settings(peeringdb_url: str | None = None, irr_host: str | None = None,
              peeringdb_mirror: str | None = None) -> Settings:
    """The environment, read once for this command, with its options winning (an empty option
    counts as not given, as an empty variable does)."""
    from rsgen.settings import Settings

    return Settings.from_environment(peeringdb_url=peeringdb_url or None,
                                     irr_host=irr_host or None,
                                     peeringdb_mirror=peeringdb_mirror or None)


# The --json envelope of this run's command (rsgen.envelope), when it was asked for.
_json_run: JsonRun | None = None


def _json_option(command_name: str) -> Callable[[F], F]:
    """--json [FILE]: one versioned JSON document (rsgen.envelope) on stdout, or in FILE; with
    stdout taken by it, the human lines go to stderr."""
    def remember(context: click.Context, parameter: click.Parameter,
                 value: str | None) -> None:
        global _json_run
        if value is not None:
            _json_run = JsonRun(command_name, Path(value))

    def decorator(function: F) -> F:
        return click.option("--json", "json_target", is_flag=False, flag_value="-",
                            default=None, metavar="[FILE]", expose_value=False, is_eager=True,
                            callback=remember,
                            help="Also give the outcome as one JSON document on stdout "
                                 "(human lines then go to stderr), or in FILE.")(function)
    return decorator


def _echo(text: str, *, err: bool = False) -> None:
    """The output boundary: every line rsgen prints may carry untrusted text (member names,
    PeeringDB, IRR, bgpq4's stderr), so terminal controls and bidi overrides are shown as
    escapes (rsgen.values.printable), never sent raw. Under --json on stdout, to stderr."""
    click.echo(printable(text), err=err or (_json_run is not None and _json_run.to_stdout))


# -q: status lines and progress are left out; warnings, errors, documents and what a command
# prints as its product (a diff, an export) are not.
_quiet = False


def _say(text: str) -> None:
    """A status line on stdout ("written", "ok: ..."), left out under -q."""
    if not _quiet:
        _echo(text)


def _set_quiet(context: click.Context, parameter: click.Parameter, value: bool) -> None:
    global _quiet
    _quiet = _quiet or value


class _PlainProgress:
    """Progress for a log (stderr not a terminal, as in CI): a line at every tenth of the
    work, and at least every PLAIN_PROGRESS_SECONDS, so a long run is never silent."""

    PLAIN_PROGRESS_SECONDS = 30.0

    def __init__(self, enabled: bool) -> None:
        import time

        self.enabled = enabled
        self._clock = time.monotonic
        self._started = self._last = self._clock()
        self._tenths: dict[str, int] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled or total <= 0 or _quiet:
            return
        tenth = done * 10 // total
        now = self._clock()
        if tenth > self._tenths.get(stage, 0) or now - self._last >= self.PLAIN_PROGRESS_SECONDS:
            self._tenths[stage] = tenth
            self._last = now
            _echo(f"{stage}: {done}/{total} ({done * 100 // total} %), "
                  f"{now - self._started:.0f} s", err=True)


def _warn(text: str) -> None:
    """A "warning:" line on stderr, and in the --json envelope's warnings."""
    _echo(f"warning: {text}", err=True)
    if _json_run is not None:
        _json_run.warnings.append(text)


def _json_result(result: dict[str, Any]) -> None:
    """The command's findings for the envelope (kept for a failure that follows, too)."""
    if _json_run is not None:
        _json_run.result = result


def _write_envelope(exit_code: int, errors: list[dict[str, Any]] | None = None) -> None:
    if _json_run is None:
        return
    document = _json_run.document(exit_code, errors)
    if _json_run.to_stdout:
        click.echo(document, nl=False)
        return
    from rsgen.atomic import write_atomic

    try:
        write_atomic(_json_run.target, document)
    except OSError as exc:
        _echo(f"rsgen: cannot write the JSON document to {_json_run.target}: "
              f"{exc.strerror or exc}", err=True)
        sys.exit(int(ExitCode.USAGE))


class _PrintableFormatter(logging.Formatter):
    """Log records through the same scrub: the message as one line, tracebacks line by line."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return "\n".join(printable(line) for line in super().formatException(ei).split("\n"))

    def formatStack(self, stack_info: str) -> str:
        return "\n".join(printable(line) for line in super().formatStack(stack_info).split("\n"))


def _fail(error: RsgenError) -> None:
    """Print a user's error as short located lines on stderr, then exit with its code."""
    for problem in error.problems:
        _echo(f"error: {problem}", err=True)
    for detail in getattr(error, "details", ()):
        _echo(f"error: {detail}", err=True)
    _echo(f"rsgen: {error}", err=True)
    _write_envelope(int(error.exit_code), error_json(error))
    sys.exit(int(error.exit_code))


@click.group()
@click.version_option(rsgen.__version__, prog_name="rsgen")
@click.option("-v", "--verbose", is_flag=True, help="Log debugging detail to stderr.")
@click.option("-q", "--quiet", is_flag=True,
              help="Only warnings, errors and what the command produces.")
def cli(verbose: bool, quiet: bool) -> None:
    """Generate BIRD 2 route-server configs from member YAML, PeeringDB and IRR data."""
    global _json_run, _quiet
    _json_run = None  # one command per run; a test's CliRunner may run several
    _quiet = quiet
    handler = logging.StreamHandler()
    handler.setFormatter(_PrintableFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    _set_verbose(verbose)


def _set_verbose(verbose: bool) -> None:
    """-v: rsgen's own steps (bgpq4 command lines and timings, counts), not the libraries'
    (the HTTP client would log every request header)."""
    if verbose:
        logging.getLogger("rsgen").setLevel(logging.DEBUG)


def _verbose_after_the_command(context: click.Context, parameter: click.Parameter,
                               value: bool) -> None:
    _set_verbose(value)


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--name", default="New Internet Exchange", show_default=True,
              help="The exchange's name in exchange.yml.")
def init(directory: Path, name: str) -> None:
    """Start an exchange in DIRECTORY: a commented exchange.yml, an empty members/, a
    .gitignore and an empty snapshot; never overwrites."""
    from rsgen.scaffold import init_exchange

    result = init_exchange(directory, name=name)
    for path in result.written:
        _say(f"{path}: written")
    for path in result.kept:
        _say(f"{path}: already there, left alone: have it ignore /out/, /.rsgen.lock and "
              f".*.rsgen-*/")
    _say(f"next: replace the documentation addresses in {directory / 'exchange.yml'}, add "
          f"members/AS<asn>.yml files, then rsgen check, rsgen refresh and rsgen build")


@cli.command()
@_directory_option
@_json_option("check")
def check(directory: Path) -> None:
    """Validate exchange.yml and members/*.yml, and snapshot/ when there is one (no network)."""
    import os

    from rsgen.consistency import consistency_warnings
    from rsgen.load import load_checked
    from rsgen.snapshot import SNAPSHOT_DIR, read_checked_snapshot

    key = _settings().snapshot_key
    config = load_checked(directory)
    for doubt in consistency_warnings(config):
        _warn(str(doubt))
    _say(f"ok: {config.exchange.name}: {len(config.members)} members, "
          f"{len(config.exchange.route_servers)} route servers")
    result: dict[str, Any] = {
        "exchange": config.exchange.name, "members": len(config.members),
        "route_servers": [server.name for server in config.exchange.route_servers],
        "snapshot": None}
    _json_result(result)
    if os.path.lexists(directory / SNAPSHOT_DIR):
        # As a build reads it: damaged, implausible or unvouched-for files exit 6 here.
        snapshot, warnings = read_checked_snapshot(directory, config.exchange.policy, key)
        for warning in warnings:
            _warn(warning)
        signed = "signed with RSGEN_SNAPSHOT_KEY" if key is not None else "not modified"
        _say(f"ok: snapshot: IRR data for {len(snapshot.irr)} members, {signed}"
              + (" (provenance warnings above)" if warnings else ""))
        result["snapshot"] = {"members_with_irr_data": len(snapshot.irr),
                              "signed": key is not None, "provenance_warnings": len(warnings)}
    _write_envelope(0)


@cli.command()
@_directory_option
@_source_options
@click.option("--accept-shrink", "accept_shrink", metavar="AS1,AS2", multiple=True,
              help="Apply these members' new IRR data even where a prefix or origin list "
                   "shrinks by more than irr.max_shrink_percent, or to empty; 'never-via' "
                   "does the same for PeeringDB's never-via-route-servers list.")
@click.option("--members", "member_list", metavar="AS1,AS2",
              help="Refresh only these members (an onboarding pull request then changes only "
                   "their snapshot files); the never-via list and other members stay as they "
                   "are.")
@_json_option("refresh")
def refresh(directory: Path, peeringdb_url: str | None, irr_host: str | None,
            accept_shrink: tuple[str, ...], member_list: str | None,
            peeringdb_mirror: str | None) -> None:
    """Fetch PeeringDB and IRR data into snapshot/ (one file per member and source)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from rsgen.guard import parse_asn_list
    from rsgen.load import load_checked
    from rsgen.refresher import RefreshFailed
    from rsgen.refresher import refresh as run_refresh

    settings = _settings(peeringdb_url, irr_host, peeringdb_mirror)
    accepted: frozenset[int] = frozenset()
    never_via = False
    for text in accept_shrink:
        if text.strip().lower() == "never-via":
            never_via = True
            continue
        try:
            accepted |= parse_asn_list(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--accept-shrink") from exc
    members = {m.asn for m in load_checked(directory).members}
    only: list[int] | None = None
    if member_list is not None:
        try:
            only = sorted(parse_asn_list(member_list))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--members") from exc
        strangers = [asn for asn in only if asn not in members]
        if strangers or not only:
            raise click.BadParameter(
                "no member file for " + ", ".join(f"AS{a}" for a in strangers)
                if strangers else "name at least one member", param_hint="--members")
    total = len(members) if only is None else len(only)
    console = Console(stderr=True)
    plain = _PlainProgress(enabled=not console.is_terminal)
    stage = "IRR expansions (bgpq4)"
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=True,
                  disable=_quiet or not console.is_terminal) as bar:
        task = bar.add_task(stage, total=total)
        finished = 0

        def advance(_asn: int) -> None:
            nonlocal finished
            finished += 1
            bar.advance(task)
            plain(stage, finished, total)

        try:
            report = run_refresh(directory, only=only, accept_shrink=accepted,
                                 accept_never_via_shrink=never_via,
                                 progress=advance, settings=settings)
        except RefreshFailed as failed:
            _print_refresh(failed.report)
            _json_result(_refresh_json(failed.report, directory))
            raise
    _print_refresh(report)
    _json_result(_refresh_json(report, directory))
    _write_envelope(0)


def _print_refresh(report: Any) -> list[str]:
    """Print a refresh's warnings and summary; the warning lines, so build need not repeat."""
    warnings = [*getattr(report, "notices", ())]
    warnings += [f"AS{asn}: {warning}" for asn, warning in sorted(report.warnings.items())]
    for warning in warnings:
        _warn(warning)
    never_via = getattr(report, "never_via_written", None)
    listed = "" if never_via is None else \
        f"; PeeringDB lists {never_via} network(s) as never via route servers"
    _say(f"refreshed {len(report.updated)} member(s); "
          f"{len(report.changed_files)} snapshot file(s) changed{listed}")
    pruned = getattr(report, "pruned", ())
    if pruned:
        _say(f"removed the snapshot data of {len(pruned)} former member(s): "
              + ", ".join(f"AS{asn}" for asn in pruned))
    cost = getattr(report, "irr_cost", None)
    if cost:  # a summary, like the line above: stdout (stderr is for what needs a look)
        _say(cost)
    return [f"warning: {warning}" for warning in warnings]


def _refresh_json(report: Any, directory: Path) -> dict[str, Any]:
    """A refresh report for the envelope: ASNs as numbers, files relative to the exchange."""
    def relative(path: Path) -> str:
        try:
            return str(path.relative_to(directory))
        except ValueError:
            return str(path)

    return {"updated": sorted(report.updated),
            "failed": {f"AS{asn}": why for asn, why in sorted(report.failed.items())},
            "held_for_review": sorted(report.shrunk),
            "changed_files": sorted(relative(p) for p in report.changed_files),
            "pruned": sorted(report.pruned),
            "pending": sorted(report.pending),
            "peeringdb_error": report.peeringdb_error,
            "never_via_written": report.never_via_written,
            "never_via_kept": report.never_via_kept,
            "hints": list(report.hints),
            "irr_cost": report.irr_cost}


@cli.command()
@_directory_option
@_source_options
@click.option("-o", "output", type=click.Path(file_okay=False, path_type=Path),
              help="Output directory [default: DIR/out].")
@click.option("--offline", is_flag=True, help="Use the snapshot only; never refresh.")
@click.option("--templates", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="A customised copy of rsgen's templates/ directory.")
@click.option("--full", is_flag=True,
              help="Render and check every config whole, even when the last build's record "
                   "allows reusing it or the unchanged members' parts of it.")
@_json_option("build")
def build(directory: Path, peeringdb_url: str | None, irr_host: str | None,
          output: Path | None, offline: bool, templates: Path | None,
          peeringdb_mirror: str | None, full: bool) -> None:
    """Render one BIRD 2 config per route server and check it with `bird -p`."""
    from rsgen.builder import build as run_build
    from rsgen.refresher import RefreshFailed

    refreshing = "no snapshot data for some members: refreshing first"
    try:
        result = run_build(directory, output, offline=offline, templates=templates,
                           settings=_settings(peeringdb_url, irr_host, peeringdb_mirror),
                           full=full)
    except RefreshFailed as failed:  # the build's own refresh: say what it kept, as refresh does
        click.echo(refreshing, err=True)
        _print_refresh(failed.report)
        _json_result({"configs": [], "example_data": False,
                      "refreshed": _refresh_json(failed.report, directory)})
        raise
    said: list[str] = []
    if result.refreshed is not None:
        click.echo(refreshing, err=True)
        said = _print_refresh(result.refreshed)
    for warning in result.warnings:
        member, _, text = warning.partition(": ")
        if not any(f"{member}: " in line and text in line for line in said):  # said already
            _warn(warning)
    if result.skipped:
        _say("nothing changed since the last build (inputs and configs as it checked them): "
             "render and bird -p skipped")
    if result.incremental is not None:
        rendered = ", ".join(f"AS{asn}" for asn in result.incremental) or "none"
        _say(f"incremental build: {len(result.incremental)} member(s) changed since the last "
             f"build ({rendered}): only their parts rendered and checked, every other "
             "member's part kept as the last build checked it (rsgen build --full does all)")
    for path in result.written:
        state = "written" if path in result.changed else "unchanged"
        checked = "checked by the last build" if result.skipped else \
            "bird -p ok on the changed parts" if result.incremental is not None else "bird -p ok"
        _say(f"{path}: {state} ({checked})")
    if result.example_data:
        click.echo("note: built from the bundled EXAMPLE snapshot; do not deploy", err=True)
    _json_result(_build_json(result, directory))
    _write_envelope(0)


def _build_json(result: Any, directory: Path) -> dict[str, Any]:
    import hashlib

    # A build with nothing changed has no plan: its configs are named <route server>.conf.
    servers = [s.name for s in result.plan.route_servers] if result.plan is not None \
        else [path.stem for path in result.written]
    configs = []
    for index, path in enumerate(result.written):
        configs.append({
            "route_server": servers[index] if index < len(servers) else None,
            "path": str(path), "changed": path in result.changed,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
    kind = "skipped" if result.skipped else "full" if result.incremental is None \
        else "incremental"
    return {"configs": configs, "example_data": result.example_data,
            "refreshed": None if result.refreshed is None
            else _refresh_json(result.refreshed, directory),
            # What was rendered and bird-checked now (rsgen.incremental, rsgen.buildrecord).
            "build": kind,
            "rendered_members": None if result.incremental is None
            else [f"AS{asn}" for asn in result.incremental]}


@cli.command()
@_directory_option
@click.option("-o", "output", type=click.Path(file_okay=False, path_type=Path),
              help="Where to build the configs under test [default: a temporary directory].")
@click.option("--members", "member_list", metavar="AS1,AS2",
              help="Simulate only these members (ASNs, with or without 'AS').")
@click.option("--sample", type=click.IntRange(min=1), metavar="N",
              help="Simulate N members evenly spread over the exchange.")
@click.option("--keep", is_flag=True,
              help="Keep the lab up for inspection until Enter, and keep its files.")
@click.option("--templates", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="A customised copy of rsgen's templates/ directory.")
@_json_option("verify")
def verify(directory: Path, output: Path | None, member_list: str | None, sample: int | None,
           keep: bool, templates: Path | None) -> None:
    """Run the configs in real BIRD on an emulated peering LAN and test every policy rule."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from rsgen.errors import VerifyFailed
    from rsgen.verification.report import print_table, to_json
    from rsgen.verification.run import VerifyOptions
    from rsgen.verification.run import verify as run_verify

    if member_list and sample:
        raise click.UsageError("--members and --sample exclude each other")
    asns = None
    if member_list:
        try:
            asns = tuple(int(a.strip().upper().removeprefix("AS"))
                         for a in member_list.split(",") if a.strip())
        except ValueError as exc:
            raise click.BadParameter(f"not a list of ASNs: {member_list}") from exc
    _ensure_lab_privileges()
    to_stderr = _json_run is not None and _json_run.to_stdout
    # In a pipe or a log, lines as long as they are: rich would wrap them at 80 columns.
    console = Console(stderr=to_stderr, soft_wrap=True, width=None if (
        sys.stderr if to_stderr else sys.stdout).isatty() else 1000)
    options = VerifyOptions(directory, output, asns, sample, keep, templates)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=True,
                  disable=_quiet or not console.is_terminal) as bar:
        tasks: dict[str, Any] = {}
        plain = _PlainProgress(enabled=not console.is_terminal)

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)
            plain(stage, done, total)

        report = run_verify(options, progress, settings=_settings())
    if not (_quiet and report.ok):  # a failure's table is never left out
        print_table(report, console)
    _json_result(to_json(report))
    if not report.ok:
        raise VerifyFailed(f"{sum(not o.ok for o in report.outcomes)} policy check(s) did not "
                           "behave as the exchange's policy promises",
                           hint="see MISMATCH lines above; a template or the snapshot is wrong")
    _write_envelope(0)


@cli.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--socket", "socket_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("/run/bird/bird.ctl"), show_default=True,
              help="BIRD's control socket.")
@click.option("--target", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The config file BIRD runs (its -c file), e.g. /etc/bird/bird.conf.")
@click.option("--timeout", type=click.IntRange(min=31), default=150, show_default=True,
              help="Seconds after which BIRD undoes the change by itself unless confirmed.")
@click.option("--health-timeout", type=click.FloatRange(min=0),
              help="Seconds the sessions may take to come back [default: --timeout - 30].")
@click.option("--max-missing-percent", type=click.FloatRange(0, 100), default=0.0,
              show_default=True,
              help="Share of the sessions Established before that may stay down.")
@click.option("--max-route-drop-percent", type=click.FloatRange(0, 100), default=50.0,
              show_default=True, help="How far a session's imported routes may drop.")
@click.option("--max-route-growth-percent", type=click.FloatRange(min=0),
              help="How far a session's imported routes may grow [default: no bound].")
@click.option("--commit", help="The exchange repository's commit, recorded for --status.")
@click.option("--other-route-server", is_flag=True,
              help="Allow CONFIG to name another route server than TARGET does.")
@click.option("--rollback", is_flag=True, help="Deploy TARGET.previous again.")
@click.option("--status", "show_status", is_flag=True, help="Show what is deployed.")
@click.option("--dry-run", is_flag=True,
              help="Only say what CONFIG would reload (bird -p; BIRD is not asked).")
@_json_option("deploy")
def deploy(config: Path | None, socket_path: Path, target: Path, timeout: int,
           health_timeout: float | None, max_missing_percent: float,
           max_route_drop_percent: float, max_route_growth_percent: float | None,
           commit: str | None, other_route_server: bool, rollback: bool, show_status: bool,
           dry_run: bool) -> None:
    """Load CONFIG into the running BIRD safely: confirmed if healthy, undone otherwise."""
    from rsgen.deployer.health import HealthPolicy
    from rsgen.deployer.run import (
        TIMEOUT_MARGIN_SECONDS,
        DeployFailed,
        DeployOptions,
        DeployReport,
        preview,
        shared_policy_note,
        status,
    )
    from rsgen.deployer.run import deploy as run_deploy
    from rsgen.deployer.run import rollback as run_rollback
    from rsgen.deployer.state import check_commit

    if sum((config is not None, rollback, show_status)) != 1:
        raise click.UsageError("give CONFIG, --rollback or --status (one of them)")
    if dry_run and config is None:
        raise click.UsageError("--dry-run needs CONFIG")
    if show_status:
        found = status(target, socket_path if socket_path.exists() else None, _settings())
        _json_result(found)
        for key, value in found.items():
            _echo(f"{key}: {json.dumps(value, sort_keys=True)}")
        _write_envelope(0)
        return
    if health_timeout is None:
        health_timeout = float(timeout - TIMEOUT_MARGIN_SECONDS)
    options = DeployOptions(socket_path, target, timeout,
                            HealthPolicy(health_timeout, max_missing_percent,
                                         max_route_drop_percent, max_route_growth_percent),
                            check_commit(commit), other_route_server)

    def show(report: DeployReport) -> None:
        _json_result(report.to_json())
        for note in report.notes:
            _echo(f"note: {note}", err=True)
        if report.impact is not None:
            _say(f"impact: {report.impact.summary()}")
            warning = shared_policy_note(report.impact)
            if warning:
                _warn(warning)
        if report.health is not None:
            _say(f"health: {report.health.checked} sessions checked, "
                  f"{len(report.health.missing)} missing after {report.health.seconds:.0f} s")
        _say(f"{report.target}: {report.action} (sha256 {report.sha256[:12]})")

    if dry_run:
        assert config is not None
        show(preview(config, target, _settings()))
        _write_envelope(0)
        return
    try:
        report = run_rollback(options, _settings()) if rollback else \
            run_deploy(config, options, _settings())  # type: ignore[arg-type]
    except DeployFailed as failed:
        show(failed.report)
        raise
    show(report)
    _write_envelope(0)


def _ensure_lab_privileges() -> None:
    """Without root, re-run this very command inside an unprivileged user namespace when the
    kernel allows it; otherwise refuse with what to do (NoPrivilege)."""
    import os

    from rsgen.errors import NoPrivilege
    from rsgen.verification.lab import (
        USERNS_MARK,
        check_privileges,
        reexec_in_user_namespace,
        user_namespaces_work,
    )

    try:
        check_privileges()
    except NoPrivilege:
        works, _ = user_namespaces_work()
        if not works or os.environ.get(USERNS_MARK):
            raise
        click.echo("rsgen: not root: running verify in an unprivileged user namespace",
                   err=True)
        reexec_in_user_namespace([sys.executable, "-m", "rsgen", *sys.argv[1:]])


@cli.command()
@_directory_option
@click.option("--route-server", "server_name",
              help="Only this route server's part of the plan (default: all of them).")
def context(directory: Path, server_name: str | None) -> None:
    """Print the plan the configs are rendered from, as JSON (what each route server does
    with each member's routes, and why): for reviewers and template authors."""
    from dataclasses import replace

    from rsgen.load import load_checked
    from rsgen.plan import plan, plan_json
    from rsgen.snapshot import read_checked_snapshot

    settings = _settings()
    config = load_checked(directory)
    # As a build reads it: damaged or unvouched-for snapshot files exit 6 here too.
    snapshot, _ = read_checked_snapshot(directory, config.exchange.policy,
                                        settings.snapshot_key)
    exchange_plan = plan(config, snapshot, settings)
    if server_name is not None:
        names = [s.name for s in exchange_plan.route_servers]
        if server_name not in names:
            raise click.BadParameter(f"no route server {server_name!r}; have "
                                     f"{', '.join(names)}", param_hint="--route-server")
        exchange_plan = replace(exchange_plan, route_servers=(
            exchange_plan.route_server(server_name),))
    click.echo(json.dumps(plan_json(exchange_plan), indent=1))


@cli.command("diff")
@_directory_option
@click.option("--base", "base_rev", metavar="GIT_REV",
              help="Compare with the exchange directory as committed at this revision "
                   "[default: HEAD].")
@click.option("--base-dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Compare with another exchange directory instead (e.g. a checkout of "
                   "the target branch).")
@click.option("--format", "output_format", type=click.Choice(["text", "markdown", "json"]),
              default="text", show_default=True,
              help="markdown: for a pull-request comment; json: the diff alone, for "
                   "tools (--json gives it in rsgen's common envelope).")
@_json_option("diff")
def diff_command(directory: Path, base_rev: str | None, base_dir: Path | None,
                 output_format: str) -> None:
    """Show what a change does to the route servers: members and sessions added or removed,
    prefix and origin counts, AS-SETs, limits and settings, per member (no network)."""
    from rsgen.diff import diff_as_json, diff_plans
    from rsgen.diffformat import diff_markdown, diff_text
    from rsgen.errors import BadRevision
    from rsgen.review import base_at_revision, base_in_directory, load_plan

    if base_rev is not None and base_dir is not None:
        raise click.UsageError("--base and --base-dir exclude each other")
    settings = _settings()
    try:
        base = base_in_directory(base_dir, settings) if base_dir is not None else \
            base_at_revision(directory, "HEAD" if base_rev is None else base_rev, settings)
    except BadRevision as error:
        raise click.BadParameter(str(error), param_hint="--base") from error
    head = load_plan(directory, settings, str(directory), behind_ok=True)
    for side in (base, head):
        for warning in side.warnings:
            _warn(f"{side.label}: {warning}")
    result = diff_plans(base.plan, head.plan, base_label=base.label, head_label=head.label,
                        base_behind=base.behind, head_behind=head.behind)
    document = diff_as_json(result)
    to_stderr = _json_run is not None and _json_run.to_stdout  # the envelope takes stdout
    if output_format == "json":
        click.echo(json.dumps(document, sort_keys=True, indent=1), err=to_stderr)
    elif output_format == "markdown":
        # md_code made member text inert; printable would escape the line breaks.
        click.echo(diff_markdown(result), nl=False, err=to_stderr)
    else:
        for line in diff_text(result).splitlines():
            _echo(line)
    _json_result(document)
    _write_envelope(0)


@cli.group()
def member() -> None:
    """Change the members/ directory."""


@member.command("add")
@_directory_option
@click.option("--peeringdb-url", help="PeeringDB API base URL [env RSGEN_PEERINGDB_URL].")
@_mirror_option
@click.option("--dry-run", is_flag=True, help="Say what would be written; write nothing.")
@click.argument("asn_text", metavar="ASN")
def member_add(directory: Path, peeringdb_url: str | None, dry_run: bool,
               asn_text: str, peeringdb_mirror: str | None) -> None:
    """Write members/AS<ASN>.yml from PeeringDB: the network's name and its addresses on this
    exchange's LAN (peeringdb.ixlan_id in exchange.yml); never overwrites."""
    from rsgen.onboard import add_member

    report = add_member(directory, _one_asn(asn_text),
                        _settings(peeringdb_url, peeringdb_mirror=peeringdb_mirror),
                        dry_run=dry_run)
    _print_import(report)


def _one_asn(text: str) -> int:
    from rsgen.guard import parse_asn_list

    try:
        (asn,) = parse_asn_list(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc) if "AS number" in str(exc) else
                                 "one ASN, e.g. AS3333", param_hint="ASN") from exc
    return asn


def _print_import(report: Any) -> None:
    """An import's outcome: skipped records and warnings on stderr (each with its reason),
    the files and the summary on stdout."""
    for warning in report.warnings:
        _echo(f"warning: {warning}", err=True)
    for notice in report.skipped:
        _echo(f"skipped: {notice.where}: {notice.reason}", err=True)
    for notice in report.dropped:
        _echo(f"left out: {notice.where}: {notice.reason}", err=True)
    for path in report.written:
        _say(f"{path}: written")
    for draft in report.would_write:
        _say(f"{draft.file_name}: would be written (AS{draft.asn}, {draft.name}, "
              f"{len(draft.sessions)} session(s))")
    _say(f"{report.source}: {report.imported} member(s) "
          f"{'to import' if report.would_write else 'imported'}, {len(report.skipped)} "
          f"skipped, {len(report.dropped)} address(es) or field(s) left out")
    if report.written:
        members = ",".join(p.stem for p in report.written)
        refresh = f"rsgen refresh --members {members}" if len(report.written) <= 20 \
            else "rsgen refresh"
        _say(f"next: rsgen check, {refresh}, then review the diff")


@member.command("remove")
@_directory_option
@click.argument("asn_text", metavar="ASN")
def member_remove(directory: Path, asn_text: str) -> None:
    """Delete members/AS<ASN>.yml; the next rsgen refresh prunes its snapshot data."""
    from rsgen.guard import parse_asn_list
    from rsgen.scaffold import remove_member

    try:
        (asn,) = parse_asn_list(asn_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc) if "AS number" in str(exc) else
                                 "one ASN, e.g. AS3333", param_hint="ASN") from exc
    path = remove_member(directory, asn)
    _say(f"{path}: removed; run rsgen refresh to remove its snapshot data, then review the "
          f"diff")


@cli.group()
def export() -> None:
    """Publish what the route servers do, from the same plan as the configs."""


@export.command("as-set")
@_directory_option
@click.option("--name", "as_set_name", required=True, metavar="AS-NAME",
              help="The as-set's name, e.g. AS-EXAMPLE-RS or AS64500:AS-RS.")
@click.option("--mnt-by", metavar="MAINTAINER", help="Its mnt-by attribute.")
@click.option("--source", metavar="SOURCE", help="Its source attribute (e.g. RADB).")
def export_as_set(directory: Path, as_set_name: str, mnt_by: str | None,
                  source: str | None) -> None:
    """Print the route servers' members as an RPSL as-set object (no network)."""
    from rsgen.export import route_server_as_set
    from rsgen.load import load_checked
    from rsgen.plan import plan
    from rsgen.snapshot import read_checked_snapshot

    settings = _settings()
    config = load_checked(directory)
    snapshot, _ = read_checked_snapshot(directory, config.exchange.policy,
                                        settings.snapshot_key)
    try:
        text = route_server_as_set(plan(config, snapshot, settings), as_set_name,
                                   mnt_by=mnt_by, source=source)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    click.echo(text, nl=False)


@export.command("ixf")
@_directory_option
@click.option("--timestamp", metavar="ISO-8601",
              help="The export's timestamp, e.g. 2026-01-31T12:00:00Z [default: "
                   "SOURCE_DATE_EPOCH if set, else now].")
@click.option("-o", "output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write it to this file (atomically) instead of stdout.")
def export_ixf(directory: Path, timestamp: str | None, output: Path | None) -> None:
    """Print the exchange's IX-F member export (schema 1.0) from the plan (no network)."""
    import datetime

    from rsgen.atomic import write_if_changed
    from rsgen.errors import InvalidInput
    from rsgen.export import ixf_member_export
    from rsgen.load import load_checked
    from rsgen.plan import plan
    from rsgen.snapshot import read_checked_snapshot

    settings = _settings()
    when = _export_time(timestamp, settings.source_date_epoch or "", datetime)
    config = load_checked(directory)
    snapshot, _ = read_checked_snapshot(directory, config.exchange.policy,
                                        settings.snapshot_key)
    try:
        text = ixf_member_export(plan(config, snapshot, settings), config, when)
    except ValueError as exc:
        raise InvalidInput(str(exc), hint="add ixf: {ixf_id: N} to exchange.yml") from exc
    if output is None:
        click.echo(text, nl=False)
    else:
        write_if_changed(output, text)
        _say(f"{output}: written")


def _export_time(option: str | None, epoch: str, datetime: Any) -> str:
    """The timestamp in the IX-F form (UTC, seconds, Z): --timestamp, else SOURCE_DATE_EPOCH
    (reproducible builds), else now."""
    utc = datetime.timezone.utc
    if option:
        try:
            when = datetime.datetime.fromisoformat(option.replace("Z", "+00:00"))
        except ValueError as exc:
            raise click.BadParameter("an ISO 8601 date and time, e.g. 2026-01-31T12:00:00Z",
                                     param_hint="--timestamp") from exc
        if when.tzinfo is None:
            raise click.BadParameter("give the time zone, e.g. a final Z for UTC",
                                     param_hint="--timestamp")
    elif epoch:
        if not epoch.isdigit():
            raise click.BadParameter("SOURCE_DATE_EPOCH must be whole seconds since 1970")
        when = datetime.datetime.fromtimestamp(int(epoch), utc)
    else:
        when = datetime.datetime.now(utc)
    text: str = when.astimezone(utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return text


@cli.group("import")
def import_group() -> None:
    """Bring members in from other systems (new member files, never overwriting)."""


@import_group.command("ixf")
@_directory_option
@click.argument("source", metavar="FILE|URL")
@click.option("--ixp-id", type=click.IntRange(min=0),
              help="Only connections to this ixp_id of the export's ixp_list (an export "
                   "may list several exchanges).")
@click.option("--assume-routeserver", is_flag=True,
              help="Count addresses whose routeserver flag is absent as route-server "
                   "sessions (for exports that never write it); routeserver: false never is.")
@click.option("--dry-run", is_flag=True, help="Say what would be written; write nothing.")
@click.option("--timeout", type=click.FloatRange(min=0.1, max=600), default=30.0,
              show_default=True, help="Seconds to fetch a URL in.")
def import_ixf(directory: Path, source: str, ixp_id: int | None, assume_routeserver: bool,
               dry_run: bool, timeout: float) -> None:
    """Write members/AS<asn>.yml for the members of an IX-F member export (FILE, or an
    https:// URL) that have route-server sessions on the peering LAN; every record not
    imported is listed with its reason. All files are written or none."""
    from rsgen.onboard import import_ixf as run_import

    report = run_import(directory, source, ixp_id=ixp_id, assume_routeserver=assume_routeserver,
                        dry_run=dry_run, timeout=timeout)
    _print_import(report)


@cli.command()
@_directory_option
@click.option("-o", "output", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Where to write policy.md and policy.html.")
def docs(directory: Path, output: Path) -> None:
    """Write the member-facing policy page (Markdown and HTML) from the plan the configs
    are built from: rules and reason codes, communities, each member's AS-SET and limits,
    and the Alice-LG mapping of the reject reasons (no network)."""
    from rsgen.docs import DOCS_FILES, write_docs
    from rsgen.review import load_plan

    reviewed = load_plan(directory, _settings(), str(directory))
    for warning in reviewed.warnings:
        _echo(f"warning: {warning}", err=True)
    try:
        changed = write_docs(reviewed.plan, output)
    except OSError as exc:  # not a directory one can write: the option's fault
        raise click.BadParameter(f"{output}: cannot write there: {exc.strerror or exc}",
                                 param_hint="-o") from exc
    for name in DOCS_FILES:
        _say(f"{output / name}: {'written' if output / name in changed else 'unchanged'}")


def _accept_verbose_everywhere(group: click.Group) -> None:
    """`rsgen build -v` as well as `rsgen -v build`."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            _accept_verbose_everywhere(command)
        else:
            taken = {o for p in command.params if isinstance(p, click.Option) for o in p.opts}
            if "-v" not in taken:
                command.params.append(click.Option(
                    ["-v", "--verbose"], is_flag=True, expose_value=False, is_eager=True,
                    callback=_verbose_after_the_command, help="Log rsgen's steps to stderr."))
            if "-q" not in taken:
                command.params.append(click.Option(
                    ["-q", "--quiet"], is_flag=True, expose_value=False, is_eager=True,
                    callback=_set_quiet,
                    help="Only warnings, errors and what the command produces."))


_accept_verbose_everywhere(cli)


def main() -> None:
    """Entry point: one error boundary turning RsgenError into a message and an exit code."""
    try:
        cli.main(standalone_mode=False)
    except RsgenError as error:
        _fail(error)
    except click.exceptions.Abort:
        _stop("interrupted", 130)
    except click.ClickException as error:
        error.show()
        _write_envelope(int(ExitCode.USAGE), [problem_json(Problem(error.format_message()))])
        sys.exit(int(ExitCode.USAGE))
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except KeyboardInterrupt:
        _stop("interrupted", 130)
    except Exception:
        log.exception("internal error")
        _stop("internal error (a bug in rsgen; please report it with the trace above)",
              int(ExitCode.INTERNAL))


def _stop(message: str, exit_code: int) -> None:
    click.echo(f"rsgen: {message}", err=True)
    _write_envelope(exit_code, [problem_json(Problem(message))])
    sys.exit(exit_code)
