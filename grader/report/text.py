"""Student text is data: how a string a student controls (an exception message, printed
output, a file name, a function name) is made inert in each output format.

Grader prose that quotes such a string is treated the same way as a whole, so the rule holds
wherever the string ends up: no heading, link, image, table cell or HTML in Markdown, no escape
sequence on a terminal, no formula in a spreadsheet.
"""

from __future__ import annotations

import re
import unicodedata

# The characters that open Markdown structure inside a line (CommonMark, GitHub's tables,
# strikethrough and math): emphasis, code, links and images, raw HTML and entities, headings,
# quotes, cells. Text is always placed after grader text on its line, so the line-start markers
# that remain (`-`, `+`, `1.`) can only nest a list. A backslash before ASCII punctuation always
# renders it as itself. An underscore between two letters or digits can open no emphasis
# (`grad_u`), so only the others are escaped.
MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]<>#!|~&$]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _visible(char: str) -> bool:
    """Not a control character (C0, C1, DEL) nor a format one (bidi overrides, zero width)."""
    return unicodedata.category(char) not in ("Cc", "Cf")


def one_line(text: str) -> str:
    """Line breaks become spaces and invisible characters go: one line that shows what it is."""
    flat = re.sub(r"[\r\n\u2028\u2029\x0b\x0c\x85]+", " ", text)
    return "".join(char for char in flat if _visible(char))


def markdown_text(text: str) -> str:
    """`text` as literal Markdown text on one line."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", one_line(text))


def terminal_text(text: str) -> str:
    """`text` without escape sequences or other control characters; line breaks and tabs stay."""
    return "".join(char for char in text if char in "\n\t" or _visible(char))


def csv_cell(text: str) -> str:
    """`text` as a spreadsheet shows it, never as a formula."""
    flat = one_line(text)
    return "'" + flat if flat.startswith(FORMULA_START) else flat
