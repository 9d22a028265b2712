"""The IRR adapter: bgpq4 argv, its JSON output, real bgpq4 runs against tests/fixtures/whoisd.py.

The fixture RPSL is tests/fixtures/rpsl/default.rpsl; its comments say what each object is for.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsgen.errors import ExitCode, MissingTool, SourceFailed
from rsgen.model import IrrData, IrrSettings
from rsgen.sources import irr, proc
from rsgen.values import AsSetName, PrefixRange, parse_as_set
from tests.fixtures.irr_plugin import FIXTURE_SOURCES, MakeIrrServer
from tests.fixtures.whoisd import WhoisServer

# Real bgpq4 output for AS112 / AS-AS112, from bgp/bgpq4 tests/reference (BSD-2-Clause,
# /work/shared/data/bgpq4-reference): json--4.txt, json--6.txt and json--asp.txt.
REFERENCE_4 = ('{ "NN": [\n    { "prefix": "192.31.196.0\\/24", "exact": true },\n'
               '    { "prefix": "192.175.48.0\\/24", "exact": true }\n] }\n')
REFERENCE_6 = ('{ "NN": [\n    { "prefix": "2001:4:112::\\/48", "exact": true },\n'
               '    { "prefix": "2620:4f:8000::\\/48", "exact": true }\n] }\n')
REFERENCE_ASP = '{"NN": [\n  112\n]}\n'

AS112_V4 = (PrefixRange.parse("192.31.196.0/24"), PrefixRange.parse("192.175.48.0/24"))
AS112_V6 = (PrefixRange.parse("2001:4:112::/48"), PrefixRange.parse("2620:4f:8000::/48"))


def names(*texts: str) -> list[AsSetName]:
    return [parse_as_set(t) for t in texts]


def fetch(settings: IrrSettings, *texts: str) -> IrrData:
    return irr.fetch_irr(names(*texts), settings, max_length4=24, max_length6=48)


def settings_for(server: WhoisServer, timeout: float = 10.0) -> IrrSettings:
    return IrrSettings(host=server.host, sources=FIXTURE_SOURCES, timeout_seconds=timeout,
                       parallel=2)


# --- argv ---------------------------------------------------------------------------------


def test_argv_prefix_query() -> None:
    """bgpq4 is asked for an aggregated JSON IPv4 list, the objects after "--"."""
    argv = irr.bgpq4_argv(names("AS-FOO", "AS3333"), query="ipv4", host="whois.radb.net",
                          sources=["RIPE", "RADB"], max_length=24)
    assert argv == ["bgpq4", "-h", "whois.radb.net", "-S", "RIPE,RADB", "-j", "-l", "NN",
                    "-4", "-A", "-m", "24", "--", "AS-FOO", "AS3333"]


def test_argv_origins_query() -> None:
    """Origin ASNs are asked for with -t (a JSON list of numbers), not as a prefix list."""
    argv = irr.bgpq4_argv(names("AS-FOO"), query="origins", host="127.0.0.1:4343",
                          sources=["RIPE"], bgpq4="/usr/bin/bgpq4")
    assert argv == ["/usr/bin/bgpq4", "-h", "127.0.0.1:4343", "-S", "RIPE", "-j", "-l", "NN",
                    "-t", "--", "AS-FOO"]


def test_argv_source_pins() -> None:
    """A pinned set goes as SOURCE::SET; a pinned ASN loses the pin, which bgpq4 cannot parse."""
    argv = irr.bgpq4_argv(names("AS-FOO@RIPE", "RADB::AS112"), query="ipv6", host="h",
                          sources=[])
    assert argv == ["bgpq4", "-h", "h", "-j", "-l", "NN", "-6", "-A", "--",
                    "RIPE::AS-FOO", "AS112"]


@pytest.mark.parametrize(("objects", "host", "sources", "max_length"), [
    ([AsSetName("-hAS-FOO")], "h", ["RIPE"], None),
    ([AsSetName("AS-FOO", "-S")], "h", ["RIPE"], None),
    ([AsSetName("as-foo")], "h", ["RIPE"], None),
    ([AsSetName("AS-FOO BAR")], "h", ["RIPE"], None),
    ([AsSetName("AS-FOO@RIPE")], "h", ["RIPE"], None),
    ([], "h", ["RIPE"], None),
    (names("AS-FOO"), "-h", ["RIPE"], None),
    (names("AS-FOO"), "evil host", ["RIPE"], None),
    (names("AS-FOO"), "h:70000", ["RIPE"], None),
    (names("AS-FOO"), "h", ["-x"], None),
    (names("AS-FOO"), "h", ["RIPE,RADB"], None),
    (names("AS-FOO"), "h", ["RIPE"], 33),
    (names("AS-FOO"), "h", ["RIPE"], 0),
])
def test_argv_refuses_unsafe_input(objects: list[AsSetName], host: str, sources: list[str],
                                   max_length: int | None) -> None:
    """Data that could be read as an option, or is not a valid name, never reaches bgpq4."""
    with pytest.raises(ValueError, match=r"refusing|nothing|max_length"):
        irr.bgpq4_argv(objects, query="ipv4", host=host, sources=sources,
                       max_length=max_length)


def test_argv_origins_refuse_max_length() -> None:
    """A max length on the origins query is a caller's mistake, reported, not ignored."""
    with pytest.raises(ValueError, match="max_length"):
        irr.bgpq4_argv(names("AS-FOO"), query="origins", host="h", sources=[], max_length=24)


