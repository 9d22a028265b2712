"""The PeeringDB adapter, over real HTTP against the local fixture server (tests/fixtures)."""

from __future__ import annotations

import copy
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import rsgen
from rsgen.errors import ExitCode, InvalidInput, SourceFailed
from rsgen.model import PeeringDbNet
from rsgen.settings import Settings
from rsgen.sources.peeringdb import PeeringDbClient, parse_nets
from tests.fixtures.pdb_server import Mode, PeeringDbFixtureServer, load_fixture_records
from tests.fixtures.peeringdb_plugin import MakePeeringDbServer
from tests.fixtures.tls import TlsCertificate


class Sleeps(list[float]):
    """A `sleep` that records the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def client(server: PeeringDbFixtureServer, sleeps: Sleeps, **options: Any) -> PeeringDbClient:
    options.setdefault("timeout", 5.0)
    return PeeringDbClient(server.url, sleep=sleeps, **options)


@pytest.fixture
def https_server(make_peeringdb_server: MakePeeringDbServer, tls_certificate: TlsCertificate,
                 monkeypatch: pytest.MonkeyPatch) -> PeeringDbFixtureServer:
    """The fixture server over HTTPS, its certificate trusted (SSL_CERT_FILE): an API key is
    only ever sent over HTTPS (rsgen.sources.peeringdb.api_key_refusal)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_certificate.certificate))
    return make_peeringdb_server(tls=tls_certificate)


def fixture_record(asn: int) -> dict[str, Any]:
    return copy.deepcopy(next(r for r in load_fixture_records() if r["asn"] == asn))


def synthetic_records(asns: range) -> list[dict[str, Any]]:
    template = fixture_record(63312)
    return [{**template, "asn": asn, "name": f"net {asn}"} for asn in asns]


# --- what a normal answer gives ---


def test_real_records_become_typed_nets(peeringdb_server: PeeringDbFixtureServer,
                                        sleeps: Sleeps) -> None:
    """Members' PeeringDB data (AS-SET, prefix counts) arrives exactly as PeeringDB holds it."""
    nets = client(peeringdb_server, sleeps).fetch_nets([3333, 197000])
    assert nets == {
        3333: PeeringDbNet(3333, "RIPE NCC", "AS-RIPENCC", 30, 20, False),
        197000: PeeringDbNet(197000, "RIPE NCC Authoritative DNS",
                             "RS-AUTHDNS-AMS RS-AUTHDNS-LON RS-AUTHDNS-BMA", 5, 5, False),
    }


def test_asn_missing_from_peeringdb_is_absent(peeringdb_server: PeeringDbFixtureServer,
                                               sleeps: Sleeps) -> None:
    """A member without a PeeringDB record is left out, not an error."""
    nets = client(peeringdb_server, sleeps).fetch_nets([10745, 4200000001])
    assert list(nets) == [10745]


def test_never_via_route_servers_is_read(peeringdb_server: PeeringDbFixtureServer,
                                         sleeps: Sleeps) -> None:
    """Networks that ask not to be reached via route servers are flagged (real AS2914 record)."""
    nets = client(peeringdb_server, sleeps).fetch_nets([2914, 3333])
    assert nets[2914].never_via_route_servers is True
    assert nets[2914].irr_as_set == "NTTCOM::AS2914:AS-GLOBAL"
    assert nets[3333].never_via_route_servers is False


def test_many_asns_are_fetched_in_sorted_batches_of_150(
        make_peeringdb_server: MakePeeringDbServer, sleeps: Sleeps) -> None:
    """A big exchange costs few, deterministic queries (PeeringDB rate-limits anonymous use)."""
    asns = range(200000, 200320)
    server = make_peeringdb_server(records=synthetic_records(asns))
    asked = [*reversed(asns), 200005, 200005]  # unsorted, with duplicates
    nets = client(server, sleeps).fetch_nets(asked)
    assert sorted(nets) == list(asns) == list(nets)
    batches = [r.asns for r in server.requests]
    assert [len(b) for b in batches] == [150, 150, 20]
    assert [asn for batch in batches for asn in batch] == list(asns)
    assert {r.path for r in server.requests} == {"/api/net"}
    assert sleeps == []


def test_no_asns_means_no_query(peeringdb_server: PeeringDbFixtureServer, sleeps: Sleeps) -> None:
    """An exchange without members does not touch PeeringDB."""
    assert client(peeringdb_server, sleeps).fetch_nets([]) == {}
    assert peeringdb_server.requests == []


