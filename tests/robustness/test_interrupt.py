"""Interrupted and concurrent runs: a kill at any instant leaves old or new, never a mix.

`rsgen refresh` and `rsgen build` run as real processes and are killed with SIGKILL or SIGTERM
after seeded random delays (two thirds spread over the whole measured run time, one third aimed
at the commit: shortly after the staging directory appears). After every kill the snapshot and
the output directory must be byte for byte the old state or the new one, the snapshot must be
readable, and the next run (which takes the killed run's lock) must leave no leftovers.
In-process tests crash every single step of a commit, with and without RENAME_EXCHANGE.
Run with `-s` to see how many kills hit which state; RSGEN_KILL_SEED=N draws other moments.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import rsgen.atomic
from rsgen.atomic import DirectorySwap, StagedFiles, write_atomic
from rsgen.builder import build
from rsgen.errors import ExitCode, InvalidInput, Locked
from rsgen.lock import LOCK_FILE, directory_lock, exchange_lock
from rsgen.refresher import refresh
from rsgen.snapshot import read_snapshot, recover_snapshot
from tests.fixtures.irr_plugin import MakeIrrServer
from tests.fixtures.peeringdb_plugin import MakePeeringDbServer
from tests.helpers import REPO, copy_example, source_settings

SEED = int(os.environ.get("RSGEN_KILL_SEED", "7919"))  # CI: always the same moments
EXAMPLE = REPO / "tests" / "fixtures" / "example"
MIRRORED = ("RADB", "RIPE", "APNIC", "ARIN", "AFRINIC", "LACNIC")
# The "new" world: more route objects for five members, other PeeringDB limits for two.
NEW_ROUTES = {38193: "45.115.84.0/22", 9541: "103.31.100.0/22", 23674: "103.4.92.0/22",
              45669: "182.191.0.0/16", 137512: "103.151.46.0/23"}
NEW_LIMITS = {38193: 95, 9541: 75}

State = dict[str, bytes]


def _files(root: Path, *, top_only: bool = False) -> State | None:
    """Every file under root with its bytes; None when root does not exist."""
    if not root.is_dir():
        return None
    paths = root.iterdir() if top_only else root.rglob("*")
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(paths)
            if p.is_file() and not (top_only and p.name.startswith(".rsgen-"))}


def _which(state: State | None, old: State | None, new: State | None) -> str:
    if state == old:
        return "old"
    if state == new:
        return "new"
    names = set(state or {}) | set(old or {}) | set(new or {})
    mixed = sorted(n for n in names if (state or {}).get(n) not in ((old or {}).get(n),
                                                                     (new or {}).get(n)))
    raise AssertionError(f"neither old nor new: {mixed or 'a mix of old and new files'}")


def _leftovers(*directories: Path) -> list[str]:
    return [p.name for d in directories if d.is_dir() for p in d.iterdir()
            if ".rsgen-" in p.name]


@dataclass
class World:
    """An exchange (the bundled example's members) and fixture sources, old and new."""

    exchange: Path
    old_irr: str
    new_irr: str
    old_peeringdb: str
    new_peeringdb: str

    def cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "rsgen", *args]

    def env(self, peeringdb: str) -> dict[str, str]:
        return {**os.environ, "RSGEN_PEERINGDB_URL": peeringdb, "PYTHONPATH": str(REPO)}


@pytest.fixture
def world(tmp_path: Path, make_irr_server: MakeIrrServer,
          make_peeringdb_server: MakePeeringDbServer) -> World:
    rpsl = (EXAMPLE / "irr.rpsl").read_text(encoding="utf-8")
    extra = "".join(f"\nroute: {prefix}\norigin: AS{asn}\nsource: RADB\n"
                    for asn, prefix in NEW_ROUTES.items())
    records = json.loads((EXAMPLE / "peeringdb-net.json").read_text(encoding="utf-8"))["data"]
    changed = [{**r, "info_prefixes4": NEW_LIMITS.get(r["asn"], r["info_prefixes4"])}
               for r in records]
    old_irr = make_irr_server(rpsl, mirrored=MIRRORED)
    new_irr = make_irr_server(rpsl + extra, mirrored=MIRRORED)
    exchange = copy_example(tmp_path / "ix", with_snapshot=False)
    return World(exchange, old_irr.host, new_irr.host, make_peeringdb_server(records=records).url,
                 make_peeringdb_server(records=changed).url)


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=env, check=False,
                          timeout=120)


