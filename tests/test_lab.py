"""The namespace lab behind `rsgen verify`, on real network namespaces (the tests run as root)."""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rsgen.sources.proc import run
from rsgen.verification.lab import (
    HOST_INTERFACE,
    NETNS_DIR,
    HostSpec,
    Lab,
    LabError,
    check_privileges,
    cleanup_stale,
)
from tests.helpers import REPO

NOBODY = 65534

# Answers every connection on each address given with the host's name; runs inside a namespace.
SERVER = textwrap.dedent("""
    import selectors, socket, sys
    name, port, addresses = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    selector = selectors.DefaultSelector()
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((address, port))
        listener.listen()
        selector.register(listener, selectors.EVENT_READ)
    print("listening", flush=True)
    while True:
        for key, _ in selector.select():
            connection, _ = key.fileobj.accept()
            connection.sendall(name.encode())
            connection.close()
""")

# Connects from a given source address (fails if that address were still tentative) and prints
# what the server said; retries while the server starts.
CLIENT = textwrap.dedent("""
    import socket, sys, time
    source, target, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    family = socket.AF_INET6 if ":" in target else socket.AF_INET
    deadline = time.monotonic() + 5
    while True:
        client = socket.socket(family, socket.SOCK_STREAM)
        client.bind((source, 0))
        client.settimeout(2)
        try:
            client.connect((target, port))
            break
        except ConnectionRefusedError:
            client.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    print(client.recv(100).decode())
""")

# Connects to a closed port on every address given: a TCP reset proves the host is there.
PROBE = textwrap.dedent("""
    import socket, sys
    silent = []
    for address in sys.argv[1:]:
        try:
            socket.create_connection((address, 9), timeout=2).close()
        except ConnectionRefusedError:
            continue
        except OSError as exc:
            silent.append(f"{address}: {exc}")
    print(" ".join(silent))
""")


def _hosts(count: int) -> list[HostSpec]:
    """count hosts h0, h1, ... on 192.0.2.0/24 and 2001:db8:ffff::/64, numbered from .1."""
    return [HostSpec(f"h{i}", (ipaddress.IPv4Interface(f"192.0.2.{i + 1}/24"),
                               ipaddress.IPv6Interface(f"2001:db8:ffff::{i + 1:x}/64")))
            for i in range(count)]


def _namespaces(prefix: str) -> list[str]:
    return sorted(path.name for path in NETNS_DIR.iterdir() if path.name.startswith(prefix))


