"""rsgen diff: what a change does to the route servers, from the plans of a base and a head."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from rsgen.diff import diff_as_json, diff_plans, list_change
from rsgen.diffformat import diff_markdown, diff_text
from rsgen.errors import ExitCode
from rsgen.review import load_plan
from rsgen.settings import Settings
from tests.helpers import REPO, copy_example, run_rsgen_in_process

PTCL = "members/AS17557.yml"


def run_rsgen(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
              *args: str) -> tuple[int, str, str]:
    return run_rsgen_in_process(capsys, monkeypatch, *args)


def _edit(directory: Path, relative: str, old: str, new: str) -> None:
    path = directory / relative
    text = path.read_text(encoding="utf-8")
    assert old in text, (relative, old)
    path.write_text(text.replace(old, new), encoding="utf-8")


def _append(directory: Path, relative: str, text: str) -> None:
    with (directory / relative).open("a", encoding="utf-8") as handle:
        handle.write(text)


def _diff_json(base: Path, head: Path) -> dict:
    return diff_as_json(diff_plans(load_plan(base, Settings(), "base").plan,
                                   load_plan(head, Settings(), "head").plan))


def _git(repo: Path, *args: str) -> str:
    git = shutil.which("git")
    assert git is not None, "git is not installed (apt-get install git)"
    return subprocess.run([git, "-C", str(repo), "-c", "user.name=t", "-c",
                           "user.email=t@example.net", *args], check=True, capture_output=True,
                          text=True, timeout=60).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The example exchange in a subdirectory of a fresh git repository, committed."""
    root = tmp_path / "repo"
    copy_example(root / "ix")
    _git(root.parent, "init", "-q", str(root))
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "base")
    return root


