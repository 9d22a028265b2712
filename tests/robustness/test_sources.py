"""Failing sources, injected at the refresh level: `python -m rsgen refresh` against local IRR
and PeeringDB servers that misbehave, and a PATH without bgpq4.

For each fault in FAULTS the exchange starts from one known good snapshot (a successful
refresh against healthy servers), the CLI runs in a subprocess, and the tests check what an
operator relies on: the documented exit code, one `error:` line per affected member (or one
for PeeringDB) that names the fault, no traceback, the snapshot byte for byte as it was, and
`rsgen build --offline` still working from it.

PeeringDB retries with real sleeps (1+2+4+8 s backoff), so a persistent PeeringDB fault costs
15-20 s. All runs therefore happen at once, in one module fixture; the tests read its results.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from rsgen.errors import ExitCode
from tests.fixtures.pdb_server import Mode as PeeringDbMode
from tests.fixtures.pdb_server import PeeringDbFixtureServer
from tests.fixtures.whoisd import Mode as IrrMode
from tests.fixtures.whoisd import WhoisServer, parse_rpsl
from tests.helpers import REPO, build_tree

IRR_TIMEOUT = 3  # seconds per bgpq4 query (irr.timeout)
PEERINGDB_TIMEOUT = 1  # seconds per PeeringDB request (peeringdb.timeout)

EXCHANGE = f"""
name: Fault IX
route_servers:
  - {{name: rs1, asn: 65500, router_id: 198.51.100.1, ipv4: 198.51.100.1, ipv6: "2001:db8::1"}}
