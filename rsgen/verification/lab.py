"""The network lab for `rsgen verify`: one Linux network namespace per host on one emulated LAN.

BIRD refuses single-hop BGP over loopback, so the route server and each simulated peer get a
namespace of their own with a veth pair into a namespace that holds a plain Linux bridge (the
"switch"). The addresses are the exchange's real peering-LAN addresses; they never leave the
machine, because nothing connects the lab to the host's own network.

    with terminate_on_signals(), Lab(hosts, workdir) as lab:
        lab.spawn("rs1", ["bird", "-f", "-c", str(conf), "-s", str(sock)], log=workdir / "rs1.log")

Every namespace is named rsv-<pid>-<run id>-<role>, so parallel runs never collide and
cleanup_stale() can tell the leftovers of a killed run (dead pid) from a live one.

Running `python -m rsgen.verification.lab -- COMMAND...` runs COMMAND without root inside an
unprivileged user namespace, where `ip netns` works on a private /run/netns (see
reexec_in_user_namespace).
"""

from __future__ import annotations

import contextlib
import grp
import ipaddress
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import NoReturn

from rsgen.atomic import write_atomic
from rsgen.errors import ExitCode, MissingTool, NoPrivilege, RsgenError
from rsgen.sources.proc import Completed, missing_tool, run, tool_environment

log = logging.getLogger(__name__)

PREFIX = "rsv-"
HOST_INTERFACE = "lan0"  # the same name in every host namespace, like a router's one LAN port
BRIDGE = "br0"
NETNS_DIR = Path("/run/netns")  # where `ip netns` keeps its namespaces (/var/run -> /run)

# Set in the environment of a command re-run in a user namespace, so it never tries again.
USERNS_MARK = "RSGEN_LAB_USERNS"

_NAME = re.compile(r"[A-Za-z0-9_-]+")
_RUN_ID = re.compile(r"[a-z0-9]{1,8}")
_OURS = re.compile(re.escape(PREFIX) + r"([0-9]+)-")
_IP_TIMEOUT = 30.0
_REAP_SECONDS = 5.0
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the directory that holds rsgen/

Address = ipaddress.IPv4Interface | ipaddress.IPv6Interface

# Where a confined host's own directory appears inside its sandbox; its programs see nothing
# else writable (see Confinement).
LAB_MOUNT = "/run/rsgen-lab"
_LAB_USER, _LAB_GROUP = "nobody", "nogroup"
_NOBODY_ID = 65534


@dataclass(frozen=True)
class Confinement:
    """How the lab runs BIRD: unprivileged, in a private mount namespace, with nothing of the
    host writable.

    A lab config is generated from member files that a pull request may have written, and
    BIRD's own directives can write files (`log "FILE"`, `mrtdump`) and read them
    (`include`). So each lab program runs under bubblewrap: the host's file system read-only,
    fresh /tmp, /run and /dev, its host directory (config, socket, pid file) bound read-write
    at LAB_MOUNT and nothing else. As real root it then drops to an unprivileged user with
    setpriv, keeping only CAP_NET_BIND_SERVICE (port 179 inside the lab's own network
    namespace). In an unprivileged user namespace (verify without root) the programs already
    are the invoking user on the host; they keep only that capability too.
    """

    bwrap: str
    setpriv: str | None  # None: in a user namespace, where no other uid is mapped
    uid: int | None = None
    gid: int | None = None

    def argv(self, host_directory: Path, argv: Sequence[str]) -> list[str]:
        # Fresh, empty temporary directories in the sandbox, not the host's.
        fresh_tmp = ["--perms", "1777", "--tmpfs", "/tmp",  # noqa: S108
                     "--perms", "1777", "--tmpfs", "/var/tmp"]  # noqa: S108
        sandbox = [self.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                   *fresh_tmp, "--tmpfs", "/run", "--bind", str(host_directory), LAB_MOUNT,
                   "--chdir", LAB_MOUNT, "--unshare-ipc", "--die-with-parent"]
        if self.setpriv is None:
            return [*sandbox, "--cap-drop", "ALL", "--cap-add", "CAP_NET_BIND_SERVICE", "--",
                    *argv]
        return [*sandbox, "--", self.setpriv, f"--reuid={self.uid}", f"--regid={self.gid}",
                "--clear-groups", "--inh-caps=-all,+net_bind_service",
                "--ambient-caps=+net_bind_service", "--bounding-set=-all,+net_bind_service",
                "--no-new-privs", "--", *argv]


