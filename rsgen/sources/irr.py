"""IRR expansion through bgpq4: argv building, its JSON output, and failure detection.

bgpq4 exits 0 for many failures: an unknown or empty AS-SET gives an empty list and nothing on
stderr; garbage from the server gives "ERROR:..." lines on stderr and an empty or partial list.
So a run counts as good only when it exits 0, prints nothing on stderr but the one harmless
message below, and its output parses; and a member's expansion only when it has origins and at
least one prefix. A failure never becomes an empty (reject-all) or partial result.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Literal

from rsgen.errors import SourceFailed
from rsgen.model import IrrData, IrrSettings
from rsgen.sources import proc
from rsgen.values import (
    MAX_ASN,
    AsSetName,
    PrefixList,
    PrefixRange,
    bogon_asn_reason,
    parse_as_set,
)

log = logging.getLogger(__name__)

Query = Literal["ipv4", "ipv6", "origins"]

LIST_NAME = "NN"  # -l: a fixed key, so the JSON shape is known exactly
# Used with fullmatch: "$" would let a trailing newline through to bgpq4.
_SOURCE_RE = re.compile(r"[A-Z][A-Z0-9-]{0,31}")
_HOST_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}(?::([0-9]{1,5}))?")
# bgpq4 drops private and reserved ASNs (unless -p) and says so on stderr, yet exits 0; the
# route server rejects those ASNs anyway, so this one message is not a failure.
_DROPPED_ASN_RE = re.compile(r"ERROR: ?Invalid AS number: ([0-9]+)")  # fullmatch


def bgpq4_argv(objects: Sequence[AsSetName], *, query: Query, host: str,
               sources: Sequence[str], max_length: int | None = None,
               bgpq4: str = "bgpq4") -> list[str]:
    """The bgpq4 command line for one query; raises ValueError for anything unsafe."""
    if not objects:
        raise ValueError("nothing to expand")
    names = [_argv_name(obj) for obj in objects]
    host_match = _HOST_RE.fullmatch(host)
    if not host_match or int(host_match.group(1) or 43) > 65535:
        raise ValueError(f"refusing to pass {host!r} to bgpq4 as IRR host (want name[:port])")
    for source in sources:
        if not _SOURCE_RE.fullmatch(source):
            raise ValueError(f"refusing to pass IRR source {source!r} to bgpq4")
    argv = [bgpq4, "-h", host]
    if sources:
        argv += ["-S", ",".join(sources)]
    argv += ["-j", "-l", LIST_NAME]
    if query == "origins":
        if max_length is not None:
            raise ValueError("max_length applies to prefix queries only")
        argv.append("-t")  # the origin ASNs, as a JSON list of numbers
    else:
        limit = 32 if query == "ipv4" else 128
        argv += ["-4" if query == "ipv4" else "-6", "-A"]
        if max_length is not None:
            if not 1 <= max_length <= limit:
                raise ValueError(f"max_length {max_length} outside 1-{limit} for {query}")
            argv += ["-m", str(max_length)]
    # "--" ends getopt's option parsing (GNU getopt would otherwise pick options out from
    # among the objects), on top of the checks above.
    return [*argv, "--", *names]


def _argv_name(obj: AsSetName) -> str:
    """How bgpq4 takes one object, checked again: it goes into argv."""
    text = str(obj)
    # Re-parsing with the loader's own validator must give back the very same object; this
    # refuses anything built around parse_as_set (lower case, spaces, "-x", "AS-A@B", ...).
    try:
        valid = not text.startswith("-") and parse_as_set(text) == obj
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(f"refusing to pass {text!r} to bgpq4: not an AS-SET or ASN")
    # bgpq4 1.9 cannot pin a single ASN to a source: "RIPE::AS112" makes it print "Invalid
    # symbol in AS number" and expand nothing. The pin only matters for sets (whose members
    # differ per source), so an ASN goes without it: its routes come from all -S sources.
    return obj.name if obj.is_asn else text


def _list(stdout: str) -> list[object]:
    try:
        document = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise ValueError(f"bgpq4 output is not JSON: {exc}") from None
    except RecursionError:  # the JSON decoder recurses once per nesting level
        raise ValueError("bgpq4 output is nested too deeply") from None
    if not isinstance(document, dict) or list(document) != [LIST_NAME]:
        raise ValueError(f'bgpq4 output is not {{"{LIST_NAME}": [...]}}')
    items = document[LIST_NAME]
    if not isinstance(items, list):
        raise ValueError(f'bgpq4 output: "{LIST_NAME}" is not a list')
    return items


def _length(entry: dict[str, object], key: str) -> int | None:
    value = entry.get(key)
    if value is None:
        return None
    if type(value) is not int:  # bool is an int subclass: refuse it too
        raise ValueError(f"bgpq4 output: {key} is not a number in {entry}")
    return value


def parse_prefixes(stdout: str, version: int) -> PrefixList:
    """bgpq4 -j [-A] prefix-list output -> sorted, unique prefix ranges of that IP version."""
    found: set[PrefixRange] = set()
    for entry in _list(stdout):
        if not isinstance(entry, dict) or not isinstance(entry.get("prefix"), str) \
                or not isinstance(entry.get("exact"), bool):
            raise ValueError(f"bgpq4 output: not a prefix entry: {entry!r}")
        if set(entry) - {"prefix", "exact", "greater-equal", "less-equal"}:
            raise ValueError(f"bgpq4 output: unexpected keys in {entry!r}")
        try:
            network = ipaddress.ip_network(entry["prefix"], strict=True)
        except ValueError as exc:
            raise ValueError(f"bgpq4 output: bad prefix: {exc}") from None
        if network.version != version:
            raise ValueError(f"bgpq4 output: {network} in an IPv{version} list")
        ge, le = _length(entry, "greater-equal"), _length(entry, "less-equal")
        if entry["exact"] and (ge is not None or le is not None):
            raise ValueError(f"bgpq4 output: exact entry with a length range: {entry}")
        if not entry["exact"] and le is None:
            raise ValueError(f"bgpq4 output: range entry without less-equal: {entry}")
        try:
            found.add(PrefixRange.of(network, ge, le))  # no greater-equal: the prefix's length
        except ValueError as exc:
            raise ValueError(f"bgpq4 output: {exc}") from None
    return PrefixList.sorted_from(found)


def parse_origins(stdout: str) -> tuple[int, ...]:
    """bgpq4 -j -t output -> sorted, unique origin ASNs."""
    asns: set[int] = set()
    for value in _list(stdout):
        if type(value) is not int or not 1 <= value <= MAX_ASN:
            raise ValueError(f"bgpq4 output: {value!r} is not an ASN")
        asns.add(value)
    return tuple(sorted(asns))


def _stderr_problem(stderr: str) -> str | None:
    """The first line of stderr that means failure, or None if every line is harmless."""
    # bgpq4 ends some messages on a line of their own: "... (in response to !iAS-FOO\n)".
    for line in stderr.replace("\n)", ")").splitlines():
        text = line.strip()
        match = _DROPPED_ASN_RE.fullmatch(text)
        if not text or (match and bogon_asn_reason(int(match.group(1))) is not None):
            continue
        return text
    return None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


@dataclass
class IrrStats:
    """What a refresh's IRR expansion cost: bgpq4 runs, and the time they took."""

    members: int = 0
    bundles: int = 0  # distinct AS-SET bundles expanded (members sharing one count once)
    queries: int = 0  # bgpq4 runs
    query_seconds: float = 0.0  # their wall time, summed over the parallel runs
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, seconds: float) -> None:
        with self.lock:
            self.queries += 1
            self.query_seconds += seconds

    def describe(self, wall_seconds: float) -> str:
        """One line for the refresh report."""
        mean = self.query_seconds / self.queries * 1000 if self.queries else 0.0
        return (f"IRR: {self.queries} bgpq4 queries for {self.members} members "
                f"({self.bundles} distinct AS-SET bundles) in {wall_seconds:.1f} s, "
                f"{mean:.0f} ms per query")