_OUR_OPTIONS = {"-h", "-S", "-j", "-l", "-4", "-6", "-A", "-m", "-t"}
_WILD = st.text(alphabet="AS-:@_ ,x0\t", max_size=12)


@settings(deadline=None)  # no timing flakes on a loaded CI machine
@given(name=_WILD, source=st.one_of(st.none(), _WILD), host=_WILD,
       sources=st.lists(_WILD, max_size=2),
       query=st.sampled_from(["ipv4", "ipv6", "origins"]))
def test_argv_never_passes_option_like_data(name: str, source: str | None, host: str,
                                            sources: list[str], query: irr.Query) -> None:
    """Whatever AS-SET, source or host text arrives, argv has no option but rsgen's own."""
    try:
        argv = irr.bgpq4_argv([AsSetName(name, source)], query=query, host=host,
                              sources=sources)
    except ValueError:
        return
    end = argv.index("--")
    options, values = argv[1:end], argv[end + 1:]
    assert all(a in _OUR_OPTIONS for a in options if a.startswith("-"))
    assert not any(a.startswith("-") for a in values)
    pinned = source is not None and not AsSetName(name).is_asn
    assert values == [f"{source}::{name}" if pinned else name]
    assert parse_as_set(values[0]).name == name


@settings(deadline=None)
@given(text=st.from_regex(r"\A(?:[A-Z]{2,6}::)?(?:AS[0-9]{1,5}:)?AS-[A-Z0-9][A-Z0-9_-]{0,15}\Z"))
def test_argv_accepts_every_valid_set_name(text: str) -> None:
    """Every AS-SET the loader accepts can be expanded, and goes to bgpq4 as written."""
    argv = irr.bgpq4_argv([parse_as_set(text)], query="ipv4", host="h", sources=["RIPE"])
    assert argv[-2:] == ["--", text]


# --- JSON output ----------------------------------------------------------------------------


def test_parse_reference_outputs() -> None:
    """Real bgpq4 JSON (from bgpq4's own test references) parses to the right values."""
    assert irr.parse_prefixes(REFERENCE_4, 4) == AS112_V4
    assert irr.parse_prefixes(REFERENCE_6, 6) == AS112_V6
    assert irr.parse_origins(REFERENCE_ASP) == (112,)


def test_parse_aggregated_ranges() -> None:
    """-A ranges become prefix{ge,le}; a missing greater-equal means the prefix's own length."""
    text = json.dumps({"NN": [
        {"prefix": "198.51.100.0/24", "exact": False, "greater-equal": 25, "less-equal": 25},
        {"prefix": "192.0.2.0/24", "exact": False, "less-equal": 26},
        {"prefix": "192.0.2.0/24", "exact": True},
        {"prefix": "192.0.2.0/24", "exact": True},
    ]})
    assert [p.bird() for p in irr.parse_prefixes(text, 4)] == [
        "192.0.2.0/24", "192.0.2.0/24{24,26}", "198.51.100.0/24{25,25}"]


