"""`rsgen deploy`: load a new config into a running BIRD, keep it only if the sessions stay
healthy, and undo it otherwise; with BIRD's own timer as the net under it all.

    1. same bytes as the target: nothing to do
    2. lock (DIR/.rsgen.lock beside the target); `bird -p`; stage the new text beside the target
    3. `configure check "STAGED"`, then `configure "STAGED" timeout N`: BIRD undoes it by
       itself after N seconds unless confirmed, so a deploy that dies (SIGKILL, a lost ssh
       connection) leaves BIRD on the old config
    4. health check against the sessions before; then `configure confirm` and the staged file
       renamed over the target, or `configure undo` and the target left as it was

BIRD facts this relies on (seen in BIRD 2.0.12 by hand; the first is also a check in
tests/test_deploy.py): `configure "FILE"` does not change BIRD's own config file name (a later
plain `configure` reads its -c file again); `configure undo` and the timer go back to the
config before the last `configure`, one step only, so a second `configure` while one is
unconfirmed would make the first one the state to return to: deploy refuses to start while
`configure status` says "unconfirmed".
"""

from __future__ import annotations

import datetime
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rsgen
from rsgen.birdcheck import bird_parse
from rsgen.deployer.health import Health, HealthPolicy, Sessions, read_sessions, wait_for_health
from rsgen.deployer.impact import ReloadImpact, names, reload_impact
from rsgen.deployer.state import (
    Paths,
    discard_staged,
    header,
    install,
    read_config,
    read_state,
    sha256,
    write_like,
)
from rsgen.errors import (
    BirdRejected,
    BirdUnreachable,
    DeployUndone,
    ExitCode,
    InvalidInput,
    Locked,
    RsgenError,
)
from rsgen.lock import exchange_lock
from rsgen.settings import Settings
from rsgen.verification.birdc import Birdc, BirdcError
from rsgen.verification.lab import terminate_on_signals

# BIRD's undo timer must outlast the health check by this much, so that a slow confirm never
# races BIRD's own undo.
TIMEOUT_MARGIN_SECONDS = 30
UNDO_WAIT_SECONDS = 60.0
_UNSAFE_PATH = re.compile(r'["\\\x00-\x1f\x7f]')


@dataclass(frozen=True)
class DeployOptions:
    socket: Path
    target: Path
    timeout: int = 150  # seconds BIRD waits for the confirmation before it undoes by itself
    health: HealthPolicy = field(default_factory=HealthPolicy)
    commit: str | None = None  # the exchange repository's commit, recorded if given
    # Deploy a config whose header names another route server than the target's.
    other_route_server: bool = False


@dataclass
class DeployReport:
    action: str  # "unchanged", "confirmed", "undone", "dry run"
    target: Path
    sha256: str
    previous_sha256: str | None = None
    impact: ReloadImpact | None = None
    health: Health | None = None
    after_undo: Health | None = None  # the old config's sessions, once undone
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def health(value: Health | None) -> dict[str, Any] | None:
            if value is None:
                return None
            return {"ok": value.ok, "checked": value.checked, "missing": list(value.missing),
                    "allowed_missing": value.allowed_missing,
                    "route_drops": [list(d) for d in value.route_drops],
                    "route_growth": [list(d) for d in value.route_growth],
                    "new_errors": [list(e) for e in value.new_errors],
                    "removed": list(value.removed), "seconds": round(value.seconds, 1),
                    "problems": value.problems()}

        impact = None
        if self.impact is not None:
            impact = {"shared_policy_changed": self.impact.shared_policy_changed,
                      "changed_shared": list(self.impact.changed_shared),
                      "filters_reloaded": list(self.impact.filters_reloaded),
                      "sessions_changed": list(self.impact.sessions_changed),
                      "sessions_added": list(self.impact.sessions_added),
                      "sessions_removed": list(self.impact.sessions_removed),
                      "sessions_total": self.impact.sessions_total}
        return {"action": self.action, "target": str(self.target),
                "sha256": self.sha256, "previous_sha256": self.previous_sha256,
                "impact": impact, "health": health(self.health),
                "after_undo": health(self.after_undo), "notes": self.notes}


class BadOptions(RsgenError):
    """Deploy options that contradict each other: a usage error."""

    exit_code = ExitCode.USAGE