def test_no_change_says_so_and_exits_0(capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The same exchange on both sides: exit 0, 'no change' in every format."""
    code, out, _ = run_rsgen(capsys, monkeypatch, "diff", "-C", str(REPO), "--base-dir",
                             str(REPO))
    assert code == 0
    assert out.splitlines()[-1] == "no change: the route servers treat all 8 members as before"
    code, out, _ = run_rsgen(capsys, monkeypatch, "diff", "-C", str(REPO), "--base-dir",
                             str(REPO), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["changed"] is False and data["members"] == [] and data["exchange"] == []
    code, out, _ = run_rsgen(capsys, monkeypatch, "diff", "-C", str(REPO), "--base-dir",
                             str(REPO), "--format", "markdown")
    assert code == 0 and "**no change:" in out


def test_a_changed_member_limits_settings_and_prefixes(tmp_path: Path) -> None:
    """A member-file limit, IRR tag mode and a shorter exchange-wide maximum length: each
    named with before, after and where the limit came from; the prefix list the shorter
    length clamps shows the first entries added and removed."""
    head = copy_example(tmp_path / "head")
    _append(head, PTCL, "max_prefixes:\n  ipv4: 900\nirr:\n  mode: tag\n")
    _edit(head, "exchange.yml", "ipv4_max_length: 24", "ipv4_max_length: 23")
    data = _diff_json(REPO, head)
    assert data["changed"] is True
    assert data["exchange"] == [{"setting": "policy.ipv4_max_length", "before": 24,
                                 "after": 23}]
    members = {m["asn"]: m for m in data["members"]}
    ptcl = members[17557]
    assert ptcl["status"] == "changed"
    assert ptcl["families"]["ipv4"]["import_limit"] == {
        "before": {"value": 1495, "source": "(PeeringDB 1200 + 100) + 15%"},
        "after": {"value": 900, "source": "member file"}}
    assert ptcl["settings"] == [{"setting": "irr.mode", "before": "reject", "after": "tag"}]
    assert "ipv6" not in ptcl["families"]  # unchanged: left out
    zong = members[59257]["families"]["ipv4"]["prefixes"]
    assert zong == {"before": 1, "after": 1, "added": ["111.119.160.0/19{19,23}"],
                    "removed": ["111.119.160.0/19{19,24}"], "added_count": 1,
                    "removed_count": 1}
    # PTCL by its own file; of the others only Zong's list reaches /24 (the rest stop short).
    assert sorted(members) == [17557, 59257]


def test_members_and_sessions_added_and_removed(tmp_path: Path) -> None:
    """A member file deleted is a member removed (with what it had); the other way round an
    added member shows its AS-SET and its source, its counts and first prefixes, and its
    limits; a new session address appears on every route server."""
    head = copy_example(tmp_path / "head")
    (head / "members/AS23674.yml").unlink()
    _append(head, PTCL, "")
    _edit(head, PTCL, "  - ip: 192.0.2.12\n", "  - ip: 192.0.2.13\n  - ip: 192.0.2.12\n")
    data = _diff_json(REPO, head)
    members = {m["asn"]: m for m in data["members"]}
    assert members[23674]["status"] == "removed"
    assert members[23674]["name"] == {"before": "Nayatel", "after": None}
    assert members[17557]["sessions"] == {"added": ["rs1 192.0.2.13", "rs2 192.0.2.13"],
                                          "removed": [], "changed": []}
    assert data["summary"]["members_removed"] == 1 and data["summary"]["members_after"] == 7

    added = {m["asn"]: m for m in _diff_json(head, REPO)["members"]}[23674]
    assert added["status"] == "added"
    assert added["as_set"] == {"before": None, "after": {
        "objects": ["AS-NAYATEL"], "source": "member file", "warning": ""}}
    assert added["origins"]["before"] == 0 and added["origins"]["after"] == 1
    v4 = added["families"]["ipv4"]
    assert v4["prefixes"]["before"] == 0 and v4["prefixes"]["after"] == 3
    assert len(v4["prefixes"]["added"]) == 3
    assert v4["import_limit"]["after"]["source"] == "(PeeringDB 50 + 100) + 15%"
    text = diff_text(diff_plans(load_plan(head, Settings(), "b").plan,
                                load_plan(REPO, Settings(), "h").plan))
    assert "AS23674 Nayatel: added" in text
    assert "  AS-SET: AS-NAYATEL (from member file)" in text
    assert "  IPv4 import limit (max-prefix): 173 ((PeeringDB 50 + 100) + 15%)" in text


def test_first_few_of_a_long_list() -> None:
    """Of a long change only the first few items are named, with the counts."""
    change = list_change([], [f"10.{i}.0.0/16" for i in range(12)])
    assert change.added == tuple(f"10.{i}.0.0/16" for i in range(5))
    assert (change.before, change.after, change.added_count) == (0, 12, 12)


def test_the_json_has_stable_sorted_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The JSON document's keys are a contract: pinned here, printed sorted."""
    head = copy_example(tmp_path / "head")
    (head / "members/AS23674.yml").unlink()
    code, out, _ = run_rsgen(capsys, monkeypatch, "diff", "-C", str(head), "--base-dir",
                             str(REPO), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert out == json.dumps(data, sort_keys=True, indent=1) + "\n"
    assert sorted(data) == ["base", "changed", "exchange", "format", "head", "members",
                            "never_via_route_servers", "not_compared", "summary"]
    assert sorted(data["members"][0]) == ["as_set", "asn", "families", "name", "origins",
                                          "sessions", "settings", "status"]
    assert sorted(data["members"][0]["families"]["ipv4"]) == [
        "changes", "import_limit", "prefixes", "receive_limit"]


def test_against_a_git_revision(repo: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """--base REV reads the exchange as committed (here in a subdirectory of the repository)
    and names the commit; the default base is HEAD; the repository is left as it was."""
    ix = repo / "ix"
    code, out, _ = run_rsgen(capsys, monkeypatch, "diff", "-C", str(ix))
    assert code == 0 and "no change" in out
    _edit(ix, PTCL, "name: Pakistan Telecommunication Company Limited (PTCL)",
          "name: PTCL")
    status = _git(repo, "status", "--porcelain")
    commit = _git(repo, "rev-parse", "HEAD").strip()
    code, out, _ = run_rsgen(capsys, monkeypatch, "diff", "-C", str(ix), "--base", "HEAD")
    assert code == 0
    assert out.splitlines()[0] == f"rsgen diff: HEAD ({commit[:12]}) -> {ix}"
    assert "  name: Pakistan Telecommunication Company Limited (PTCL) -> PTCL" in out
    assert _git(repo, "status", "--porcelain") == status
    assert _git(repo, "worktree", "list").count("\n") == 1


@pytest.mark.parametrize("rev", ["--output=OUT", "-h", "", "HEAD\n", "HEAD:ix/exchange.yml",
                                 "no-such-branch"])
def test_revisions_that_are_no_commit_are_refused(repo: Path, rev: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """An option-like, multi-line or unknown revision, or one naming a file, is a usage
    error (exit 2) and reaches git as an option never."""
    out = tmp_path / "written-by-git"
    rev = rev.replace("OUT", str(out))
    code, _, err = run_rsgen(capsys, monkeypatch, "diff", "-C", str(repo / "ix"), "--base",
                             rev)
    assert code == ExitCode.USAGE, err
    assert "--base" in err
    assert not out.exists()


def test_outside_a_git_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Without git history, --base is a usage error that points at --base-dir."""
    ix = copy_example(tmp_path / "plain")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    code, _, err = run_rsgen(capsys, monkeypatch, "diff", "-C", str(ix))
    assert code == ExitCode.USAGE
    assert "--base-dir" in err


def test_a_link_in_the_base_is_refused_and_named_as_the_base(
        repo: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A symbolic link committed in members/ is refused without being followed (exit 3),
    and the message says it is the base's."""
    ix = repo / "ix"
    (ix / "members/AS64999.yml").symlink_to("/etc/passwd")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "a link")
    (ix / "members/AS64999.yml").unlink()
    code, _, err = run_rsgen(capsys, monkeypatch, "diff", "-C", str(ix), "--base", "HEAD")
    assert code == ExitCode.INVALID_INPUT
    assert "the base (HEAD)" in err and "members/AS64999.yml" in err
    assert "root:" not in err


@pytest.mark.parametrize(("entry", "code"), [("snapshot/irr/AS64999.json", ExitCode.NO_SNAPSHOT),
                                             ("exchange.yml", ExitCode.INVALID_INPUT)])
def test_links_anywhere_in_the_base_are_refused(repo: Path, entry: str, code: int,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A link in the base's snapshot is exit 6, exchange.yml as a link exit 3: as the
    loaders say of links on disk."""
    ix = repo / "ix"
    saved = (ix / entry).read_bytes() if (ix / entry).exists() else None
    (ix / entry).unlink(missing_ok=True)
    (ix / entry).symlink_to("/etc/hostname")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "a link")
    (ix / entry).unlink()
    if saved is not None:
        (ix / entry).write_bytes(saved)
    got, _, err = run_rsgen(capsys, monkeypatch, "diff", "-C", str(ix), "--base", "HEAD")
    assert got == code, err
    assert entry in err and "the base (HEAD)" in err


def test_an_exchange_directory_new_since_the_base(repo: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the base revision has no such directory, there is no base exchange: exit 3,
    named as the base's, saying what is missing."""
    copy_example(repo / "second")
    code, _, err = run_rsgen(capsys, monkeypatch, "diff", "-C", str(repo / "second"))
    assert code == ExitCode.INVALID_INPUT
    assert "the base (HEAD (" in err and "no exchange.yml" in err


def test_a_damaged_base_snapshot_exits_6_and_a_bad_head_exits_3(
        repo: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The base's snapshot is checked as a build checks it (exit 6, named as the base's);
    an invalid member file in the head is exit 3, not blamed on the base."""
    ix = repo / "ix"
    saved = (ix / "snapshot/irr/AS17557.json").read_text(encoding="utf-8")
    (ix / "snapshot/irr/AS17557.json").write_text("{not json", encoding="utf-8")
    _git(repo, "commit", "-qam", "damaged")
    (ix / "snapshot/irr/AS17557.json").write_text(saved, encoding="utf-8")
    code, _, err = run_rsgen(capsys, monkeypatch, "diff", "-C", str(ix), "--base", "HEAD")
    assert code == ExitCode.NO_SNAPSHOT
    assert "the base (HEAD (" in err and "AS17557.json" in err
    _git(repo, "commit", "-qam", "repaired")
    _edit(ix, PTCL, "asn: 17557", "asn: 17557\nsurprise: 1")
    code, _, err = run_rsgen(capsys, monkeypatch, "diff", "-C", str(ix), "--base", "HEAD")
    assert code == ExitCode.INVALID_INPUT
    assert "the base" not in err and "surprise" in err


def test_members_the_snapshot_is_behind_are_not_compared(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """An onboarding pull request before the refresh job ran (a member file, no snapshot
    data), or a member file asking for an AS-SET the snapshot has not expanded: that member
    is not compared (its filters are not known yet) but named, with what to run; the rest is
    compared as usual, and the exit is 0."""
    head = copy_example(tmp_path / "head")
    _edit(head, "members/AS23674.yml", "as_set: AS-NAYATEL", "as_set: AS-NAYATEL-NEW")
    (head / "members/AS213000.yml").write_text(
        "asn: 213000\nname: Newcomer\nsessions:\n  - ip: 192.0.2.99\n", encoding="utf-8")
    (head / "members/AS45669.yml").unlink()
    code, out, err = run_rsgen(capsys, monkeypatch, "diff", "-C", str(head), "--base-dir",
                               str(REPO), "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["not_compared"] == [
        {"asn": 23674, "side": "head", "why": "IRR data is for AS-NAYATEL, but the member now "
                                               "uses AS-NAYATEL-NEW"},
        {"asn": 213000, "side": "head", "why": "no IRR data"}]
    assert [(m["asn"], m["status"]) for m in data["members"]] == [(45669, "removed")]
    assert data["changed"] is True and data["summary"]["members_not_compared"] == 2
    code, out, _ = run_rsgen(capsys, monkeypatch, "diff", "-C", str(head), "--base-dir",
                             str(REPO))
    assert "AS213000: not compared, the head's snapshot is behind its member file (no IRR " \
           "data): rsgen refresh --members AS213000, then commit the snapshot" in out


def test_passwords_are_not_needed_nor_shown(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A pull request's CI has no BGP passwords: a session that names one is compared by
    the variable's name, and no value is printed."""
    head = copy_example(tmp_path / "head")
    _edit(head, PTCL, "    description: PTCL second router\n",
          "    description: PTCL second router\n    password: env:RS_PW_PTCL\n", )
    monkeypatch.delenv("RS_PW_PTCL", raising=False)
    code, out, err = run_rsgen(capsys, monkeypatch, "diff", "-C", str(head), "--base-dir",
                               str(REPO), "--format", "json")
    assert code == 0, err
    changes = json.loads(out)["members"][0]["sessions"]["changed"]
    assert {"setting": "rs1 192.0.2.12 password variable", "before": None,
            "after": "RS_PW_PTCL"} in changes
    assert "review-stand-in" not in out


HOSTILE = ("[x](https://evil.example) ![i](https://evil.example/i.png) @everyone "
           "<img src=x onerror=alert(1)> | `tick` \u202eevil")


def test_markdown_makes_member_text_inert(tmp_path: Path) -> None:
    """Member-controlled text in the Markdown comment renders as code: no link, image,
    mention or HTML, and a pipe does not break the table (as markdown-it renders it)."""
    base = load_plan(REPO, Settings(), "base").plan
    head_plan = load_plan(REPO, Settings(), "head").plan
    import dataclasses

    server = head_plan.route_servers[0]
    hostile = dataclasses.replace(server.members[0], name=HOSTILE)
    head_plan = dataclasses.replace(head_plan, route_servers=(
        dataclasses.replace(server, members=(hostile, *server.members[1:])),
        *head_plan.route_servers[1:]))
    text = diff_markdown(diff_plans(base, head_plan, base_label="main", head_label=HOSTILE))
    rendered = MarkdownIt("commonmark").enable("table").render(text)
    for tag in ("<a ", "<img", "<script", "<sub><img"):
        assert tag not in rendered
    assert "\u202e" not in text and "\\u202e" in text
    rows = [line for line in text.splitlines() if line.startswith("| AS")]
    assert rows and all(line.count(" | ") == 5 for line in rows)  # six cells each
    assert rendered.count("<td>") == 6 * len(rows)


def test_terminal_text_is_printable(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """ESC and a bidi override in a member file's session description never reach the
    terminal raw (the plan scrubs descriptions; the CLI's printable boundary is behind it)."""
    head = copy_example(tmp_path / "head")
    _edit(head, PTCL, "    description: PTCL second router\n  - ip: \"2001",
          "    description: \"PTCL \\u202e\\x1b[2J router\"\n  - ip: \"2001")
    code, out, _ = run_rsgen(capsys, monkeypatch, "diff", "-C", str(head), "--base-dir",
                             str(REPO))
    assert code == 0
    assert "\x1b" not in out and "\u202e" not in out and "description" in out


def test_a_rule_turned_off_is_an_exchange_change(tmp_path: Path) -> None:
    """Turning the transit-free check off changes the policy setting and the checks every
    route server's filters run, said once for the exchange, not again for every member."""
    head = copy_example(tmp_path / "head")
    _edit(head, "exchange.yml", "  log_rejected_routes: false",
          "  log_rejected_routes: false\n  transit_free_asns: []")
    data = _diff_json(REPO, head)
    checks = {c["setting"]: c for c in data["exchange"]}
    assert "policy.transit_free_asns" in checks
    for name in (f"route_servers.{rs}.families.ipv{v}.checks" for rs in ("rs1", "rs2")
                 for v in (4, 6)):
        assert "transit_free (8)" in checks[name]["before"]
        assert "transit_free (8)" not in checks[name]["after"]
    assert data["members"] == []


def test_a_long_markdown_comment_details_the_first_members_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exchange-wide change that touches every member: the Markdown comment details the
    first MARKDOWN_MEMBERS and says how many more the text output lists."""
    from rsgen import diffformat

    head = copy_example(tmp_path / "head")
    _edit(head, "exchange.yml", "  log_rejected_routes: false",
          "  log_rejected_routes: false\n  receive_limit_minimum: 2000")
    diff = diff_plans(load_plan(REPO, Settings(), "b").plan,
                      load_plan(head, Settings(), "h").plan)
    assert len(diff.members) == 8
    monkeypatch.setattr(diffformat, "MARKDOWN_MEMBERS", 3)
    text = diff_markdown(diff)
    assert text.count("\n#### AS") == 3 and text.count("\n| AS") == 3
    assert "And 5 more member(s)" in text
    assert diff_text(diff).count(": changed\n") == 8


DIFF_GOLDEN = Path(__file__).parent / "docs_golden" / "diff"


def test_the_three_formats_match_their_golden_files(tmp_path: Path,
                                                    update_golden: bool) -> None:
    """One change in every format, byte for byte as reviewed (--update-golden rewrites them):
    a member's limit and IRR mode from its file, a session added, a member removed and a
    shorter IPv4 maximum length."""
    head = copy_example(tmp_path / "head")
    _append(head, PTCL, "max_prefixes:\n  ipv4: 900\nirr:\n  mode: tag\n")
    _edit(head, PTCL, "  - ip: 192.0.2.12\n", "  - ip: 192.0.2.13\n  - ip: 192.0.2.12\n")
    _edit(head, "exchange.yml", "ipv4_max_length: 24", "ipv4_max_length: 23")
    (head / "members/AS23674.yml").unlink()
    diff = diff_plans(load_plan(REPO, Settings(), "main").plan,
                      load_plan(head, Settings(), "head").plan,
                      base_label="main (1a2b3c4d5e6f)", head_label="pull request")
    rendered = {"diff.txt": diff_text(diff), "diff.md": diff_markdown(diff),
                "diff.json": json.dumps(diff_as_json(diff), sort_keys=True, indent=1) + "\n"}
    if update_golden:
        DIFF_GOLDEN.mkdir(parents=True, exist_ok=True)
        for name, text in rendered.items():
            (DIFF_GOLDEN / name).write_text(text, encoding="utf-8")
    for name, text in rendered.items():
        assert text == (DIFF_GOLDEN / name).read_text(encoding="utf-8"), \
            f"{name} differs: run with --update-golden and review the diff"


def test_a_member_turning_pending_is_a_change() -> None:
    """A member whose AS-SET now expands to nothing (the plan's `pending`: every route it
    sends is refused) shows as a changed setting, with the reason."""
    import dataclasses

    base = load_plan(REPO, Settings(), "base").plan
    servers = tuple(dataclasses.replace(server, members=tuple(
        dataclasses.replace(m, pending="AS-NAYATEL expands to nothing") if m.asn == 23674
        else m for m in server.members)) for server in base.route_servers)
    diff = diff_plans(base, dataclasses.replace(base, route_servers=servers))
    (member,) = diff.members
    assert member.asn == 23674 and member.status == "changed"
    assert [(c.setting, c.before, c.after) for c in member.settings] == [
        ("pending", None, "AS-NAYATEL expands to nothing")]
    assert "  pending: (none) -> AS-NAYATEL expands to nothing" in diff_text(diff)


def test_the_common_json_envelope(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """--json gives rsgen's envelope (rsgen.envelope) with the diff as its result, and the
    chosen format then goes to stderr; a failure fills its errors."""
    from rsgen.envelope import TOP_LEVEL_KEYS

    head = copy_example(tmp_path / "head")
    (head / "members/AS23674.yml").unlink()
    code, out, err = run_rsgen(capsys, monkeypatch, "diff", "-C", str(head), "--base-dir",
                               str(REPO), "--json", "--format", "markdown")
    assert code == 0
    document = json.loads(out)
    assert sorted(document) == sorted(TOP_LEVEL_KEYS)
    assert document["command"] == "diff" and document["ok"] is True
    assert document["result"]["summary"]["members_removed"] == 1
    assert document["result"] == _diff_json(REPO, head) | {
        "base": str(REPO), "head": str(head)}
    assert "#### AS23674" in err
    code, out, _ = run_rsgen(capsys, monkeypatch, "diff", "-C", str(head), "--base", "-x",
                             "--json")
    assert code == ExitCode.USAGE
    failed = json.loads(out)
    assert failed["ok"] is False and failed["exit_code"] == 2 and failed["errors"]


def test_a_hostile_file_name_in_the_base_is_refused_escaped(
        repo: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A member file committed as 'AS3333.yml\\n' arrives under that exact name and is
    refused by the loader as on disk (exit 3), the name shown escaped."""
    ix = repo / "ix"
    shadow = ix / "members" / "AS17557.yml\n"
    shadow.write_text((ix / PTCL).read_text(encoding="utf-8"), encoding="utf-8")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "shadow")
    shadow.unlink()
    code, _, err = run_rsgen(capsys, monkeypatch, "diff", "-C", str(ix), "--base", "HEAD")
    assert code == ExitCode.INVALID_INPUT
    assert "members/AS17557.yml\\n" in err and "the base (HEAD (" in err
