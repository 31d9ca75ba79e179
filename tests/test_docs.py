"""The documentation stays true to the code: the generated CLI reference, the README's commands,
and links that lead somewhere. Pure file reads; no grading."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grader.cli_reference import PARSERS, REGENERATE, render

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = REPO / "docs"
CLI_MD = DOCS / "cli.md"
README_LIMIT_BYTES = 6000
# The README's two quick-start commands, byte for byte: .ci/run runs the test command.
INSTALL_AND_GRADE = (
    "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && "
    ".venv/bin/matgrade submissions_example/seed_homework.ipynb"
)
TEST_COMMAND = ".venv/bin/python -m pytest"

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)


def _prose(path: Path) -> str:
    """Markdown without code, where brackets and '#' lines are not links or headings."""
    return INLINE_CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {_anchor(heading) for heading in HEADING.findall(text)}


def _options() -> list[tuple[str, str]]:
    return [
        (parser.prog, option)
        for parser in (build() for build in PARSERS)
        for action in parser._actions
        for option in action.option_strings
    ]


def _section(prog: str) -> str:
    """The part of docs/cli.md about one command, up to the next command's heading."""
    text = CLI_MD.read_text(encoding="utf-8")
    start = text.index(f"## `{prog}`\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_cli_reference_is_generated_from_the_parsers() -> None:
    assert CLI_MD.read_text(encoding="utf-8") == render(), (
        f"docs/cli.md is out of date with the parsers; regenerate it: {REGENERATE}"
    )


@pytest.mark.parametrize(("prog", "option"), _options(), ids=lambda value: str(value))
def test_every_option_is_in_its_command_s_reference(prog: str, option: str) -> None:
    assert f"`{option}`" in _section(prog), f"{prog} {option} missing; regenerate: {REGENERATE}"


def test_the_readme_is_short_and_keeps_the_quick_start_commands() -> None:
    data = README.read_bytes()
    assert len(data) < README_LIMIT_BYTES, f"README.md is {len(data)} bytes; move detail to docs/"
    lines = data.decode("utf-8").splitlines()
    assert INSTALL_AND_GRADE in lines
    assert TEST_COMMAND in lines


def test_ci_runs_the_readme_s_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    commands = [line for line in ci if line.strip() and not line.startswith("#")]
    assert commands[-1] == TEST_COMMAND


MARKDOWN = [README, *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda path: path.relative_to(REPO).as_posix())
def test_relative_links_lead_to_existing_files_and_headings(page: Path) -> None:
    broken = []
    for target in LINK.findall(_prose(page)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path_part, _, fragment = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif fragment and linked.suffix == ".md" and fragment not in _anchors(linked):
            broken.append(f"{target}: no such heading")
    assert broken == []