def _measure(argv: list[str], env: dict[str, str], watch: Path) -> tuple[float, float]:
    """One uninterrupted run: its duration, and how long its commit took: from `watch` (the
    staging directory) appearing until nothing staged is left beside it."""
    started = time.monotonic()
    process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    seen = _wait_for(watch, process, 60)
    while _leftovers(watch.parent) and process.poll() is None:
        time.sleep(0.0002)
    committed = time.monotonic()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert seen is not None, f"{watch} never appeared"
    return time.monotonic() - started, committed - seen


def _wait_for(path: Path, process: subprocess.Popen[Any], limit: float) -> float | None:
    """Poll until `path` exists (the run began staging); None if the run ended first."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if os.path.lexists(path):
            return time.monotonic()
        if process.poll() is not None:
            return None
        time.sleep(0.0002)
    return None


def _kill_loop(label: str, argv: list[str], env: dict[str, str], *, iterations: int,
               watch: Path, reset: Callable[[], None], check: Callable[[], str],
               measured: tuple[float, float]) -> Counter[str]:
    """Kill `argv` at seeded random moments; `check` says which state it left behind.

    The delays come from the faster of two uninterrupted runs (`measured` and one more): a
    single run can stall on a busy disk and would send most kills past the end.
    """
    reset()
    again = _measure(argv, env, watch)
    assert check().startswith("new")
    duration, commit = min(measured[0], again[0]), min(measured[1], again[1])
    rng = random.Random(SEED)  # noqa: S311 (reproducible kill times, not secrets)
    outcomes: Counter[str] = Counter()
    for number in range(iterations):
        reset()
        sig = signal.SIGKILL if number % 2 == 0 else signal.SIGTERM
        process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        if number % 3 == 2:  # aimed at the commit
            _wait_for(watch, process, 3 * duration)
            time.sleep(rng.uniform(0, 1.5 * commit))
        else:
            time.sleep(rng.uniform(0, 1.1 * duration))
        process.send_signal(sig)
        returncode = process.wait(timeout=60)
        how = "finished" if returncode == 0 else signal.Signals(-returncode).name
        outcomes[f"{check()} after {how}"] += 1
    print(f"\n{label}: {iterations} kills over {duration:.2f} s runs "
          f"(commit {commit * 1000:.1f} ms): {dict(sorted(outcomes.items()))}")
    assert sum(outcomes.values()) == iterations
    return outcomes


def _refresh(world: World, irr: str, peeringdb: str) -> None:
    refresh(world.exchange, settings=source_settings(peeringdb, irr))


def test_killed_refresh_leaves_old_or_new_snapshot(world: World, tmp_path: Path) -> None:
    """A refresh killed at any moment leaves the whole old snapshot or the whole new one."""
    _refresh(world, world.old_irr, world.old_peeringdb)
    snapshot = world.exchange / "snapshot"
    saved = Path(shutil.copytree(snapshot, tmp_path / "old-snapshot"))
    old = _files(saved)
    argv = world.cli("refresh", "-C", str(world.exchange), "--irr-host", world.new_irr)
    env = world.env(world.new_peeringdb)

    def reset() -> None:
        if _files(snapshot) != old:
            shutil.rmtree(snapshot)
            shutil.copytree(saved, snapshot)

    measured = _measure(argv, env, world.exchange / ".snapshot.rsgen-staging")
    new = _files(snapshot)  # what an uninterrupted run makes
    changed = sorted(n for n, data in (new or {}).items() if (old or {}).get(n) != data)
    assert len(changed) >= 5, changed  # several member files differ between the two states

    def check() -> str:
        state = _files(snapshot)
        which = _which(state, old, new) + (", mid-commit," if _leftovers(world.exchange) else "")
        read_snapshot(world.exchange)
        with exchange_lock(world.exchange, "test"):  # the killed run's lock is gone
            recover_snapshot(world.exchange)
        assert _files(snapshot) == state
        assert not _leftovers(world.exchange)
        return which

    outcomes = _kill_loop("refresh", argv, env, iterations=25, reset=reset, check=check,
                          watch=world.exchange / ".snapshot.rsgen-staging", measured=measured)
    assert any(k.startswith("old after SIG") for k in outcomes)


@pytest.mark.parametrize("own", [True, False], ids=["default-out", "foreign-dir"])
def test_killed_build_leaves_old_or_new_configs(world: World, tmp_path: Path, own: bool) -> None:
    """A build killed at any moment leaves all old or all new configs (-o: once recovered)."""
    out = world.exchange / "out" if own else tmp_path / "etc-bird"
    if not own:  # a directory rsgen did not create, holding the operator's files
        out.mkdir()
        (out / "bird.conf").write_text('include "/etc/bird/rs1.conf";\n')
    _refresh(world, world.old_irr, world.old_peeringdb)
    build(world.exchange, out, offline=True)
    (out / "bird.conf").write_text('include "/etc/bird/rs1.conf";\n')  # the operator's own
    old = _files(out, top_only=True)
    _refresh(world, world.new_irr, world.new_peeringdb)
    snapshot = _files(world.exchange / "snapshot")
    argv = world.cli("build", "-C", str(world.exchange), "--offline",
                     *(() if own else ("-o", str(out))))
    env = world.env(world.new_peeringdb)

    def reset() -> None:
        if _files(out, top_only=True) != old:
            for name, data in (old or {}).items():
                write_atomic(out / name, data.decode(), mode=0o640)

    watch = world.exchange / ".out.rsgen-staging" if own else out / ".rsgen-staging"
    measured = _measure(argv, env, watch)
    new = _files(out, top_only=True)
    assert sorted(n for n, data in (new or {}).items() if (old or {}).get(n) != data) == [
        "rs1.conf", "rs2.conf"]

    def check() -> str:
        state = _files(out, top_only=True)
        pending = (out / ".rsgen-ready").exists()
        mid = ", mid-commit," if _leftovers(world.exchange, out) else ""
        which = "" if pending else _which(state, old, new) + mid
        with exchange_lock(world.exchange, "test"):  # what the next build does first
            if own:
                DirectorySwap(out).recover()
            else:
                with directory_lock(out):
                    StagedFiles(out).recover()
        after = _files(out, top_only=True)
        if pending:  # killed during the renames into a foreign directory: finished now
            seen = "old" if state == old else "new" if state == new else "mixed"
            which = f"{seen}, pending, {_which(after, old, new)} once recovered,"
        else:
            assert after == state
        assert not _leftovers(world.exchange, out)
        assert all(p.stat().st_mode & 0o777 == 0o640 for p in out.glob("rs*.conf"))
        assert _files(world.exchange / "snapshot") == snapshot
        return which

    _kill_loop("build" if own else "build -o", argv, env, iterations=25 if own else 12,
               reset=reset, check=check, watch=watch, measured=measured)


# --- every step of a commit, crashed in process -----------------------------------------------


class _Crash(BaseException):
    """Stands for SIGKILL at one step: no handler of rsgen's may catch it."""


