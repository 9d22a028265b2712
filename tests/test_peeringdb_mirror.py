"""PeeringDB through a local mirror: a real `peeringdb sync` (peeringdb + django-peeringdb) fills
a SQLite database from peeringdb-py's cache files, served over HTTP as public.peeringdb.com
serves them; refresh and member add read it instead of the REST API, with the same parsers,
and the same records give the same snapshot bytes either way."""

from __future__ import annotations

import functools
import json
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rsgen.errors import ExitCode, InvalidInput, SourceFailed
from rsgen.load import load_checked
from rsgen.onboard import add_member
from rsgen.refresher import RefreshFailed, refresh
from rsgen.settings import Settings
from rsgen.snapshot import read_snapshot
from rsgen.sources.peeringdb import netixlan_from_records, nets_from_records
from rsgen.sources.peeringdb_mirror import PeeringDbMirror
from rsgen.sources.peeringdb_source import MirrorUsage
from tests.fixtures.irr_plugin import MakeIrrServer
from tests.fixtures.peeringdb_plugin import MakePeeringDbServer
from tests.helpers import REPO, build_tree, source_settings

CACHE = Path(__file__).parent / "fixtures" / "peeringdb" / "peeringdb-py-cache"
# The cache's three networks (all flagged never via route servers) and their AS-SETs.
MEMBERS = {63312: "AS-9698E921", 63313: "AS-32B049BF"}
RPSL = """\
as-set: AS-9698E921
members: AS63312, AS2121
source: RIPE

route: 193.0.20.0/22
origin: AS63312
source: RIPE

route6: 2001:67c:100::/48
origin: AS63312
source: RIPE

route: 193.0.24.0/24
origin: AS2121
source: RIPE

as-set: AS-32B049BF
members: AS63313
source: RIPE

route: 199.5.30.0/24
origin: AS63313
source: RIPE
"""


def _exchange(directory: Path, peeringdb: str = "") -> Path:
    files = {"exchange.yml": f"""\
name: Mirror IX
route_servers:
  - {{name: rs1, asn: 65500, router_id: 198.51.100.1, ipv4: 198.51.100.1, ipv6: "2001:db8::1"}}
peering_lan: {{ipv4: 198.51.100.0/24, ipv6: "2001:db8::/64"}}
irr: {{sources: [RIPE], timeout: 30, parallel: 2}}
{peeringdb}"""}
    for number, asn in enumerate(MEMBERS, start=10):
        files[f"members/AS{asn}.yml"] = (f"asn: {asn}\nname: Net {asn}\nsessions:\n"
                                         f"  - ip: 198.51.100.{number}\n"
                                         f"  - ip: '2001:db8::{number}'\n")
    return build_tree(directory, files)