def confinement() -> Confinement:
    """The confinement for this machine; MissingTool when bubblewrap or setpriv is missing."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise MissingTool("bwrap is not installed: rsgen verify runs every lab BIRD in a "
                          "bubblewrap sandbox", hint="install it: apt-get install bubblewrap")
    if not _real_root():
        return Confinement(bwrap, None)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise MissingTool("setpriv is not installed", hint="install it: apt-get install "
                          "util-linux")
    try:
        uid = pwd.getpwnam(_LAB_USER).pw_uid
    except KeyError:
        uid = _NOBODY_ID
    try:
        gid = grp.getgrnam(_LAB_GROUP).gr_gid
    except KeyError:
        gid = _NOBODY_ID
    if uid == 0 or gid == 0:
        raise NoPrivilege(f"the user {_LAB_USER!r} is root here; rsgen verify needs an "
                          "unprivileged user for the lab's BIRD processes")
    return Confinement(bwrap, setpriv, uid, gid)


def _real_root() -> bool:
    """uid 0 of the machine itself, not of a user namespace (where other uids are unmapped)."""
    if os.geteuid() != 0:
        return False
    try:
        first = Path("/proc/self/uid_map").read_text(encoding="ascii").split()
    except OSError:
        return True
    return first[:3] == ["0", "0", "4294967295"]


class LabError(RsgenError):
    """The lab could not be built; nearly always the machine (kernel, container), not the input."""

    exit_code = ExitCode.NO_PRIVILEGE


@dataclass(frozen=True)
class HostSpec:
    """One host on the peering LAN: a short logical name and its addresses on the LAN port,
    and networks it reaches directly on that port although they are not the LAN's (an RTR
    cache off the peering LAN, which the route servers reach by an on-link route)."""

    name: str
    addresses: tuple[Address, ...]
    on_link: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()


class Lab:
    """Namespaces, veth pairs and a bridge for a set of hosts; `with` builds and tears them down."""

    def __init__(self, hosts: Sequence[HostSpec], workdir: Path, *, run_id: str | None = None,
                 stop_timeout: float = 2.0, confine: Confinement | None = None) -> None:
        names = [host.name for host in hosts]
        for name in names:
            if not _NAME.fullmatch(name):
                raise ValueError(f"host name {name!r}: use letters, digits, '-' and '_' only")
        if len(set(names)) != len(names):
            raise ValueError(f"host names must be unique: {names}")
        if run_id is None:
            run_id = secrets.token_hex(2)
        elif not _RUN_ID.fullmatch(run_id):
            raise ValueError(f"run id {run_id!r}: use 1 to 8 lower-case letters or digits")
        self.hosts = tuple(hosts)
        self.workdir = workdir
        self.stop_timeout = stop_timeout
        self.confine = confine
        # The pid goes first so that cleanup_stale() can tell whether the owner is still alive.
        self.prefix = f"{PREFIX}{os.getpid()}-{run_id}-"
        self._index = {name: i for i, name in enumerate(names)}
        self._processes: list[subprocess.Popen[bytes]] = []
        self._started = False
        self._closed = False

    # -- names ---------------------------------------------------------------------------------

    @property
    def switch_netns(self) -> str:
        """The namespace that holds the bridge."""
        return f"{self.prefix}sw"

    def netns(self, host: str) -> str:
        """The namespace name of a host."""
        return f"{self.prefix}h{self._host_index(host)}"

    def switch_port(self, host: str) -> str:
        """The host's bridge port: an index, since a host name may not fit in 15 characters."""
        return f"h{self._host_index(host)}"

    def directory(self, host: str) -> Path:
        """A private directory for the host's files (configs, sockets, logs); made by start().

        With a confinement it belongs to the unprivileged lab user, and is the only place the
        host's confined programs can write.
        """
        self._host_index(host)
        return self.workdir / host

    def inside(self, host: str, name: str) -> str:
        """The path of the file `name` in the host's directory, as its programs see it."""
        if not _NAME.fullmatch(name.replace(".", "_")):
            raise ValueError(f"file name {name!r}: letters, digits, '.', '-' and '_' only")
        base = LAB_MOUNT if self.confine is not None else str(self.directory(host))
        return f"{base}/{name}"

    def place(self, host: str, name: str, text: str) -> Path:
        """Write a file into the host's directory (atomically), readable by its programs only."""
        self.inside(host, name)  # validates the name
        path = self.directory(host) / name
        write_atomic(path, text, mode=0o600)
        if self.confine is not None and self.confine.uid is not None:
            os.chown(path, self.confine.uid, self.confine.gid if self.confine.gid is not None
                     else -1)
        return path

    def namespaces(self) -> list[str]:
        """Every namespace this lab creates, switch first."""
        return [self.switch_netns, *(self.netns(host.name) for host in self.hosts)]

    def _host_index(self, host: str) -> int:
        try:
            return self._index[host]
        except KeyError:
            raise ValueError(f"no host {host!r} in this lab") from None

    # -- life cycle ----------------------------------------------------------------------------

    def __enter__(self) -> Lab:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        """Build namespaces, bridge and links; on any failure undo it all and re-raise."""
        if self._started:
            raise RuntimeError("a Lab can be started only once")
        self._started = True
        try:
            self._build()
        except BaseException:  # KeyboardInterrupt and SystemExit too: leave nothing behind
            self.close()
            raise

    def _build(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for host in self.hosts:
            directory = self.directory(host.name)
            directory.mkdir(mode=0o700, exist_ok=True)
            if self.confine is not None and self.confine.uid is not None:
                os.chown(directory, self.confine.uid,
                         self.confine.gid if self.confine.gid is not None else -1)
        switch = self.switch_netns
        # One `ip` process creates every namespace and both ends of every veth pair in place.
        lines = [f"netns add {ns}" for ns in self.namespaces()]
        # No STP, no forward delay, no multicast snooping: the LAN forwards, and IPv6 neighbour
        # discovery works, the moment the ports are up.
        lines.append(f"link add {BRIDGE} netns {switch} type bridge"
                     " forward_delay 0 stp_state 0 mcast_snooping 0")
        for i, host in enumerate(self.hosts):
            lines.append(f"link add {HOST_INTERFACE} netns {self.netns(host.name)}"
                         f" address {_mac(i)} type veth"
                         f" peer name {self.switch_port(host.name)} netns {switch}")
        _ip_batch([], lines, "create the namespaces and links")
        # The switch takes no part in IPv6 itself (addrgenmode none): no link-local, no DAD.
        lines = [f"link set {BRIDGE} addrgenmode none", f"link set {BRIDGE} up"]
        for host in self.hosts:
            port = self.switch_port(host.name)
            lines += [f"link set {port} addrgenmode none", f"link set {port} master {BRIDGE} up"]
        _ip_batch(["-n", switch], lines, "set up the bridge")
        for i, host in enumerate(self.hosts):
            _ip_batch(["-n", self.netns(host.name)], _host_lines(i, host),
                      f"configure host {host.name}")

    def close(self) -> None:
        """Kill every spawned process, then delete every namespace; safe twice, or half-built.

        Failures are logged, not raised. A Ctrl-C or SIGTERM that arrives meanwhile is
        re-raised only once the teardown has gone through all its steps.
        """
        if not self._started or self._closed:
            self._closed = True
            return
        self._closed = True
        interrupted: BaseException | None = None
        for step in (self._stop_processes, self._kill_strays, self._delete_namespaces):
            try:
                step()
            except Exception:  # a failed step must not keep the next from running
                log.exception("lab %s: teardown step %s failed", self.prefix, step.__name__)
            except BaseException as exc:  # an interrupt: finish tearing down first
                interrupted = interrupted or exc
        if interrupted is not None:
            raise interrupted

    def _stop_processes(self) -> None:
        """SIGTERM each process group, wait a little, then SIGKILL the groups and reap."""
        # Leaders are only reaped at the end: an unreaped zombie keeps its pid, so killpg() can
        # never hit an unrelated process group that reused it.
        groups = [p for p in self._processes if p.returncode is None]
        for process in groups:
            _killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        waiting = list(groups)
        while waiting and time.monotonic() < deadline:
            waiting = [p for p in waiting if not _exited(p)]
            if waiting:
                time.sleep(0.02)
        for process in groups:  # also catches children that outlived their leader
            _killpg(process.pid, signal.SIGKILL)
        for process in groups:
            try:
                process.wait(timeout=_REAP_SECONDS)
            except subprocess.TimeoutExpired:
                log.warning("lab %s: process %d survived SIGKILL", self.prefix, process.pid)
        self._processes.clear()

    def _kill_strays(self) -> None:
        """SIGKILL anything else still inside the lab, e.g. what a spawned process double-forked."""
        for pid in pids_in(self.namespaces()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _delete_namespaces(self) -> None:
        # Deleting a host namespace removes its veth pair; deleting the switch removes the bridge.
        delete_namespaces(self.namespaces())

    # -- running things ------------------------------------------------------------------------

    def run(self, host: str, argv: Sequence[str], *, timeout: float,
            input_text: str | None = None) -> Completed:
        """Run argv to completion inside the host's namespace (`ip netns exec`), confined
        when the lab has a confinement."""
        return run(self._exec_argv(host, argv), timeout=timeout, input_text=input_text)

    def spawn(self, host: str, argv: Sequence[str], *, log: Path) -> subprocess.Popen[bytes]:
        """Start a long-running argv in the host's namespace, output to log; killed by close().

        Confined when the lab has a confinement; never with rsgen's environment (secrets)."""
        full = self._exec_argv(host, argv)
        with log.open("ab") as out:
            process = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True,
                                       env=tool_environment())
        self._processes.append(process)
        return process

    def _exec_argv(self, host: str, argv: Sequence[str]) -> list[str]:
        if not self._started or self._closed:
            raise RuntimeError("the lab is not running")
        if not argv:
            raise ValueError("empty argv")
        program = shutil.which(argv[0])
        if program is None:  # else only `ip` would say "exec failed"
            raise missing_tool(argv[0])
        command = list(argv)
        if self.confine is not None:
            # The sandbox's PATH lookup is not ours: give it the program's full path.
            command = self.confine.argv(self.directory(host), [program, *argv[1:]])
        # `ip netns exec` execs in place, so the pid we get is that of argv (or bwrap).
        return [_ip(), "netns", "exec", self.netns(host), *command]


def _host_lines(index: int, host: HostSpec) -> list[str]:
    """The `ip -batch` lines that bring up one host's loopback and LAN port."""
    # addrgenmode none + our own link-local with nodad: the kernel's link-local would sit
    # "tentative" for about a second of duplicate address detection, and BIRD cannot bind to it.
    lines = ["link set lo up", f"link set {HOST_INTERFACE} addrgenmode none"]
    addresses = list(host.addresses)
    if not any(a.version == 6 and a.is_link_local for a in addresses):
        addresses.insert(0, _link_local(index))
    for address in addresses:
        nodad = " nodad" if address.version == 6 else ""  # no DAD on a LAN we built ourselves
        lines.append(f"addr add {address.with_prefixlen} dev {HOST_INTERFACE}{nodad}")
    lines.append(f"link set {HOST_INTERFACE} up")
    lines += [f"route add {network} dev {HOST_INTERFACE}" for network in host.on_link]
    return lines


def _mac(index: int) -> str:
    """A locally administered MAC address per host: stable across runs, easy to spot in dumps."""
    return "02:72:73:" + ":".join(f"{b:02x}" for b in index.to_bytes(3, "big"))


def _link_local(index: int) -> ipaddress.IPv6Interface:
    """The EUI-64 link-local address the kernel would derive from the host's MAC."""
    mac = bytes.fromhex(_mac(index).replace(":", ""))
    eui64 = bytes([mac[0] ^ 0x02]) + mac[1:3] + b"\xff\xfe" + mac[3:]
    address = ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + eui64)
    return ipaddress.IPv6Interface(f"{address}/64")


