"""rsgen docs: the member-facing policy page and the Alice-LG mapping, from the plan."""

from __future__ import annotations

import configparser
import dataclasses
import doctest
import importlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from rsgen.alice import alice_config
from rsgen.communities import BLACKHOLE, MEMBER_COMMUNITIES
from rsgen.docs import DOCS_FILES, policy_html, policy_markdown, write_docs
from rsgen.errors import ExitCode
from rsgen.plan import ExchangePlan, Limit
from rsgen.render import render_plan
from rsgen.review import load_plan
from rsgen.rules import REJECT_REASON_ID, RULES, RULES_BY_CODE_ORDER
from rsgen.settings import Settings
from tests.helpers import REPO, copy_example, run_rsgen_in_process

GOLDEN = Path(__file__).parent / "docs_golden" / "example"


def _example_plan() -> ExchangePlan:
    return load_plan(REPO, Settings(), "example").plan


def run_rsgen(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
              *args: str) -> tuple[int, str, str]:
    return run_rsgen_in_process(capsys, monkeypatch, *args)


def test_the_example_page_matches_its_golden_files(update_golden: bool) -> None:
    """The example's policy page, byte for byte as reviewed (regenerate with
    --update-golden and review the diff)."""
    rendered = {"policy.md": policy_markdown(_example_plan()),
                "policy.html": policy_html(_example_plan())}
    if update_golden:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name, text in rendered.items():
            (GOLDEN / name).write_text(text, encoding="utf-8")
    for name, text in rendered.items():
        assert text == (GOLDEN / name).read_text(encoding="utf-8"), \
            f"{name} differs: run with --update-golden and review the diff"


def test_the_page_lists_every_rule_community_and_member() -> None:
    """Every rule with its reason code, the communities members can use, and each member's
    AS-SET, prefix counts and limits are on the page."""
    exchange_plan = _example_plan()
    text = policy_markdown(exchange_plan)
    for rule in RULES:
        assert f"| `{rule.code}` | {rule.text} | `{rule.name}` |" in text
    for community in (*MEMBER_COMMUNITIES, BLACKHOLE):
        assert f"| `{community.text}` |" in text
    server = exchange_plan.route_servers[0]
    for member in server.members:
        v4 = member.family(4)
        assert v4 is not None
        cells = (f"| `AS{member.asn}` | `{member.name}` |", f"| `{len(v4.prefixes)}` | "
                 f"`{v4.import_limit.value}` (`{v4.import_limit.source}`) |")
        assert all(cell in text for cell in cells), member.asn


def test_the_communities_are_the_ones_the_config_acts_on() -> None:
    """Each documented community is tested in the rendered config as the table says (a
    template change that drops one fails here)."""
    config = render_plan(_example_plan())["rs1.conf"]
    for community in (*MEMBER_COMMUNITIES, BLACKHOLE):
        assert community.bird in config, community.text


def test_the_alice_mapping_is_rules_py() -> None:
    """[rejection_reasons] has exactly one line per rule, (RS, 65520, code) = its text, and
    the config tags rejected routes with the same id; the RPKI and IRR tags match."""
    exchange_plan = _example_plan()
    parser = configparser.ConfigParser(allow_no_value=True, delimiters=("=",),
                                       interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(alice_config(exchange_plan))
    asn = exchange_plan.route_servers[0].asn
    assert dict(parser["rejection_reasons"]) == {
        f"{asn}:{REJECT_REASON_ID}:{rule.code}": rule.text for rule in RULES_BY_CODE_ORDER}
    assert dict(parser["noexport_reasons"]) == {}
    assert dict(parser["rpki"]) == {"enabled": "true", "valid": f"{asn}:1000:1",
                                    "unknown": f"{asn}:1000:2", "invalid": f"{asn}:1000:4"}
    assert sorted(parser["bgp_communities"]) == [f"{asn}:1001:12", f"{asn}:1001:9"]
    assert list(parser["blackhole_communities"]) == ["65535:666"]
    config = render_plan(exchange_plan)["rs1.conf"]
    assert f"define REJECT_REASON = {REJECT_REASON_ID};" in config
    assert "bgp_large_community.add((RS_ASN, REJECT_REASON, reason));" in config
    for rule in RULES:
        assert f'reject_because(member_asn, {rule.code}, "{rule.text}")' in config, rule.name
    assert "bgp_large_community.add((RS_ASN, 1000, 1));" in config  # RPKI valid


HOSTILE = ('<script>alert(1)</script> "><img src=x onerror=alert(1)> '
           "[click](https://evil.example) ![i](https://evil.example/i.png) @everyone | `x` "
           "\u202eevil\u2066 &amp;")


def _hostile_plan() -> ExchangePlan:
    """The example's plan with hostile text wherever a member or the exchange's files put
    text (the plan scrubs names already; the page must be safe without that)."""
    p = _example_plan()
    servers = []
    for server in p.route_servers:
        members = []
        for member in server.members:
            families = tuple(dataclasses.replace(f, import_limit=Limit(
                f.import_limit.value, HOSTILE)) for f in member.families)
            members.append(dataclasses.replace(member, name=HOSTILE, as_set_source=HOSTILE,
                                               families=families))
        servers.append(dataclasses.replace(server, name=HOSTILE, members=tuple(members)))
    return dataclasses.replace(p, exchange=HOSTILE, rsgen_version=HOSTILE,
                               route_servers=tuple(servers))


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "table",
             "thead", "tbody", "tr", "th", "td", "code", "pre"}