def _cache_records(resource: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(
        (CACHE / f"{resource}-0.json").read_text(encoding="utf-8"))["data"]
    return data


@pytest.fixture(scope="module")
def cache_server() -> Iterator[str]:
    """The cache files over HTTP, as https://public.peeringdb.com serves its `*-0.json`."""
    handler = functools.partial(_QuietFiles, directory=str(CACHE))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on the test's stderr."""


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory, cache_server: str) -> Path:
    """A mirror made as an operator makes one: `peeringdb sync` with a config file naming the
    SQLite database (module-scoped: one sync, ~10 s, for all these tests)."""
    home = tmp_path_factory.mktemp("pdb")
    database = home / "peeringdb.sqlite3"
    (home / "config").mkdir()
    # sync.url: an API nobody answers, so the sync can only have come from the cache files.
    (home / "config" / "config.yaml").write_text(f"""\
sync:
  url: http://127.0.0.1:9/api
  cache_url: {cache_server}
  cache_dir: {home / "cache"}
orm:
  backend: django_peeringdb
  database: {{engine: sqlite3, name: {database}}}
""")
    sync = Path(sys.executable).with_name("peeringdb")
    done = subprocess.run([str(sync), "-C", str(home / "config"), "sync"], cwd=home,
                          capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr
    # `peeringdb sync` logs a failed resource and still exits 0: check the tables it filled.
    with sqlite3.connect(database) as connection:
        counts = [connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
                  for table in ("peeringdb_network", "peeringdb_network_ixlan")]
    assert counts == [len(_cache_records("net")), len(_cache_records("netixlan"))], done.stderr
    return database


def _mirror_settings(database: Path, irr_host: str) -> Settings:
    return Settings.from_environment({}, peeringdb_mirror=str(database), irr_host=irr_host)


def _files(directory: Path) -> dict[str, bytes]:
    root = directory / "snapshot"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_mirror_and_rest_give_the_same_snapshot_bytes(
        tmp_path: Path, mirror: Path, make_irr_server: MakeIrrServer,
        make_peeringdb_server: MakePeeringDbServer) -> None:
    """The same records, read from the API (the fixture server serves the cache's net records)
    and from the mirror, give byte-identical snapshot files; the mirror run asks no API."""
    irr = make_irr_server(RPSL)
    api = make_peeringdb_server(records=_cache_records("net"))
    rest = _exchange(tmp_path / "rest")
    refresh(rest, settings=Settings.from_environment({}, peeringdb_url=api.url,
                                                     irr_host=irr.host))
    asked = len(api.requests)
    assert asked == 2  # the members' net records, and the never-via list
    local = _exchange(tmp_path / "mirror", f"peeringdb: {{source: mirror, url: {api.url}}}\n")
    refresh(local, settings=_mirror_settings(mirror, irr.host))
    assert len(api.requests) == asked
    assert _files(local) == _files(rest)
    snapshot = read_snapshot(local)  # and the bytes hold the records, not two empty snapshots
    assert snapshot.peeringdb[63312].irr_as_set == "AS-9698E921@RIPE"
    assert snapshot.peeringdb[63313].info_prefixes4 == 50000
    assert snapshot.never_via_route_servers == {63312, 63313, 63314}
    assert snapshot.irr[63312].origins == (2121, 63312) and len(snapshot.irr[63312].ipv4) == 2


def test_refresh_reads_the_mirror_while_peeringdb_is_down(
        tmp_path: Path, mirror: Path, make_irr_server: MakeIrrServer,
        make_peeringdb_server: MakePeeringDbServer) -> None:
    """exchange.yml's API failing every request changes nothing: it is never asked."""
    down = make_peeringdb_server(mode="500")
    local = _exchange(tmp_path / "ix", f"peeringdb: {{source: mirror, url: {down.url}}}\n")
    report = refresh(local, settings=_mirror_settings(mirror, make_irr_server(RPSL).host))
    assert report.peeringdb_error is None and report.never_via_written == 3
    assert sorted(report.updated) == sorted(MEMBERS)
    assert down.requests == []


def test_the_mirror_path_alone_selects_the_mirror_and_it_is_never_written(
        tmp_path: Path, mirror: Path, make_irr_server: MakeIrrServer) -> None:
    """--peeringdb-mirror without peeringdb.source: the operator's choice; the database is
    opened read-only (its bytes unchanged)."""
    before = mirror.read_bytes()
    local = _exchange(tmp_path / "ix")  # exchange.yml names the real API: not asked
    refresh(local, settings=_mirror_settings(mirror, make_irr_server(RPSL).host))
    assert read_snapshot(local).peeringdb[63313].name == "net 4be39055"
    assert mirror.read_bytes() == before


def test_a_mirror_that_stopped_syncing_is_said_and_a_fresh_one_is_not(
        mirror: Path, tmp_path: Path) -> None:
    """The newest net record's `updated` (2023-04-21 in the cache) against the clock given."""
    notice = PeeringDbMirror(mirror).stale_notice(datetime(2023, 5, 1, tzinfo=UTC))
    assert notice is not None and "changed on 2023-04-21, 9 days ago" in notice
    assert "peeringdb sync" in notice
    assert PeeringDbMirror(mirror).stale_notice(datetime(2023, 4, 22, tzinfo=UTC)) is None
    odd = _damaged(mirror, tmp_path, "UPDATE peeringdb_network SET updated = 'soon'")
    assert PeeringDbMirror(odd).stale_notice(datetime(2030, 1, 1, tzinfo=UTC)) is None


def test_refresh_from_an_old_mirror_warns_and_one_over_rest_does_not(
        tmp_path: Path, mirror: Path, make_irr_server: MakeIrrServer,
        make_peeringdb_server: MakePeeringDbServer) -> None:
    """The cache's records are from 2023: a refresh from that mirror says so, once."""
    irr = make_irr_server(RPSL)
    report = refresh(_exchange(tmp_path / "ix"), settings=_mirror_settings(mirror, irr.host))
    assert [n for n in report.notices if "newest network record" in n] != []
    api = make_peeringdb_server(records=_cache_records("net"))
    rest = refresh(_exchange(tmp_path / "rest"), settings=Settings.from_environment(
        {}, peeringdb_url=api.url, irr_host=irr.host))
    assert not [n for n in rest.notices if "newest network record" in n]


def test_netixlan_from_the_mirror_is_what_the_api_would_give(mirror: Path) -> None:
    """fetch_netixlan: the mirror's rows through the REST parser equal the cache's records."""
    expected = netixlan_from_records(
        [r for r in _cache_records("netixlan") if r["asn"] == 63312 and r["ixlan_id"] == 1],
        63312, 1)
    found = PeeringDbMirror(mirror).fetch_netixlan(63312, 1)
    assert found == expected
    assert [(n.ipaddr4, n.ipaddr6, n.is_rs_peer) for n in found] == [
        ("206.223.116.101", "2001:504:0:1::65", True)]
    assert PeeringDbMirror(mirror).fetch_netixlan(63312, 2) == []


def test_nets_from_the_mirror_equal_the_cache_records_parsed(mirror: Path) -> None:
    """fetch_nets: what nets_from_records makes of the cache's own JSON; unknown ASNs absent."""
    asns = frozenset({63312, 63313, 63314})
    assert PeeringDbMirror(mirror).fetch_nets([*asns, 64999]) == nets_from_records(
        _cache_records("net"), asns | {64999})


def test_member_add_reads_the_mirror(tmp_path: Path, mirror: Path) -> None:
    """member add with the mirror: name from net, sessions from netixlan of ixlan 1."""
    exchange = build_tree(tmp_path / "ix", {"exchange.yml": """\
name: Test IX
route_servers:
  - {name: rs1, asn: 64500, router_id: 206.223.117.254, ipv4: 206.223.117.254,
     ipv6: "2001:504:0:1::fffe"}
peering_lan: {ipv4: 206.223.116.0/23, ipv6: "2001:504:0:1::/64"}
peeringdb: {ixlan_id: 1, source: mirror}
""", "members/README.md": "m\n"})
    add_member(exchange, 63312, Settings.from_environment({}, peeringdb_mirror=str(mirror)))
    (member,) = load_checked(exchange).members
    assert member.name == "net 25304adc"
    assert [str(s.ip) for s in member.sessions] == ["206.223.116.101", "2001:504:0:1::65"]


def _damaged(mirror: Path, tmp_path: Path, statement: str) -> Path:
    copy = tmp_path / "damaged.sqlite3"
    shutil.copyfile(mirror, copy)
    with sqlite3.connect(copy) as connection:
        connection.execute(statement)
    return copy


@pytest.mark.parametrize(("statement", "message"), [
    ("UPDATE peeringdb_network SET info_never_via_route_servers = 2 WHERE asn = 63312",
     "info_never_via_route_servers is 2, expected true or false"),
    ("UPDATE peeringdb_network SET irr_as_set = printf('%.2000c', 'A') WHERE asn = 63312",
     "irr_as_set is longer than 1024 characters"),
    ("UPDATE peeringdb_network SET info_prefixes4 = 5000000000 WHERE asn = 63312",
     "info_prefixes4 is 5000000000, expected a prefix count or null"),
])
def test_a_mirror_record_is_checked_as_an_api_answer(
        mirror: Path, tmp_path: Path, statement: str, message: str) -> None:
    """Mirror rows are untrusted, as REST answers: the same parser refuses the same junk."""
    database = _damaged(mirror, tmp_path, statement)
    with pytest.raises(SourceFailed, match="malformed record") as caught:
        PeeringDbMirror(database).fetch_nets([63312])
    assert message in caught.value.message and caught.value.exit_code == ExitCode.SOURCE_FAILED


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: d / "absent.sqlite3", "does not exist"),
    (lambda d: d, "is not a file"),
    (lambda d: _write(d / "text.sqlite3", b"not a database at all\n" * 100), "cannot be read"),
    (lambda d: _sqlite(d / "empty.sqlite3", "CREATE TABLE other (id integer)"),
     "is not a django-peeringdb database"),
    (lambda d: _sqlite(d / "unsynced.sqlite3",
                       "CREATE TABLE peeringdb_network (id integer, asn integer)"),
     "holds no networks"),
])
def test_an_unusable_mirror_is_a_source_failure_with_a_hint(
        tmp_path: Path, make: Any, message: str) -> None:
    """Missing, a directory, not SQLite, not django-peeringdb's, never synced: exit 4, and
    the hint says how to sync and where the path comes from."""
    with pytest.raises(SourceFailed) as caught:
        PeeringDbMirror(make(tmp_path)).fetch_nets([63312])
    assert message in caught.value.message
    assert caught.value.exit_code == ExitCode.SOURCE_FAILED
    assert caught.value.hint is not None and "peeringdb sync" in caught.value.hint
    assert "RSGEN_PEERINGDB_MIRROR" in caught.value.hint


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _sqlite(path: Path, statement: str) -> Path:
    with sqlite3.connect(path) as connection:
        connection.execute(statement)
    return path