def test_parse_empty_lists() -> None:
    """An empty list parses to nothing (the caller decides whether that is a failure)."""
    assert irr.parse_prefixes('{ "NN": [\n] }\n', 6) == ()
    assert irr.parse_origins('{"NN": [\n]}\n') == ()


@pytest.mark.parametrize("text", [
    "", "{", "[]", '{"XX": []}', '{"NN": [], "XX": []}', '{"NN": {}}', '{"NN": ["192.0.2.0/24"]}',
    '{"NN": [{"prefix": "2001:db8::/32", "exact": true}]}',
    '{"NN": [{"prefix": "192.0.2.1/24", "exact": true}]}',
    '{"NN": [{"prefix": "192.0.2.0/24"}]}',
    '{"NN": [{"prefix": "192.0.2.0/24", "exact": "yes"}]}',
    '{"NN": [{"prefix": "192.0.2.0/24", "exact": true, "less-equal": 25}]}',
    '{"NN": [{"prefix": "192.0.2.0/24", "exact": false}]}',
    '{"NN": [{"prefix": "192.0.2.0/24", "exact": false, "less-equal": true}]}',
    '{"NN": [{"prefix": "192.0.2.0/24", "exact": false, "less-equal": 33}]}',
    '{"NN": [{"prefix": "192.0.2.0/24", "exact": false, "greater-equal": 26, "less-equal": 25}]}',
    '{"NN": [{"prefix": "192.0.2.0/24", "exact": true, "action": "permit"}]}',
])
def test_parse_prefixes_rejects_malformed(text: str) -> None:
    """Output that is not exactly bgpq4's IPv4 JSON list is an error, never a partial list."""
    with pytest.raises(ValueError, match="bgpq4 output"):
        irr.parse_prefixes(text, 4)


@pytest.mark.parametrize("text", [
    "112", '{"NN": [0]}', '{"NN": [-1]}', '{"NN": [4294967296]}', '{"NN": ["112"]}',
    '{"NN": [true]}', '{"NN": [112.0]}', '{"NN": [null]}', '{"NN": [[112]]}',
])
def test_parse_origins_rejects_malformed(text: str) -> None:
    """An origin list with anything but ASNs in range is an error, never a partial list."""
    with pytest.raises(ValueError, match="bgpq4 output"):
        irr.parse_origins(text)


# --- real bgpq4 against the fixture server --------------------------------------------------


@pytest.mark.parametrize(("args", "reference"), [
    (["-4"], REFERENCE_4), (["-6"], REFERENCE_6), (["-f", "112"], REFERENCE_ASP)])
def test_fixture_reproduces_bgpq4_reference(irr_server: WhoisServer, args: list[str],
                                            reference: str) -> None:
    """The fixture server makes bgpq4 print exactly what it printed against the real IRR."""
    done = proc.run(["bgpq4", "-h", irr_server.host, "-j", "-l", "NN", *args, "AS-AS112"],
                    timeout=10)
    assert (done.returncode, done.stderr, done.stdout) == (0, "", reference)


def test_fetch_as112(irr_settings: IrrSettings) -> None:
    """A member's AS-SET expands to its origins and both prefix lists."""
    data = fetch(irr_settings, "AS-AS112")
    assert data == IrrData(tuple(names("AS-AS112")), (112,), AS112_V4, AS112_V6)


@pytest.mark.parametrize("a_queries", [True, False])
def test_fetch_nested_set(make_irr_server: MakeIrrServer, a_queries: bool) -> None:
    """Nested sets expand fully, /25 pairs aggregate, and /26s over the max length 25 go.

    With and without the server's !a query: bgpq4 then resolves the set itself (!i, !g, !6).
    """
    server = make_irr_server(a_queries=a_queries)
    data = irr.fetch_irr(names("AS-RSGEN-NESTED"), settings_for(server), max_length4=25,
                         max_length6=48)
    assert data.origins == (112, 200100, 200101)
    assert [p.bird() for p in data.ipv4] == [
        "192.31.196.0/24", "192.175.48.0/24", "198.51.100.0/24{25,25}", "203.0.113.0/24"]
    assert [p.bird() for p in data.ipv6] == [
        "2001:4:112::/48", "2001:db8:100::/48", "2620:4f:8000::/48"]
    assert any(q.startswith("!a4") for q in server.queries) is a_queries