def _run_query(objects: Sequence[AsSetName], query: Query, settings: IrrSettings,
               max_length: int | None, bgpq4: str, stats: IrrStats | None = None,
               stop: threading.Event | None = None) -> str:
    """One bgpq4 run; its stdout, or SourceFailed (MissingTool passes through). Setting
    `stop` kills it at once (every IRR host was given up: its answer would come too late)."""
    argv = bgpq4_argv(objects, query=query, host=settings.host, sources=settings.sources,
                      max_length=max_length, bgpq4=bgpq4)
    started = time.monotonic()
    try:
        done = proc.run(argv, timeout=settings.timeout_seconds, stop=stop)
    except proc.ToolTimeout:
        raise SourceFailed(f"no answer from {settings.host} within "
                           f"{settings.timeout_seconds:g} s") from None
    except proc.ToolStopped:
        raise SourceFailed(STOPPED) from None
    finally:
        took = time.monotonic() - started
        log.debug("bgpq4 %s: %.2f s", " ".join(argv[1:]), took)
        if stats is not None:
            stats.record(took)
    problem = _stderr_problem(done.stderr)
    if done.returncode == -signal.SIGPIPE:
        # The server dropped the connection (a reset or a close mid-answer) while bgpq4 was
        # still writing pipelined queries: name that fault, not the signal it shows up as.
        raise SourceFailed(f"{settings.host} closed the connection while bgpq4 was still "
                           f"sending queries (bgpq4 was killed by SIGPIPE)"
                           f"{': ' + problem if problem else ''}")
    if done.returncode < 0:
        raise SourceFailed(f"bgpq4 was killed by {_signal_name(-done.returncode)}: "
                           f"{problem or 'no message'}")
    if done.returncode != 0:
        raise SourceFailed(f"bgpq4 exited with status {done.returncode}: "
                           f"{problem or 'no message'}")
    if problem is not None:
        raise SourceFailed(f"bgpq4 reported: {problem}")
    return done.stdout