def test_a_missing_mirror_keeps_the_old_data_and_exits_4(
        tmp_path: Path, mirror: Path, make_irr_server: MakeIrrServer) -> None:
    """A mirror gone after a good refresh: PeeringDB data kept, exit 4, the mirror named."""
    irr = make_irr_server(RPSL)
    local = _exchange(tmp_path / "ix", "peeringdb: {source: mirror}\n")
    refresh(local, settings=_mirror_settings(mirror, irr.host))
    kept = _files(local)["peeringdb/AS63312.json"]
    with pytest.raises(RefreshFailed) as caught:
        refresh(local, settings=_mirror_settings(tmp_path / "gone.sqlite3", irr.host))
    assert caught.value.exit_code == ExitCode.SOURCE_FAILED
    assert "gone.sqlite3 does not exist" in (caught.value.report.peeringdb_error or "")
    assert _files(local)["peeringdb/AS63312.json"] == kept


def test_source_mirror_without_a_path_is_a_usage_error(tmp_path: Path,
                                                       make_irr_server: MakeIrrServer) -> None:
    """exchange.yml can choose the mirror, never the file: without the operator's path, exit 2
    before any source is asked, with the option and variable in the hint (the real CLI)."""
    local = _exchange(tmp_path / "ix", "peeringdb: {source: mirror}\n")
    env = {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
           "RSGEN_IRR_HOST": make_irr_server(RPSL).host}
    done = subprocess.run([sys.executable, "-m", "rsgen", "refresh", "-C", str(local)],
                          capture_output=True, text=True, env=env, cwd=REPO, check=False,
                          timeout=120)
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert "peeringdb.source: mirror" in done.stderr
    assert "--peeringdb-mirror" in done.stderr and "RSGEN_PEERINGDB_MIRROR" in done.stderr
    assert not (local / "snapshot").exists()


