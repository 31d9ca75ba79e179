"""`matgrade merge`: join the outputs of sharded runs (a CI matrix, a Slurm array) into one.

Refuses a student graded in two shards and results of different rubric or grader versions,
since a summary mixing them would compare grades that are not comparable.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from grader.errors import UsageError
from grader.models import GradeResult
from grader.report import write_atomic


def merge_folders(folders: list[Path], out: Path) -> list[GradeResult]:
    found: dict[str, Path] = {}
    versions: dict[tuple[str, str], Path] = {}
    results = []
    for folder in folders:
        if not folder.is_dir():
            raise UsageError(f"merge: no such folder: {folder}")
        for path in sorted(folder.glob("*.json")):
            result = _read(path)
            if result is None:
                continue
            if result.student in found:
                raise UsageError(
                    f"merge: {result.student} is in both {found[result.student]} and {path}"
                )
            found[result.student] = path
            versions.setdefault((result.rubric_sha256, result.grader_version), path)
            results.append(result)
    if len(versions) > 1:
        described = ", ".join(str(path) for path in versions.values())
        raise UsageError(f"merge: results of different rubric or grader versions: {described}")
    out.mkdir(parents=True, exist_ok=True)
    for path in found.values():
        _copy_student_files(path, out)
    return sorted(results, key=lambda result: result.student)


def _copy_student_files(result: Path, out: Path) -> None:
    """Every file a grading run writes per student: the result, the Markdown and HTML feedback,
    the feedback notebook, the Gradescope export."""
    siblings = [result, result.with_suffix(".md"), result.with_suffix(".html")]
    siblings += [result.with_suffix(".feedback.ipynb"), result.with_suffix(".feedback.html")]
    siblings.append(result.parent / "gradescope" / result.name)
    for sibling in siblings:
        target = out / sibling.relative_to(result.parent)
        if sibling.is_file() and sibling.resolve() != target.resolve():
            write_atomic(target, sibling.read_bytes())


def _read(path: Path) -> GradeResult | None:
    """A student's result, or None for other JSON files (a Gradescope export, say)."""
    try:
        return GradeResult.model_validate_json(path.read_text())
    except (ValidationError, ValueError, OSError):
        return None
