"""Member files that rsgen writes (`member add`, `import ixf`): made from untrusted data, checked
as `rsgen check` checks a pull request, and created all together or not at all.

Every value comes from outside (PeeringDB, an IX-F export), so the YAML is written by hand in
one narrow form: each string double-quoted with every character that is not plainly printable
escaped, numbers as digits, fixed keys. Whatever a name holds (quotes, `: `, `#`, `!!python`,
`&anchor`, newlines), it is one string value in the file, and the file is read back through
rsgen's own loader before it is written: what fails there is never written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rsgen.atomic import create_files
from rsgen.consistency import consistency_problems
from rsgen.errors import InvalidInput, Problem
from rsgen.load import MEMBERS_DIR, member_from_text
from rsgen.model import Config, Member
from rsgen.values import IPAddress, printable, safe_comment

_YAML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def yaml_string(text: str) -> str:
    """`text` as a YAML double-quoted scalar that reads back as exactly `text`.

    >>> yaml_string('a: "b" # c')
    '"a: \\\\"b\\\\" # c"'
    >>> yaml_string("x\\u2028y")
    '"x\\\\u2028y"'
    """
    out = []
    for char in text:
        if char in _YAML_ESCAPES:
            out.append(_YAML_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        else:  # controls, line separators, bidi marks, surrogates: never raw in the file
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


MAX_NAME_LENGTH = 100  # the member schema's


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a member's name in a file rsgen writes, or None.

    The schema takes any string; a written name must also be one plain line a reviewer reads
    as it is: no controls, line separators or bidi overrides, even escaped.
    """
    if not name or name != name.strip():
        return "name is empty or starts or ends with spaces"
    if not name.isprintable():
        return "name holds control, formatting or line-separator characters"
    if len(name) > MAX_NAME_LENGTH:
        return f"name is {len(name)} characters long, more than {MAX_NAME_LENGTH}"
    return None


@dataclass(frozen=True)
class MemberDraft:
    """A member file to be written, from an outside source (values not yet checked)."""

    asn: int
    name: str
    sessions: tuple[IPAddress, ...]
    as_sets: tuple[str, ...] = ()
    max_prefixes_ipv4: int | None = None
    max_prefixes_ipv6: int | None = None

    @property
    def file_name(self) -> str:
        return f"{MEMBERS_DIR}/AS{self.asn}.yml"


def render(draft: MemberDraft, origin: str) -> str:
    """The member file's text; `origin` (untrusted: a URL or file name) goes into the first
    comment, reduced to safe characters."""
    lines = [f"# Written by rsgen from {safe_comment(origin, 160)}: review before merging.",
             f"asn: {int(draft.asn)}",
             f"name: {yaml_string(draft.name)}"]
    if draft.as_sets:
        lines.append("as_set:")
        lines += [f"  - {yaml_string(name)}" for name in draft.as_sets]
    limits = [(family, value) for family, value in (("ipv4", draft.max_prefixes_ipv4),
                                                    ("ipv6", draft.max_prefixes_ipv6))
              if value is not None]
    if limits:
        lines.append("max_prefixes:")
        lines += [f"  {family}: {int(value)}" for family, value in limits]
    lines.append("sessions:")
    lines += [f"  - ip: {yaml_string(str(address))}" for address in draft.sessions]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Refusal:
    """A record not turned into a member file, and why (untrusted text: print it with
    rsgen.values.printable)."""

    where: str
    reason: str


@dataclass(frozen=True)
class Checked:
    accepted: tuple[tuple[MemberDraft, str], ...]  # each draft with its file's text
    refused: tuple[Refusal, ...]


def check_drafts(directory: Path, config: Config, drafts: list[tuple[str, MemberDraft]],
                 origin: str) -> Checked:
    """Which drafts can be written: each as rsgen check reads it, then all together with the
    exchange's members (`config`, already checked). `drafts` pairs each with where it came
    from. A draft for a member that already has a file is refused, never overwritten."""
    accepted: list[tuple[MemberDraft, str, Member]] = []
    refused: list[Refusal] = []
    seen: set[int] = set()
    for where, draft in drafts:
        path = directory / draft.file_name
        if os.path.lexists(path) or draft.asn in seen:
            refused.append(Refusal(where, f"{draft.file_name} exists already: not overwritten"
                                   " (remove it first with rsgen member remove to replace it)"))
            continue
        bad_name = name_problem(draft.name)
        if bad_name:
            refused.append(Refusal(where, bad_name))
            continue
        text = render(draft, origin)
        try:
            member = member_from_text(text, draft.file_name)
        except InvalidInput as exc:
            refused.append(Refusal(where, "; ".join(p.message for p in exc.problems)))
            continue
        accepted.append((draft, text, member))
        seen.add(draft.asn)
    # The exchange's own members first: a clash (an address or ASN used twice) is reported on
    # the later file, which is then the new one. Problems located elsewhere (exchange.yml's
    # blackhole address) are found by adding the drafts one at a time.
    while True:
        candidate = Config(config.exchange, config.members + tuple(m for _, _, m in accepted))
        problems = consistency_problems(candidate)
        if not problems:
            break
        by_file: dict[str, list[Problem]] = {}
        for problem in problems:
            by_file.setdefault(problem.file or "", []).append(problem)
        named = [entry for entry in accepted if entry[0].file_name in by_file]
        if not named:
            named = [_first_clash(config, accepted)]
        for entry in named:
            accepted.remove(entry)
            found = by_file.get(entry[0].file_name) or consistency_problems(
                Config(config.exchange, (*config.members, entry[2])))
            refused.append(Refusal(_where(drafts, entry[0]), "; ".join(
                p.message for p in found) or "clashes with members imported before it"))
    return Checked(tuple((d, t) for d, t, _ in accepted), tuple(refused))


def _first_clash(config: Config, accepted: list[tuple[MemberDraft, str, Member]]
                 ) -> tuple[MemberDraft, str, Member]:
    members = config.members
    for entry in accepted:
        members += (entry[2],)
        if consistency_problems(Config(config.exchange, members)):
            return entry
    raise AssertionError("the members clash together but not one by one")


def _where(drafts: list[tuple[str, MemberDraft]], draft: MemberDraft) -> str:
    return next(where for where, d in drafts if d is draft)


def write_members(directory: Path, checked: Checked) -> list[Path]:
    """Create the accepted member files, all or none (rsgen.atomic.create_files); the paths
    written. The caller holds the exchange lock."""
    files = [(directory / draft.file_name, text) for draft, text in checked.accepted]
    try:
        create_files(files)
    except FileExistsError as exc:
        raise InvalidInput(f"{printable(str(exc.filename))} appeared while writing: nothing "
                           "was written", hint="run it again; existing files are skipped") \
            from exc
    return [path for path, _ in files]
