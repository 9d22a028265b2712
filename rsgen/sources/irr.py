"""IRR expansion through bgpq4: argv building, its JSON output, and failure detection.

bgpq4 exits 0 for many failures: an unknown or empty AS-SET gives an empty list and nothing on
stderr; garbage from the server gives "ERROR:..." lines on stderr and an empty or partial list.
So a run counts as good only when it exits 0, prints nothing on stderr but the one harmless
message below, and its output parses; and a member's expansion only when it has origins and at
least one prefix. A failure never becomes an empty (reject-all) or partial result.
"""

from __future__ import annotations

import ipaddress
import json
import re
import signal
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
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


def _run_query(objects: Sequence[AsSetName], query: Query, settings: IrrSettings,
               max_length: int | None, bgpq4: str) -> str:
    """One bgpq4 run; its stdout, or SourceFailed (MissingTool passes through)."""
    argv = bgpq4_argv(objects, query=query, host=settings.host, sources=settings.sources,
                      max_length=max_length, bgpq4=bgpq4)
    try:
        done = proc.run(argv, timeout=settings.timeout_seconds)
    except proc.ToolTimeout:
        raise SourceFailed(f"no answer from {settings.host} within "
                           f"{settings.timeout_seconds:g} s") from None
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


class ServerFailed(SourceFailed):
    """The IRR server itself failed (refused, timed out, broke off, sent garbage): every
    member would fail the same way."""


def fetch_irr(objects: Sequence[AsSetName], settings: IrrSettings, *, max_length4: int,
              max_length6: int, bgpq4: str = "bgpq4") -> IrrData:
    """Expand a member's AS-SETs/ASNs into origins and IPv4/IPv6 prefix ranges."""
    names = " ".join(str(obj) for obj in objects) or "(nothing)"
    sources = ",".join(settings.sources) or "(server default)"
    try:
        origins = parse_origins(_run_query(objects, "origins", settings, None, bgpq4))
        if not origins:
            raise _NoData("no origin ASNs (unknown or empty AS-SET, or only "
                          "private/reserved ASNs, which bgpq4 drops)")
        ipv4 = parse_prefixes(_run_query(objects, "ipv4", settings, max_length4, bgpq4), 4)
        ipv6 = parse_prefixes(_run_query(objects, "ipv6", settings, max_length6, bgpq4), 6)
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
        kind = SourceFailed if isinstance(exc, _NoData) else ServerFailed
        raise kind(f"IRR expansion of {names} via {settings.host} failed: {message}",
                   hint=hint) from exc
    return IrrData(objects=tuple(objects), origins=origins, ipv4=ipv4, ipv6=ipv6)


def fetch_many(requests: Mapping[int, Sequence[AsSetName]], settings: IrrSettings, *,
               max_length4: int, max_length6: int, bgpq4: str = "bgpq4",
               on_done: Callable[[int], None] | None = None,
               hints: dict[int, str] | None = None,
               ) -> tuple[dict[int, IrrData], dict[int, str]]:
    """fetch_irr for many members, settings.parallel at a time.

    Returns (results by ASN, failure message by ASN); a member's failure does not stop the
    others. Each failure's hint goes into `hints` when given (many members failing for one
    reason share one hint, which the caller can print once). MissingTool (bgpq4 not installed)
    is raised: every member would fail the same way.
    """
    results: dict[int, IrrData] = {}
    failures: dict[int, str] = {}
    # A server that fails for the first few members in a row, before any success, is down:
    # waiting out every member's timeout would take members / parallel * timeout.
    give_up_after = max(2, settings.parallel)
    server_failures = 0
    with ThreadPoolExecutor(max_workers=max(1, settings.parallel),
                            thread_name_prefix="bgpq4") as pool:
        futures = {pool.submit(fetch_irr, objects, settings, max_length4=max_length4,
                               max_length6=max_length6, bgpq4=bgpq4): asn
                   for asn, objects in requests.items()}
        try:
            for future in as_completed(futures):
                asn = futures[future]
                try:
                    results[asn] = future.result()
                except SourceFailed as exc:
                    failures[asn] = exc.message if hints is not None else str(exc)
                    if hints is not None and exc.hint:
                        hints[asn] = exc.hint
                    if isinstance(exc, ServerFailed) and not results:
                        server_failures += 1
                if on_done is not None:
                    on_done(asn)
                if server_failures >= give_up_after:
                    break
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        if server_failures >= give_up_after:
            for other in futures:
                other.cancel()
            for future, asn in futures.items():
                if asn in results or asn in failures:
                    continue
                if future.cancelled():
                    failures[asn] = (f"not tried: {settings.host} failed for the first "
                                     f"{server_failures} members")
                else:  # already running when the server was given up: let it finish
                    try:
                        results[asn] = future.result()
                    except SourceFailed as exc:
                        failures[asn] = exc.message if hints is not None else str(exc)
                if on_done is not None:
                    on_done(asn)
    return dict(sorted(results.items())), dict(sorted(failures.items()))