def test_fetch_longer_max_length_keeps_more_specifics(irr_settings: IrrSettings) -> None:
    """The max length given is the one applied: /26 routes are kept under a /26 limit."""
    data = irr.fetch_irr(names("AS-RSGEN-GRANDCHILD"), irr_settings, max_length4=26,
                         max_length6=48)
    assert [p.bird() for p in data.ipv4] == ["203.0.113.0/24", "203.0.113.64/26"]


def test_fetch_several_objects_and_loop(irr_settings: IrrSettings) -> None:
    """Sets that contain each other expand once; several objects expand together."""
    data = irr.fetch_irr(names("AS-RSGEN-LOOP-A", "AS112"), irr_settings, max_length4=25,
                         max_length6=48)
    assert data.origins == (112, 200200, 200201)
    assert PrefixRange.parse("192.0.2.0/24{25,25}") in data.ipv4
    assert data.objects == tuple(names("AS-RSGEN-LOOP-A", "AS112"))


def test_fetch_ipv4_only_member(irr_settings: IrrSettings) -> None:
    """A member without IPv6 routes is fine: an empty IPv6 list, not a failure."""
    data = fetch(irr_settings, "AS-RSGEN-V4ONLY")
    assert (data.origins, data.ipv4, data.ipv6) == ((200300,), (PrefixRange.parse(
        "192.0.2.0/24"),), ())


def test_fetch_source_pinned_set(irr_server: WhoisServer, irr_settings: IrrSettings) -> None:
    """RIPE::AS-X expands the RIPE object even where another source has a different one."""
    data = fetch(irr_settings, "RIPE::AS-RSGEN-PINNED")
    assert (data.origins, data.ipv4) == ((200400,), (PrefixRange.parse("198.51.100.0/24"),))
    assert "!sRIPE" in irr_server.queries
    unpinned = fetch(irr_settings, "AS-RSGEN-PINNED")  # RIPE comes first in -S RIPE,RADB
    assert unpinned.origins == (200400,)


def test_fetch_hierarchical_set(irr_settings: IrrSettings) -> None:
    """A hierarchical AS-SET name (AS123:AS-FOO) expands like any other."""
    assert fetch(irr_settings, "AS200100:AS-CUSTOMERS").origins == (200101,)


def test_fetch_ignores_private_member_asn(irr_settings: IrrSettings) -> None:
    """A private ASN in a set is dropped (bgpq4 complains on stderr) and the rest is kept."""
    data = fetch(irr_settings, "AS-RSGEN-SOMEPRIVATE")
    assert (data.origins, data.ipv4) == ((200300,), (PrefixRange.parse("192.0.2.0/24"),))


@pytest.mark.parametrize(("obj", "why"), [
    ("AS-RSGEN-UNKNOWN", "no origin ASNs"),
    ("AS-RSGEN-ALTDB", "no origin ASNs"),  # exists, but in a source not selected
    ("AS-RSGEN-EMPTY", "no origin ASNs"),
    ("AS-RSGEN-PRIVATE", "no origin ASNs"),
    ("AS-RSGEN-NOROUTES", "no IPv4 or IPv6 prefixes"),
])
def test_fetch_unusable_sets_fail(irr_settings: IrrSettings, obj: str, why: str) -> None:
    """An AS-SET that yields nothing usable fails the member instead of filtering everything."""
    with pytest.raises(SourceFailed, match=why) as info:
        fetch(irr_settings, obj)
    assert obj in info.value.message and info.value.exit_code == ExitCode.SOURCE_FAILED
    assert info.value.hint is not None and obj in info.value.hint


def test_fetch_unknown_source_fails(irr_server: WhoisServer) -> None:
    """An IRR source the server does not have is reported, with the server's words."""
    settings = IrrSettings(host=irr_server.host, sources=("RIPE", "NOPE"), timeout_seconds=10)
    with pytest.raises(SourceFailed, match=r"status 1: ERROR:Invalid source\(s\) 'RIPE,NOPE'"):
        fetch(settings, "AS-AS112")


