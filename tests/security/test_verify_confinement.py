"""The audit's critical finding: a member `name` gave root file writes through `rsgen verify`.

Three layers, each shown on its own: the text is scrubbed before it reaches any config rsgen
renders (route server or lab); every lab config passes `bird -p` before a BIRD reads it; and
the lab's BIRDs run unprivileged with the host's file system read-only, so that even a BIRD
directive that does get through cannot touch a host file.
"""

from __future__ import annotations

import ipaddress
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rsgen.errors import BirdRejected
from rsgen.load import load_checked
from rsgen.plan import plan
from rsgen.render import default_templates_dir, make_environment
from rsgen.settings import Settings
from rsgen.snapshot import read_snapshot
from rsgen.verification.lab import LAB_MOUNT, HostSpec, Lab, confinement
from rsgen.verification.peers import render_peer, routers
from rsgen.verification.run import VerifyOptions, peer_sessions, verify
from rsgen.verification.scenarios import member_routes
from tests.helpers import REPO, copy_example

CAP_NET_BIND_SERVICE = 1 << 10


def _scratch(parent: str, mode: int) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="rsa-", dir=parent))
    path.chmod(mode)
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A directory with a short path: the attack must fit a 100-character member name."""
    yield from _scratch("/tmp", 0o755)


def _attack_name(target: Path) -> str:
    """The audit's reproduction: a newline, a log directive and a timeformat that makes each
    log line a crontab entry."""
    name = f'X\nlog "{target}" all;\ntimeformat log "* * * * * root id #"'
    assert len(name) <= 100, len(name)
    return name


def _set_member_name(exchange: Path, asn: int, name: str) -> None:
    path = exchange / "members" / f"AS{asn}.yml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    quoted = name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    lines = [f'name: "{quoted}"\n' if line.startswith("name:") else line for line in lines]
    path.write_text("".join(lines), encoding="utf-8")


def test_audit_reproduction_writes_no_host_file(tmp_path: Path, short_tmp: Path) -> None:
    """The member name from the audit passes `rsgen check` (names are free text), verify
    passes, and no file appears where the injected `log` directive pointed."""
    exchange = copy_example(tmp_path / "ix")
    target = short_tmp / "cron"
    _set_member_name(exchange, 23674, _attack_name(target))
    config = load_checked(exchange)
    member = next(m for m in config.members if m.asn == 23674)
    assert "\n" in member.name  # the hostile text is loaded as it is...

    report = verify(VerifyOptions(exchange, members=(23674, 17557)))
    assert report.ok, [o.problems for o in report.outcomes if not o.ok]
    assert list(short_tmp.iterdir()) == []  # ...and wrote nothing

    # What the simulated member's BIRD got: one comment line, no directive of the attacker's.
    snapshot = read_snapshot(exchange)
    env = make_environment(default_templates_dir())
    router = routers(member)[0]
    routes = member_routes(member, snapshot.irr[member.asn], config.exchange, set())
    exchange_plan = plan(config, snapshot, Settings())
    text = render_peer(env, router, peer_sessions(router, exchange_plan), routes, 0)
    assert str(target) in text  # scrubbed, not dropped: the reviewer sees the name
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not any(line.lstrip().startswith(("log ", "timeformat")) for line in code
                   if "stderr" not in line), code


def test_a_lab_config_bird_refuses_stops_verify_before_any_bird_runs(tmp_path: Path) -> None:
    """bird -p checks every config verify generates: a lab template that renders something
    BIRD refuses fails with BirdRejected (exit 5), naming the simulated member."""
    exchange = copy_example(tmp_path / "ix")
    templates = Path(shutil.copytree(REPO / "templates", tmp_path / "templates"))
    peer = templates / "verify" / "peer.conf.j2"
    peer.write_text(peer.read_text(encoding="utf-8").replace(
        "router id {{ router_id }};", "router id {{ router_id }};\nno such directive;"),
        encoding="utf-8")
    with pytest.raises(BirdRejected, match="lab config of simulated member AS"):
        # Two members: the first is the speaker (rsgen.verification.run.speaking_members).
        verify(VerifyOptions(exchange, members=(23674, 58453), templates=templates))


def _host(name: str, last: int) -> HostSpec:
    return HostSpec(name, (ipaddress.IPv4Interface(f"192.0.2.{last}/24"),))


def _wait_for(path: Path, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.05)
    return False


def _status(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def _bird_pids_under(pid: int) -> list[int]:
    """The bird processes among pid's descendants."""
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
            queue.append(int(child))
            if Path(f"/proc/{child}/comm").read_text().strip() == "bird":
                found.append(int(child))
    return found


@pytest.fixture
def writable_host_dir() -> Iterator[Path]:
    """A world-writable directory on the host's own file system (not under /tmp, /var/tmp or
    /run, which the sandbox replaces, and so not in a checkout that may lie there): only the
    read-only sandbox can keep a lab BIRD out of it."""
    yield from _scratch("/var/lib", 0o777)


def test_lab_birds_run_unprivileged_and_cannot_write_or_read_host_files(
        tmp_path: Path, writable_host_dir: Path) -> None:
    """Even a config with `log "FILE"` and `include` reaching a lab BIRD cannot write a host
    file or read a root-only one; a harmless config runs as an unprivileged user whose only
    capability is binding port 179."""
    confine = confinement()
    target = writable_host_dir / "pwned"
    hosts = [_host("writer", 10), _host("reader", 11), _host("honest", 12)]
    with Lab(hosts, tmp_path / "lab", confine=confine) as lab:
        configs = {
            "writer": f'log "{target}" all;\nrouter id 192.0.2.10;\n',
            "reader": 'include "/etc/shadow";\nrouter id 192.0.2.11;\n',
            "honest": (f'log "{LAB_MOUNT}/own.log" all;\nrouter id 192.0.2.12;\n'
                       "protocol device {}\nprotocol bgp p { local 192.0.2.12 as 65001; "
                       "neighbor 192.0.2.10 as 65002; ipv4 { import all; export all; }; }\n"),
        }
        processes = {}
        for host, text in configs.items():
            lab.place(host, "bird.conf", text)
            processes[host] = lab.spawn(host, ["bird", "-f", "-c", lab.inside(host, "bird.conf"),
                                               "-s", lab.inside(host, "bird.ctl")],
                                        log=tmp_path / f"{host}.log")
        assert processes["writer"].wait(timeout=30) != 0
        assert processes["reader"].wait(timeout=30) != 0
        assert _wait_for(lab.directory("honest") / "bird.ctl")
        birds = _bird_pids_under(processes["honest"].pid)
        assert len(birds) == 1
        status = _status(birds[0])
        uids = {int(u) for u in status["Uid"].split()}
        assert 0 not in uids and uids == {confine.uid}
        assert int(status["CapEff"], 16) == CAP_NET_BIND_SERVICE
        assert int(status["CapBnd"], 16) == CAP_NET_BIND_SERVICE
        assert status["NoNewPrivs"] == "1"
        assert (lab.directory("honest") / "own.log").exists()  # its own directory is writable
    assert not target.exists()
    assert "Read-only file system" in (tmp_path / "writer.log").read_text()
    assert "Permission denied" in (tmp_path / "reader.log").read_text()
