"""Security findings 4 and 11: what an unreviewed pull request can make rsgen read or print.

rsgen runs in CI on pull requests before review, often as root. Every file of the exchange
repository is the pull request author's: these tests plant what such an author would (a link
to a runner's credential file, a FIFO, a file name with a newline, terminal escape sequences
in a name, a password reference to the runner's own secrets) and show each now fails safely,
with a located message and exit code 3, and that nothing secret or raw reaches the output.
"""

from __future__ import annotations

import io
import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from rsgen.cli import _fail, _PrintableFormatter
from rsgen.errors import ExitCode, InvalidInput, Problem
from rsgen.load import MEMBER_FILE_RE, load_checked
from rsgen.model import Session
from rsgen.values import printable
from rsgen.verification import scenarios
from rsgen.verification.expect import Outcome
from rsgen.verification.report import print_table
from rsgen.verification.run import VerifyReport
from rsgen.yamlsafe import YamlProblem, read_yaml
from tests.helpers import REPO
from tests.test_bad_input import AS3333, EXCHANGE, VALID, build_tree

# --- what a runner holds that a pull request would like to print into a public CI log ---

SHADOW = ("root:$6$Zq1x8cQv$Jk3mPq9x2vTtY0aLrW7sHcN4bE1fG5hK8jM2nP6qR9sT3uV7wX0yZ"
          ":19700:0:99999:7:::\n"
          "daemon:*:19700:0:99999:7:::\n"
          "deploy:$6$aB3dE5fG$SecretHashOfTheDeployUser0123456789abcdefABCDEF"
          ":19701:0:99999:7:::\n")
ENV_FILE = ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY\n"
            "GITHUB_TOKEN=ghp_R3a11yS3cr3tT0k3nV4lu3F0rTh3Runn3r\n")
JSON_CREDENTIALS = json.dumps({
    "type": "service_account", "project_id": "runner-prod-4711",
    "private_key_id": "0f3c9a8be1d24c7f9a2b5e6d7c8b9a0f1e2d3c4b",
    "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
                   "-----END PRIVATE KEY-----\n",
    "client_email": "deployer@runner-prod-4711.iam.gserviceaccount.com",
    "token_uri": "https://oauth2.googleapis.com/token"}, indent=2)
DOCKER_CONFIG = '{"auths": {"ghcr.io": {"auth": "ZGVwbG95OmdocF9TM2NyM3RUMGszbg=="}}}\n'
PEM_KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAA\n"
           "-----END OPENSSH PRIVATE KEY-----\n")
NUMERIC_SECRET = "918273645546372819918273645546372819\n"  # a recovery code: one huge integer
# Syntax errors whose PyYAML messages would quote a name or show the line.
UNDEFINED_ALIAS = "token: *ghpAliasS3cretT0kenValue\n"
UNDEFINED_TAG = "token: !ghpTagS3cret! value\n"
TAB_AFTER_SECRET = "key: ghp_TabLineS3cretValue\n\tghp_SecondLineS3cret\n"

SECRETS = {
    "shadow": (SHADOW, ["Zq1x8cQv", "Jk3mPq9x2v", "SecretHashOfTheDeployUser", "deploy", "daemon"]),
    "env-file": (ENV_FILE, ["wJalrXUtnFEMI", "ghp_R3a11y", "AWS_SECRET"]),
    "json-credentials": (JSON_CREDENTIALS, ["runner-prod-4711", "0f3c9a8be1", "MIIEvQIB",
                                            "deployer@", "oauth2.googleapis"]),
    "docker-config": (DOCKER_CONFIG, ["ZGVwbG95", "ghcr.io"]),
    "pem-key": (PEM_KEY, ["b3BlbnNzaC1yZXkt", "OPENSSH"]),
    "numeric-secret": (NUMERIC_SECRET, ["918273645", "2819"]),
    "undefined-alias": (UNDEFINED_ALIAS, ["ghpAliasS3cret"]),
    "undefined-tag": (UNDEFINED_TAG, ["ghpTagS3cret"]),
    "tab-after-secret": (TAB_AFTER_SECRET, ["ghp_SecondLine"]),
}