def _ip() -> str:
    path = shutil.which("ip")
    if path is None:
        raise MissingTool("ip is not installed", hint="install it: apt-get install iproute2")
    return path


def _ip_batch(options: list[str], lines: list[str], what: str) -> None:
    """Run `ip [options] -batch -` (one process for many commands); raise LabError on failure."""
    done = run([_ip(), *options, "-batch", "-"], timeout=_IP_TIMEOUT,
               input_text="".join(f"{line}\n" for line in lines))
    if done.returncode != 0:
        raise LabError(f"could not {what}: {_first_error(done, lines)}",
                       hint="check that this kernel has veth and bridge support "
                            "(modprobe veth bridge) and that rsgen runs as root")


def _first_error(done: Completed, lines: list[str]) -> str:
    """ip's message plus the batch line it refers to ("Command failed -:7")."""
    message = " ".join(done.stderr.split()) or f"ip exited with status {done.returncode}"
    found = re.search(r"Command failed -:([0-9]+)", done.stderr)
    if found and 0 < int(found.group(1)) <= len(lines):
        message = message.replace(found.group(0), f"(ip {lines[int(found.group(1)) - 1]})")
    return message


def _exited(process: subprocess.Popen[bytes]) -> bool:
    """Whether the child has exited, without reaping it (WNOWAIT)."""
    try:
        info = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # reaped already, e.g. by the caller's own wait()
        return True
    return info is not None


