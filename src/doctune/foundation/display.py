"""Text from outside (file names, error messages quoting them) made safe for a console.

A file named `report\\n[ok] all done.pdf` or one carrying an ESC sequence would otherwise forge a
line of output, recolour the terminal or move the cursor; Rich would also read `[...]` in it as
markup. `printable` writes control characters as escapes; `console_text` also escapes markup.
"""

from __future__ import annotations

import re

from rich.markup import escape

# C0 and C1 controls, DEL, line/paragraph separators and the bidirectional overrides (which can
# make a name read backwards).
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char) or (
        f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    )


def printable(text: str) -> str:
    """`text` with every control character written as an escape (`\\n`, `\\x1b`, `\\u202e`)."""
    return _UNSAFE.sub(_escape_char, text)


def console_text(text: str) -> str:
    """`printable`, and Rich markup escaped: for text inside a message printed with markup."""
    return escape(printable(text))