@pytest.mark.slow  # real timeouts
@pytest.mark.parametrize(("mode", "why"), [
    ("hang", r"no answer from 127\.0\.0\.1:\d+ within 1 s"),
    # bgpq4 reads the early EOF, or dies of SIGPIPE still writing queries: timing decides.
    ("reset", r"status 255: FATAL ERROR:EOF from IRRd|closed the connection while bgpq4 was "
              r"still sending"),
    ("close", r"status 1: ERROR:ident, failed read from IRRd"),
    ("garbage", r"bgpq4 reported: ERROR:Invalid symbol in AS number"),
    ("refuse", r"status 1: ERROR:All attempts to connect 127\.0\.0\.1 failed.*refused"),
])
def test_fetch_server_faults_fail_quickly(make_irr_server: MakeIrrServer, mode: str,
                                          why: str) -> None:
    """A broken IRR server fails the member with a clear message, within the timeout."""
    settings = settings_for(make_irr_server(mode=mode), timeout=1.0)
    started = time.monotonic()
    with pytest.raises(SourceFailed, match=why) as info:
        fetch(settings, "AS-AS112")
    assert time.monotonic() - started < 4.0
    assert info.value.message.startswith("IRR expansion of AS-AS112 via 127.0.0.1:")


def test_fetch_garbage_prefixes_fail(make_irr_server: MakeIrrServer) -> None:
    """Nonsense in prefix answers fails the member, though bgpq4 itself exits 0."""
    server = make_irr_server(mode="garbage")
    settings = settings_for(server)
    with pytest.raises(SourceFailed, match="bgpq4 reported: ERROR:Unable to parse prefix"):
        irr.fetch_irr(names("AS112"), settings, max_length4=24, max_length6=48)


def test_fetch_reports_bgpq4_killed_by_signal(tmp_path: Path,
                                              irr_settings: IrrSettings) -> None:
    """bgpq4 dying of SIGPIPE (the server hung up while bgpq4 still wrote queries) is reported
    as that fault; any other signal by its name."""
    for signal_name, message in (
            ("PIPE", "closed the connection while bgpq4 was still sending queries "
                     r"\(bgpq4 was killed by SIGPIPE\)"),
            ("TERM", "bgpq4 was killed by SIGTERM: no message")):
        fake = tmp_path / "bgpq4"
        fake.write_text(f"#!/bin/sh\nkill -{signal_name} $$\n")
        fake.chmod(0o755)
        with pytest.raises(SourceFailed, match=message):
            irr.fetch_irr(names("AS-AS112"), irr_settings, max_length4=24, max_length6=48,
                          bgpq4=str(fake))


def test_fetch_without_bgpq4(irr_settings: IrrSettings) -> None:
    """Without bgpq4 installed the run stops with exit code 7 and says what to install."""
    with pytest.raises(MissingTool) as info:
        irr.fetch_irr(names("AS-AS112"), irr_settings, max_length4=24, max_length6=48,
                      bgpq4="/nonexistent/bgpq4")
    assert info.value.exit_code == ExitCode.MISSING_TOOL
    assert info.value.hint == "install it: apt-get install bgpq4"


def test_fetch_many_mixed(irr_settings: IrrSettings) -> None:
    """Failing members are reported one by one and do not stop the others."""
    done: list[int] = []
    results, failures = irr.fetch_many(
        {112: names("AS-AS112"), 200100: names("AS-RSGEN-CHILD"),
         64999: names("AS-RSGEN-UNKNOWN"), 200500: names("AS-RSGEN-NOROUTES")},
        irr_settings, max_length4=24, max_length6=48, on_done=done.append)
    assert list(results) == [112, 200100] and list(failures) == [64999, 200500]
    assert results[200100].origins == (200100, 200101)
    assert "AS-RSGEN-UNKNOWN" in failures[64999] and "AS-RSGEN-NOROUTES" in failures[200500]
    assert sorted(done) == [112, 64999, 200100, 200500]


def test_fetch_many_without_bgpq4(irr_settings: IrrSettings) -> None:
    """A missing bgpq4 stops the whole refresh instead of failing each member."""
    with pytest.raises(MissingTool):
        irr.fetch_many({1: names("AS-AS112"), 2: names("AS112")}, irr_settings,
                       max_length4=24, max_length6=48, bgpq4="/nonexistent/bgpq4")