def test_hostile_names_never_become_html() -> None:
    """Every string in the HTML is escaped: the page has only its own elements (no script,
    no img, no attribute outside <html> and <meta>), the hostile text shows as text, and a
    bidi override shows as an escape."""
    page = policy_html(_hostile_plan())
    parser = _Tags()
    parser.feed(page)
    assert {tag for tag, _ in parser.tags} <= PAGE_TAGS
    assert all(not attrs for tag, attrs in parser.tags if tag not in ("html", "meta"))
    text = "".join(parser.text)
    assert '<script>alert(1)</script> "><img src=x onerror=alert(1)>' in text
    assert "&amp;" in text  # shown as typed, not as an entity
    assert "\u202e" not in page and "\u2066" not in page and "\\u202e" in page


def test_hostile_names_never_become_markdown_links() -> None:
    """In the Markdown page a hostile name renders (markdown-it, with tables) as code only:
    no link, image, HTML or extra table cell."""
    text = policy_markdown(_hostile_plan())
    rendered = MarkdownIt("commonmark").enable("table").render(text)
    for tag in ("<a ", "<img", "<script"):
        assert tag not in rendered
    assert "\u202e" not in text
    member_rows = [line for line in text.splitlines() if line.startswith("| `AS")]
    assert member_rows and all(line.count(" | ") == 8 for line in member_rows)


def test_a_hostile_member_file_through_the_command(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end: a member's name from its file cannot become markup in either file."""
    ix = copy_example(tmp_path / "ix")
    path = ix / "members/AS23674.yml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "name: Nayatel", "name: '<script>alert(1)</script> [x](https://evil.example)'"),
        encoding="utf-8")
    code, out, err = run_rsgen(capsys, monkeypatch, "docs", "-C", str(ix), "-o",
                               str(tmp_path / "site"))
    assert code == 0, err
    html_page = (tmp_path / "site/policy.html").read_text(encoding="utf-8")
    assert "<script" not in html_page and "https://evil.example" in html_page
    rendered = MarkdownIt("commonmark").enable("table").render(
        (tmp_path / "site/policy.md").read_text(encoding="utf-8"))
    assert "<a " not in rendered and "<script" not in rendered
    assert out.splitlines() == [f"{tmp_path / 'site' / name}: written" for name in DOCS_FILES]


