"""Untrusted text (member names, session descriptions, PeeringDB fields) made inert for
Markdown and HTML, the two markups `rsgen diff` and `rsgen docs` write.

Markdown: such text goes into a code span, where CommonMark and GitHub render no link,
image, emphasis, HTML or @mention; the only characters that matter there are backticks (the
span's own delimiter: a longer run delimits it) and, in a table, the pipe (escaped `\\|`,
which GitHub reads as a pipe inside a cell). HTML: html.escape with quote=True, after
rsgen.values.printable, so a control or bidi character shows as an escape, not as itself.
"""

from __future__ import annotations

import html
import re

from rsgen.values import printable

_BACKTICKS = re.compile(r"`+")


def md_code(text: str, *, table: bool = False) -> str:
    """`text` as a Markdown code span (in a table cell: its pipes escaped).

    >>> md_code("[x](https://e.example) @team")
    '`[x](https://e.example) @team`'
    >>> md_code("a`b")
    '``a`b``'
    >>> md_code("a|b", table=True)
    '`a\\\\|b`'
    """
    shown = printable(text)
    if not shown.strip():
        return "(empty)"
    if table:
        shown = shown.replace("|", "\\|")
    longest = max((len(run) for run in _BACKTICKS.findall(shown)), default=0)
    fence = "`" * (longest + 1)
    # A span that starts or ends with a backtick needs a space inside its fence; CommonMark
    # strips one space on each side when both are there.
    pad = " " if shown[0] == "`" or shown[-1] == "`" or (
        shown[0] == " " and shown[-1] == " ") else ""
    return f"{fence}{pad}{shown}{pad}{fence}"


_MARKDOWN_ACTIVE = re.compile(r"([\\`*\[\]<>|&!])")


def md_text(text: str) -> str:
    """rsgen's own prose for Markdown: the characters that could start markup
    backslash-escaped (none of rsgen's texts needs markup; a later one must not get it by
    accident).

    >>> md_text("AS path too long")
    'AS path too long'
    >>> md_text("a*b* [c]")
    'a\\\\*b\\\\* \\\\[c\\\\]'
    """
    return _MARKDOWN_ACTIVE.sub(r"\\\1", printable(text))


def html_text(text: str) -> str:
    """`text` for HTML element content or a quoted attribute value.

    >>> html_text('"><img src=x onerror=alert(1)>')
    '&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'
    """
    return html.escape(printable(text), quote=True)