def rsgen(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rsgen", *args], capture_output=True,
                          text=True, check=False, timeout=timeout, cwd=REPO,
                          env={**os.environ, **(env or {})})


def _problems(directory: Path) -> list[Problem]:
    with pytest.raises(InvalidInput) as caught:
        load_checked(directory)
    return list(caught.value.problems)


def _text(problems: list[Problem]) -> str:
    return "\n".join(str(p) for p in problems)


# --- exchange.yml and members/ may not be links (finding 4) ---


def test_exchange_yml_linked_to_a_credentials_file_is_refused_unread(tmp_path: Path) -> None:
    """The attack: exchange.yml -> the runner's credentials. Before, rsgen followed the link and
    its errors quoted up to 57 characters of each line into the CI log."""
    secret = tmp_path / "runner" / ".env"
    secret.parent.mkdir()
    secret.write_text(ENV_FILE)
    root = build_tree(tmp_path / "ix", VALID)
    (root / "exchange.yml").unlink()
    (root / "exchange.yml").symlink_to(secret)
    result = rsgen("check", "-C", str(root))
    assert result.returncode == ExitCode.INVALID_INPUT, result.stderr
    assert "error: exchange.yml: must be a regular file, not a symbolic link" in result.stderr
    assert "follows no links" in result.stderr
    for fragment in SECRETS["env-file"][1]:
        assert fragment not in result.stdout + result.stderr


def test_exchange_yml_linked_to_a_missing_target_is_refused_as_a_link(tmp_path: Path) -> None:
    """A dangling link is named as a link, not reported as "no exchange.yml"."""
    root = build_tree(tmp_path / "ix", VALID)
    (root / "exchange.yml").unlink()
    (root / "exchange.yml").symlink_to(tmp_path / "nowhere")
    problems = _problems(root)
    assert any(p.file == "exchange.yml" and "not a symbolic link" in p.message
               for p in problems), _text(problems)


def test_exchange_yml_fifo_does_not_hang(tmp_path: Path) -> None:
    """A FIFO in place of exchange.yml would block a plain open() for ever (no writer)."""
    root = build_tree(tmp_path / "ix", VALID)
    (root / "exchange.yml").unlink()
    os.mkfifo(root / "exchange.yml")
    result = rsgen("check", "-C", str(root), timeout=30)
    assert result.returncode == ExitCode.INVALID_INPUT, result.stderr
    assert "error: exchange.yml: must be a regular file, not a directory, device or pipe" \
        in result.stderr


def test_exchange_yml_directory_is_refused(tmp_path: Path) -> None:
    root = build_tree(tmp_path / "ix", VALID)
    (root / "exchange.yml").unlink()
    (root / "exchange.yml").mkdir()
    problems = _problems(root)
    assert any(p.file == "exchange.yml" and "must be a regular file" in p.message
               for p in problems), _text(problems)


def test_read_yaml_refuses_links_and_devices_itself(tmp_path: Path) -> None:
    """The check lives in read_yaml, for every file rsgen reads, not in one caller."""
    target = tmp_path / "target.yml"
    target.write_text("name: x\n")
    (tmp_path / "link.yml").symlink_to(target)
    with pytest.raises(YamlProblem, match="not a symbolic link"):
        read_yaml(tmp_path / "link.yml", "link.yml")
    with pytest.raises(YamlProblem, match="must be a regular file"):
        read_yaml(Path("/dev/zero"), "zero.yml")  # also endless: the size cap alone won't do
    assert read_yaml(target, "target.yml").data == {"name": "x"}


def test_size_cap_applies_to_what_was_opened(tmp_path: Path) -> None:
    """The cap is checked on the open descriptor (fstat), and at most cap+1 bytes are read."""
    big = tmp_path / "big.yml"
    big.write_bytes(b"name: x\n" + b"#" * (1024 * 1024))
    with pytest.raises(YamlProblem, match="more than the 1048576 allowed"):
        read_yaml(big, "big.yml")


def test_members_directory_linked_elsewhere_is_refused(tmp_path: Path) -> None:
    """members/ -> a directory outside the repository would make rsgen read files there."""
    outside = build_tree(tmp_path / "outside", {"AS3333.yml": AS3333})
    root = build_tree(tmp_path / "ix", {"exchange.yml": EXCHANGE})
    (root / "members").symlink_to(outside)
    problems = _problems(root)
    assert [(p.file, p.message) for p in problems] == [
        ("members/", "must be a directory, not a symbolic link")], _text(problems)
    assert "reads nothing outside the exchange directory" in (problems[0].hint or "")