def _gone(pid: int) -> bool:
    """Dead: no such process, or a zombie nobody has reaped yet."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def _wait_for_line(path: Path, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if text.endswith("\n"):
            return text
        time.sleep(0.02)
    raise AssertionError(f"nothing written to {path} within {timeout} s")


def _which(program: str) -> str:
    path = shutil.which(program)
    assert path is not None, f"{program} is not installed"
    return path


def _address(host: HostSpec, version: int) -> str:
    return next(str(a.ip) for a in host.addresses if a.version == version)


@pytest.fixture
def no_leftovers() -> Iterator[None]:
    """Fail the test if it left a namespace of this process behind."""
    mine = f"rsv-{os.getpid()}-"
    before = set(_namespaces(mine))
    yield
    assert set(_namespaces(mine)) <= before


def test_privileges_suffice_as_root() -> None:
    """As root, check_privileges lets `rsgen verify` go on (its probe namespace is removed)."""
    check_privileges()
    assert not [n for n in _namespaces(f"rsv-{os.getpid()}-") if "probe" in n]


def test_hosts_reach_each_other_over_ipv4_and_ipv6(tmp_path: Path, no_leftovers: None) -> None:
    """Peers and route server talk TCP over the LAN addresses, both families, from the start."""
    hosts = _hosts(3)
    with Lab(hosts, tmp_path) as lab:
        server = hosts[0]
        ready = tmp_path / "server.log"
        lab.spawn(server.name, [sys.executable, "-c", SERVER, server.name, "7000",
                                _address(server, 4), _address(server, 6)], log=ready)
        assert _wait_for_line(ready) == "listening\n"
        for client in hosts[1:]:
            for version in (4, 6):
                argv = [sys.executable, "-c", CLIENT, _address(client, version),
                        _address(server, version), "7000"]
                done = lab.run(client.name, argv, timeout=10)
                assert (done.returncode, done.stdout.strip()) == (0, server.name), done.stderr


def test_ipv6_addresses_are_never_tentative(tmp_path: Path, no_leftovers: None) -> None:
    """BIRD can bind its IPv6 addresses at once: no address waits for duplicate detection."""
    with Lab(_hosts(2), tmp_path) as lab:
        for host in ("h0", "h1"):
            shown = lab.run(host, ["ip", "-6", "addr", "show", "dev", HOST_INTERFACE],
                            timeout=5).stdout
            assert "scope link" in shown  # a link-local address, as on a real peering LAN
            assert "2001:db8:ffff::" in shown
            assert "tentative" not in shown


def test_close_kills_every_process_and_removes_the_namespaces(
        tmp_path: Path, no_leftovers: None) -> None:
    """After a run no BIRD survives, even one ignoring SIGTERM or escaped from its group."""
    stubborn = textwrap.dedent("""
        import signal, subprocess, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen(["sleep", "60"])
        escaped = subprocess.Popen(["sleep", "60"], start_new_session=True)
        print(child.pid, escaped.pid, flush=True)
        time.sleep(60)
    """)
    lab = Lab(_hosts(2), tmp_path, stop_timeout=0.2)
    with lab:
        plain = lab.spawn("h0", ["sleep", "60"], log=tmp_path / "sleep.log")
        ignoring = lab.spawn("h1", [sys.executable, "-c", stubborn], log=tmp_path / "stub.log")
        others = [int(pid) for pid in _wait_for_line(tmp_path / "stub.log").split()]
        assert len(_namespaces(lab.prefix)) == 3
    assert plain.returncode == -signal.SIGTERM
    assert ignoring.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 2
    while not all(_gone(pid) for pid in others) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert all(_gone(pid) for pid in others)
    assert _namespaces(lab.prefix) == []
    lab.close()  # again: a no-op


def test_failed_setup_leaves_nothing_behind(tmp_path: Path, no_leftovers: None) -> None:
    """An address the kernel rejects fails the run, naming the culprit; no namespace stays."""
    hosts = [*_hosts(2), HostSpec("h2", (ipaddress.IPv6Interface("ff02::5/64"),))]
    lab = Lab(hosts, tmp_path)
    with pytest.raises(LabError, match=r"configure host h2: .*addr add ff02::5/64"), lab:
        pytest.fail("the lab must not come up")
    assert _namespaces(lab.prefix) == []
    lab.close()


def test_stale_namespaces_of_dead_runs_are_removed(tmp_path: Path) -> None:
    """Leftovers of a killed run (and their processes) go; a live run's namespaces stay."""
    finished = subprocess.Popen([sys.executable, "-c", ""])
    finished.wait()
    stale, live = f"rsv-{finished.pid}-t1-sw", f"rsv-{os.getpid()}-t1-sw"
    for name in (stale, live):
        assert run(["ip", "netns", "add", name], timeout=5).returncode == 0
    straggler = subprocess.Popen([_which("ip"), "netns", "exec", stale, "sleep", "60"])
    try:
        deadline = time.monotonic() + 2  # until sleep runs inside the namespace
        while Path(f"/proc/{straggler.pid}/comm").read_text().strip() != "sleep":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        removed = cleanup_stale()
        assert stale in removed
        assert live not in removed
        assert straggler.wait(timeout=5) == -signal.SIGKILL
        assert not (NETNS_DIR / stale).exists()
        assert (NETNS_DIR / live).exists()
    finally:
        straggler.kill()
        straggler.wait()
        for name in (stale, live):
            run(["ip", "netns", "del", name], timeout=5)


