"""The CI recipes in docs/ci/ are meant to be copied into an exchange's repository as they
are: each must be valid YAML of the shape its CI system reads, and every rsgen command line in
them must parse with rsgen's own command-line parser (no renamed command or option)."""

from __future__ import annotations

import re
import shlex
import warnings
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import yaml

from rsgen.cli import cli
from tests.helpers import REPO

RECIPES = REPO / "docs" / "ci"
GITHUB = sorted((RECIPES / "github").glob("*.yml"))
GITLAB = RECIPES / "gitlab" / ".gitlab-ci.yml"
_SHELL_OPERATORS = {">", ">>", "|", "||", "&&", ";", "2>&1"}


def _scripts(path: Path) -> Iterator[str]:
    data = yaml.safe_load(path.read_text())
    if path == GITLAB:
        for name, job in data.items():
            if isinstance(job, dict) and not name.startswith("."):
                yield from job.get("script", [])
        yield from data[".deploy"]["script"]
        return
    for job in data["jobs"].values():
        for step in job["steps"]:
            if "run" in step:
                yield step["run"]


def rsgen_command_lines(path: Path) -> list[list[str]]:
    """Every rsgen invocation in a recipe's shell steps, as argument lists."""
    found = []
    for script in _scripts(path):
        script = script.replace("\\\n", " ").replace('"$(command -v rsgen)"', "rsgen")
        for line in script.splitlines():
            if "rsgen" not in line or line.lstrip().startswith("#"):
                continue
            tokens = shlex.split(line, comments=True)
            for at, token in enumerate(tokens):
                if token != "rsgen" or at + 1 >= len(tokens) or tokens[at + 1].startswith("/"):
                    continue
                args = []
                for word in tokens[at + 1:]:
                    if word in _SHELL_OPERATORS or word.startswith(">"):
                        break
                    args.append(word)
                found.append(args)
    return found


def _parse(args: list[str]) -> None:
    """Parse like `rsgen ARGS` would, down to the last subcommand; raise click's errors."""
    command: click.Command = cli
    context = cli.make_context("rsgen", list(args))
    while isinstance(command, click.Group):
        with warnings.catch_warnings():  # click 8.2+ deprecates protected_args (9.0: in args)
            warnings.simplefilter("ignore", DeprecationWarning)
            remaining = [*getattr(context, "protected_args", ()), *context.args]
        if not remaining:
            raise click.UsageError("a group without a command")
        name, *rest = remaining
        sub = command.get_command(context, name)
        if sub is None:
            raise click.UsageError(f"no command {name!r}")
        command, context = sub, sub.make_context(name, rest, parent=context)


def test_the_recipes_are_there() -> None:
    assert [p.name for p in GITHUB] == ["rsgen-comment.yml", "rsgen-main.yml",
                                        "rsgen-pull-request.yml", "rsgen-refresh.yml"]
    assert GITLAB.is_file()


@pytest.mark.parametrize("recipe", [*GITHUB, GITLAB], ids=lambda p: p.name)
def test_every_rsgen_command_in_a_recipe_parses(recipe: Path) -> None:
    lines = rsgen_command_lines(recipe)
    if recipe.name == "rsgen-comment.yml":
        assert lines == []  # it only posts the artifact's text: nothing of the PR runs
        return
    assert lines, f"no rsgen command found in {recipe.name}"
    for args in lines:
        try:
            _parse(args)
        except click.BadParameter as exc:  # a path only the CI host has is fine
            assert "does not exist" in str(exc), (args, exc)


def test_github_pull_requests_run_without_secrets_or_write_access() -> None:
    """The pull request is untrusted: its workflow gets a read-only token and no secrets, and
    the comment is posted by a workflow_run workflow from the base branch."""
    workflow = (RECIPES / "github" / "rsgen-pull-request.yml").read_text()
    data = yaml.safe_load(workflow)
    assert set(data[True]) == {"pull_request"}  # YAML 1.1 reads the key `on` as True
    assert data["permissions"] == {"contents": "read"}
    assert "secrets." not in workflow
    comment = yaml.safe_load((RECIPES / "github" / "rsgen-comment.yml").read_text())
    assert set(comment[True]) == {"workflow_run"}


def test_route_servers_are_deployed_one_at_a_time() -> None:
    """rs2 only after rs1's deploy (and its health check) succeeded, in both recipes."""
    main = yaml.safe_load((RECIPES / "github" / "rsgen-main.yml").read_text())
    assert main["jobs"]["deploy-rs2"]["needs"] == "deploy-rs1"
    assert main["concurrency"]["cancel-in-progress"] is False
    gitlab = yaml.safe_load(GITLAB.read_text())
    assert "deploy-rs1" in gitlab["deploy-rs2"]["needs"]
    assert gitlab[".deploy"]["resource_group"] == "route-servers"
    for job in ("deploy-rs1", "deploy-rs2"):
        steps = " ".join(s.get("run", "") for s in main["jobs"][job]["steps"])
        assert re.search(r"rsgen deploy \S+ .*--timeout", steps.replace("\\\n", " "))


@pytest.mark.parametrize("args", [["build", "--no-such-option"], ["no-such-command"],
                                  ["export"], ["check", "-C"]])
def test_the_parser_refuses_what_rsgen_would(args: list[str]) -> None:
    with pytest.raises(click.UsageError):
        _parse(args)