peering_lan: {{ipv4: 198.51.100.0/24, ipv6: "2001:db8::/64"}}
irr: {{sources: [RIPE, RADB], timeout: {IRR_TIMEOUT}, parallel: 2}}
peeringdb: {{timeout: {PEERINGDB_TIMEOUT}}}
"""

# The same small IRR as tests/test_refresh.py.
RPSL = (Path(__file__).parent.parent / "fixtures" / "rpsl" / "small-exchange.rpsl").read_text()

MEMBERS = (3333, 10745)


def _net(asn: int, irr_as_set: str) -> dict[str, object]:
    return {"asn": asn, "name": f"Net {asn}", "irr_as_set": irr_as_set, "info_prefixes4": 10,
            "info_prefixes6": 5, "info_never_via_route_servers": False, "status": "ok"}


# AS2914 is no member: only an answer that ignores the query ("unfiltered") contains it.
PEERINGDB_RECORDS = [_net(3333, "RIPE::AS-GOOD"), _net(10745, ""), _net(2914, "")]


def _member(asn: int, octet: int) -> str:
    return (f"asn: {asn}\nname: Net {asn}\nsessions:\n  - ip: 198.51.100.{octet}\n"
            f"  - ip: '2001:db8::{octet}'\n")


@dataclass(frozen=True)
class Fault:
    """One injected fault and what the operator must see."""

    name: str
    exit_code: ExitCode
    reason: str = ""  # regex every error line about the fault must match
    irr: IrrMode = "ok"
    peeringdb: PeeringDbMode = "ok"
    peeringdb_times: int | None = None  # misbehave for this many requests; None: always
    retry_after: str | None = "1"
    no_bgpq4: bool = False
    irr_fails: bool = False  # each member's IRR data is reported as kept
    peeringdb_fails: bool = False  # PeeringDB is reported as failed
    max_seconds: float = 10.0  # the refresh must give up (or recover) within this

    @property
    def transient(self) -> bool:
        return self.peeringdb_times is not None


# Backoff 1+2+4+8 s between PeeringDB's 5 attempts: a persistent retryable fault takes 15 s.
_GIVE_UP = 15 + 5 * PEERINGDB_TIMEOUT + 8

FAULTS = [
    Fault("irr-refused", ExitCode.SOURCE_FAILED, r"Connection refused", irr="refuse",
          irr_fails=True),
    Fault("irr-hanging", ExitCode.SOURCE_FAILED,
          rf"no answer from 127\.0\.0\.1:\d+ within {IRR_TIMEOUT} s", irr="hang",
          irr_fails=True, max_seconds=2 * IRR_TIMEOUT + 6),
    # bgpq4 either reads the early EOF or, still writing pipelined queries into the reset
    # connection, dies of SIGPIPE first: which one depends on timing, and both name the fault.
    Fault("irr-reset-mid-answer", ExitCode.SOURCE_FAILED,
          r"EOF from IRRd|closed the connection while bgpq4 was still sending", irr="reset",
          irr_fails=True),
    Fault("irr-garbage", ExitCode.SOURCE_FAILED, r"bgpq4 reported: ERROR:.*'%%%'",
          irr="garbage", irr_fails=True),
    Fault("irr-closed-before-answer", ExitCode.SOURCE_FAILED, r"failed read from IRRd",
          irr="close", irr_fails=True),
    Fault("peeringdb-timeout", ExitCode.SOURCE_FAILED,
          rf"failed after 5 attempts: no answer within {PEERINGDB_TIMEOUT} s",
          peeringdb="hang", peeringdb_fails=True, max_seconds=_GIVE_UP),
    Fault("peeringdb-500", ExitCode.SOURCE_FAILED, r"failed after 5 attempts: HTTP 500",
          peeringdb="500", peeringdb_fails=True, max_seconds=_GIVE_UP),
    Fault("peeringdb-429-retry-after-0", ExitCode.SOURCE_FAILED,
          r"failed after 5 attempts: HTTP 429 Too Many Requests \(rate limited\)",
          peeringdb="429", retry_after="0", peeringdb_fails=True),
    Fault("peeringdb-429-retry-after-3600", ExitCode.SOURCE_FAILED,
          r"rate limit: asked to wait 3600 s .* more than the 120 s rsgen waits",
          peeringdb="429", retry_after="3600", peeringdb_fails=True),
    Fault("peeringdb-html-instead-of-json", ExitCode.SOURCE_FAILED,
          r"is malformed: not valid JSON", peeringdb="malformed", peeringdb_fails=True),
    Fault("peeringdb-truncated-json", ExitCode.SOURCE_FAILED,
          r"is malformed: not valid JSON, or cut short", peeringdb="truncated",
          peeringdb_fails=True),
    Fault("peeringdb-wrong-shape", ExitCode.SOURCE_FAILED,
          r'is malformed: expected a JSON object with a "data" list',
          peeringdb="wrong-shape", peeringdb_fails=True),
    Fault("peeringdb-records-not-asked-for", ExitCode.SOURCE_FAILED,
          r"is malformed: data\[\d\] is AS2914, which was not asked for",
          peeringdb="unfiltered", peeringdb_fails=True),
    Fault("irr-refused-and-peeringdb-malformed", ExitCode.SOURCE_FAILED,
          r"Connection refused|is malformed", irr="refuse", peeringdb="malformed",
          irr_fails=True, peeringdb_fails=True),
    Fault("bgpq4-missing", ExitCode.MISSING_TOOL, r"bgpq4 is not installed", no_bgpq4=True),
    # Blips: PeeringDB misbehaves a bounded number of times, the retries get through.
    Fault("peeringdb-500-twice", ExitCode.OK, peeringdb="500", peeringdb_times=2),
    Fault("peeringdb-429-once", ExitCode.OK, peeringdb="429", peeringdb_times=1,
          retry_after="5"),
    Fault("peeringdb-timeout-once", ExitCode.OK, peeringdb="hang", peeringdb_times=1),
]


@dataclass(frozen=True)
class Outcome:
    """What one faulty refresh did, and what the snapshot looked like before and after."""

    refresh: subprocess.CompletedProcess[str]
    seconds: float
    before: dict[str, bytes]
    after: dict[str, bytes]
    peeringdb_requests: int
    bgpq4_left: list[str]  # command lines of bgpq4 processes still running afterwards
    build: subprocess.CompletedProcess[str]
    config: str  # the route server config `build --offline` wrote


def _state(directory: Path) -> dict[str, bytes]:
    """The snapshot's files by path, plus the names of the exchange directory's entries.

    Leftovers of a failed write (a staging copy beside snapshot/) show up as extra names.
    """
    files = {f"snapshot/{p.relative_to(directory / 'snapshot')}": p.read_bytes()
             for p in sorted((directory / "snapshot").rglob("*")) if p.is_file()}
    files["(entries)"] = "\n".join(sorted(p.name for p in directory.iterdir())).encode()
    return files


def _bgpq4_processes(irr_host: str) -> list[str]:
    """bgpq4 processes still asking this IRR server (so this case's, not another's)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        if argv and argv[0].endswith(b"bgpq4") and irr_host.encode() in argv:
            found.append(b" ".join(argv).decode(errors="replace"))
    return found