# --- the subprocess wrapper -----------------------------------------------------------------


def test_run_captures_output_and_input() -> None:
    """A tool's stdin, stdout, stderr and exit status pass through; bad UTF-8 is replaced."""
    script = ("import sys; data = sys.stdin.read(); sys.stdout.write(data.upper()); "
              "sys.stdout.flush(); sys.stderr.buffer.write(b'bad \\xff'); sys.exit(3)")
    done = proc.run([sys.executable, "-c", script], timeout=10, input_text="hello")
    assert (done.returncode, done.stdout, done.stderr) == (3, "HELLO", "bad \ufffd")
    assert done.argv == (sys.executable, "-c", script)


@pytest.mark.slow  # a real timeout
def test_run_timeout_kills_process_group(tmp_path: Path) -> None:
    """A tool that hangs is killed after its timeout, with every process it started."""
    pid_file = tmp_path / "grandchild.pid"
    # sh starts its background child within milliseconds, well inside the timeout.
    script = f'sleep 60 & echo $! > "{pid_file}"; wait'
    started = time.monotonic()
    with pytest.raises(proc.ToolTimeout, match=r"sh did not finish within 1 s") as info:
        proc.run(["sh", "-c", script], timeout=1.0)
    assert time.monotonic() - started < 4.0 and info.value.exit_code == ExitCode.INTERNAL
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and _alive(grandchild):
        time.sleep(0.02)
    assert not _alive(grandchild)


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for its reaper."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.mark.parametrize(("program", "hint"), [
    ("/nonexistent/bgpq4", "install it: apt-get install bgpq4"),
    ("/nonexistent/bird", "install it: apt-get install bird2"),
    ("rsgen-no-such-tool", "install rsgen-no-such-tool or put it on PATH"),
])
def test_run_missing_tool(program: str, hint: str) -> None:
    """A tool that is not installed is a MissingTool error naming the package to install."""
    with pytest.raises(MissingTool) as info:
        proc.run([program, "-p"], timeout=5)
    assert info.value.hint == hint


@pytest.mark.slow  # a real timeout
def test_fetch_many_gives_up_on_a_dead_server(make_irr_server: MakeIrrServer) -> None:
    """When the IRR server fails for the first members in a row, the rest are not tried (and
    reported so) instead of each waiting out its own timeout."""
    dead = make_irr_server(mode="hang")
    dead_settings = IrrSettings(host=dead.host, sources=("RIPE",), timeout_seconds=0.5,
                                parallel=2)
    requests = {asn: names(f"AS-RSGEN-{asn}") for asn in range(200100, 200112)}
    results, failures = irr.fetch_many(requests, dead_settings, max_length4=24,
                                       max_length6=48)
    assert results == {} and sorted(failures) == sorted(requests)
    not_tried = [asn for asn, why in failures.items() if why.startswith("not tried")]
    assert len(not_tried) >= 8
    assert all("failed for the first 2 members" in failures[asn] for asn in not_tried)


# --- refresh at scale: shared AS-SETs, ASN-only members, IRR host failover ------------------


def test_members_sharing_an_as_set_share_one_expansion(irr_server: WhoisServer,
                                                       irr_settings: IrrSettings) -> None:
    stats = irr.IrrStats()
    results, failures = irr.fetch_many(
        {200100: names("AS-AS112"), 200101: names("AS-AS112"), 200102: names("AS-RSGEN-CHILD")},
        irr_settings, max_length4=24, max_length6=48, stats=stats)
    assert failures == {} and results[200100] == results[200101] == fetch(irr_settings,
                                                                          "AS-AS112")
    assert (stats.members, stats.bundles, stats.queries) == (3, 2, 6)
    assert "6 bgpq4 queries for 3 members (2 distinct AS-SET bundles)" in stats.describe(1.0)