def test_sigterm_tears_the_lab_down(tmp_path: Path) -> None:
    """`kill -TERM` on a running `rsgen verify` leaves no namespace and no BIRD behind."""
    script = textwrap.dedent("""
        import ipaddress, sys, time
        from pathlib import Path
        from rsgen.verification.lab import HostSpec, Lab, terminate_on_signals
        workdir = Path(sys.argv[1])
        hosts = [HostSpec(f"h{i}", (ipaddress.IPv4Interface(f"192.0.2.{i + 1}/24"),))
                 for i in range(3)]
        with terminate_on_signals(), Lab(hosts, workdir) as lab:
            sleeper = lab.spawn("h1", ["sleep", "60"], log=workdir / "sleep.log")
            print(lab.prefix, sleeper.pid, flush=True)
            time.sleep(60)
    """)
    with subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], cwd=REPO,
                          stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line, "the lab did not come up"
            prefix, pid = line.split()
            assert len(_namespaces(prefix)) == 4
            child.send_signal(signal.SIGTERM)
            assert child.wait(timeout=10) == 128 + signal.SIGTERM
        finally:
            child.kill()
    assert _namespaces(prefix) == []
    assert _gone(int(pid))


def test_thirty_hosts_come_up_fast_and_all_answer(tmp_path: Path, no_leftovers: None) -> None:
    """A 30-member exchange gets its lab in well under 2 s, every member on the LAN."""
    hosts = _hosts(30)
    lab = Lab(hosts, tmp_path)
    started = time.monotonic()
    with lab:
        took = time.monotonic() - started
        targets = [_address(h, v) for h in hosts[1:] for v in (4, 6)]
        done = lab.run("h0", [sys.executable, "-c", PROBE, *targets], timeout=30)
        assert (done.returncode, done.stdout.strip()) == (0, ""), done.stderr
    assert took < 2.0, f"building the lab took {took:.2f} s"
    assert _namespaces(lab.prefix) == []


def test_names_fit_the_kernel_limits() -> None:
    """Long member names never produce an interface name Linux refuses (15 characters)."""
    hosts = [HostSpec(f"AS4200000{i:03d}_with_a_long_name", ()) for i in range(300)]
    lab = Lab(hosts, Path("unused"), run_id="abc")
    assert lab.switch_netns == f"rsv-{os.getpid()}-abc-sw"
    assert len({lab.netns(h.name) for h in hosts}) == len(hosts)
    assert all(lab.netns(h.name).startswith(f"rsv-{os.getpid()}-abc-") for h in hosts)
    assert max(len(lab.switch_port(h.name)) for h in hosts) <= 15
    assert len(HOST_INTERFACE) <= 15
    with pytest.raises(ValueError, match="letters, digits"):
        Lab([HostSpec("AS 1", ())], Path("unused"))
    with pytest.raises(ValueError, match="unique"):
        Lab([HostSpec("rs1", ()), HostSpec("rs1", ())], Path("unused"))