def test_answer_filtering_and_defaults(make_peeringdb_server: MakePeeringDbServer,
                                       sleeps: Sleeps) -> None:
    """Deleted records are ignored; new PeeringDB fields and absent optional ones do no harm."""
    deleted = {**fixture_record(3333), "status": "deleted", "irr_as_set": "AS-OLD"}
    sparse = {"asn": 10745, "name": "ARIN", "info_prefixes4": None, "new_field": {"x": [1]}}
    server = make_peeringdb_server(records=[deleted, sparse])
    nets = client(server, sleeps).fetch_nets([3333, 10745])
    assert nets == {10745: PeeringDbNet(10745, "ARIN", "", None, None, False)}


# --- what rsgen sends ---


def test_api_key_header_only_when_set(https_server: PeeringDbFixtureServer,
                                      sleeps: Sleeps) -> None:
    """An API key is sent as PeeringDB expects it, and no Authorization header without one."""
    client(https_server, sleeps, api_key="k3y-Secret", pinned=True).fetch_nets([3333])
    client(https_server, sleeps).fetch_nets([3333])
    with_key, without_key = https_server.requests
    assert with_key.headers["authorization"] == "Api-Key k3y-Secret"
    assert "authorization" not in without_key.headers


def test_user_agent_names_rsgen_and_version(peeringdb_server: PeeringDbFixtureServer,
                                            sleeps: Sleeps) -> None:
    """PeeringDB operators can tell rsgen's traffic and version apart from other clients."""
    client(peeringdb_server, sleeps).fetch_nets([3333])
    assert peeringdb_server.requests[0].headers["user-agent"].startswith(
        f"rsgen/{rsgen.__version__} ")


def test_api_key_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """PEERINGDB_API_KEY is picked up (by Settings), trimmed, and a blank one counts as unset."""
    monkeypatch.setenv("PEERINGDB_API_KEY", "  abc.def \n")
    key = Settings.from_environment().peeringdb_api_key
    assert key is not None and key.reveal() == "abc.def"
    monkeypatch.setenv("PEERINGDB_API_KEY", " ")
    assert Settings.from_environment().peeringdb_api_key is None
    monkeypatch.delenv("PEERINGDB_API_KEY")
    assert Settings.from_environment().peeringdb_api_key is None


# --- retries ---


def test_rate_limit_waits_as_long_as_retry_after_says(
        peeringdb_server: PeeringDbFixtureServer, sleeps: Sleeps) -> None:
    """A 429 is waited out for the time PeeringDB asks, then the query succeeds."""
    peeringdb_server.configure(retry_after="7")
    peeringdb_server.set_mode("429", times=1)
    nets = client(peeringdb_server, sleeps).fetch_nets([3333])
    assert list(nets) == [3333]
    assert sleeps == [7.0]
    assert len(peeringdb_server.requests) == 2


@pytest.mark.parametrize(("retry_after", "expected"), [
    (None, [1.0]),  # no header: our own backoff
    ("Wed, 21 Oct 2015 07:28:00 GMT", [0.0]),  # an HTTP-date in the past: no wait
])
def test_rate_limit_without_seconds(peeringdb_server: PeeringDbFixtureServer, sleeps: Sleeps,
                                    retry_after: str | None, expected: list[float]) -> None:
    """A 429 without a delay in seconds is still retried, with a sane wait."""
    peeringdb_server.configure(retry_after=retry_after)
    peeringdb_server.set_mode("429", times=1)
    assert list(client(peeringdb_server, sleeps).fetch_nets([3333])) == [3333]
    assert sleeps == expected


def test_rate_limit_longer_than_cap_fails_at_once(peeringdb_server: PeeringDbFixtureServer,
                                                  sleeps: Sleeps) -> None:
    """rsgen does not hang for an hour on a daily rate limit; it says how long it was asked."""
    peeringdb_server.configure(retry_after="3600")
    peeringdb_server.set_mode("429")
    with pytest.raises(SourceFailed, match=r"wait 3600 s.*more than the 120 s") as caught:
        client(peeringdb_server, sleeps).fetch_nets([3333])
    assert "PEERINGDB_API_KEY" in str(caught.value.hint)
    assert sleeps == []
    assert len(peeringdb_server.requests) == 1


def test_server_error_then_success(peeringdb_server: PeeringDbFixtureServer,
                                   sleeps: Sleeps) -> None:
    """Passing 5xx errors are retried with growing waits and do not fail the refresh."""
    peeringdb_server.set_mode("500", times=2)
    assert list(client(peeringdb_server, sleeps).fetch_nets([3333])) == [3333]
    assert sleeps == [1.0, 2.0]
    assert len(peeringdb_server.requests) == 3


def test_persistent_server_error_fails_after_max_attempts(
        peeringdb_server: PeeringDbFixtureServer, sleeps: Sleeps) -> None:
    """A PeeringDB outage ends in exit code 4 with the URL, status and attempt count."""
    peeringdb_server.set_mode("500")
    with pytest.raises(SourceFailed) as caught:
        client(peeringdb_server, sleeps, max_attempts=4).fetch_nets([3333, 10745])
    error = caught.value
    assert f"{peeringdb_server.url}/net?asn__in=3333,10745" in error.message
    assert "after 4 attempts" in error.message
    assert "HTTP 500" in error.message
    assert error.exit_code == ExitCode.SOURCE_FAILED
    assert "--offline" in str(error.hint)
    assert sleeps == [1.0, 2.0, 4.0]
    assert len(peeringdb_server.requests) == 4