def _killpg(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # group already empty
        os.killpg(pgid, signum)


def pids_in(namespaces: Sequence[str]) -> list[int]:
    """The processes in any of the named network namespaces (what `ip netns pids` does)."""
    wanted = set()
    for name in namespaces:
        with contextlib.suppress(OSError):
            st = (NETNS_DIR / name).stat()
            wanted.add((st.st_dev, st.st_ino))
    if not wanted:
        return []
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):  # gone meanwhile, or a zombie without namespaces
                st = Path(entry.path, "ns", "net").stat()
                if (st.st_dev, st.st_ino) in wanted:
                    found.append(int(entry.name))
    return found


def delete_namespaces(namespaces: Sequence[str]) -> list[str]:
    """Delete those of the named namespaces that exist; log what could not be deleted."""
    present = [name for name in namespaces if (NETNS_DIR / name).exists()]
    if not present:
        return []
    # -force: go on after a failed line, so one stuck namespace does not keep the others.
    done = run([_ip(), "-force", "-batch", "-"], timeout=_IP_TIMEOUT,
               input_text="".join(f"netns del {name}\n" for name in present))
    left = [name for name in present if (NETNS_DIR / name).exists()]
    if left:
        log.warning("could not delete network namespaces %s: %s", ", ".join(left),
                    " ".join(done.stderr.split()))
    return [name for name in present if name not in left]