class _NoData(SourceFailed):
    """The server answered well, but the member's objects expand to nothing usable."""


class NothingRegistered(SourceFailed):
    """A member's objects expand to nothing usable, as a server that answered well says;
    `reason` says so without the host, for a snapshot that must not depend on which host
    answered."""

    def __init__(self, message: str, *, reason: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


class ServerFailed(SourceFailed):
    """The IRR server itself failed (refused, timed out, broke off, sent garbage): every
    member would fail the same way."""


STOPPED = "stopped: every IRR host was given up while bgpq4 was running"


class HostHealth:
    """Which IRR hosts (settings.hosts, in order of preference) are still worth asking,
    shared by the threads of one refresh: a host that failed for `give_up_after` members in a
    row before it answered any is given up, and later members go to the next one."""

    def __init__(self, hosts: Sequence[str], give_up_after: int) -> None:
        self.hosts = tuple(hosts)
        self.give_up_after = give_up_after
        self._failures = dict.fromkeys(self.hosts, 0)
        self._answered: set[str] = set()
        self._lock = threading.Lock()
        # Set when every host is given up: the bgpq4 runs still going are stopped with it.
        self.all_given_up = threading.Event()

    def usable(self) -> list[str]:
        with self._lock:
            return [h for h in self.hosts
                    if h in self._answered or self._failures[h] < self.give_up_after]

    def given_up(self) -> list[str]:
        usable = set(self.usable())
        return [h for h in self.hosts if h not in usable]

    def not_tried(self) -> str:
        """Why a member was not tried at all: every host was given up."""
        return (f"not tried: {', '.join(self.given_up())} failed for the first "
                f"{self.give_up_after} members")

    def failed(self, host: str) -> None:
        with self._lock:
            self._failures[host] += 1
        if not self.usable():
            self.all_given_up.set()

    def answered(self, host: str) -> None:
        with self._lock:
            self._answered.add(host)


def _single_asn(objects: Sequence[AsSetName]) -> int | None:
    """The ASN when the objects are one public ASN alone: its only origin is itself, so the
    origin query can be skipped (bgpq4 -t would print just that ASN)."""
    if len(objects) != 1 or not objects[0].is_asn:
        return None
    asn = int(objects[0].name[2:])
    return asn if bogon_asn_reason(asn) is None else None


def fetch_irr(objects: Sequence[AsSetName], settings: IrrSettings, *, max_length4: int,
              max_length6: int, bgpq4: str = "bgpq4", health: HostHealth | None = None,
              stats: IrrStats | None = None) -> IrrData:
    """Expand a member's AS-SETs/ASNs into origins and IPv4/IPv6 prefix ranges, from the first
    IRR host that answers (settings.hosts in order; those `health` gave up are skipped).

    A host that fails (ServerFailed) passes the member to the next; a host that answers that
    the objects expand to nothing is believed: the member fails (SourceFailed)."""
    # Alone (not from fetch_many), every host is worth asking: none is given up.
    health = health or HostHealth(settings.hosts, give_up_after=sys.maxsize)
    failed: list[ServerFailed] = []
    for host in health.usable():
        try:
            data = _fetch_from(objects, dataclasses.replace(settings, host=host, fallback_hosts=()),
                               max_length4=max_length4, max_length6=max_length6, bgpq4=bgpq4,
                               stats=stats, stop=health.all_given_up)
        except ServerFailed as exc:
            health.failed(host)
            failed.append(exc)
            continue
        except SourceFailed:
            health.answered(host)  # a well-formed "nothing": believed, not passed on
            raise
        health.answered(host)
        return data
    if not failed:
        raise ServerFailed(health.not_tried())
    if len(failed) == 1:
        raise failed[0]
    names = " ".join(str(obj) for obj in objects) or "(nothing)"
    raise ServerFailed(f"IRR expansion of {names} failed on every IRR host: "
                       + "; ".join(exc.message for exc in failed), hint=failed[-1].hint)


def _fetch_from(objects: Sequence[AsSetName], settings: IrrSettings, *, max_length4: int,
                max_length6: int, bgpq4: str, stats: IrrStats | None,
                stop: threading.Event | None = None) -> IrrData:
    """fetch_irr against settings.host alone."""
    names = " ".join(str(obj) for obj in objects) or "(nothing)"
    sources = ",".join(settings.sources) or "(server default)"
    try:
        alone = _single_asn(objects)
        origins = (alone,) if alone is not None else parse_origins(
            _run_query(objects, "origins", settings, None, bgpq4, stats, stop))
        if not origins:
            raise _NoData("no origin ASNs (unknown or empty AS-SET, or only "
                          "private/reserved ASNs, which bgpq4 drops)")
        ipv4 = parse_prefixes(
            _run_query(objects, "ipv4", settings, max_length4, bgpq4, stats, stop), 4)
        ipv6 = parse_prefixes(
            _run_query(objects, "ipv6", settings, max_length6, bgpq4, stats, stop), 6)
        if not ipv4 and not ipv6:
            raise _NoData("no IPv4 or IPv6 prefixes registered for its origins "
                          f"({', '.join(f'AS{a}' for a in origins[:10])})")
    except (SourceFailed, ValueError) as exc:
        message = exc.message if isinstance(exc, SourceFailed) else str(exc)
        # The member's registration is worth checking only when the server answered well;
        # when it did not (refused, timed out, sent garbage), the server is the suspect.
        hint = (f"check that {names} is registered with routes in the IRR sources {sources}"
                if isinstance(exc, _NoData) else
                f"check that {settings.host} answers IRRd queries and carries the sources "
                f"{sources} (irr.host and irr.sources in exchange.yml, or --irr-host)")
        failure = f"IRR expansion of {names} via {settings.host} failed: {message}"
        if isinstance(exc, _NoData):
            raise NothingRegistered(failure, reason=f"{names}: {message}", hint=hint) from exc
        raise ServerFailed(failure, hint=hint) from exc
    return IrrData(objects=tuple(objects), origins=origins, ipv4=ipv4, ipv6=ipv6)


def fetch_many(requests: Mapping[int, Sequence[AsSetName]], settings: IrrSettings, *,
               max_length4: int, max_length6: int, bgpq4: str = "bgpq4",
               on_done: Callable[[int], None] | None = None,
               hints: dict[int, str] | None = None,
               stats: IrrStats | None = None,
               nothing: dict[int, str] | None = None,
               ) -> tuple[dict[int, IrrData], dict[int, str]]:
    """fetch_irr for many members, settings.parallel at a time.

    Members that ask for the same AS-SETs (a group of networks under one AS-SET) share one
    expansion. Returns (results by ASN, failure message by ASN); a member's failure does not
    stop the others. Each failure's hint goes into `hints` when given (many members failing
    for one reason share one hint, which the caller can print once); `stats` counts the
    queries. The failures that are the IRR's well-formed "nothing registered" go into `nothing`
    too, with NothingRegistered.reason. MissingTool (bgpq4 not installed) is raised: every
    member would fail the same way.
    """
    results: dict[int, IrrData] = {}
    failures: dict[int, str] = {}
    bundles: dict[tuple[AsSetName, ...], list[int]] = {}
    for asn, objects in requests.items():
        bundles.setdefault(tuple(objects), []).append(asn)
    if stats is not None:
        stats.members, stats.bundles = len(requests), len(bundles)
    # A host that fails for the first few members in a row, before any success, is down:
    # waiting out every member's timeout would take members / parallel * timeout. When every
    # host is given up, the members not yet started are not tried.
    health = HostHealth(settings.hosts, give_up_after=max(2, settings.parallel))

    def settle(objects: tuple[AsSetName, ...], data: IrrData | None, error: str | None,
               hint: str | None, empty: str | None = None) -> None:
        for asn in bundles[objects]:
            if data is not None:
                results[asn] = data
            else:
                assert error is not None
                failures[asn] = error
                if hints is not None and hint:
                    hints[asn] = hint
                if nothing is not None and empty is not None:
                    nothing[asn] = empty
            if on_done is not None:
                on_done(asn)

    def outcome(future: Future[IrrData]) -> tuple[IrrData | None, str | None, str | None,
                                                  str | None]:
        try:
            return future.result(), None, None, None
        except SourceFailed as exc:
            empty = exc.reason if isinstance(exc, NothingRegistered) else None
            return None, exc.message if hints is not None else str(exc), exc.hint, empty

    with ThreadPoolExecutor(max_workers=max(1, settings.parallel),
                            thread_name_prefix="bgpq4") as pool:
        futures = {pool.submit(fetch_irr, objects, settings, max_length4=max_length4,
                               max_length6=max_length6, bgpq4=bgpq4, health=health,
                               stats=stats): objects
                   for objects in bundles}
        done: set[Future[IrrData]] = set()
        try:
            for future in as_completed(futures):
                done.add(future)
                settle(futures[future], *outcome(future))
                if not health.usable():
                    break
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        if not health.usable():
            for other in futures:
                other.cancel()
            for future, objects in futures.items():
                if future in done:
                    continue
                if future.cancelled():
                    settle(objects, None, health.not_tried(), None)
                else:  # running when the hosts were given up: its bgpq4 is stopped now
                    settle(objects, *outcome(future))
    return dict(sorted(results.items())), dict(sorted(failures.items()))
