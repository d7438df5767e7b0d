"""HTML reader (BeautifulSoup with the standard-library parser: no compiled dependency).

The tree is walked in document order: h1-h6 open sections, paragraph-like elements and list
items become blocks, a table becomes one block with a `cell | cell` line per row. Scripts,
styles, navigation and comments are dropped; loose text inside containers is collected into a
paragraph so that nothing a browser would show is lost.
"""

from __future__ import annotations

from pathlib import Path

from bs4 import BeautifulSoup, NavigableString, Tag

from doctune.ingest.document import Extracted, ReadError, TextBuilder, clean_inline, clean_lines

_DROP = {
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "nav",
    "head",
    "iframe",
    "object",
    "form",
}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_LEAVES = {"p", "dt", "dd", "caption", "figcaption", "address", "summary", "legend"}
_CONTAINERS = {
    "html", "body", "main", "article", "section", "div", "header", "footer", "aside",
    "blockquote", "ul", "ol", "dl", "figure", "details", "fieldset", "center", "hgroup",
}  # fmt: skip


def read_html(path: Path, data: bytes) -> list[Extracted]:
    try:
        # UTF-8 first: without a declared charset, BeautifulSoup guesses, and guesses Latin-1.
        markup: str | bytes = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        markup = data  # let BeautifulSoup follow the page's <meta charset>
    try:
        soup = BeautifulSoup(markup, "html.parser")
    except Exception as exc:  # the stdlib parser gives up on some broken markup
        raise ReadError(f"malformed HTML ({exc.__class__.__name__})") from None
    for br in soup.find_all("br"):
        br.replace_with("\n")
    walker = _Walker(TextBuilder())
    walker.walk(soup)
    walker.flush()
    return [walker.builder.build()]


class _Walker:
    def __init__(self, builder: TextBuilder) -> None:
        self.builder = builder
        self.loose: list[str] = []
        self.in_list = False

    def flush(self) -> None:
        text = clean_inline("".join(self.loose))
        self.loose.clear()
        if text:
            self._block(text)

    def walk(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                # Comments, CDATA, doctypes are NavigableString subclasses: not visible text.
                if type(child) is NavigableString:
                    self.loose.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name.lower()
            if name in _DROP:
                continue
            if name in _HEADINGS:
                self.flush()
                self.builder.heading(child.get_text(), _HEADINGS[name])
                self.in_list = False
            elif name == "table":
                self.flush()
                self._table(child)
            elif name == "pre":
                self.flush()
                self._block(clean_lines(child.get_text()))
            elif name == "li":
                self.flush()
                self._list_item(child)
            elif name in _LEAVES:
                self.flush()
                self._block(clean_inline(child.get_text()))
            elif name in _CONTAINERS:
                self.flush()
                self.walk(child)
                self.flush()
            else:  # inline markup (a, b, span, sub, sup...): part of the running text
                self.loose.append(child.get_text())

    def _block(self, text: str, *, item: bool = False) -> None:
        if not text:
            return
        # List items follow each other line by line; everything else is a paragraph.
        self.builder.block(text, sep="\n" if item and self.in_list else "\n\n")
        self.in_list = item

    def _list_item(self, item: Tag) -> None:
        nested = [c for c in item.find_all(["ul", "ol", "table"], recursive=False)]
        for sub in nested:
            sub.extract()
        text = clean_inline(item.get_text())
        if text:
            self._block("- " + text, item=True)
        for sub in nested:
            if sub.name == "table":
                self._table(sub)
            else:
                self.walk(sub)

    def _table(self, table: Tag) -> None:
        rows = []
        for row in table.find_all("tr"):
            cells = [clean_inline(c.get_text()) for c in row.find_all(["th", "td"])]
            cells = [c for c in cells if c]
            if cells:
                rows.append(" | ".join(cells))
        caption = table.find("caption")
        if caption is not None:
            rows.insert(0, clean_inline(caption.get_text()))
        self._block("\n".join(rows))