def cleanup_stale() -> list[str]:
    """Delete the namespaces of earlier runs whose process is dead, and anything still in them."""
    try:
        names = sorted(path.name for path in NETNS_DIR.iterdir())
    except FileNotFoundError:
        return []
    stale = []
    for name in names:
        found = _OURS.match(name)
        if found and not _alive(int(found.group(1))):
            stale.append(name)
    # The owner's BIRDs survive its SIGKILL (they run in their own sessions): kill them too.
    for pid in pids_in(stale):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return delete_namespaces(stale)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


# -- privileges ----------------------------------------------------------------------------------

def check_privileges() -> None:
    """Raise NoPrivilege (or MissingTool) unless this process can build a lab."""
    ip = _ip()
    if os.geteuid() != 0:
        raise NoPrivilege(f"rsgen verify needs root to create network namespaces "
                          f"(running as uid {os.geteuid()})", hint=_unprivileged_hint())
    # Being uid 0 is not enough in a container without CAP_SYS_ADMIN, or without veth and
    # bridge in the kernel: try it once, in a namespace of our own.
    probe = f"{PREFIX}{os.getpid()}-probe{secrets.token_hex(2)}"
    done = run([ip, "-force", "-batch", "-"], timeout=_IP_TIMEOUT, input_text=(
        f"netns add {probe}\n"
        f"link add {BRIDGE} netns {probe} type bridge\n"
        f"link add v0 netns {probe} type veth peer name v1 netns {probe}\n"
        f"netns del {probe}\n"))
    delete_namespaces([probe])  # in case `netns del` is what failed
    if done.returncode != 0:
        raise NoPrivilege(f"cannot create network namespaces, bridges and veth pairs here: "
                          f"{' '.join(done.stderr.split())}",
                          hint="in a container, run it with --privileged (or --cap-add "
                               "SYS_ADMIN --cap-add NET_ADMIN); otherwise load the veth and "
                               "bridge modules")


def user_namespaces_work() -> tuple[bool, str]:
    """Whether this user can run a lab in an unprivileged user namespace, and if not, why."""
    unshare, mount = shutil.which("unshare"), shutil.which("mount")
    if unshare is None or mount is None:
        return False, "unshare or mount is not installed (apt-get install util-linux mount)"
    # The same steps a re-run takes: a user, mount and network namespace, and a tmpfs in it.
    done = run([unshare, "--user", "--map-root-user", "--mount", "--net", "--",
                mount, "-t", "tmpfs", "rsv-probe", "/run"], timeout=10)
    if done.returncode == 0:
        return True, ""
    reasons = [" ".join(done.stderr.split())]
    for sysctl, blocking in (("kernel/unprivileged_userns_clone", "0"),  # Debian's switch
                             ("user/max_user_namespaces", "0"),
                             ("kernel/apparmor_restrict_unprivileged_userns", "1")):  # Ubuntu
        with contextlib.suppress(OSError):
            if (Path("/proc/sys") / sysctl).read_text().strip() == blocking:
                reasons.append(f"sysctl {sysctl.replace('/', '.')} = {blocking}")
    return False, "; ".join(reason for reason in reasons if reason)


