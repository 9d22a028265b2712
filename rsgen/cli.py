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
from rsgen.errors import ExitCode, RsgenError
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
    return click.option("--irr-host", metavar="HOST[:PORT]",
                        help="IRR whois server for bgpq4 [env RSGEN_IRR_HOST].")(function)


def _settings(peeringdb_url: str | None = None, irr_host: str | None = None) -> Settings:
    """The environment, read once for this command, with its options winning (an empty option
    counts as not given, as an empty variable does)."""
    from rsgen.settings import Settings

    return Settings.from_environment(peeringdb_url=peeringdb_url or None,
                                     irr_host=irr_host or None)


def _echo(text: str, *, err: bool = False) -> None:
    """The output boundary: every line rsgen prints may carry untrusted text (member names,
    PeeringDB, IRR, bgpq4's stderr), so terminal controls and bidi overrides are shown as
    escapes (rsgen.values.printable), never sent raw."""
    click.echo(printable(text), err=err)


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
    sys.exit(int(error.exit_code))


@click.group()
@click.version_option(rsgen.__version__, prog_name="rsgen")
@click.option("-v", "--verbose", is_flag=True, help="Log debugging detail to stderr.")
def cli(verbose: bool) -> None:
    """Generate BIRD 2 route-server configs from member YAML, PeeringDB and IRR data."""
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
        _echo(f"{path}: written")
    for path in result.kept:
        _echo(f"{path}: already there, left alone: have it ignore /out/, /.rsgen.lock and "
              f".*.rsgen-*/")
    _echo(f"next: replace the documentation addresses in {directory / 'exchange.yml'}, add "
          f"members/AS<asn>.yml files, then rsgen check, rsgen refresh and rsgen build")


@cli.command()
@_directory_option
def check(directory: Path) -> None:
    """Validate exchange.yml and members/*.yml, and snapshot/ when there is one (no network)."""
    import os

    from rsgen.consistency import consistency_warnings
    from rsgen.load import load_checked
    from rsgen.snapshot import SNAPSHOT_DIR, read_checked_snapshot

    key = _settings().snapshot_key
    config = load_checked(directory)
    for doubt in consistency_warnings(config):
        _echo(f"warning: {doubt}", err=True)
    _echo(f"ok: {config.exchange.name}: {len(config.members)} members, "
          f"{len(config.exchange.route_servers)} route servers")
    if os.path.lexists(directory / SNAPSHOT_DIR):
        # As a build reads it: damaged, implausible or unvouched-for files exit 6 here.
        snapshot, warnings = read_checked_snapshot(directory, config.exchange.policy, key)
        for warning in warnings:
            _echo(f"warning: {warning}", err=True)
        signed = "signed with RSGEN_SNAPSHOT_KEY" if key is not None else "not modified"
        _echo(f"ok: snapshot: IRR data for {len(snapshot.irr)} members, {signed}"
              + (" (provenance warnings above)" if warnings else ""))


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
def refresh(directory: Path, peeringdb_url: str | None, irr_host: str | None,
            accept_shrink: tuple[str, ...], member_list: str | None) -> None:
    """Fetch PeeringDB and IRR data into snapshot/ (one file per member and source)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from rsgen.guard import parse_asn_list
    from rsgen.load import load_checked
    from rsgen.refresher import RefreshFailed
    from rsgen.refresher import refresh as run_refresh

    settings = _settings(peeringdb_url, irr_host)
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
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("IRR expansions (bgpq4)", total=total)
        try:
            report = run_refresh(directory, only=only, accept_shrink=accepted,
                                 accept_never_via_shrink=never_via,
                                 progress=lambda _asn: bar.advance(task), settings=settings)
        except RefreshFailed as failed:
            _print_refresh(failed.report)
            raise
    _print_refresh(report)


def _print_refresh(report: Any) -> list[str]:
    """Print a refresh's warnings and summary; the warning lines, so build need not repeat."""
    lines = [f"warning: {notice}" for notice in getattr(report, "notices", ())]
    lines += [f"warning: AS{asn}: {warning}" for asn, warning in sorted(report.warnings.items())]
    for line in lines:
        _echo(line, err=True)
    never_via = getattr(report, "never_via_written", None)
    listed = "" if never_via is None else \
        f"; PeeringDB lists {never_via} network(s) as never via route servers"
    _echo(f"refreshed {len(report.updated)} member(s); "
          f"{len(report.changed_files)} snapshot file(s) changed{listed}")
    pruned = getattr(report, "pruned", ())
    if pruned:
        _echo(f"removed the snapshot data of {len(pruned)} former member(s): "
              + ", ".join(f"AS{asn}" for asn in pruned))
    cost = getattr(report, "irr_cost", None)
    if cost:  # a summary, like the line above: stdout (stderr is for what needs a look)
        _echo(cost)
    return lines