def _rsgen(*args: str, path: str, peeringdb_url: str = "",
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "LANG": "C.UTF-8"}
    if peeringdb_url:
        env["RSGEN_PEERINGDB_URL"] = peeringdb_url
    return subprocess.run([sys.executable, "-m", "rsgen", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, check=False, timeout=timeout)


def _run_case(fault: Fault, directory: Path, irr: WhoisServer,
              peeringdb: PeeringDbFixtureServer, empty_path: Path) -> Outcome:
    before = _state(directory)
    path = str(empty_path) if fault.no_bgpq4 else _PATH
    started = time.monotonic()
    refreshed = _rsgen("refresh", "-C", str(directory), "--irr-host", irr.host, path=path,
                       peeringdb_url=peeringdb.url)
    seconds = time.monotonic() - started
    after = _state(directory)
    left = _bgpq4_processes(irr.host)
    built = _rsgen("build", "--offline", "-C", str(directory), "-o", str(directory / "out"),
                   path=_PATH)
    config_file = directory / "out" / "rs1.conf"
    config = config_file.read_text() if config_file.is_file() else ""
    return Outcome(refreshed, seconds, before, after, len(peeringdb.requests), left, built,
                   config)


_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture(scope="module")
def known_good(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An exchange refreshed once against healthy servers: the state every fault starts from."""
    root = tmp_path_factory.mktemp("known-good") / "ix"
    build_tree(root, {"exchange.yml": EXCHANGE,
                      **{f"members/AS{asn}.yml": _member(asn, i + 10)
                         for i, asn in enumerate(MEMBERS)}})
    with WhoisServer(parse_rpsl(RPSL)) as irr, \
            PeeringDbFixtureServer(PEERINGDB_RECORDS) as peeringdb:
        done = _rsgen("refresh", "-C", str(root), "--irr-host", irr.host, path=_PATH,
                      peeringdb_url=peeringdb.url)
    assert done.returncode == 0, done.stderr
    yield root


@pytest.fixture(scope="module")
def outcomes(known_good: Path, tmp_path_factory: pytest.TempPathFactory,
             ) -> dict[str, Outcome]:
    """Every fault's refresh, run at the same time (the slow ones first), then its build."""
    base = tmp_path_factory.mktemp("faults")
    empty_path = base / "empty-path"  # a PATH with nothing on it: no bgpq4
    empty_path.mkdir()
    with ExitStack() as stack, ThreadPoolExecutor(max_workers=6) as pool:
        futures = {}
        for fault in sorted(FAULTS, key=lambda f: -f.max_seconds):
            directory = base / fault.name
            shutil.copytree(known_good, directory, symlinks=True)
            irr = stack.enter_context(WhoisServer(parse_rpsl(RPSL), mode=fault.irr))
            peeringdb = stack.enter_context(PeeringDbFixtureServer(PEERINGDB_RECORDS))
            peeringdb.configure(retry_after=fault.retry_after, hang_seconds=30.0)
            peeringdb.set_mode(fault.peeringdb, times=fault.peeringdb_times)
            futures[fault.name] = pool.submit(_run_case, fault, directory, irr, peeringdb,
                                              empty_path)
        return {name: future.result() for name, future in futures.items()}


def _ids(fault: Fault) -> str:
    return fault.name


FAILING = [f for f in FAULTS if f.exit_code != ExitCode.OK]
TRANSIENT = [f for f in FAULTS if f.transient]


@pytest.mark.parametrize("fault", FAULTS, ids=_ids)
def test_documented_exit_code(fault: Fault, outcomes: dict[str, Outcome]) -> None:
    """A source fault exits 4, bgpq4 missing exits 7, a blip that retries cure exits 0."""
    done = outcomes[fault.name].refresh
    assert done.returncode == fault.exit_code, done.stderr


@pytest.mark.parametrize("fault", FAILING, ids=_ids)
def test_report_names_each_affected_member_and_the_fault(
        fault: Fault, outcomes: dict[str, Outcome]) -> None:
    """Each member whose IRR data was kept, and PeeringDB, gets one `error:` line saying why."""
    stderr = outcomes[fault.name].refresh.stderr
    lines = stderr.splitlines()
    for asn in MEMBERS:
        mine = [line for line in lines if line.startswith(f"error: AS{asn}: ")]
        assert len(mine) == (1 if fault.irr_fails else 0), stderr
        for line in mine:
            assert re.search(fault.reason, line), line
            assert "hint:" not in line, line  # advice is given once, in the closing line
    if fault.irr_fails:
        # The server is the suspect, not the members' registrations; said once for all.
        assert "answers IRRd queries" in lines[-1], stderr
        assert "registered with routes" not in stderr
        assert stderr.count("answers IRRd queries") == 1, stderr
    peeringdb = [line for line in lines if line.startswith("error: PeeringDB: ")]
    assert len(peeringdb) == (1 if fault.peeringdb_fails else 0), stderr
    assert all(re.search(fault.reason, line) for line in peeringdb), stderr
    assert lines[-1].startswith("rsgen: "), stderr  # one closing summary line
    for line in lines:  # each message reads as one whole sentence, cut nowhere
        assert line.count("(") == line.count(")"), line
    # Advice to get an API key only where one helps: a rate limit.
    assert ("PEERINGDB_API_KEY" in stderr) == (fault.peeringdb == "429"), stderr
    if fault.no_bgpq4:
        assert lines == ["rsgen: bgpq4 is not installed (looked for 'bgpq4') "
                         "(hint: install it: apt-get install bgpq4)"]


@pytest.mark.parametrize("fault", FAULTS, ids=_ids)
def test_no_traceback(fault: Fault, outcomes: dict[str, Outcome]) -> None:
    """No fault makes rsgen print a Python traceback or call itself broken."""
    done = outcomes[fault.name].refresh
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "internal error" not in output, output


@pytest.mark.parametrize("fault", FAULTS, ids=_ids)
def test_snapshot_stays_byte_identical(fault: Fault, outcomes: dict[str, Outcome]) -> None:
    """The snapshot after the fault is byte for byte the known good one; nothing left over."""
    outcome = outcomes[fault.name]
    assert outcome.before["snapshot/irr/AS3333.json"]  # the known good state has data
    assert outcome.after == outcome.before


@pytest.mark.parametrize("fault", FAULTS, ids=_ids)
def test_offline_build_still_works(fault: Fault, outcomes: dict[str, Outcome]) -> None:
    """After the fault, `rsgen build --offline` builds from the kept snapshot."""
    outcome = outcomes[fault.name]
    assert outcome.build.returncode == ExitCode.OK, outcome.build.stderr
    assert "193.0.10.0/23{23,24}" in outcome.config  # the known good prefix list


@pytest.mark.parametrize("fault", FAULTS, ids=_ids)
def test_gives_up_in_bounded_time(fault: Fault, outcomes: dict[str, Outcome]) -> None:
    """A hanging or failing source costs at most its timeouts and retries, and kills bgpq4."""
    outcome = outcomes[fault.name]
    assert outcome.seconds < fault.max_seconds
    assert outcome.bgpq4_left == []


@pytest.mark.parametrize("fault", TRANSIENT, ids=_ids)
def test_blips_are_retried_quietly(fault: Fault, outcomes: dict[str, Outcome]) -> None:
    """A PeeringDB blip is retried until it answers: exit 0, no error, nothing changed."""
    outcome = outcomes[fault.name]
    assert fault.peeringdb_times is not None
    assert outcome.peeringdb_requests >= fault.peeringdb_times + 1
    # Nothing but the progress lines a log gets (stderr is not a terminal here).
    assert [line for line in outcome.refresh.stderr.splitlines()
            if not line.startswith("IRR expansions (bgpq4): ")] == [], outcome.refresh.stderr
    summary, cost = outcome.refresh.stdout.splitlines()
    assert summary == ("refreshed 2 member(s); 0 snapshot file(s) changed; PeeringDB lists 0 "
                       "network(s) as never via route servers")
    assert re.fullmatch(r"IRR: \d+ bgpq4 queries for 2 members \(2 distinct AS-SET bundles\) "
                        r"in [0-9.]+ s, \d+ ms per query", cost), cost


def test_retry_after_is_honoured(outcomes: dict[str, Outcome]) -> None:
    """After a 429 with Retry-After: 5 the client waits those 5 s, not its own 1 s backoff."""
    assert outcomes["peeringdb-429-once"].seconds >= 5.0
