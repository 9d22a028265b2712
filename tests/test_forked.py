"""Work in a forked child (rsgen.forked): its answer when it has one, else None and the
caller does the work itself. A build's second route server and half of a large snapshot's IRR
checks run so; the result must be what the serial code gives, errors included."""

from __future__ import annotations

import os
import shutil
import signal
import threading
from pathlib import Path

import pytest

import rsgen.forked
import rsgen.snapshot
from rsgen import forked
from rsgen.builder import build
from rsgen.errors import BirdRejected, NoSnapshot
from rsgen.snapshot import read_snapshot
from rsgen.templatedir import default_templates_dir

from .helpers import copy_example

GOLDEN = Path(__file__).parent / "golden" / "example" / "expected"


@pytest.fixture
def forking(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Fork even where the test runner has threads of its own; counts the children."""
    started: list[int] = []
    real_start = forked.start

    def counted(work: object) -> object:
        child = real_start(work)  # type: ignore[arg-type]
        if child is not None:
            started.append(1)
        return child

    monkeypatch.setattr(rsgen.forked.threading, "active_count", lambda: 1)
    monkeypatch.setattr(rsgen.forked, "start", counted)
    return started


def test_the_childs_value(forking: list[int]) -> None:
    child = forked.start(lambda: {"answer": 6 * 7, "pid": os.getpid()})
    assert child is not None
    value = child.result()
    assert value is not None and value["answer"] == 42 and value["pid"] != os.getpid()


def test_a_child_that_raises_answers_none(forking: list[int]) -> None:
    def fails() -> int:
        raise ValueError("no")

    child = forked.start(fails)
    assert child is not None and child.result() is None


def test_an_answer_that_cannot_be_sent_is_none(forking: list[int]) -> None:
    child = forked.start(lambda: lambda: 1)  # a lambda does not pickle
    assert child is not None and child.result() is None


def test_a_killed_child_answers_none(forking: list[int]) -> None:
    def dies() -> int:
        os.kill(os.getpid(), signal.SIGKILL)
        return 1

    child = forked.start(dies)
    assert child is not None and child.result() is None


def test_no_fork_while_other_threads_run() -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert forked.start(lambda: 1) is None
    finally:
        stop.set()
        other.join()


def test_abandon_stops_and_reaps_the_child(forking: list[int]) -> None:
    child = forked.start(lambda: threading.Event().wait(600))
    assert child is not None
    pid = child._pid
    child.abandon()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_a_forked_snapshot_read_is_the_serial_one(tmp_path: Path, forking: list[int],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    example = copy_example(tmp_path / "ix")
    serial = read_snapshot(example)
    assert not forking
    monkeypatch.setattr(rsgen.snapshot, "_FORK_FROM_IRR_FILES", 2)
    assert read_snapshot(example) == serial
    assert forking == [1]


def test_a_damaged_file_in_the_childs_half_is_reported_as_serially(
        tmp_path: Path, forking: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    example = copy_example(tmp_path / "ix")
    # The example's IRR files sorted: the child checks the last four, AS59257 among them.
    damaged = example / "snapshot" / "irr" / "AS59257.json"
    damaged.write_text(damaged.read_text(encoding="utf-8").replace('"asn": 59257',
                                                                   '"asn": 1'))
    with pytest.raises(NoSnapshot) as serial:
        read_snapshot(example)
    monkeypatch.setattr(rsgen.snapshot, "_FORK_FROM_IRR_FILES", 2)
    with pytest.raises(NoSnapshot) as parallel:
        read_snapshot(example)
    assert forking == [1]
    assert str(parallel.value) == str(serial.value) and "AS59257.json" in str(serial.value)


def test_a_forked_build_writes_the_golden_configs(tmp_path: Path, forking: list[int],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    example = copy_example(tmp_path / "ix")
    build(example, offline=True)
    assert forking, "the second route server was not rendered in a child"
    for expected in sorted(GOLDEN.glob("*.conf")):
        assert (example / "out" / expected.name).read_bytes() == expected.read_bytes()


def test_bird_refusing_the_childs_config_is_reported_as_serially(
        tmp_path: Path, forking: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    example = copy_example(tmp_path / "ix")
    templates = Path(shutil.copytree(default_templates_dir(), tmp_path / "templates"))
    main = templates / "bird2" / "route-server.conf.j2"
    main.write_text(main.read_text(encoding="utf-8")
                    + '{% if rs.name == "rs2" %}\nthis is not bird;\n{% endif %}\n',
                    encoding="utf-8")
    with pytest.raises(BirdRejected) as refused:
        build(example, offline=True, templates=templates)
    assert forking
    assert "bird -p rejected rs2.conf" in str(refused.value)
    kept = Path(str(refused.value.hint).split("kept at ")[1].split(";")[0])
    assert kept.read_text(encoding="utf-8").endswith("this is not bird;\n")
    assert not (example / "out").exists()