def test_members_as_a_file_is_refused(tmp_path: Path) -> None:
    root = build_tree(tmp_path / "ix", {"exchange.yml": EXCHANGE, "members": AS3333})
    problems = _problems(root)
    assert [(p.file, p.message) for p in problems] == [
        ("members/", "must be a directory, not a file")], _text(problems)


# --- no content of a file that is not a YAML mapping is ever quoted (finding 4) ---


@pytest.mark.parametrize("case", sorted(SECRETS))
@pytest.mark.parametrize("where", ["exchange.yml", "members/AS3333.yml"])
def test_errors_on_a_secret_file_do_not_echo_it(tmp_path: Path, case: str, where: str) -> None:
    """Whatever such a file is (one value, a list, JSON, a syntax error), the problems say what
    is wrong and where, and quote none of its content."""
    text, fragments = SECRETS[case]
    root = build_tree(tmp_path, {**VALID, where: text})
    problems = _problems(root)
    shown = _text(problems)
    assert any(p.file == where for p in problems), shown
    for fragment in fragments:
        assert fragment not in shown, f"{fragment!r} echoed:\n{shown}"


@pytest.mark.parametrize(("text", "kind"), [
    (ENV_FILE, "a single value"), (NUMERIC_SECRET, "a single value"), (PEM_KEY, "a single value"),
    ("0755\n", "a single value"), ("- ghp_ListItemS3cret\n- two\n", "list"),
])
def test_top_level_that_is_not_a_mapping_says_so_without_content(tmp_path: Path, text: str,
                                                                  kind: str) -> None:
    root = build_tree(tmp_path, {**VALID, "exchange.yml": text})
    problems = [p for p in _problems(root) if p.file == "exchange.yml"]
    assert [p.message for p in problems] == [
        f"(top level) must be a mapping of keys, not {kind}; the file's content is not shown"]
    assert problems[0].line == 1
    assert "0755" not in str(problems[0]) and "ListItem" not in str(problems[0])


def test_shadow_lines_read_as_keys_are_not_quoted(tmp_path: Path) -> None:
    """/etc/shadow lines end in ':', so YAML reads the file as a mapping whose keys are whole
    lines: unknown keys are quoted only when they look like key names."""
    root = build_tree(tmp_path, {**VALID, "exchange.yml": SHADOW})
    problems = [p for p in _problems(root) if p.file == "exchange.yml"]
    unknown = [p for p in problems if p.message.startswith("unknown key")]
    assert [(p.line, p.message) for p in unknown] == [
        (line, "unknown key (not a key name, not shown) in (top level)") for line in (1, 2, 3)]
    root = build_tree(tmp_path, {**VALID, "exchange.yml": EXCHANGE + "colour: blue\n"})
    assert any(p.message == "unknown key 'colour' in (top level)" for p in _problems(root))


def test_yaml_syntax_errors_keep_single_characters_only(tmp_path: Path) -> None:
    """What a user needs from a syntax error (which character, which line) is still there."""
    root = build_tree(tmp_path, {**VALID, "exchange.yml": TAB_AFTER_SECRET})
    (problem,) = [p for p in _problems(root) if p.file == "exchange.yml"]
    assert problem.line == 2
    assert "a tab character" in problem.message and "ghp" not in problem.message
    root = build_tree(tmp_path, {**VALID, "exchange.yml": UNDEFINED_ALIAS})
    (problem,) = [p for p in _problems(root) if p.file == "exchange.yml"]
    assert "(text not shown)" in problem.message and "ghpAlias" not in problem.message


# --- member file names with control characters (regex audit) ---