@cli.command()
@_directory_option
@_source_options
@click.option("-o", "output", type=click.Path(file_okay=False, path_type=Path),
              help="Output directory [default: DIR/out].")
@click.option("--offline", is_flag=True, help="Use the snapshot only; never refresh.")
@click.option("--templates", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="A customised copy of rsgen's templates/ directory.")
def build(directory: Path, peeringdb_url: str | None, irr_host: str | None,
          output: Path | None, offline: bool, templates: Path | None) -> None:
    """Render one BIRD 2 config per route server and check it with `bird -p`."""
    from rsgen.builder import build as run_build
    from rsgen.refresher import RefreshFailed

    refreshing = "no snapshot data for some members: refreshing first"
    try:
        result = run_build(directory, output, offline=offline, templates=templates,
                           settings=_settings(peeringdb_url, irr_host))
    except RefreshFailed as failed:  # the build's own refresh: say what it kept, as refresh does
        click.echo(refreshing, err=True)
        _print_refresh(failed.report)
        raise
    said: list[str] = []
    if result.refreshed is not None:
        click.echo(refreshing, err=True)
        said = _print_refresh(result.refreshed)
    for warning in result.warnings:
        member, _, text = warning.partition(": ")
        if not any(f"{member}: " in line and text in line for line in said):  # said already
            _echo(f"warning: {warning}", err=True)
    if result.skipped:
        _echo("nothing changed since the last build (inputs and configs as it checked them): "
              "render and bird -p skipped")
    for path in result.written:
        state = "written" if path in result.changed else "unchanged"
        checked = "checked by the last build" if result.skipped else "bird -p ok"
        _echo(f"{path}: {state} ({checked})")
    if result.example_data:
        click.echo("note: built from the bundled EXAMPLE snapshot; do not deploy", err=True)


@cli.command()
@_directory_option
@click.option("-o", "output", type=click.Path(file_okay=False, path_type=Path),
              help="Where to build the configs under test [default: a temporary directory].")
@click.option("--members", "member_list", metavar="AS1,AS2",
              help="Simulate only these members (ASNs, with or without 'AS').")
@click.option("--sample", type=click.IntRange(min=1), metavar="N",
              help="Simulate N members evenly spread over the exchange.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the results as JSON to this file ('-' for stdout).")
@click.option("--keep", is_flag=True,
              help="Keep the lab up for inspection until Enter, and keep its files.")
@click.option("--templates", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="A customised copy of rsgen's templates/ directory.")
def verify(directory: Path, output: Path | None, member_list: str | None, sample: int | None,
           json_path: Path | None, keep: bool, templates: Path | None) -> None:
    """Run the configs in real BIRD on an emulated peering LAN and test every policy rule."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from rsgen.atomic import write_atomic
    from rsgen.errors import VerifyFailed
    from rsgen.verification.report import print_table, write_json
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
    console = Console(stderr=json_path == Path("-"))
    options = VerifyOptions(directory, output, asns, sample, keep, templates)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        report = run_verify(options, progress, settings=_settings())
    print_table(report, console)
    if json_path is not None:
        if json_path == Path("-"):
            click.echo(write_json(report), nl=False)
        else:
            write_atomic(json_path, write_json(report))
    if not report.ok:
        raise VerifyFailed(f"{sum(not o.ok for o in report.outcomes)} policy check(s) did not "
                           "behave as the exchange's policy promises",
                           hint="see MISMATCH lines above; a template or the snapshot is wrong")


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


@cli.group()
def member() -> None:
    """Change the members/ directory."""


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
    _echo(f"{path}: removed; run rsgen refresh to remove its snapshot data, then review the "
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


def _accept_verbose_everywhere(group: click.Group) -> None:
    """`rsgen build -v` as well as `rsgen -v build`."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            _accept_verbose_everywhere(command)
        elif not any("-v" in p.opts for p in command.params if isinstance(p, click.Option)):
            command.params.append(click.Option(
                ["-v", "--verbose"], is_flag=True, expose_value=False, is_eager=True,
                callback=_verbose_after_the_command, help="Log rsgen's steps to stderr."))


_accept_verbose_everywhere(cli)


def main() -> None:
    """Entry point: one error boundary turning RsgenError into a message and an exit code."""
    try:
        cli.main(standalone_mode=False)
    except RsgenError as error:
        _fail(error)
    except click.exceptions.Abort:
        click.echo("rsgen: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(int(ExitCode.USAGE))
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except KeyboardInterrupt:
        click.echo("rsgen: interrupted", err=True)
        sys.exit(130)
    except Exception:
        log.exception("internal error")
        click.echo("rsgen: internal error (a bug in rsgen; please report it with the trace "
                   "above)", err=True)
        sys.exit(int(ExitCode.INTERNAL))