def _readable_copy_of_rsgen(home: Path) -> Path:
    """rsgen's sources where any user can read them: the checkout may sit under /root."""
    target = home / "src"
    shutil.copytree(REPO / "rsgen", target / "rsgen",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


def _python_for(uid: int, source: Path) -> str:
    """A Python that the user can run and that imports the lab (ours may be under /root)."""
    for candidate in ("/usr/bin/python3", sys.executable):
        done = subprocess.run(
            [_which("setpriv"), f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
             candidate, "-c", "import rsgen.verification.lab"],
            env={**os.environ, "PYTHONPATH": str(source)}, cwd=source,
            capture_output=True, check=False)
        if done.returncode == 0:
            return candidate
    raise AssertionError(f"no Python >= 3.11 that uid {uid} can run")


def _run_as_nobody(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a Python script as nobody, with a copy of rsgen it can read, its first argument a
    work directory it owns, then `args`."""
    home = Path(tempfile.mkdtemp(prefix="rsv-test-"))
    try:
        home.chmod(0o755)
        source = _readable_copy_of_rsgen(home)
        (home / "lab").mkdir()
        os.chown(home / "lab", NOBODY, NOBODY)
        return subprocess.run(
            [_which("setpriv"), f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
             _python_for(NOBODY, source), "-c", script, str(home / "lab" / "work"), *args],
            cwd=source, env={**os.environ, "PYTHONPATH": str(source)},
            capture_output=True, text=True, timeout=90, check=False)
    finally:
        shutil.rmtree(home)


def test_an_unprivileged_user_gets_a_lab_in_a_user_namespace() -> None:
    """Without root, rsgen verify explains the way out, and re-run in a user namespace it works."""
    script = textwrap.dedent("""
        import ipaddress, os, sys
        from pathlib import Path
        from rsgen.errors import NoPrivilege
        from rsgen.verification import lab as L
        workdir, probe = Path(sys.argv[1]), sys.argv[2]
        if not os.environ.get(L.USERNS_MARK):
            try:
                L.check_privileges()
            except NoPrivilege as exc:
                print("refused:", exc, flush=True)
            L.reexec_in_user_namespace([sys.executable, *sys.orig_argv[1:]])
        L.check_privileges()
        hosts = [L.HostSpec(f"h{i}", (ipaddress.IPv4Interface(f"192.0.2.{i + 1}/24"),
                                       ipaddress.IPv6Interface(f"2001:db8:ffff::{i + 1}/64")))
                 for i in range(2)]
        with L.Lab(hosts, workdir) as lab:
            done = lab.run("h1", [sys.executable, "-c", probe, "192.0.2.1", "2001:db8:ffff::1"],
                           timeout=10)
            print("uid", os.getuid(), "reached", repr(done.stdout.strip()), lab.prefix)
    """)
    done = _run_as_nobody(script, PROBE)
    assert done.returncode == 0, done.stderr
    refused, reached = done.stdout.splitlines()
    assert "needs root" in refused and "user namespace, which works" in refused
    assert reached.startswith("uid 0 reached ''")
    # The namespaces lived on a private tmpfs: none ever showed up in the real /run/netns.
    assert _namespaces(reached.split()[-1]) == []


def test_confined_bird_in_a_user_namespace_cannot_write_host_files() -> None:
    """verify without root: the lab's BIRDs still run under the sandbox (the host read-only,
    only CAP_NET_BIND_SERVICE), so a `log "FILE"` directive cannot write a host file."""
    script = textwrap.dedent("""
        import ipaddress, os, sys, time
        from pathlib import Path
        from rsgen.verification import lab as L
        workdir, target = Path(sys.argv[1]), sys.argv[2]
        if not os.environ.get(L.USERNS_MARK):
            L.reexec_in_user_namespace([sys.executable, *sys.orig_argv[1:]])
        confine = L.confinement()
        hosts = [L.HostSpec(f"h{i}", (ipaddress.IPv4Interface(f"192.0.2.{i + 1}/24"),))
                 for i in range(2)]
        with L.Lab(hosts, workdir, confine=confine) as lab:
            lab.place("h0", "bird.conf", f'log "{target}" all;\\nrouter id 192.0.2.1;\\n')
            lab.place("h1", "bird.conf", "router id 192.0.2.2;\\nprotocol device {}\\n")
            runs = [lab.spawn(h, ["bird", "-f", "-c", lab.inside(h, "bird.conf"),
                                  "-s", lab.inside(h, "bird.ctl")], log=workdir / f"{h}.log")
                    for h in ("h0", "h1")]
            print("writer exit", runs[0].wait(timeout=30), flush=True)
            deadline = time.monotonic() + 20
            while not (lab.directory("h1") / "bird.ctl").exists():
                assert time.monotonic() < deadline, "the harmless BIRD did not start"
                time.sleep(0.05)
            print("sandboxed", confine.setpriv is None, "honest started", flush=True)
        print("log:", (workdir / "h0.log").read_text().strip(), flush=True)
    """)
    # Not under /tmp, which the sandbox replaces: a world-writable directory on the host's
    # own file system, so only the read-only sandbox keeps BIRD out of it.
    writable = Path(tempfile.mkdtemp(prefix="rsv-test-", dir="/var/lib"))
    try:
        writable.chmod(0o777)
        done = _run_as_nobody(script, str(writable / "pwned"))
        written = list(writable.iterdir())
    finally:
        shutil.rmtree(writable)
    assert done.returncode == 0, done.stdout + done.stderr
    writer, started, log = done.stdout.splitlines()
    assert writer != "writer exit 0"
    assert started == "sandboxed True honest started"
    assert "Read-only file system" in log
    assert written == []