def test_member_file_named_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    """"AS3333.yml\\n" matched ^AS...\\.yml$ (Python's $ matches before a final newline), and
    its suffix ".yml\\n" made rsgen skip it silently. Now refused, its name shown escaped."""
    root = build_tree(tmp_path, VALID)
    (root / "members" / "AS3333.yml").rename(root / "members" / "AS3333.yml\n")
    problems = _problems(root)
    assert [(p.file, p.message) for p in problems] == [
        ("members/AS3333.yml\\n", "member file names must be AS<asn>.yml")], _text(problems)
    assert MEMBER_FILE_RE.fullmatch("AS3333.yml\n") is None
    assert MEMBER_FILE_RE.fullmatch("AS3333.yml") is not None


@pytest.mark.parametrize("name", ["AS3333.yml\x1b[2K", "AS3333\u202elmy.yml", " AS3333.yml",
                                  "notes\n.txt"])
def test_member_file_names_with_controls_are_refused_escaped(tmp_path: Path, name: str) -> None:
    root = build_tree(tmp_path, VALID)
    (root / "members" / name).write_text(AS3333.replace("3333", "3320"))
    problems = _problems(root)
    assert [p.file for p in problems] == [f"members/{printable(name)}"], _text(problems)
    assert all(p.file is not None and p.file.isprintable() for p in problems)


# --- terminal escapes never reach the terminal raw (finding 11) ---

HOSTILE = "Evil\x1b]0;owned\x07\x1b[2J\r\x08\x9b31m\u202eXI\u2066\u2069\u2028\u2029\x00 end"


def test_printable_escapes_every_terminal_control() -> None:
    shown = printable(HOSTILE)
    assert shown.isprintable()
    assert shown == ("Evil\\x1b]0;owned\\x07\\x1b[2J\\r\\x08\\x9b31m\\u202eXI\\u2066\\u2069"
                     "\\u2028\\u2029\\x00 end")
    assert printable("PTCL (Pakistan) 'AS-PTCL' ü 東京") == "PTCL (Pakistan) 'AS-PTCL' ü 東京"


def test_check_prints_an_exchange_name_with_escapes_harmlessly(tmp_path: Path) -> None:
    """YAML's double-quoted "\\e" is ESC: a name can carry terminal sequences into rsgen."""
    name = '"Evil\\e]0;owned\\a\\e[2J\\u202eXI\\u2028 IX"'
    root = build_tree(tmp_path, {**VALID, "exchange.yml": EXCHANGE.replace("Test IX", name)})
    result = rsgen("check", "-C", str(root))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        "ok: Evil\\x1b]0;owned\\x07\\x1b[2J\\u202eXI\\u2028 IX: 2 members"), result.stdout
    for raw in ("\x1b", "\x07", "\u202e", "\u2028"):
        assert raw not in result.stdout + result.stderr


def test_error_boundary_scrubs_problems_details_and_summary(
        capsys: pytest.CaptureFixture[str]) -> None:
    """_fail prints what bgpq4, PeeringDB or a member file said: escaped, one line each."""
    error = InvalidInput(f"summary {HOSTILE}", hint=f"hint {HOSTILE}",
                         problems=(Problem(f"problem {HOSTILE}", "members/AS3333.yml", 3),))
    error.details = [f"bgpq4 said: {HOSTILE}"]  # type: ignore[attr-defined]
    with pytest.raises(SystemExit) as done:
        _fail(error)
    assert done.value.code == ExitCode.INVALID_INPUT
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 3
    assert err.count(printable(HOSTILE)) == 4
    assert all(line.isprintable() for line in err.splitlines())


def test_log_records_are_scrubbed_but_tracebacks_keep_their_lines() -> None:
    formatter = _PrintableFormatter("%(levelname)s %(name)s: %(message)s")
    record = logging.LogRecord("rsgen", logging.WARNING, __file__, 1, "IRR said %s",
                               (HOSTILE,), None)
    assert formatter.format(record) == f"WARNING rsgen: IRR said {printable(HOSTILE)}"
    try:
        raise ValueError(HOSTILE)
    except ValueError:
        failed = logging.LogRecord("rsgen", logging.ERROR, __file__, 1, "internal error", (),
                                   sys.exc_info())
    lines = formatter.format(failed).split("\n")
    assert lines[0] == "ERROR rsgen: internal error" and lines[1] == "Traceback (most recent " \
        "call last):"
    assert lines[-1] == f"ValueError: {printable(HOSTILE)}"
    assert all(line.isprintable() for line in lines)