@pytest.mark.slow  # a real timeout
def test_hanging_server_times_out(peeringdb_server: PeeringDbFixtureServer,
                                  sleeps: Sleeps) -> None:
    """A PeeringDB that never answers cannot stall a refresh past the configured timeout."""
    peeringdb_server.set_mode("hang")
    started = time.monotonic()
    with pytest.raises(SourceFailed, match=r"after 2 attempts: no answer within 0\.3 s"):
        client(peeringdb_server, sleeps, timeout=0.3, max_attempts=2).fetch_nets([3333])
    assert time.monotonic() - started < 1.5
    assert len(peeringdb_server.requests) == 2


def test_slow_drip_answer_times_out(sleeps: Sleeps) -> None:
    """A server sending a byte now and then cannot keep rsgen waiting beyond the timeout."""
    def drip() -> Iterator[bytes]:
        for _ in range(20):
            time.sleep(0.05)
            yield b" "

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=drip()))
    pdb = PeeringDbClient("http://pdb.invalid/api", timeout=0.2, max_attempts=1,
                          sleep=sleeps, transport=transport)
    started = time.monotonic()
    with pytest.raises(SourceFailed, match=r"no answer within 0\.2 s"):
        pdb.fetch_nets([3333])
    assert time.monotonic() - started < 0.6