def _unprivileged_hint() -> str:
    works, why = user_namespaces_work()
    if works:
        return ("run it with sudo, or without root in a user namespace, which works on this "
                "machine: python3 -m rsgen.verification.lab -- rsgen verify ...")
    return f"run it with sudo (unprivileged user namespaces do not work here: {why})"


def reexec_in_user_namespace(argv: Sequence[str]) -> NoReturn:
    """Replace this process by argv, run as root of a new user, mount and network namespace.

    There `ip netns` works without real root: the namespaces it makes belong to our user
    namespace, and /run/netns is a private tmpfs (mounted by this module's __main__), so
    nothing outlives the run. The pid stays the same: unshare and the helper exec, not fork.
    Pass the whole command, e.g. [sys.executable, *sys.orig_argv[1:]].
    """
    if os.environ.get(USERNS_MARK):
        raise NoPrivilege("already in a user namespace, and still cannot create network "
                          "namespaces", hint="run it with sudo")
    unshare = shutil.which("unshare")
    if unshare is None:
        raise MissingTool("unshare is not installed", hint="install it: apt-get install util-linux")
    env = dict(os.environ)
    env[USERNS_MARK] = "1"
    # The helper below imports rsgen, which may live in a source tree rather than site-packages.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(_PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
    sys.stdout.flush()
    sys.stderr.flush()
    # Exec, not a child: same pid, so signals sent to us reach the re-run command.
    command = [unshare, "--user", "--map-root-user", "--mount", "--net",
               "--propagation", "private", "--",
               sys.executable, "-m", "rsgen.verification.lab", "--", *argv]
    os.execve(unshare, command, env)  # noqa: S606 an argv list, no shell


def _mount_private_netns_dir() -> None:
    """Inside the user namespace: a tmpfs where `ip netns` keeps its files (/run is not ours)."""
    target = NETNS_DIR if NETNS_DIR.is_dir() else NETNS_DIR.parent
    done = run(["mount", "-t", "tmpfs", "-o", "mode=0755", "rsv-netns", str(target)], timeout=10)
    if done.returncode != 0:
        raise NoPrivilege(f"cannot mount a tmpfs on {target} in the user namespace: "
                          f"{' '.join(done.stderr.split())}", hint="run it with sudo")
    NETNS_DIR.mkdir(exist_ok=True)


# -- signals ---------------------------------------------------------------------------------

@contextlib.contextmanager
def terminate_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into SystemExit(128 + signal) while the block runs.

    Then `kill -TERM` unwinds the stack like Ctrl-C does, and `with Lab(...)` tears down. Once
    one signal has arrived, further SIGTERM/SIGHUP/SIGINT are ignored until the block ends, so
    an impatient second Ctrl-C cannot cut the teardown short. Put it outside the Lab:
    `with terminate_on_signals(), Lab(...) as lab:`. Only the main thread can set handlers;
    elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    previous = {signum: signal.getsignal(signum) for signum in signals}

    def ignore(signum: int, frame: FrameType | None) -> None:
        log.warning("ignoring signal %d: already shutting down", signum)

    def stop(signum: int, frame: FrameType | None) -> None:
        for other in signals:  # a Python handler, not SIG_IGN: children must not inherit it
            signal.signal(other, ignore)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    for signum in signals:
        signal.signal(signum, stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _main(args: list[str]) -> int:
    """`python -m rsgen.verification.lab -- COMMAND...`: run COMMAND in a user namespace, as its
    root."""
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: python3 -m rsgen.verification.lab -- COMMAND [ARG...]", file=sys.stderr)
        return ExitCode.USAGE
    try:
        if not os.environ.get(USERNS_MARK):
            reexec_in_user_namespace(args)
        _mount_private_netns_dir()
        os.execvp(args[0], args)  # noqa: S606 an argv list, no shell
    except RsgenError as exc:
        print(f"rsgen: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # execvp: no such program
        print(f"rsgen: cannot run {args[0]}: {exc.strerror}", file=sys.stderr)
        return ExitCode.MISSING_TOOL


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
