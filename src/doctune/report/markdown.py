"""Text made safe for report.md.

Model-written text (answers, questions, references, rationales) is untrusted: in Markdown,
`[x](javascript:...)` is a link, `![](http://...)` an image fetched when the file is opened, and
raw `<img onerror=...>` is HTML that most renderers pass through. Every character that starts
one of those is backslash-escaped (CommonMark lets any ASCII punctuation be escaped, and shows
it as the plain character), HTML's `<` and `&` become entities, and the scheme of a bare URL is
broken so GitHub's autolinking does not turn it into a link. Our own text (labels, numbers) goes
through the same escape, minus parentheses, which cannot open anything without a `[`.
"""

from __future__ import annotations

import re
from typing import Any

# Backslash first, so the escapes added after it are not themselves escaped twice.
_PUNCTUATION = "\\`[]!|"
_BARE_URL = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*):(?=//)|\b(www)\.")


def _escape(text: Any, *, parens: bool) -> str:
    s = str(text).replace("&", "&amp;").replace("<", "&lt;")
    for ch in _PUNCTUATION + ("()" if parens else ""):
        s = s.replace(ch, "\\" + ch)
    # "http://x" -> "http\://x", "www.x" -> "www\.x": no autolink, same text once rendered.
    return _BARE_URL.sub(lambda m: f"{m[1]}\\:" if m[1] else f"{m[2]}\\.", s)


def md_escape(text: Any) -> str:
    """Our own text (labels, titles, notes) in a table cell or a line: no HTML, links, cell
    breaks or line breaks."""
    return " ".join(_escape(text, parens=False).split())


def md_figures(text: Any) -> str:
    """Numbers and words the report itself wrote (a cell's "Δ 95 % CI [+1.2, +3.4]"): only what
    would break HTML or a table row is escaped, so the raw file stays readable."""
    s = str(text).replace("&", "&amp;").replace("<", "&lt;").replace("|", "\\|")
    return " ".join(s.split())


def md_text(text: Any) -> str:
    """Model-written text on one line (a question, a reference): nothing in it renders."""
    return " ".join(_escape(text, parens=True).split())


def md_quote(text: Any, empty: str = "(empty answer)") -> str:
    """Model text as a block quote, its lines kept; blank text says so instead of an empty quote."""
    if not str(text).strip():
        return f"> *{empty}*"
    lines = _escape(str(text).strip(), parens=True).splitlines()
    return "\n".join(f"> {line}".rstrip() for line in lines)


def md_code(text: Any) -> str:
    """A code span that holds any text: a fence longer than every backtick run inside it, and
    escaped pipes, which GitHub reads as cell breaks even inside code in a table."""
    s = " ".join(str(text).split()).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"
