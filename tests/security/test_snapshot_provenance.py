"""Snapshot provenance: only what rsgen refresh wrote is trusted (item 3 of the snapshot audit).

The attack: a pull request hand-edits snapshot/irr/AS3333.json (a wider list, foreign
origins). It passed build, `bird -p` and verify, and the shrink guard then protected the edit
against the real IRR data. Now refresh records a hash (with RSGEN_SNAPSHOT_KEY, an HMAC) of
every file it writes in snapshot/provenance.json; build, verify and check refuse modified
files, and with the key every file that refresh did not sign; the guard only protects
recorded data.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rsgen.builder import build
from rsgen.errors import ExitCode, NoSnapshot
from rsgen.provenance import (
    BadKey,
    Entry,
    Manifest,
    Status,
    dump_manifest,
    file_hmac,
    key_id,
    parse_manifest,
    status,
)
from rsgen.refresher import RefreshFailed
from rsgen.settings import Settings
from rsgen.snapshot import is_data_path, read_snapshot_files
from rsgen.values import Secret
from tests.fixtures.irr_plugin import MakeIrrServer
from tests.fixtures.peeringdb_plugin import MakePeeringDbServer
from tests.security.snapshot_world import (
    KEY,
    OTHER_KEY,
    RPSL,
    Sources,
    make_exchange,
    member,
    read_json,
    rsgen_cli,
    start_sources,
    write_json,
)

FILES = ["irr/AS10745.json", "irr/AS3333.json", "meta.json", "never_via_route_servers.json",
         "peeringdb/AS10745.json", "peeringdb/AS3333.json"]


@pytest.fixture
def sources(make_irr_server: MakeIrrServer,
            make_peeringdb_server: MakePeeringDbServer) -> Sources:
    return start_sources(make_irr_server, make_peeringdb_server)


@pytest.fixture
def exchange(tmp_path: Path) -> Path:
    return make_exchange(tmp_path / "ix")


def _widen(exchange: Path, *, update_hash: bool = False) -> Path:
    """The attacker's edit: a /8's worth of /24s and two foreign origins for AS3333."""
    path = exchange / "snapshot" / "irr" / "AS3333.json"
    data = read_json(path)
    data["ipv4"] = sorted([*data["ipv4"], "5.0.0.0/8{24,24}"])
    data["origins"] = sorted([*data["origins"], 174, 3356])
    write_json(path, data)
    if update_hash:  # an attacker who knows how provenance works edits it too
        import hashlib
        manifest = exchange / "snapshot" / "provenance.json"
        recorded = read_json(manifest)
        recorded["files"]["irr/AS3333.json"] = {"sha256": hashlib.sha256(
            path.read_bytes()).hexdigest()}
        manifest.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    return path


# --- what refresh records ------------------------------------------------------------------


def test_refresh_records_every_file_deterministically(exchange: Path, sources: Sources,
                                                      tmp_path: Path) -> None:
    """Sorted, one entry per line, no timestamps; the same sources give the same bytes."""
    sources.refresh(exchange)
    text = (exchange / "snapshot" / "provenance.json").read_text()
    manifest = read_json(exchange / "snapshot" / "provenance.json")
    assert manifest["format"] == 1 and manifest["key_id"] is None
    assert sorted(manifest["files"]) == FILES
    assert all(set(entry) == {"sha256"} for entry in manifest["files"].values())
    lines = text.splitlines()
    assert [line.split('"')[1] for line in lines if line.startswith('  "')] == FILES
    assert again_same(exchange, sources)
    twin = make_exchange(tmp_path / "twin")
    sources.refresh(twin)
    assert (twin / "snapshot" / "provenance.json").read_text() == text
    sources.refresh(exchange, key=KEY)
    sources.refresh(twin, key=KEY)
    keyed = (exchange / "snapshot" / "provenance.json").read_bytes()
    assert keyed == (twin / "snapshot" / "provenance.json").read_bytes()
    assert KEY.encode() not in keyed


def again_same(exchange: Path, sources: Sources) -> bool:
    before = (exchange / "snapshot" / "provenance.json").read_bytes()
    report = sources.refresh(exchange)
    return report.changed_files == [] and \
        (exchange / "snapshot" / "provenance.json").read_bytes() == before


def test_a_keyed_refresh_signs_every_file_and_builds_with_the_key(
        exchange: Path, sources: Sources, tmp_path: Path) -> None:
    sources.refresh(exchange)  # unsigned first, as a developer's laptop would
    report = sources.refresh(exchange, key=KEY)
    assert report.changed_files == [exchange / "snapshot" / "provenance.json"]  # signed now
    manifest = read_json(exchange / "snapshot" / "provenance.json")
    assert manifest["key_id"] == key_id(Secret(KEY))
    assert all(set(entry) == {"hmac", "sha256"} for entry in manifest["files"].values())
    result = build(exchange, tmp_path / "out", offline=True,
                   settings=Settings(snapshot_key=Secret(KEY)))
    assert result.written and result.warnings == ()


# --- the attack: a hand edit ---------------------------------------------------------------


def test_a_hand_edit_is_refused_by_build_and_check_without_a_key(exchange: Path,
                                                                  sources: Sources) -> None:
    sources.refresh(exchange)
    path = _widen(exchange)
    for command in (["build", "-C", str(exchange), "--offline"], ["check", "-C", str(exchange)]):
        result = rsgen_cli(*command)
        assert result.returncode == ExitCode.NO_SNAPSHOT, result.stderr
        assert (f"error: {path}: modified: its content differs from what rsgen refresh "
                "recorded in snapshot/provenance.json") in result.stderr
        assert "rsgen: 1 snapshot file(s) are not as rsgen refresh recorded them" in \
            result.stderr
        assert "restore the file from git" in result.stderr
    assert not (exchange / "out").exists()


def test_a_hand_edit_with_a_forged_hash_is_refused_with_the_key(exchange: Path,
                                                                 sources: Sources) -> None:
    """Without the key a hash is no proof (anyone can recompute it); with it, the edit and
    its forged entry are refused, and so is every file refresh did not sign."""
    sources.refresh(exchange, key=KEY)
    path = _widen(exchange, update_hash=True)
    result = rsgen_cli("build", "-C", str(exchange), "--offline", env={"RSGEN_SNAPSHOT_KEY": KEY})
    assert result.returncode == ExitCode.NO_SNAPSHOT, result.stderr
    assert f"error: {path}: unsigned: its provenance entry carries no signature" in \
        result.stderr
    assert "rsgen refresh with RSGEN_SNAPSHOT_KEY set (the refresh job), or restore the file " \
        "from git" in result.stderr
    assert KEY not in result.stderr + result.stdout
    # A forged hmac is no better: it is bound to the key, the path and the hash.
    manifest = exchange / "snapshot" / "provenance.json"
    recorded = read_json(manifest)
    recorded["files"]["irr/AS3333.json"]["hmac"] = recorded["files"]["irr/AS10745.json"]["hmac"]
    manifest.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    with pytest.raises(NoSnapshot) as caught:
        build(exchange, offline=True, settings=Settings(snapshot_key=Secret(KEY)))
    assert [(p.file, p.message.split(":")[0]) for p in caught.value.problems] == [
        (str(path), "bad signature")]


def test_unsigned_and_unrecorded_files_are_refused_with_a_key(exchange: Path,
                                                              sources: Sources) -> None:
    sources.refresh(exchange)  # no key: nothing signed
    manifest = exchange / "snapshot" / "provenance.json"
    recorded = read_json(manifest)
    del recorded["files"]["meta.json"]
    write_json(manifest, recorded)
    with pytest.raises(NoSnapshot) as caught:
        build(exchange, offline=True, settings=Settings(snapshot_key=Secret(KEY)))
    why = {Path(p.file or "").relative_to(exchange / "snapshot").as_posix():
           p.message.split(":")[0] for p in caught.value.problems}
    assert why == {"meta.json": "unrecorded", **{f: "unsigned" for f in FILES
                                                 if f != "meta.json"}}
    assert caught.value.exit_code == ExitCode.NO_SNAPSHOT


def test_another_key_is_a_bad_signature(exchange: Path, sources: Sources) -> None:
    sources.refresh(exchange, key=OTHER_KEY)
    result = rsgen_cli("check", "-C", str(exchange), env={"RSGEN_SNAPSHOT_KEY": KEY})
    assert result.returncode == ExitCode.NO_SNAPSHOT, result.stderr
    assert result.stderr.count("bad signature: its provenance entry was not signed with this "
                               "RSGEN_SNAPSHOT_KEY") == len(FILES)
    assert KEY not in result.stderr and OTHER_KEY not in result.stderr


def test_unrecorded_files_are_a_warning_without_a_key(exchange: Path, sources: Sources,
                                                      tmp_path: Path) -> None:
    """Tests and snapshots older than provenance have no provenance.json: allowed, said."""
    sources.refresh(exchange)
    (exchange / "snapshot" / "provenance.json").unlink()
    result = build(exchange, tmp_path / "out", offline=True, settings=Settings())
    assert result.written
    assert result.warnings == (
        "6 snapshot file(s) are not recorded in snapshot/provenance.json (written before rsgen "
        "recorded provenance, or not by rsgen refresh; run rsgen refresh to record them): "
        "irr/AS10745.json, irr/AS3333.json, meta.json, never_via_route_servers.json, "
        "peeringdb/AS10745.json and 1 more",)
    checked = rsgen_cli("check", "-C", str(exchange))
    assert checked.returncode == 0, checked.stderr
    assert "warning: 6 snapshot file(s) are not recorded" in checked.stderr
    assert "ok: snapshot: IRR data for 2 members, not modified (provenance warnings above)" \
        in checked.stdout


def test_check_reports_a_clean_snapshot(exchange: Path, sources: Sources) -> None:
    sources.refresh(exchange, key=KEY)
    plain = rsgen_cli("check", "-C", str(exchange))
    keyed = rsgen_cli("check", "-C", str(exchange), env={"RSGEN_SNAPSHOT_KEY": KEY})
    assert plain.returncode == keyed.returncode == 0, plain.stderr + keyed.stderr
    assert "ok: snapshot: IRR data for 2 members, not modified\n" in plain.stdout
    assert "ok: snapshot: IRR data for 2 members, signed with RSGEN_SNAPSHOT_KEY\n" in \
        keyed.stdout
    assert plain.stderr == keyed.stderr == ""


def test_a_damaged_provenance_file_is_refused(exchange: Path, sources: Sources) -> None:
    sources.refresh(exchange)
    manifest = exchange / "snapshot" / "provenance.json"
    for text in ("{", '{"format": 2, "key_id": null, "files": {}}',
                 '{"format": 1, "key_id": null, "files": {"../x": {"sha256": "00"}}}',
                 '{"format": 1, "key_id": "nothex", "files": {}}'):
        manifest.write_text(text)
        result = rsgen_cli("build", "-C", str(exchange), "--offline")
        assert result.returncode == ExitCode.NO_SNAPSHOT, (text, result.stderr)
        assert str(manifest) in result.stderr


# --- the key -------------------------------------------------------------------------------


def test_a_short_key_is_refused_without_showing_it(exchange: Path, sources: Sources) -> None:
    sources.refresh(exchange)
    short = "tooShort-123"
    for command in ("check", "build", "refresh"):
        result = rsgen_cli(command, "-C", str(exchange), env={"RSGEN_SNAPSHOT_KEY": short})
        assert result.returncode == ExitCode.USAGE, (command, result.stderr)
        assert "rsgen: RSGEN_SNAPSHOT_KEY is set but shorter than 16 characters" in \
            result.stderr
        assert short not in result.stderr + result.stdout
    unset = Settings.from_environment({"RSGEN_SNAPSHOT_KEY": ""})  # a fork's pull request
    assert unset.snapshot_key is None
    assert repr(Settings.from_environment({"RSGEN_SNAPSHOT_KEY": KEY}).snapshot_key) == \
        "<secret>"
    with pytest.raises(BadKey, match="shorter than 16"):  # a library caller's Settings too
        Settings(snapshot_key=Secret(short))


def test_the_key_never_reaches_output_or_files(exchange: Path, sources: Sources) -> None:
    env = {**sources.env(KEY)}
    refreshed = rsgen_cli("-v", "refresh", "-C", str(exchange), env=env)
    built = rsgen_cli("-v", "build", "-C", str(exchange), "--offline", env=env)
    checked = rsgen_cli("-v", "check", "-C", str(exchange), env=env)
    for result in (refreshed, built, checked):
        assert result.returncode == 0, result.stderr
        assert KEY not in result.stdout + result.stderr
    for path in exchange.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_the_mac_binds_path_and_hash_and_key() -> None:
    key, digest = Secret(KEY), "ab" * 32
    mac = file_hmac(key, "irr/AS3333.json", digest)
    assert mac != file_hmac(key, "irr/AS10745.json", digest)
    assert mac != file_hmac(key, "irr/AS3333.json", "cd" * 32)
    assert mac != file_hmac(Secret(OTHER_KEY), "irr/AS3333.json", digest)
    signed = Manifest(key_id(key), {"irr/AS3333.json": Entry(digest, mac)})
    assert status(signed, "irr/AS3333.json", digest, key) is Status.RECORDED
    assert status(signed, "irr/AS3333.json", digest, None) is Status.RECORDED
    assert status(signed, "irr/AS3333.json", "cd" * 32, key) is Status.MODIFIED
    assert status(signed, "irr/AS10745.json", digest, key) is Status.UNRECORDED
    assert status(None, "irr/AS3333.json", digest, None) is Status.UNRECORDED
    assert status(signed, "irr/AS3333.json", digest, Secret(OTHER_KEY)) is Status.BAD_SIGNATURE
    half = Manifest(key_id(key), {"irr/AS3333.json": Entry(digest)})
    assert status(half, "irr/AS3333.json", digest, None) is Status.UNSIGNED
    assert status(half, "irr/AS3333.json", digest, key) is Status.UNSIGNED
    text = dump_manifest(signed)
    assert parse_manifest(json.loads(text), Path("p"), is_data_path) == signed


# --- the shrink guard never protects a hand edit -------------------------------------------


def test_shrink_guard_is_not_applied_to_modified_previous_data(exchange: Path,
                                                               sources: Sources) -> None:
    """The edit looks like data the real IRR answer would shrink: before, refresh kept it
    (and --accept-shrink was needed to undo it); now the real data replaces it, with a
    warning."""
    sources.refresh(exchange)
    clean = (exchange / "snapshot" / "irr" / "AS3333.json").read_bytes()
    _widen(exchange)
    report = sources.refresh(exchange)
    assert report.warnings[3333] == ("previous snapshot data for AS3333 was not written by "
                                     "refresh (modified): shrink guard not applied")
    assert 3333 in report.updated and 3333 not in report.shrunk
    assert (exchange / "snapshot" / "irr" / "AS3333.json").read_bytes() == clean
    files = read_snapshot_files(exchange)
    assert set(files.statuses(None).values()) == {Status.RECORDED}


def test_shrink_guard_is_not_applied_to_data_signed_with_another_key(
        exchange: Path, sources: Sources) -> None:
    sources.refresh(exchange, key=OTHER_KEY)
    _widen(exchange, update_hash=True)
    report = sources.refresh(exchange, key=KEY)
    assert "(unsigned): shrink guard not applied" in report.warnings[3333]
    assert read_snapshot_files(exchange).statuses(Secret(KEY)) == dict.fromkeys(
        FILES, Status.RECORDED)


def test_shrink_guard_still_protects_recorded_data(exchange: Path, sources: Sources,
                                                   make_irr_server: MakeIrrServer) -> None:
    sources.refresh(exchange, key=KEY)
    before = (exchange / "snapshot" / "irr" / "AS3333.json").read_bytes()
    shrunk = make_irr_server(RPSL.replace("route6: 2001:67c:2e8::/48", "remarks: gone"))
    with pytest.raises(RefreshFailed) as caught:
        Sources(shrunk.host, sources.peeringdb_url).refresh(exchange, key=KEY)
    assert caught.value.report.shrunk == [3333]
    assert (exchange / "snapshot" / "irr" / "AS3333.json").read_bytes() == before


def test_a_failed_member_keeps_its_old_entry(exchange: Path, sources: Sources) -> None:
    """The keyed refresh job over an unsigned snapshot signs what it fetched; a member whose
    fetch failed keeps its entry as it was, so a keyed build still refuses that file."""
    sources.refresh(exchange)
    old_entry = read_json(exchange / "snapshot" / "provenance.json")["files"]["irr/AS3333.json"]
    (exchange / "members" / "AS3333.yml").write_text(member(3333, 33, "as_set: AS-MISSING\n"))
    with pytest.raises(RefreshFailed):
        sources.refresh(exchange, key=KEY)
    files = read_json(exchange / "snapshot" / "provenance.json")["files"]
    assert files["irr/AS3333.json"] == old_entry
    assert set(files["irr/AS10745.json"]) == {"hmac", "sha256"}
    statuses = read_snapshot_files(exchange).statuses(Secret(KEY))
    assert statuses["irr/AS3333.json"] is Status.UNSIGNED
    assert {s for f, s in statuses.items() if f != "irr/AS3333.json"} == {Status.RECORDED}


def test_verify_refuses_before_starting_a_lab(exchange: Path, sources: Sources,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """verify, given no settings, reads RSGEN_SNAPSHOT_KEY itself (Settings.from_environment;
    it needs root, as tests/test_verify.py does; the snapshot is refused before any namespace)."""
    from rsgen.verification.run import VerifyOptions, verify

    sources.refresh(exchange)  # unsigned
    monkeypatch.setenv("RSGEN_SNAPSHOT_KEY", KEY)
    with pytest.raises(NoSnapshot) as caught:
        verify(VerifyOptions(exchange))
    assert {p.message.split(":")[0] for p in caught.value.problems} == {"unsigned"}
    monkeypatch.delenv("RSGEN_SNAPSHOT_KEY")
    _widen(exchange)
    with pytest.raises(NoSnapshot, match="not as rsgen refresh recorded them"):
        verify(VerifyOptions(exchange))


def test_unrecorded_peeringdb_data_does_not_choose_what_to_query(
        exchange: Path, sources: Sources, make_peeringdb_server: MakePeeringDbServer) -> None:
    """When PeeringDB fails, refresh falls back on the previous PeeringDB files to pick each
    member's AS-SET: only on files refresh wrote. A member whose file was edited keeps its old
    data (and fails, exit 4) rather than have the edit choose what to expand."""
    sources.refresh(exchange)
    irr_before = (exchange / "snapshot" / "irr" / "AS3333.json").read_bytes()
    path = exchange / "snapshot" / "peeringdb" / "AS3333.json"
    data = read_json(path)
    data["irr_as_set"] = "AS-GOOD-CUSTOMERS"
    write_json(path, data)
    broken = make_peeringdb_server(records=[])
    broken.set_mode("malformed")
    with pytest.raises(RefreshFailed) as caught:
        Sources(sources.irr_host, broken.url).refresh(exchange)
    assert caught.value.report.failed == {3333: (
        "PeeringDB failed, and the previous PeeringDB data for AS3333 was not written by "
        "refresh (modified): its IRR data is not refreshed either")}
    assert caught.value.report.updated == [10745]
    assert (exchange / "snapshot" / "irr" / "AS3333.json").read_bytes() == irr_before
