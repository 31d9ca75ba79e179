"""Render docs/cli.md, the command-line reference, from matgrade's argparse parsers.

Regenerate after changing an option: `.venv/bin/python -m grader.cli_reference > docs/cli.md`.
tests/test_docs.py fails while the file and the parsers disagree.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable

from grader import cli

# Every command, in the order the reference lists them. A new subcommand's parser goes here.
PARSERS: tuple[Callable[[], argparse.ArgumentParser], ...] = (
    cli.build_parser,
    cli.build_merge_parser,
    cli.build_check_parser,
    cli.build_schema_parser,
    cli.build_explain_parser,
)

REGENERATE = ".venv/bin/python -m grader.cli_reference > docs/cli.md"
# A fixed width, so the usage lines do not depend on the terminal that renders them.
USAGE_WIDTH = 100
# "(default: ...)" in a help text: the help's own words are the default shown, since some
# defaults are machine-dependent values (--jobs: the machine's cores).
STATED_DEFAULT = re.compile(r"\s*\(default: ([^)]*)\)")
NARGS = {"?": "optional", "*": "zero or more", "+": "one or more"}

HEADER = f"""\
Generated from the argparse parsers by `grader/cli_reference.py`; do not edit. Regenerate with \
`{REGENERATE}`.

# Command-line reference

One section per command. Exit codes: [grading-a-class.md](grading-a-class.md#exit-codes); what
the options do in practice: [grading-a-class.md](grading-a-class.md); the output files:
[results.md](results.md).
"""


def render() -> str:
    """The whole reference as Markdown, one section per parser in PARSERS."""
    sections = [HEADER, *(_section(build()) for build in PARSERS)]
    return "\n".join(sections)


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.HelpFormatter(prog, width=USAGE_WIDTH)


def _section(parser: argparse.ArgumentParser) -> str:
    parser.formatter_class = _formatter
    usage = parser.format_usage().rstrip()
    rows = [_row(parser, action) for action in parser._actions]
    lines = [
        f"## `{parser.prog}`",
        "",
        "```",
        usage,
        "```",
        "",
        _escape(parser.description or ""),
        "",
        "| argument | value | default | meaning |",
        "|---|---|---|---|",
        *rows,
        "",
    ]
    return "\n".join(lines)


def _row(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    help_text = _help(parser, action)
    stated = STATED_DEFAULT.search(help_text)
    if stated:
        default = _escape(stated[1])
        help_text = STATED_DEFAULT.sub("", help_text, count=1)
    else:
        default = _default(action)
    cells = (_names(action), _value(action), default, _escape(help_text))
    return "| " + " | ".join(cells) + " |"


def _names(action: argparse.Action) -> str:
    if action.option_strings:
        return ", ".join(f"`{name}`" for name in action.option_strings)
    return f"`{_metavar(action)}` (positional)"


def _value(action: argparse.Action) -> str:
    if action.choices is not None:
        value = " or ".join(f"`{choice}`" for choice in action.choices)
    elif action.option_strings and action.nargs == 0:
        return "flag"
    else:
        value = f"`{_metavar(action)}`"
    if isinstance(action.nargs, str) and action.nargs in NARGS:
        value += f", {NARGS[action.nargs]}"
    if action.required and action.option_strings:
        value += ", required"
    return value


def _metavar(action: argparse.Action) -> str:
    if isinstance(action.metavar, str):
        return action.metavar
    return action.dest if not action.option_strings else action.dest.upper()


def _default(action: argparse.Action) -> str:
    """The parser's default, where it says something: not for flags, positionals or unset."""
    default = action.default
    if not action.option_strings or action.nargs == 0:
        return ""
    if default is None or default is argparse.SUPPRESS or default == frozenset():
        return ""
    return f"`{default}`"


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.help or action.help is argparse.SUPPRESS:
        return ""
    # _expand_help fills %(default)s, %(prog)s and the like, as --help would.
    return parser._get_formatter()._expand_help(action)


def _escape(text: str) -> str:
    """Markdown-safe table cell text: no pipes, emphasis or HTML from help strings."""
    for raw, safe in (("|", "\\|"), ("*", "\\*"), ("<", "&lt;")):
        text = text.replace(raw, safe)
    return " ".join(text.split())


if __name__ == "__main__":
    print(render(), end="")