@contextlib.contextmanager
def _crash_at(step: int, *, exchange_works: bool) -> Iterator[list[str]]:
    """Count the filesystem changes of a commit; the step-th one raises _Crash instead."""
    steps: list[str] = []

    def counted(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def change(*args: Any, **kwargs: Any) -> Any:
            steps.append(name)
            if len(steps) == step:
                raise _Crash(name)
            return original(*args, **kwargs)
        return change

    exchange = rsgen.atomic.exchange if exchange_works else (lambda first, second: False)
    with pytest.MonkeyPatch.context() as patch:
        for name, owner in (("rename", Path), ("replace", Path), ("rmdir", Path),
                            ("rmtree", shutil), ("exchange", rsgen.atomic)):
            original = exchange if name == "exchange" else getattr(owner, name)
            patch.setattr(owner, name, counted(name, original))
        yield steps


def _tree(root: Path, files: dict[str, str]) -> State | None:
    for name, text in files.items():
        write_atomic(root / name, text)
    return _files(root)


@pytest.mark.parametrize("mode", ["exchange", "two-renames", "first-snapshot"])
def test_crash_at_every_step_of_a_directory_swap(tmp_path: Path, mode: str) -> None:
    """Killed at any step of a swap, with or without RENAME_EXCHANGE: old or new, then tidy."""
    seen: Counter[str] = Counter()
    for step in range(1, 20):
        target = tmp_path / f"step{step}" / "snapshot"
        old = None if mode == "first-snapshot" else _tree(target, {
            "meta.json": "old\n", "irr/AS1.json": "old 1\n", "irr/AS2.json": "same\n"})
        swap = DirectorySwap(target)
        staging = swap.begin()
        new = _tree(staging, {"meta.json": "new\n", "irr/AS1.json": "new 1\n",
                              "irr/AS2.json": "same\n", "peeringdb/AS1.json": "new\n"})
        with (_crash_at(step, exchange_works=mode == "exchange") as steps,
              contextlib.suppress(_Crash)):
            swap.commit()
        crashed = len(steps) >= step
        seen_by_readers = _files(swap.readable())
        which = _which(seen_by_readers, old, new)
        swap.recover()  # what the next run does first, holding the lock
        assert _files(target) == seen_by_readers
        assert not _leftovers(target.parent)
        if not crashed:
            assert which == "new"
            break
        seen[f"{which} after a crash at {steps[-1]}"] += 1
    print(f"\n{mode}: {sum(seen.values())} crash points: {dict(seen)}")
    assert {k.split()[0] for k in seen} == {"old", "new"}


def test_crash_at_every_step_of_staged_files(tmp_path: Path) -> None:
    """Killed between renames into a -o directory, the next build completes the set."""
    seen: Counter[str] = Counter()
    for step in range(1, 20):
        out = tmp_path / f"step{step}"
        old = _tree(out, {"bird.conf": "operator\n", "rs1.conf": "old 1\n",
                          "rs2.conf": "old 2\n", "rs3.conf": "same\n"})
        new = {**(old or {}), "rs1.conf": b"new 1\n", "rs2.conf": b"new 2\n"}
        staged = StagedFiles(out)
        staged.begin()
        assert [staged.write(n, t) for n, t in (("rs1.conf", "new 1\n"), ("rs2.conf", "new 2\n"),
                                                 ("rs3.conf", "same\n"))] == [True, True, False]
        with _crash_at(step, exchange_works=True) as steps, contextlib.suppress(_Crash):
            staged.commit()
        crashed = len(steps) >= step
        state = _files(out, top_only=True)
        pending = (out / ".rsgen-ready").exists()
        which = "mixed, pending" if pending and state not in (old, new) else _which(state, old,
                                                                                   new)
        StagedFiles(out).recover()
        which += f" -> {_which(_files(out, top_only=True), old, new)}"
        assert not _leftovers(out)
        if not crashed:
            assert which == "new -> new"
            break
        seen[f"{which} after a crash at {steps[-1]}"] += 1
    print(f"\nstaged files: {sum(seen.values())} crash points: {dict(seen)}")
    assert any(k.startswith("mixed") for k in seen)  # the documented window exists, and heals


# --- the lock ---------------------------------------------------------------------------------


def test_second_run_is_refused_while_another_holds_the_lock(world: World) -> None:
    """While a run holds the lock, build and refresh exit 8 naming it; check still works."""
    _refresh(world, world.old_irr, world.old_peeringdb)
    env = world.env(world.old_peeringdb)
    ix = str(world.exchange)
    with exchange_lock(world.exchange, "build"):
        built = _run(world.cli("build", "-C", ix, "--offline"), env)
        refreshed = _run(world.cli("refresh", "-C", ix, "--irr-host", world.old_irr), env)
        checked = _run(world.cli("check", "-C", ix), env)
    for result in (built, refreshed):
        assert result.returncode == ExitCode.LOCKED, result.stderr
        assert f"rsgen: another rsgen run is using {ix} (pid {os.getpid()}: " in result.stderr
        assert "hint: wait for it to finish" in result.stderr
    assert checked.returncode == 0, checked.stderr
    assert not (world.exchange / "out").exists()
    assert _run(world.cli("build", "-C", ix, "--offline"), env).returncode == 0


def test_lock_of_a_killed_run_does_not_block_the_next(world: World) -> None:
    """A run killed with SIGKILL while holding the lock leaves nothing that blocks the next."""
    _refresh(world, world.old_irr, world.old_peeringdb)
    env = world.env(world.old_peeringdb)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from rsgen.lock import exchange_lock\n"
         "with exchange_lock(Path(sys.argv[1]), 'build'):\n"
         "    print('locked', flush=True); time.sleep(60)", str(world.exchange)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        refused = _run(world.cli("build", "-C", str(world.exchange), "--offline"), env)
        assert refused.returncode == ExitCode.LOCKED
        assert f"(pid {holder.pid}: " in refused.stderr
    finally:
        holder.kill()
        holder.wait()
    built = _run(world.cli("build", "-C", str(world.exchange), "--offline"), env)
    assert built.returncode == 0, built.stderr
    assert (world.exchange / LOCK_FILE).read_text() == ""  # the holder's name went with it


def test_lock_kept_only_by_a_dead_runs_child_is_waited_for(tmp_path: Path) -> None:
    """A run started just after a kill is not refused over the dead run's half-forked child."""
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    record = json.dumps({"pid": dead.pid, "command": "rsgen refresh"})
    child = subprocess.Popen(  # stands for a child forked by `dead`, not yet exec'ed
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\nfcntl.flock(fd, fcntl.LOCK_EX)\n"
         "os.write(fd, sys.argv[2].encode())\nprint('locked', flush=True)\ntime.sleep(0.3)",
         str(tmp_path / LOCK_FILE), record], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "locked\n"
    started = time.monotonic()
    with exchange_lock(tmp_path, "build"):
        waited = time.monotonic() - started
    child.wait()
    assert 0.05 < waited < 2.0


def test_lock_is_not_reentrant_and_exclusive_across_threads(tmp_path: Path) -> None:
    """The command takes the lock once and its stages never lock: taking it again in the same
    run is a bug, refused at once (RuntimeError) rather than allowed silently or reported as
    another run; another thread is refused (Locked) like another process."""
    refused: list[Locked] = []

    def other() -> None:
        try:
            with exchange_lock(tmp_path, "refresh"):
                pass
        except Locked as exc:
            refused.append(exc)

    with exchange_lock(tmp_path, "build"):
        started = time.monotonic()
        with pytest.raises(RuntimeError, match=r"rsgen refresh tried to take the lock on .*, "
                                               r"which this run holds already for rsgen build"
                           ), exchange_lock(tmp_path, "refresh"):
            pass
        assert time.monotonic() - started < 0.5  # fails fast: no waiting on itself
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert (tmp_path / LOCK_FILE).read_text() != ""  # the failed attempt left it held
    assert len(refused) == 1 and f"(pid {os.getpid()}: " in str(refused[0])
    with exchange_lock(tmp_path, "build"):  # released by the outer block
        pass


def test_lock_file_planted_as_symlink_is_not_written_through(tmp_path: Path) -> None:
    """rsgen (often run as root) refuses a lock file that is a symbolic link."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "ix").mkdir()
    (tmp_path / "ix" / LOCK_FILE).symlink_to(victim)
    with pytest.raises(Locked, match="symbolic link"), exchange_lock(tmp_path / "ix", "build"):
        pass
    assert victim.read_text() == "precious\n"


def test_build_refreshes_missing_data_inside_its_own_lock(world: World) -> None:
    """build without --offline refreshes a missing snapshot first, in the same locked run."""
    result = _run(world.cli("build", "-C", str(world.exchange), "--irr-host", world.old_irr),
                  world.env(world.old_peeringdb))
    assert result.returncode == 0, result.stderr
    assert "refreshing first" in result.stderr
    assert len(read_snapshot(world.exchange).irr) == 8
    assert sorted(p.name for p in (world.exchange / "out").iterdir()) == ["rs1.conf", "rs2.conf"]
    assert not _leftovers(world.exchange)


def test_refresh_with_every_source_failing_keeps_the_snapshot(
        world: World, make_irr_server: MakeIrrServer,
        make_peeringdb_server: MakePeeringDbServer) -> None:
    """If PeeringDB and IRR both fail, snapshot/ keeps every byte and mtime; builds work."""
    _refresh(world, world.old_irr, world.old_peeringdb)
    snapshot = world.exchange / "snapshot"
    before = _files(snapshot)
    stamps = {p: p.stat().st_mtime_ns for p in snapshot.rglob("*")}
    dead_irr = make_irr_server(mode="refuse")
    broken_peeringdb = make_peeringdb_server(mode="malformed")
    result = _run(world.cli("refresh", "-C", str(world.exchange), "--irr-host", dead_irr.host),
                  world.env(broken_peeringdb.url))
    assert result.returncode == ExitCode.SOURCE_FAILED, result.stderr
    assert "8 member(s) failed and keep their previous IRR data" in result.stderr
    assert "PeeringDB failed: every member keeps its previous PeeringDB data" in result.stderr
    assert _files(snapshot) == before
    assert {p: p.stat().st_mtime_ns for p in snapshot.rglob("*")} == stamps
    assert len(read_snapshot(world.exchange).irr) == 8
    assert not _leftovers(world.exchange)
    assert _run(world.cli("build", "-C", str(world.exchange), "--offline"),
                world.env(broken_peeringdb.url)).returncode == 0


def test_output_directory_rsgen_does_not_own_is_written_into_not_swapped(
        world: World, tmp_path: Path) -> None:
    """A -o directory is written into, never swapped: its other files stay. A symlinked
    out/ (the exchange repository's own, so a pull request's) is refused, not followed."""
    _refresh(world, world.old_irr, world.old_peeringdb)
    etc = tmp_path / "etc-bird"
    etc.mkdir()
    (etc / "bird.conf").write_text("# the operator's\n")
    inode = etc.stat().st_ino
    (world.exchange / "out").symlink_to(etc)
    with pytest.raises(InvalidInput, match="out: is a symbolic link"):
        build(world.exchange, offline=True)
    assert sorted(p.name for p in etc.iterdir()) == ["bird.conf"]
    first = build(world.exchange, etc, offline=True)
    assert [p.name for p in first.changed] == ["rs1.conf", "rs2.conf"]
    assert (world.exchange / "out").is_symlink() and etc.stat().st_ino == inode
    assert sorted(p.name for p in etc.iterdir()) == ["bird.conf", "rs1.conf", "rs2.conf"]
    assert build(world.exchange, etc, offline=True).changed == ()
    assert not _leftovers(world.exchange, etc)


def test_new_output_directory_is_rsgen_s_own_and_swapped_whole(world: World,
                                                               tmp_path: Path) -> None:
    """A -o directory that rsgen creates is marked as its own and later replaced whole, so
    its configs change all at once; a directory it did not create never is."""
    _refresh(world, world.old_irr, world.old_peeringdb)
    out = tmp_path / "configs"
    build(world.exchange, out, offline=True)
    assert (out / ".rsgen-output").is_file()
    inode = out.stat().st_ino
    _refresh(world, world.new_irr, world.new_peeringdb)
    second = build(world.exchange, out, offline=True)
    assert second.changed and out.stat().st_ino != inode  # swapped, not written into
    assert sorted(p.name for p in out.iterdir()) == [".rsgen-output", "rs1.conf", "rs2.conf"]