def test_a_mirror_and_a_url_together_are_refused(tmp_path: Path, mirror: Path) -> None:
    """Two PeeringDBs for one run: the operator must choose (exit 2)."""
    local = _exchange(tmp_path / "ix")
    settings = source_settings("http://127.0.0.1:9/api", "127.0.0.1:9",
                               peeringdb_mirror=str(mirror))
    with pytest.raises(MirrorUsage, match="both a PeeringDB mirror and a PeeringDB URL") as c:
        refresh(local, settings=settings)
    assert c.value.exit_code == ExitCode.USAGE


def test_the_mirror_path_is_read_from_the_environment_only_by_settings() -> None:
    """RSGEN_PEERINGDB_MIRROR is the operator's setting; an empty one counts as unset."""
    assert Settings.from_environment(
        {"RSGEN_PEERINGDB_MIRROR": "/srv/pdb.sqlite3"}).peeringdb_mirror == "/srv/pdb.sqlite3"
    assert Settings.from_environment({"RSGEN_PEERINGDB_MIRROR": ""}).peeringdb_mirror is None


def test_exchange_yml_names_a_source_not_a_path(tmp_path: Path) -> None:
    """peeringdb.source is rest or mirror; a path in exchange.yml (peeringdb.mirror) is refused
    as an unknown key, so a pull request cannot point refresh at a file of the CI host."""
    for setting, wrong in (("{source: sqlite}", "source"),
                           ("{source: mirror, mirror: /etc/shadow}", "mirror")):
        local = _exchange(tmp_path / wrong, f"peeringdb: {setting}\n")
        with pytest.raises(InvalidInput) as caught:
            load_checked(local)
        assert any(wrong in str(p) for p in caught.value.problems), caught.value.problems


def test_the_rest_path_needs_neither_django_nor_peeringdb() -> None:
    """Without the extra installed, refresh over REST (and even the mirror reader, which needs
    only sqlite3) import nothing of it."""
    code = ("import sys, rsgen.refresher, rsgen.onboard, rsgen.sources.peeringdb_source, "
            "rsgen.sources.peeringdb_mirror\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('django', 'peeringdb', 'django_peeringdb'))\n"
            "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, check=False, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_cli_option_reads_the_mirror(tmp_path: Path, mirror: Path,
                                         make_irr_server: MakeIrrServer) -> None:
    """`rsgen refresh --peeringdb-mirror PATH` (the real CLI): exit 0, the mirror's age said."""
    local = _exchange(tmp_path / "ix", "peeringdb: {source: mirror}\n")
    env = {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "rsgen", "refresh", "-C", str(local),
                           "--peeringdb-mirror", str(mirror),
                           "--irr-host", make_irr_server(RPSL).host],
                          capture_output=True, text=True, env=env, cwd=REPO, check=False,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "newest network record changed on 2023-04-21" in done.stderr
    assert read_snapshot(local).peeringdb[63312].name == "net 25304adc"