class DeployFailed(DeployUndone):
    """The health check failed and the config was undone; carries the report."""

    def __init__(self, message: str, report: DeployReport, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.report = report


def _quoted(path: Path) -> str:
    """A path as a BIRD string in a birdc command."""
    text = str(path.absolute())
    if _UNSAFE_PATH.search(text):
        raise InvalidInput(f"{text!r}: birdc cannot be given a path with quotes, backslashes "
                           "or control characters", hint="use a plain path for --target")
    return f'"{text}"'


def _command(control: Birdc, *words: str,
             refused: type[RsgenError] = BirdUnreachable) -> str:
    """One birdc command; BirdUnreachable when birdc cannot talk to BIRD at all, `refused`
    when BIRD answers with an error."""
    try:
        return control.command(*words)
    except BirdcError as error:
        if error.code is None:
            raise BirdUnreachable(error.message, hint=error.hint or
                                  f"is BIRD running with its control socket at "
                                  f"{control.socket}? (--socket)") from error
        raise refused(f"BIRD refused `{' '.join(words)}`: {error.code} {error.reply}",
                      hint="`bird -p` accepted the config: is the running BIRD another "
                           "version than the bird on PATH?" if refused is BirdRejected
                      else "see BIRD's log") from error


def _unconfirmed(control: Birdc) -> str | None:
    """BIRD's line about an unconfirmed configuration ("undo in 4.9 s"), or None."""
    status = _command(control, "configure", "status")
    for line in status.splitlines():
        if "unconfirmed" in line.lower():
            return line.strip()
    return None


def _wait_until_settled(control: Birdc) -> None:
    """After `configure undo`: until BIRD has no unconfirmed config and no reconfiguration
    running (bounded; BIRD finishes an undo in well under a second)."""
    deadline = time.monotonic() + UNDO_WAIT_SECONDS
    while time.monotonic() < deadline:
        status = _command(control, "configure", "status").lower()
        if "unconfirmed" not in status and "in progress" not in status:
            return
        time.sleep(0.2)
    raise BirdUnreachable(f"BIRD did not finish undoing within {UNDO_WAIT_SECONDS:g} s",
                          hint="see `birdc configure status` and BIRD's log")


def deploy(config: Path, options: DeployOptions, settings: Settings | None = None) -> \
        DeployReport:
    """Deploy the config file `config` to options.target in the BIRD at options.socket."""
    _check_options(options)
    text = read_config(config, "config to deploy")
    if text is None:
        raise InvalidInput(f"{config}: no such file")
    return _locked(text, options, settings or Settings.from_environment(), "deploy")


def preview(config: Path, target: Path, settings: Settings | None = None) -> DeployReport:
    """What deploying `config` onto `target` would change (`--dry-run`): `bird -p` and the
    reload report, without BIRD's socket, the lock or any file written."""
    text = read_config(config, "config to deploy")
    if text is None:
        raise InvalidInput(f"{config}: no such file")
    current = read_config(target, "target")
    report = DeployReport("dry run", target, sha256(text),
                          sha256(current) if current is not None else None)
    if current == text:
        report.action = "unchanged"
        report.notes.append(f"{target} already holds this config: nothing to do")
        return report
    bird_parse(text, target.name, (settings or Settings.from_environment()).tools.bird)
    report.impact = reload_impact(current or "", text)
    return report


def rollback(options: DeployOptions, settings: Settings | None = None) -> DeployReport:
    """Deploy the previous config again (TARGET.previous), with the same health check."""
    _check_options(options)
    paths = Paths(options.target)
    text = read_config(paths.previous, "previous config")
    if text is None:
        raise InvalidInput(f"{paths.previous}: no previous config to roll back to",
                           hint="a config becomes previous when a deploy replaces it")
    return _locked(text, options, settings or Settings.from_environment(), "deploy --rollback")


def _check_options(options: DeployOptions) -> None:
    if options.timeout < options.health.wait_seconds + TIMEOUT_MARGIN_SECONDS:
        raise BadOptions(f"--timeout {options.timeout} must be at least the health check's "
                         f"{options.health.wait_seconds:g} s plus {TIMEOUT_MARGIN_SECONDS} s",
                         hint="BIRD must not undo by itself while the health check runs")


def _locked(text: str, options: DeployOptions, settings: Settings,
            operation: str) -> DeployReport:
    target = options.target
    _quoted(target)
    if target.is_symlink():
        raise InvalidInput(f"{target}: is a symbolic link; deploy replaces the file by a "
                           "rename and would replace the link", hint="give the real file")
    target.parent.mkdir(parents=True, exist_ok=True)
    # SIGTERM and SIGHUP (a CI job cancelled, an ssh session closed) unwind like Ctrl-C, so
    # the change is undone at once instead of when BIRD's timer runs out.
    with terminate_on_signals(), exchange_lock(target.parent, operation):
        return _deploy(text, options, settings, operation)


def _deploy(text: str, options: DeployOptions, settings: Settings,
            operation: str) -> DeployReport:
    paths = Paths(options.target)
    current = read_config(paths.target, "target")
    report = DeployReport("unchanged", paths.target, sha256(text),
                          sha256(current) if current is not None else None)
    if current == text:
        report.notes.append(f"{paths.target} already holds this config: nothing to do")
        return report
    _same_route_server(current, text, paths.target, options)
    if header(text)["example_data"]:
        report.notes.append("this config is built from the bundled EXAMPLE snapshot")
    bird_parse(text, paths.target.name, settings.tools.bird)
    control = Birdc(options.socket, birdc=settings.tools.birdc)
    pending = _unconfirmed(control)
    if pending is not None:
        raise Locked(f"BIRD at {options.socket} has an unconfirmed configuration ({pending}): "
                     "another deploy is running, or one was killed and BIRD's timer will "
                     "undo it", hint="wait until `birdc configure status` no longer says "
                                     "unconfirmed, then deploy again")
    before = read_sessions(control)
    report.impact = reload_impact(current or "", text)
    write_like(paths.staged, text, paths.target if current is not None else None)
    configured = False
    try:
        staged = _quoted(paths.staged)
        _command(control, "configure", "check", staged, refused=BirdRejected)
        # Set before the command: should birdc die after BIRD took the new config, the
        # undo below must still run.
        configured = True
        answer = _command(control, "configure", staged, "timeout", str(options.timeout),
                          refused=BirdRejected)
        if "undo scheduled" not in answer.lower():
            raise BirdUnreachable(f"BIRD did not schedule the undo: {answer.strip()!r}",
                                  hint="rsgen undid the change; see BIRD's log")
        report.health = wait_for_health(control, before, options.health)
        # "Reconfiguration confirmed"; "Nothing to do" if BIRD's timer ran out just before.
        if report.health.ok and _unconfirmed(control) is not None and \
                "confirmed" in _command(control, "configure", "confirm").lower():
            configured = False
            record = {"sha256": report.sha256, "previous_sha256": report.previous_sha256,
                      **{k: v for k, v in header(text).items() if k != "example_data"},
                      "deployed_by": f"rsgen {rsgen.__version__} ({operation})",
                      "exchange_commit": options.commit,
                      "loaded_at": datetime.datetime.now(datetime.UTC).strftime(
                          "%Y-%m-%dT%H:%M:%SZ")}
            install(paths, current, record)
            report.action = "confirmed"
            return report
    except BaseException:
        if configured:  # an error or a signal: do not leave it to BIRD's timer
            _undo(control)
        discard_staged(paths)
        raise
    why = "; ".join(report.health.problems()) if not report.health.ok else \
        "BIRD's own timer undid the change before rsgen could confirm it"
    _undo(control)
    discard_staged(paths)
    report.action = "undone"
    report.after_undo = wait_for_health(control, before, options.health)
    raise DeployFailed(f"the new config was undone: {why}", report,
                       hint=f"{paths.target} is unchanged and BIRD runs the old config again "
                            "(old sessions " + ("back" if report.after_undo.ok else
                                                "NOT all back: " + "; ".join(
                                                    report.after_undo.problems())) + ")")


def _same_route_server(current: str | None, text: str, target: Path,
                       options: DeployOptions) -> None:
    """Refuse rs2's config on rs1 (a mix-up in a CI job) before BIRD is touched: its
    addresses are not the host's, and every session would go down until the health check
    gave up."""
    running = header(current)["route_server"] if current is not None else None
    new = header(text)["route_server"]
    if running and new and running != new and not options.other_route_server:
        raise InvalidInput(f"{target} is the config of route server {running}, the config to "
                           f"deploy is {new}'s",
                           hint=f"deploy {running}'s config here; if this host really becomes "
                                f"{new}, add --other-route-server")


def _undo(control: Birdc) -> None:
    if _unconfirmed(control) is not None:
        _command(control, "configure", "undo")
    _wait_until_settled(control)


def status(target: Path, socket: Path | None, settings: Settings | None = None) -> \
        dict[str, Any]:
    """What is deployed: the target's hash and header, the last deploy's record, and (with a
    socket) what BIRD says about its configuration."""
    settings = settings or Settings.from_environment()
    paths = Paths(target)
    text = read_config(paths.target, "target")
    record = read_state(paths)
    found: dict[str, Any] = {
        "target": str(target),
        "sha256": sha256(text) if text is not None else None,
        **(header(text) if text is not None else {}),
        "previous": paths.previous.exists(), "last_deploy": record,
        "matches_last_deploy": record is not None and text is not None
        and record.get("sha256") == sha256(text)}
    found.pop("example_data", None)
    if socket is not None:
        control = Birdc(socket, birdc=settings.tools.birdc)
        shown = _command(control, "show", "status")
        found["bird"] = {"unconfirmed": _unconfirmed(control), **{
            key: line.split(" on ", 1)[1].strip() for line in shown.splitlines()
            for key, prefix in (("last_reboot", "Last reboot"),
                                ("last_reconfiguration", "Last reconfiguration"))
            if line.strip().startswith(prefix) and " on " in line}}
    return found


def shared_policy_note(impact: ReloadImpact) -> str | None:
    """The operator's warning for a change to the shared policy, or None."""
    if not impact.shared_policy_changed:
        return None
    return (f"this change touches the shared policy ({names(impact.changed_shared)}): BIRD "
            f"reloads the filters of {len(impact.filters_reloaded)} of "
            f"{impact.sessions_total} sessions at once; schedule it")


__all__ = ["DeployFailed", "DeployOptions", "DeployReport", "Sessions", "deploy", "preview",
           "rollback", "shared_policy_note", "status"]
