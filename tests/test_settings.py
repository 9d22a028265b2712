"""The environment is read once, at the entry point, into one Settings value (rsgen.settings):
nothing below the commands looks at os.environ, and each command reads it exactly once."""

from __future__ import annotations

import ast
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import rsgen
from rsgen.errors import ExitCode
from rsgen.provenance import BadKey
from rsgen.settings import Settings, Tools
from rsgen.values import Secret
from tests.helpers import REPO

IPV4_ONLY = Path(__file__).parent / "golden" / "ipv4-only" / "input"

# Where rsgen's own code may still touch the process environment, and at most how often. None
# of these reads an rsgen setting (password, key, URL, host, tool): those are Settings' alone.
ENVIRONMENT_EXCEPTIONS: Mapping[str, tuple[int, str]] = {
    "rsgen/sources/proc.py": (1, "tool_environment: passes PATH, locale and TMPDIR (never a "
                                 "secret) on to bgpq4, bird, birdc and ip"),
    "rsgen/verification/lab.py": (3, "the user-namespace re-exec: its marker variable, and "
                                     "the environment the re-run command inherits"),
    "rsgen/cli.py": (1, "_ensure_lab_privileges: the same re-exec marker, so verify never "
                        "re-executes itself twice"),
}
_OS_ENVIRONMENT = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def _environment_reads(source: str) -> list[int]:
    """Lines touching the environment: os.environ / os.getenv & co., `from os import environ`,
    and click's envvar= / auto_envvar_prefix= (click reading variables behind our back)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        attribute = (isinstance(node, ast.Attribute) and node.attr in _OS_ENVIRONMENT
                     and isinstance(node.value, ast.Name) and node.value.id == "os")
        imported = isinstance(node, ast.ImportFrom) and node.module == "os" and any(
            alias.name in _OS_ENVIRONMENT for alias in node.names)
        if attribute or imported:
            lines.append(getattr(node, "lineno", 0))
        elif isinstance(node, ast.keyword) and node.arg in ("envvar", "auto_envvar_prefix"):
            lines.append(node.value.lineno)
    return sorted(lines)


def test_only_settings_reads_the_environment() -> None:
    found = {}
    for path in sorted((REPO / "rsgen").rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        if relative == "rsgen/settings.py":
            continue
        lines = _environment_reads(path.read_text(encoding="utf-8"))
        allowed, _why = ENVIRONMENT_EXCEPTIONS.get(relative, (0, ""))
        if len(lines) > allowed:
            found[relative] = lines
    assert found == {}, ("read the environment in rsgen.settings.Settings.from_environment "
                         "and pass the value down (or list a justified exception above)")


def test_the_scan_sees_what_it_looks_for() -> None:
    """The test above would notice each form (the scan is not vacuous)."""
    assert _environment_reads("import os\nos.environ.get('X')\nos.getenv('Y')\n"
                              "from os import environ\nclick.option('--x', envvar='X')\n"
                              "# os.environ in a comment\n'os.environ in a string'\n") == \
        [2, 3, 4, 5]
    assert (_environment_reads((REPO / "rsgen" / "settings.py").read_text(encoding="utf-8"))
            != [])


def test_from_environment_reads_every_setting_once_and_options_win() -> None:
    environ = {"RS_PW_3333": "pw-3333", "RSGEN_SNAPSHOT_KEY": "k" * 20,
               "PEERINGDB_API_KEY": " api-key\n", "RSGEN_PEERINGDB_URL": "https://pdb.example",
               "RSGEN_IRR_HOST": "irr.example:43", "HOME": "/root"}
    settings = Settings.from_environment(environ)
    assert dict(settings.passwords) == {"RS_PW_3333": Secret("pw-3333")}
    assert settings.snapshot_key == Secret("k" * 20)
    assert settings.peeringdb_api_key == Secret("api-key")  # trimmed, as pasted keys are
    assert (settings.peeringdb_url, settings.irr_host) == ("https://pdb.example",
                                                           "irr.example:43")
    assert settings.tools == Tools("bird", "birdc", "bgpq4")
    assert "pw-3333" not in repr(settings) and "api-key" not in repr(settings)
    given = Settings.from_environment(environ, irr_host="cli.example", peeringdb_url=None)
    assert (given.irr_host, given.peeringdb_url) == ("cli.example", "https://pdb.example")
    empty = Settings.from_environment({"RSGEN_SNAPSHOT_KEY": "", "PEERINGDB_API_KEY": " ",
                                       "RSGEN_IRR_HOST": ""})
    assert empty == Settings()  # empty variables (a fork's CI secrets) count as unset
    with pytest.raises(BadKey, match="shorter than 16 characters") as caught:
        Settings.from_environment({"RSGEN_SNAPSHOT_KEY": "tiny-Key-42"})
    assert caught.value.exit_code == ExitCode.USAGE and "tiny-Key-42" not in str(caught.value)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Mapping[str, str] | None]:
    """Every call of Settings.from_environment, by what it was asked to read."""
    calls: list[Mapping[str, str] | None] = []
    original = Settings.from_environment.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Settings], /, environ: Mapping[str, str] | None = None,
                **overrides: Any) -> Settings:
        calls.append(environ)
        return original(cls, environ, **overrides)  # type: ignore[no-any-return]

    monkeypatch.setattr(Settings, "from_environment", classmethod(counted))
    return calls


def test_a_library_build_reads_the_environment_once(
        tmp_path: Path, reads: list[Mapping[str, str] | None]) -> None:
    exchange = Path(shutil.copytree(IPV4_ONLY, tmp_path / "ix"))
    rsgen.build(exchange, tmp_path / "out", offline=True)
    assert reads == [None]  # None: the process environment
    rsgen.build(exchange, tmp_path / "out", offline=True, settings=Settings())
    assert reads == [None]  # given settings: not at all


def test_settings_decide_what_a_build_uses(tmp_path: Path) -> None:
    """The tools and the key come from the settings passed in, not from the environment."""
    from rsgen.errors import MissingTool, NoSnapshot

    exchange = Path(shutil.copytree(IPV4_ONLY, tmp_path / "ix"))
    with pytest.raises(MissingTool, match="nonexistent"):
        rsgen.build(exchange, offline=True,
                    settings=Settings(tools=Tools(bird="/nonexistent/bird")))
    with pytest.raises(NoSnapshot):  # a key makes unsigned snapshot files unacceptable
        rsgen.build(exchange, offline=True, settings=Settings(snapshot_key=Secret("k" * 20)))
