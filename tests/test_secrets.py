"""BGP session passwords: only a reference in the repository, the value only in the config."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rsgen.errors import ExitCode
from tests.helpers import copy_example

IPV4_ONLY = Path(__file__).parent / "golden" / "ipv4-only" / "input"
PASSWORD = "Pk-Ix!2026#md5"
MEMBER = """asn: 3333
name: RIPE NCC
sessions:
  - ip: 198.51.100.33
    password: {password}
"""


def rsgen_cli(*args: str, env: dict[str, str] | None = None,
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rsgen", *args], capture_output=True,
                          text=True, check=False, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def exchange(tmp_path: Path) -> Path:
    directory = Path(shutil.copytree(IPV4_ONLY, tmp_path / "ix"))
    (directory / "members" / "AS3333.yml").write_text(MEMBER.format(password="env:RS_PW_3333"))
    return directory


def _all_text(root: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())


def test_password_reaches_only_the_config(exchange: Path) -> None:
    """The password from the environment is in the config (mode 0640) and nowhere else."""
    result = rsgen_cli("build", "-C", str(exchange), "--offline",
                       env={"RS_PW_3333": PASSWORD})
    assert result.returncode == ExitCode.OK, result.stderr
    config = exchange / "out" / "rs.conf"
    assert f'    password "{PASSWORD}";' in config.read_text()
    assert config.stat().st_mode & 0o777 == 0o640
    assert PASSWORD not in result.stdout + result.stderr
    assert PASSWORD not in _all_text(exchange / "snapshot") + _all_text(exchange / "members")


def test_unset_password_variable_is_a_located_error(exchange: Path) -> None:
    """A missing variable names the variable and the session's file and line."""
    env = {k: v for k, v in os.environ.items() if k != "RS_PW_3333"}
    result = subprocess.run([sys.executable, "-m", "rsgen", "build", "-C", str(exchange),
                             "--offline"], capture_output=True, text=True, check=False,
                            timeout=120, env=env)
    assert result.returncode == ExitCode.INVALID_INPUT
    assert "members/AS3333.yml:4: session 198.51.100.33 takes its password from the " \
           "environment variable RS_PW_3333, which is not set" in result.stderr
    assert not (exchange / "out").exists()


def test_literal_password_in_a_member_file_is_refused_without_echoing_it(exchange: Path,
                                                                          ) -> None:
    """A password written into a member file is refused, and the error does not repeat it."""
    (exchange / "members" / "AS3333.yml").write_text(MEMBER.format(password=PASSWORD))
    result = rsgen_cli("check", "-C", str(exchange))
    assert result.returncode == ExitCode.INVALID_INPUT
    assert "sessions[0].password has a malformed value (value not shown)" in result.stderr
    assert "passwords must never be committed" in result.stderr
    assert PASSWORD not in result.stderr + result.stdout


def test_unusable_password_value_is_refused_without_echoing_it(exchange: Path) -> None:
    """A password BIRD cannot quote is refused by name, not printed."""
    bad = 'with "quote" and space'
    result = rsgen_cli("build", "-C", str(exchange), "--offline", env={"RS_PW_3333": bad})
    assert result.returncode == ExitCode.INVALID_INPUT
    assert "the password in RS_PW_3333 (session 198.51.100.33) must be" in result.stderr
    assert bad not in result.stderr + result.stdout


def test_context_dump_redacts_passwords(exchange: Path) -> None:
    """`rsgen context` shows that a session has a password, never the password."""
    result = rsgen_cli("context", "-C", str(exchange), env={"RS_PW_3333": PASSWORD})
    assert result.returncode == ExitCode.OK, result.stderr
    assert "<secret>" in result.stdout
    assert PASSWORD not in result.stdout


@pytest.mark.slow  # a verify lab
def test_verify_runs_sessions_with_passwords_and_never_reports_them(tmp_path: Path) -> None:
    """A member with a BGP password comes up in verify (its simulated router uses the same
    password), and neither the table nor the JSON contains it."""
    example = copy_example(tmp_path / "ix")
    member = example / "members" / "AS9541.yml"
    with_password = "  - ip: 192.0.2.41\n    password: env:RS_PW_CYBER\n"
    member.write_text(member.read_text().replace("  - ip: 192.0.2.41\n", with_password))
    out = tmp_path / "verify.json"
    result = rsgen_cli("verify", "-C", str(example), "--members", "AS9541,AS23674", "--json",
                       str(out), env={"RS_PW_CYBER": PASSWORD})
    assert result.returncode == ExitCode.OK, result.stdout + result.stderr
    assert json.loads(out.read_text())["ok"] is True
    assert PASSWORD not in result.stdout + result.stderr + out.read_text()