def test_cli_logging_goes_through_the_scrub() -> None:
    """The CLI's own logging set-up (rsgen -v) uses the scrubbing formatter."""
    script = ("import logging, sys\nfrom rsgen.cli import cli\n"
              "sys.argv = ['rsgen', '-v', 'check', '-C', '/nonexistent-rsgen-dir']\n"
              "try:\n    cli.main(standalone_mode=False)\nexcept Exception:\n    pass\n"
              f"logging.getLogger('rsgen.x').warning('peer said %s', {HOSTILE!r})\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=False, timeout=60, cwd=REPO)
    assert f"WARNING rsgen.x: peer said {printable(HOSTILE)}" in result.stderr, result.stderr
    assert "\x1b" not in result.stderr


def test_verify_table_cannot_be_given_rich_markup_or_escapes() -> None:
    """The exchange's name and what verify saw are printed through rich: `[link=...]` there
    would be rich markup (an OSC 8 hyperlink), and ESC would reach the terminal."""
    import ipaddress

    route = scenarios.TestRoute(3333, scenarios.ACCEPT, ipaddress.ip_network("193.0.10.0/24"),
                                (3333,), None, True)
    outcome = Outcome(route, "accepted", "filtered", 1, 0,
                      problems=(f"[link=https://evil.example]seen[/link] {HOSTILE}",))
    report = VerifyReport(f"[bold red]Evil[/] [link=file:///etc/shadow]IX[/link] {HOSTILE}",
                          ["rs1"], [3333], [outcome])
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=400)  # no styling of its own
    print_table(report, console)
    out = buffer.getvalue()
    # Markup would have been consumed (the tags gone); here it is shown as the text it is.
    assert "[link=https://evil.example]seen[/link]" in out
    assert "[link=file:///etc/shadow]IX[/link]" in out and "[bold red]Evil[/]" in out
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert printable(HOSTILE) in out


def test_verify_table_shows_prefixes_and_names_without_emoji_codes() -> None:
    """rich turns ":1234:" into an emoji by default: an IPv6 prefix (fd00:1234::/32, a verify
    test route) or a name with such a code is printed as it is."""
    import ipaddress

    route = scenarios.TestRoute(3333, "ipv6_not_global_unicast",
                                ipaddress.ip_network("fd00:1234::/32"), (3333,), None, True)
    outcome = Outcome(route, "filtered (10 ipv6_not_global_unicast)", "accepted", 0, 1,
                      problems=("leaked: AS1 session rs1_2001_db8__1 received fd00:1234::/32",))
    report = VerifyReport("IX :smile: :1234:", ["rs1"], [3333], [outcome])
    buffer = io.StringIO()
    print_table(report, Console(file=buffer, force_terminal=False, width=400))
    out = buffer.getvalue()
    assert "MISMATCH AS3333 ipv6_not_global_unicast fd00:1234::/32" in out
    assert "received fd00:1234::/32" in out and "IX :smile: :1234:" in out
    assert "\U0001f522" not in out and "\U0001f604" not in out


# --- secrets never reach a tool's environment (finding 11) ---