def test_an_asn_alone_needs_no_origin_query(irr_settings: IrrSettings) -> None:
    """A member whose objects are its public ASN alone has that ASN as its only origin: two
    prefix queries, no origin query (bgpq4 -t would only print the ASN back)."""
    stats = irr.IrrStats()
    data = irr.fetch_irr(names("AS112"), irr_settings, max_length4=24, max_length6=48,
                         stats=stats)
    assert data == IrrData(tuple(names("AS112")), (112,), AS112_V4, AS112_V6)
    assert stats.queries == 2
    stats = irr.IrrStats()
    irr.fetch_irr(names("AS112", "AS-RSGEN-CHILD"), irr_settings, max_length4=24,
                  max_length6=48, stats=stats)
    assert stats.queries == 3


def _with_fallback(first: WhoisServer, *others: WhoisServer) -> IrrSettings:
    return IrrSettings(host=first.host, sources=FIXTURE_SOURCES, timeout_seconds=10,
                       fallback_hosts=tuple(o.host for o in others))


def test_a_failing_irr_host_passes_members_to_the_next(make_irr_server: MakeIrrServer) -> None:
    """The first host refuses connections: every member is expanded by the second, and the
    first is given up after two members (so later ones go straight to the second)."""
    down, up = make_irr_server(mode="refuse"), make_irr_server()
    settings = _with_fallback(down, up)
    stats = irr.IrrStats()
    requests = {200100 + n: names(text) for n, text in enumerate(
        ("AS-AS112", "AS-RSGEN-CHILD", "AS-RSGEN-NESTED", "AS-RSGEN-V4ONLY", "AS112"))}
    results, failures = irr.fetch_many(requests, dataclasses.replace(settings, parallel=1),
                                       max_length4=24, max_length6=48, stats=stats)
    assert failures == {} and sorted(results) == sorted(requests)
    assert results[200100] == irr.fetch_irr(names("AS-AS112"), settings_for(up),
                                            max_length4=24, max_length6=48)
    # Two members tried the refusing host (one query each), then it was given up.
    assert stats.queries == 2 + 3 * 4 + 2


def test_every_irr_host_failing_names_each(make_irr_server: MakeIrrServer) -> None:
    first, second = make_irr_server(mode="refuse"), make_irr_server(mode="garbage")
    with pytest.raises(SourceFailed) as info:
        irr.fetch_irr(names("AS-AS112"), _with_fallback(first, second), max_length4=24,
                      max_length6=48)
    message = info.value.message
    assert "failed on every IRR host" in message
    assert first.host in message and second.host in message


def test_an_irr_host_that_answers_nothing_is_believed(make_irr_server: MakeIrrServer) -> None:
    """A well-formed "no such set" is an answer, not a fault: the member fails, and the next
    host is not asked (which could otherwise hand a typo the data of a stale mirror)."""
    first, second = make_irr_server(), make_irr_server()
    with pytest.raises(SourceFailed, match="no origin ASNs"):
        irr.fetch_irr(names("AS-RSGEN-UNKNOWN"), _with_fallback(first, second),
                      max_length4=24, max_length6=48)
    assert first.queries and not second.queries


@pytest.mark.slow  # real timeouts
def test_giving_up_the_irr_server_stops_the_bgpq4_runs_still_going(
        make_irr_server: MakeIrrServer) -> None:
    """Members whose bgpq4 was already running when the last host was given up are stopped
    then, not left to wait out their own timeout (a hanging server once cost 241 s)."""
    dead = make_irr_server(mode="hang")
    timeout = 20.0  # far longer than it takes the first members to be started and fail
    dead_settings = IrrSettings(host=dead.host, sources=("RIPE",), timeout_seconds=timeout,
                                parallel=3)
    requests = {asn: names(f"AS-RSGEN-{asn}") for asn in range(200100, 200109)}
    results, failures = irr.fetch_many(requests, dead_settings, max_length4=24,
                                       max_length6=48)
    assert results == {} and sorted(failures) == sorted(requests)
    waited = [asn for asn, why in failures.items() if f"within {timeout:g} s" in why]
    stopped = [asn for asn, why in failures.items() if irr.STOPPED in why]
    not_tried = [asn for asn, why in failures.items() if why.startswith("not tried")]
    # Only the members that made the host be given up waited out a timeout: the ones started
    # after them were stopped (or never started).
    assert len(waited) == 3, failures
    assert len(waited) + len(stopped) + len(not_tried) == len(requests), failures
