"""The --json envelope (rsgen.envelope) is an API for CI tools: these tests pin its keys for
each command, on success and on failure, and that stdout then holds nothing but the document."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rsgen.envelope import ENVELOPE_VERSION, TOP_LEVEL_KEYS
from rsgen.errors import ExitCode
from tests.fixtures.irr_plugin import MakeIrrServer
from tests.fixtures.peeringdb_plugin import MakePeeringDbServer
from tests.helpers import copy_example
from tests.test_refresh import RPSL, _member, _net, small_exchange

REFRESH_KEYS = {"updated", "failed", "held_for_review", "changed_files", "pruned", "pending",
                "peeringdb_error", "never_via_written", "never_via_kept", "hints", "irr_cost"}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rsgen", *args], capture_output=True,
                          text=True, check=False, timeout=300, env=env)


def envelope(result: subprocess.CompletedProcess[str], command: str,
             exit_code: int) -> dict[str, Any]:
    """stdout parsed as the one document it must be, with the top level every command shares."""
    assert result.returncode == exit_code, result.stdout + result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    assert tuple(sorted(document)) == tuple(sorted(TOP_LEVEL_KEYS))
    assert document["rsgen_json"] == ENVELOPE_VERSION == 1
    assert document["command"] == command
    assert document["exit_code"] == exit_code
    assert document["ok"] is (exit_code == 0)
    assert isinstance(document["warnings"], list)
    for error in document["errors"]:
        assert sorted(error) == ["file", "hint", "line", "message"]
    assert bool(document["errors"]) is (exit_code != 0)
    return document


def test_envelope_version_and_keys_are_pinned() -> None:
    """Renaming or dropping a top-level key is an incompatible change: raise the version."""
    assert ENVELOPE_VERSION == 1
    assert TOP_LEVEL_KEYS == ("rsgen_json", "command", "rsgen_version", "ok", "exit_code",
                              "warnings", "errors", "result")


def test_check_json(tmp_path: Path) -> None:
    example = copy_example(tmp_path / "ix")
    document = envelope(run("check", "-C", str(example), "--json"), "check", 0)
    result = document["result"]
    assert sorted(result) == ["exchange", "members", "route_servers", "snapshot"]
    assert result["members"] == len(list((example / "members").glob("*.yml")))
    assert result["route_servers"] == ["rs1", "rs2"]
    assert sorted(result["snapshot"]) == ["members_with_irr_data", "provenance_warnings",
                                          "signed"]
    assert result["snapshot"]["signed"] is False


def test_check_json_failure_names_file_and_line(tmp_path: Path) -> None:
    """An invalid member file: exit 3, the located problems in `errors`, result null."""
    example = copy_example(tmp_path / "ix")
    (example / "members" / "AS64512.yml").write_text("asn: 64512\nname: x\nsessions: 7\n")
    document = envelope(run("check", "-C", str(example), "--json"), "check",
                        ExitCode.INVALID_INPUT)
    assert document["result"] is None
    located = [e for e in document["errors"] if e["file"] == "members/AS64512.yml"]
    assert located and located[0]["line"] == 3, document["errors"]


def test_check_json_carries_the_warnings(tmp_path: Path) -> None:
    """What a human sees as a warning line is in `warnings` too (two route servers, one
    router_id)."""
    example = copy_example(tmp_path / "ix")
    lines = (example / "exchange.yml").read_text().splitlines(keepends=True)
    at = [n for n, line in enumerate(lines) if line.strip().startswith("router_id:")]
    assert len(at) == 2 and lines[at[0]] != lines[at[1]], at
    lines[at[1]] = lines[at[0]]
    (example / "exchange.yml").write_text("".join(lines))
    result = run("check", "-C", str(example), "--json")
    document = envelope(result, "check", 0)
    assert any("router_id" in w for w in document["warnings"]), document["warnings"]
    assert "warning:" in result.stderr


def test_build_json_and_json_to_a_file(tmp_path: Path) -> None:
    """--json FILE writes the document there; stdout keeps the human lines."""
    example = copy_example(tmp_path / "ix")
    target = tmp_path / "build.json"
    result = run("build", "-C", str(example), "--offline", "-o", str(tmp_path / "out"),
                 "--json", str(target))
    assert result.returncode == 0, result.stderr
    assert "(bird -p ok)" in result.stdout
    document = envelope(subprocess.CompletedProcess([], 0, target.read_text(), ""), "build", 0)
    result_json = document["result"]
    assert sorted(result_json) == ["build", "configs", "example_data", "refreshed",
                                   "rendered_members"]
    assert result_json["example_data"] is True and result_json["refreshed"] is None
    assert result_json["build"] == "full" and result_json["rendered_members"] is None
    assert [c["route_server"] for c in result_json["configs"]] == ["rs1", "rs2"]
    for config in result_json["configs"]:
        assert sorted(config) == ["changed", "path", "route_server", "sha256"]
        assert config["changed"] is True
        assert hashlib.sha256(Path(config["path"]).read_bytes()).hexdigest() == config["sha256"]
    again = envelope(run("build", "-C", str(example), "--offline", "-o", str(tmp_path / "out"),
                         "--json"), "build", 0)
    assert [c["changed"] for c in again["result"]["configs"]] == [False, False]
    assert again["result"]["build"] == "skipped"
    with (example / "members" / "AS9541.yml").open("a", encoding="utf-8") as handle:
        handle.write("max_prefixes:\n  ipv4: 77\n")
    third = envelope(run("build", "-C", str(example), "--offline", "-o", str(tmp_path / "out"),
                         "--json"), "build", 0)
    assert third["result"]["build"] == "incremental"
    assert third["result"]["rendered_members"] == ["AS9541"]
    assert [c["changed"] for c in third["result"]["configs"]] == [True, True]


def test_build_json_failure_when_bird_rejects(tmp_path: Path) -> None:
    example = copy_example(tmp_path / "ix")
    templates = Path(shutil.copytree(Path(__file__).parent.parent / "templates",
                                     tmp_path / "templates"))
    policy = templates / "bird2" / "policy.conf.j2"
    text = policy.read_text()
    assert "function export_checks()" in text
    policy.write_text(text.replace("function export_checks()", "function export_checks( {"))
    document = envelope(run("build", "-C", str(example), "--offline", "-o",
                            str(tmp_path / "out"), "--templates", str(templates), "--json"),
                        "build", ExitCode.BIRD_REJECTED)
    assert document["result"] is None
    assert any("bird" in e["message"].lower() for e in document["errors"])


@pytest.fixture
def sources(make_irr_server: MakeIrrServer, make_peeringdb_server: MakePeeringDbServer,
            ) -> tuple[str, str]:
    irr = make_irr_server(RPSL)
    peeringdb = make_peeringdb_server(records=[_net(3333, "RIPE::AS-GOOD"), _net(10745, "")])
    return irr.host, peeringdb.url


def test_refresh_json_success_and_failure(tmp_path: Path, sources: tuple[str, str]) -> None:
    """A refresh's document lists what it updated; a failing member is in `result.failed` and
    in `errors`, with exit 4."""
    irr_host, peeringdb_url = sources
    exchange = small_exchange(tmp_path / "ix")
    options = ("-C", str(exchange), "--irr-host", irr_host, "--peeringdb-url", peeringdb_url,
               "--json")
    document = envelope(run("refresh", *options), "refresh", 0)
    assert set(document["result"]) == REFRESH_KEYS
    assert document["result"]["updated"] == [3333, 10745]
    assert "irr/AS3333.json" in {Path(p).relative_to("snapshot").as_posix()
                                 for p in document["result"]["changed_files"]}
    (exchange / "members" / "AS3333.yml").write_text(_member(3333, 33, "as_set: AS-MISSING\n"))
    failed = envelope(run("refresh", *options), "refresh", ExitCode.SOURCE_FAILED)
    assert set(failed["result"]) == REFRESH_KEYS
    assert list(failed["result"]["failed"]) == ["AS3333"]
    assert "AS-MISSING" in failed["result"]["failed"]["AS3333"]
    assert any("AS3333" in e["message"] for e in failed["errors"]), failed["errors"]


def test_usage_error_inside_a_command_is_a_document_too(tmp_path: Path) -> None:
    exchange = small_exchange(tmp_path / "ix")
    document = envelope(run("refresh", "-C", str(exchange), "--json", "--members", "AS-FOO"),
                        "refresh", ExitCode.USAGE)
    assert "not an AS" in document["errors"][0]["message"]


def test_diff_json(tmp_path: Path) -> None:
    """diff's document: the change as its result (the keys tests/test_diff.py pins), and
    'no change' is ok with changed false."""
    base = copy_example(tmp_path / "base")
    head = copy_example(tmp_path / "head")
    same = envelope(run("diff", "-C", str(head), "--base-dir", str(base), "--json"), "diff", 0)
    assert same["result"]["changed"] is False
    (head / "members" / "AS9541.yml").unlink()
    document = envelope(run("diff", "-C", str(head), "--base-dir", str(base), "--json"),
                        "diff", 0)
    result = document["result"]
    assert sorted(result) == ["base", "changed", "exchange", "format", "head", "members",
                              "never_via_route_servers", "not_compared", "summary"]
    assert result["changed"] is True and result["summary"]["members_removed"] == 1