def test_writing_is_deterministic_and_keeps_what_is_there(tmp_path: Path) -> None:
    """Same plan, same bytes; a second run changes nothing; other files in the directory
    stay; no staging directory is left behind."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("mine", encoding="utf-8")
    assert [p.name for p in write_docs(_example_plan(), site)] == list(DOCS_FILES)
    first = {name: (site / name).read_bytes() for name in DOCS_FILES}
    assert write_docs(_example_plan(), site) == ()
    assert {name: (site / name).read_bytes() for name in DOCS_FILES} == first
    assert sorted(p.name for p in site.iterdir() if not p.name.startswith(".rsgen.lock")) \
        == ["index.html", *sorted(DOCS_FILES)]


def test_bad_input_exits_as_build_does(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """An invalid member file is exit 3, a damaged snapshot or one without a member's data
    exit 6; nothing is written."""
    ix = copy_example(tmp_path / "ix")
    (ix / "members/AS23674.yml").write_text("asn: 23674\nsurprise: 1\n", encoding="utf-8")
    code, _, _ = run_rsgen(capsys, monkeypatch, "docs", "-C", str(ix), "-o",
                           str(tmp_path / "a"))
    assert code == ExitCode.INVALID_INPUT
    ix = copy_example(tmp_path / "ix2")
    (ix / "snapshot/irr/AS23674.json").write_text("[", encoding="utf-8")
    code, _, _ = run_rsgen(capsys, monkeypatch, "docs", "-C", str(ix), "-o",
                           str(tmp_path / "b"))
    assert code == ExitCode.NO_SNAPSHOT
    ix = copy_example(tmp_path / "ix3")  # a page must not leave a member out: exit 6
    (ix / "members/AS213000.yml").write_text(
        "asn: 213000\nname: Newcomer\nsessions:\n  - ip: 192.0.2.99\n", encoding="utf-8")
    code, _, err = run_rsgen(capsys, monkeypatch, "docs", "-C", str(ix), "-o",
                             str(tmp_path / "c"))
    assert code == ExitCode.NO_SNAPSHOT and "AS213000: no IRR data" in err
    assert not any((tmp_path / d).exists() for d in "abc")


def test_markup_examples() -> None:
    """The examples in rsgen.markup's docstrings hold."""
    result = doctest.testmod(importlib.import_module("rsgen.markup"))
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("text", ["`a", "a`", "``x``", " a ", " `", "<b>bold</b>", "[x](y)",
                                  "@everyone", "&amp;", "*em* _em_", "a | b", "\\`", "x\ny"])
def test_a_code_span_shows_its_text_exactly(text: str) -> None:
    """md_code's span renders (CommonMark, as markdown-it reads it) to one <code> holding
    exactly the text (terminal-escaped), inside a table cell as well as in a paragraph."""
    import html

    from rsgen.markup import md_code
    from rsgen.values import printable

    md = MarkdownIt("commonmark").enable("table")
    paragraph = md.render(f"x {md_code(text)} y").strip()
    assert paragraph.startswith("<p>x <code>") and paragraph.endswith("</code> y</p>")
    inner = paragraph[len("<p>x <code>"):-len("</code> y</p>")]
    assert "<" not in inner and html.unescape(inner) == printable(text)
    cell = md.render(f"| a |\n|---|\n| {md_code(text, table=True)} |\n")
    assert cell.count("<td>") == 1
    start = cell.index("<td><code>") + len("<td><code>")
    assert html.unescape(cell[start:cell.index("</code></td>")]) == printable(text)


def test_an_output_directory_that_cannot_be_made_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """-o below a file: exit 2 naming the directory, not an internal error."""
    (tmp_path / "file").write_text("x", encoding="utf-8")
    code, _, err = run_rsgen(capsys, monkeypatch, "docs", "-C", str(REPO), "-o",
                             str(tmp_path / "file" / "site"))
    assert code == ExitCode.USAGE
    assert "cannot write there" in err and "internal error" not in err


def test_what_an_exchange_has_not_is_not_offered() -> None:
    """Without RPKI or BLACKHOLE, and with a 32-bit route-server ASN: no standard control
    communities, no 65535:666, no RPKI tags or [rpki] for Alice-LG; the rule list says what
    is not enabled."""
    p = load_plan(Path(__file__).parent / "golden" / "ipv4-only" / "input", Settings(),
                  "ipv4-only").plan
    assert p.rpki is None and p.blackhole is None
    p = dataclasses.replace(p, route_servers=tuple(
        dataclasses.replace(s, asn=4200000001, standard_control_communities=False)
        for s in p.route_servers))
    text = policy_markdown(p)
    assert "| standard |" not in text and "only the large forms exist" in text
    assert "65535:666" not in text and "(RS, 1000," not in text
    (off,) = [line for line in text.splitlines() if line.startswith("Not enabled")]
    assert "`rpki_invalid (14)`" in off and "`never_via_route_servers (15)`" in off
    alice = alice_config(p)
    assert "[rpki]" not in alice and "[blackhole_communities]" not in alice
    assert "4200000001:65520:9 = origin ASN not in the member's AS-SET" in alice