def test_tools_run_without_the_runners_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """bgpq4, bird, birdc and ip are started by proc.run with a whitelisted environment."""
    from rsgen.sources.proc import run

    secrets = {"RS_PW_AS3333": "md5-Secret-1", "PEERINGDB_API_KEY": "pdb-Secret-2",
               "RSGEN_SNAPSHOT_KEY": "snap-Secret-3", "GITHUB_TOKEN": "ghp_Secret4",
               "AWS_SECRET_ACCESS_KEY": "aws-Secret-5"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("TZ", "UTC")
    done = run(["/usr/bin/env"], timeout=10)
    seen = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    for name, value in secrets.items():
        assert name not in seen and value not in done.stdout
    assert seen.get("PATH") == os.environ["PATH"]  # the tools are still found
    assert seen.get("LANG") == "C.UTF-8" and seen.get("TZ") == "UTC"
    assert set(seen) <= {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", "TMPDIR"}


# --- BGP password references: RS_PW_ variables only (finding 11) ---

MEMBER_WITH_PASSWORD = """asn: 3333
name: RIPE NCC
sessions:
  - ip: 192.0.2.10
    password: {reference}
"""


@pytest.mark.parametrize("variable", ["GITHUB_TOKEN", "PEERINGDB_API_KEY", "RSGEN_SNAPSHOT_KEY",
                                      "AWS_SECRET_ACCESS_KEY", "PW_AS3333", "RS_PW", "rs_pw_x",
                                      "RS_PWX"])
def test_password_reference_to_another_variable_is_refused(tmp_path: Path, variable: str,
                                                           ) -> None:
    """The attack: `password: env:GITHUB_TOKEN` put the runner's token into the config."""
    root = build_tree(tmp_path, {**VALID, "members/AS3333.yml": MEMBER_WITH_PASSWORD.format(
        reference=f"env:{variable}")})
    result = rsgen("build", "-C", str(root), "--offline",
                   env={variable: "runner-Secret-Value", "RS_PW_X": "x"})
    assert result.returncode == ExitCode.INVALID_INPUT, result.stderr
    assert (f"error: members/AS3333.yml:5: sessions[0].password names the environment "
            f"variable {variable!r}; BGP passwords are read only from variables named "
            "RS_PW_<NAME>") in result.stderr
    assert "hint: write env:RS_PW_NAME" in result.stderr
    assert "runner-Secret-Value" not in result.stdout + result.stderr
    assert not (root / "out").exists()


def test_password_reference_with_the_prefix_is_accepted(tmp_path: Path) -> None:
    root = build_tree(tmp_path, {**VALID, "members/AS3333.yml": MEMBER_WITH_PASSWORD.format(
        reference="env:RS_PW_AS3333_V4")})
    (session,) = next(m for m in load_checked(root).members if m.asn == 3333).sessions
    assert session.password_env == "RS_PW_AS3333_V4"


def test_literal_password_is_still_not_echoed(tmp_path: Path) -> None:
    root = build_tree(tmp_path, {**VALID, "members/AS3333.yml": MEMBER_WITH_PASSWORD.format(
        reference="'env:Tr1cky Literal Pa55'")})
    problems = _problems(root)
    assert any("sessions[0].password has a malformed value (value not shown)" in p.message
               for p in problems), _text(problems)
    assert "Pa55" not in _text(problems)


def test_model_refuses_other_password_variables() -> None:
    """Even a Config built by hand (a library user, a test) cannot name another variable."""
    import ipaddress

    address = ipaddress.ip_address("192.0.2.10")
    for bad in ("GITHUB_TOKEN", "RS_PW_", "PEERINGDB_API_KEY"):
        with pytest.raises(ValueError, match="RS_PW_"):
            Session(address, password_env=bad)
    assert Session(address, password_env="RS_PW_A").password_env == "RS_PW_A"


# --- the lock file: private, and no command line in it (finding 11) ---


def test_lock_file_is_private_and_names_no_credentials(tmp_path: Path) -> None:
    """The lock used to record the whole argv, e.g. --peeringdb-url https://user:pass@host."""
    from rsgen.lock import LOCK_FILE

    root = build_tree(tmp_path / "ix", VALID)
    lock = root / LOCK_FILE
    lock.write_text("")
    lock.chmod(0o644)  # as older rsgen versions left it
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path\n"
         "from rsgen.lock import exchange_lock\n"
         "with exchange_lock(Path(sys.argv[1]), 'refresh'):\n"
         "    print('locked', flush=True); time.sleep(60)", str(root),
         "--peeringdb-url", "https://ops:Hunter2Pass@pdb.example/api"],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600
        record = json.loads(lock.read_text())
        assert record == {"pid": holder.pid, "operation": "refresh", "command": "rsgen refresh"}
        refused = rsgen("build", "-C", str(root), "--offline")
        assert refused.returncode == ExitCode.LOCKED
        assert f"(pid {holder.pid}: rsgen refresh)" in refused.stderr
        assert "Hunter2Pass" not in refused.stderr
    finally:
        holder.kill()
        holder.wait()


def test_new_lock_file_is_created_private(tmp_path: Path) -> None:
    from rsgen.lock import LOCK_FILE, exchange_lock

    with exchange_lock(tmp_path, "build"):
        assert stat.S_IMODE((tmp_path / LOCK_FILE).stat().st_mode) == 0o600