def test_connection_refused_is_retried_then_fails(sleeps: Sleeps) -> None:
    """An unreachable PeeringDB is retried, then reported as a source failure, not a traceback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pdb = PeeringDbClient(f"http://127.0.0.1:{port}/api", max_attempts=3, sleep=sleeps)
    with pytest.raises(SourceFailed, match=r"after 3 attempts: connection failed \(Connect"):
        pdb.fetch_nets([3333])
    assert sleeps == [1.0, 2.0]


# --- answers that are not PeeringDB's ---


@pytest.mark.parametrize(("mode", "reason"), [
    ("malformed", "not valid JSON"),
    ("truncated", "cut short"),
    ("wrong-shape", 'expected a JSON object with a "data" list'),
])
def test_broken_answers_fail_clearly(peeringdb_server: PeeringDbFixtureServer, sleeps: Sleeps,
                                     mode: Mode, reason: str) -> None:
    """An answer that is not PeeringDB JSON stops the refresh with what was wrong with it."""
    peeringdb_server.set_mode(mode)
    with pytest.raises(SourceFailed, match="is malformed") as caught:
        client(peeringdb_server, sleeps).fetch_nets([3333])
    assert reason in caught.value.message
    assert len(peeringdb_server.requests) == 1


MISSING = object()


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("asn", "3333", r"data\[0\]\.asn is '3333'"),
    ("asn", True, r"data\[0\]\.asn is True"),
    ("asn", 10745, "AS10745, which was not asked for"),
    ("name", MISSING, r"\.name is missing"),
    ("name", "x" * 256, r"\.name is longer than 255"),
    ("irr_as_set", None, r"\.irr_as_set is missing or null, expected a string"),
    ("irr_as_set", "AS-X " * 205, r"\.irr_as_set is longer than 1024"),
    ("info_prefixes4", -1, r"\.info_prefixes4 is -1"),
    ("info_prefixes4", "30", r"\.info_prefixes4 is '30'"),
    ("info_prefixes6", True, r"\.info_prefixes6 is True"),
    ("info_prefixes6", 1.5, r"\.info_prefixes6 is 1.5"),
    ("info_prefixes6", 2**40, r"\.info_prefixes6 is 1099511627776"),
    ("info_never_via_route_servers", "false", r"info_never_via_route_servers is 'false'"),
    ("info_never_via_route_servers", 0, r"info_never_via_route_servers is 0"),
    ("status", 1, r"\.status is not a string"),
])
def test_bad_record_fields_are_rejected(make_peeringdb_server: MakePeeringDbServer,
                                        sleeps: Sleeps, key: str, value: object,
                                        reason: str) -> None:
    """A record with a wrong field type or size cannot reach policy code."""
    record = fixture_record(3333)
    if value is MISSING:
        del record[key]
    else:
        record[key] = value
    server = make_peeringdb_server(records=[record], mode="unfiltered")
    with pytest.raises(SourceFailed, match=reason):
        client(server, sleeps).fetch_nets([3333])


@pytest.mark.parametrize("records", [
    ["AS3333"],
    [None],
    [{"asn": 3333, "name": "one"}, {"asn": 3333, "name": "two"}],
])
def test_bad_record_lists_are_rejected(make_peeringdb_server: MakePeeringDbServer,
                                       sleeps: Sleeps, records: list[Any]) -> None:
    """Records that are not objects, or the same ASN twice, make the answer malformed."""
    server = make_peeringdb_server(records=records, mode="unfiltered")
    with pytest.raises(SourceFailed, match=r"malformed: data\[[01]\]"):
        client(server, sleeps).fetch_nets([3333])


def test_oversized_answer_is_refused(peeringdb_server: PeeringDbFixtureServer,
                                     sleeps: Sleeps) -> None:
    """A huge answer is cut off at the size limit instead of filling memory."""
    pdb = client(peeringdb_server, sleeps, max_response_bytes=1000)
    with pytest.raises(SourceFailed, match="larger than 1000 bytes"):
        pdb.fetch_nets([3333, 10745])


@pytest.mark.parametrize("body", [
    b"[" * 100_000,
    b'{"data": [{"asn": ' + b"9" * 5000 + b"}]}",
    b'{"data": [], "x": "\xff"}',
])
def test_hostile_json_is_an_error_not_a_crash(body: bytes) -> None:
    """Deep nesting, giant numbers or bad UTF-8 give a clean error instead of a traceback."""
    with pytest.raises(ValueError, match="JSON"):
        parse_nets(body, frozenset({3333}))


# --- wrong settings ---


def test_wrong_url_fails_at_once_with_hint(peeringdb_server: PeeringDbFixtureServer,
                                           sleeps: Sleeps) -> None:
    """A mistyped PeeringDB URL (404) is reported at once, pointing at exchange.yml."""
    pdb = PeeringDbClient(peeringdb_server.url + "/v9/", sleep=sleeps)
    with pytest.raises(SourceFailed, match="HTTP 404") as caught:
        pdb.fetch_nets([3333])
    assert "peeringdb.url" in str(caught.value.hint)
    assert [r.path for r in peeringdb_server.requests] == ["/api/v9/net"]
    assert sleeps == []


def test_bad_api_key_fails_at_once_with_hint(https_server: PeeringDbFixtureServer,
                                             sleeps: Sleeps) -> None:
    """A rejected API key (401) is not retried, and the error says which setting to fix."""
    https_server.configure(api_keys=frozenset({"good"}))
    with pytest.raises(SourceFailed, match=r"HTTP 401 \(Invalid API key\)") as caught:
        client(https_server, sleeps, api_key="bad", pinned=True).fetch_nets([3333])
    assert "PEERINGDB_API_KEY" in str(caught.value.hint)
    assert len(https_server.requests) == 1


@pytest.mark.parametrize(("url", "key"), [
    ("ftp://www.peeringdb.com/api", None),
    ("www.peeringdb.com/api", None),
    ("https://www.peeringdb.com/api", "key\nX-Injected: 1"),
])
def test_unusable_settings_are_invalid_input(url: str, key: str | None) -> None:
    """A URL that is not http(s), or an API key with control characters, is a settings error."""
    with pytest.raises(InvalidInput):
        PeeringDbClient(url, api_key=key)


@pytest.mark.parametrize("target", ["http://localhost:9/api/net?asn__in=3333",
                                    "https://localhost:9/api/net?asn__in=3333"])
def test_redirect_to_other_host_is_refused(https_server: PeeringDbFixtureServer, sleeps: Sleeps,
                                           target: str) -> None:
    """The API key never follows a redirect to a host the operator did not configure."""
    https_server.configure(redirect_to=target)
    https_server.set_mode("redirect")
    with pytest.raises(SourceFailed, match=f"redirects to {target[:20]}") as caught:
        client(https_server, sleeps, api_key="k", pinned=True).fetch_nets([3333])
    assert "another host" in caught.value.message
    assert len(https_server.requests) == 1
    assert https_server.requests[0].headers["authorization"] == "Api-Key k"


def test_redirect_on_same_host_is_followed(https_server: PeeringDbFixtureServer,
                                           sleeps: Sleeps) -> None:
    """A redirect within the configured PeeringDB host still works, key included."""
    https_server.configure(redirect_to="/api/net?asn__in=3333")
    https_server.set_mode("redirect", times=1)
    nets = client(https_server, sleeps, api_key="k", pinned=True).fetch_nets([3333])
    assert list(nets) == [3333]
    assert [r.headers.get("authorization") for r in https_server.requests] == ["Api-Key k"] * 2


def test_fixture_server_answers_single_asn_queries(
        peeringdb_server: PeeringDbFixtureServer) -> None:
    """The stand-in answers `?asn=N` like PeeringDB, so other tests may use that form too."""
    answer = httpx.get(f"{peeringdb_server.url}/net?asn=3491", timeout=5).json()
    assert [r["asn"] for r in answer["data"]] == [3491]
