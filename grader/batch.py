"""Grade a class: find the notebooks, pick this shard, skip what is done, grade in parallel.

Nothing is lost on a crash: each result file is written atomically as soon as its student is
graded, and a rerun of the same command regrades only students without an up-to-date result
(same notebook, rubric, reference and grader version). One student's failure, even a grader bug,
is that student's result and never stops the batch.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from grader import __version__
from grader.errors import GradingStopped, UsageError
from grader.models import GradeResult
from grader.notebook import submission_sha256
from grader.outputs import (
    OutputOptions,
    append_step_summary,
    load_results,
    write_missing_files,
    write_student_files,
    write_summaries,
)
from grader.pipeline import Graded, Grader

# Letters and digits of every script stay (str.isalnum's \w), as do `.` and `-` inside a name.
UNSAFE = re.compile(r"[^\w.-]+")
TEMP_SUFFIX = ".tmp"


@dataclass(frozen=True)
class Submission:
    path: Path
    student: str
    stem: str = ""  # the result files' name; discover() sets it when two ids would share one

    @property
    def file_stem(self) -> str:
        """The student id as a file name: `alice/hw2` -> `alice__hw2`, `José Núñez/hw 2` ->
        `José_Núñez__hw_2`; see `discover` for ids that would share one."""
        return self.stem or safe_stem(self.student)


def safe_stem(student: str) -> str:
    parts = (UNSAFE.sub("_", part).lstrip(".") or "_" for part in student.split("/"))
    return "__".join(parts)


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (1-based): students whose id hashes to it.

    The rule depends on the student id alone, so adding students never moves others.
    """

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
        if not match or not 1 <= int(match[1]) <= int(match[2]):
            raise UsageError(f"expected K/N with 1 <= K <= N, got {text!r}", option="shard")
        return cls(int(match[1]), int(match[2]))

    def contains(self, student: str) -> bool:
        digest = hashlib.sha256(student.encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1


def discover(paths: Iterable[Path]) -> list[Submission]:
    """Notebooks named directly keep their stem as id; those found in a folder, their path
    relative to it. Checkpoints and hidden folders are skipped. One id from two paths (the same
    notebook named twice, or `a/x.ipynb` given next to folder `a`'s `x`) is an error."""
    found: list[Submission] = []
    for path in paths:
        if path.is_dir():
            found += [Submission(nb, _relative_id(nb, path)) for nb in _notebooks_in(path)]
        elif path.exists():
            found.append(Submission(path, path.stem))
        else:
            raise UsageError(f"no such file or folder: {path}")
    students = [submission.student for submission in found]
    repeated = sorted({student for student in students if students.count(student) > 1})
    if repeated:
        raise UsageError(f"the same student id from two paths: {', '.join(repeated)}")
    return sorted(_unique_stems(found), key=lambda submission: submission.student)


def _notebooks_in(folder: Path) -> Iterator[Path]:
    for notebook in sorted(folder.rglob("*.ipynb")):
        relative = notebook.relative_to(folder).parts
        if not any(part.startswith(".") or part == ".ipynb_checkpoints" for part in relative):
            yield notebook


def _relative_id(notebook: Path, folder: Path) -> str:
    return notebook.relative_to(folder).with_suffix("").as_posix()


def _unique_stems(found: list[Submission]) -> list[Submission]:
    """Ids that would share a file name (`alice hw2` and `alice_hw2`) each get a suffix from a
    hash of the id: stable from run to run, and no submission is ever refused over its name."""
    by_stem: dict[str, list[Submission]] = {}
    for submission in found:
        by_stem.setdefault(submission.file_stem.casefold(), []).append(submission)
    return [
        replace(s, stem=f"{s.file_stem}-{_short_hash(s.student)}") if len(group) > 1 else s
        for group in by_stem.values()
        for s in group
    ]


def _short_hash(student: str) -> str:
    return hashlib.sha256(student.encode()).hexdigest()[:8]


def result_path(out: Path, submission: Submission) -> Path:
    return out / f"{submission.file_stem}.json"


def is_up_to_date(out: Path, submission: Submission, grader: Grader) -> bool:
    """Graded from this very notebook, with this rubric, reference, secret and grader version."""
    try:
        saved = json.loads(result_path(out, submission).read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(saved, dict)
        and saved.get("status") in ("graded", "invalid")
        and saved.get("notebook_sha256") == submission_sha256(submission.path)
        and saved.get("rubric_sha256") == grader.rubric_sha256
        and saved.get("secret_fingerprint") == grader.secret_fingerprint
        and saved.get("grader_version") == __version__
    )


def remove_stale_temporaries(out: Path) -> int:
    """Half-written files of a killed run (atomic writes leave nothing else behind)."""
    stale = list(out.glob(f".*{TEMP_SUFFIX}")) if out.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


Done = Callable[[Submission, GradeResult], None]


@dataclass(frozen=True)
class BatchEvents:
    """What a caller hears about a batch: how much is to do, each result as it is final, and
    the results whose answers are timed once more at the end of the batch: first a result to
    keep meanwhile (`provisional`), then how many are retimed, then their final result."""

    started: Callable[[int, int], None] = lambda todo, up_to_date: None
    graded: Done = lambda submission, result: None
    provisional: Done = lambda submission, result: None
    retiming: Callable[[int], None] = lambda count: None


def grade_submissions(
    grader: Grader,
    submissions: list[Submission],
    jobs: int,
    outputs: OutputOptions,
    force: bool = False,
    events: BatchEvents = BatchEvents(),
) -> list[GradeResult]:
    """Grade the submissions whose results are not up to date (all with `force`), writing each
    student's files as soon as the result arrives, then the summaries. Returns the results of
    every submission, those of earlier runs included."""
    out = outputs.out
    remove_stale_temporaries(out)
    todo = [s for s in submissions if force or not is_up_to_date(out, s, grader)]
    events.started(len(todo), len(submissions) - len(todo))
    for done_before in set(submissions) - set(todo):
        write_missing_files(outputs, done_before.file_stem)

    def write(submission: Submission, result: GradeResult) -> None:
        write_student_files(outputs, submission.file_stem, result)

    def done(submission: Submission, result: GradeResult) -> None:
        write(submission, result)
        events.graded(submission, result)

    grade_all(grader, todo, jobs, replace(events, graded=done, provisional=write))
    results = load_results(result_path(out, submission) for submission in submissions)
    if not outputs.single:
        write_summaries(out, results)
    append_step_summary(results, outputs.single)
    return results


def grade_all(
    grader: Grader, submissions: list[Submission], jobs: int, events: BatchEvents
) -> None:
    """Grade with `jobs` gradings at a time; events are called in this thread. Answers whose
    speed points are at stake are timed once more after every notebook was graded, when a busy
    spell of the machine during their first attempts has most likely passed.

    On KeyboardInterrupt every worker is killed, unfinished students are dropped (they will be
    graded on the next run) and the interrupt is re-raised.
    """
    measured: dict[Submission, Graded] = {}

    def first(submission: Submission, graded: Graded) -> None:
        if grader.late_retimes(graded):
            measured[submission] = graded
            events.provisional(submission, graded.result)
        else:
            events.graded(submission, graded.result)

    def late(submission: Submission) -> Graded:
        try:
            return grader.retime_late(submission.path, measured[submission])
        except Exception:  # the result graded earlier stands
            if grader.control.stopping.is_set():
                raise GradingStopped() from None
            return measured[submission]

    _in_parallel(grader, submissions, jobs, partial(_grade_one, grader), first)
    if measured:
        events.retiming(len(measured))
    _in_parallel(grader, list(measured), jobs, late, lambda s, g: events.graded(s, g.result))


def _in_parallel(
    grader: Grader,
    submissions: list[Submission],
    jobs: int,
    work: Callable[[Submission], Graded],
    done: Callable[[Submission, Graded], None],
) -> None:
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="grading")
    pending: dict[Future[Graded | None], Submission] = {}
    queue = iter(submissions)
    try:
        _fill(pool, pending, queue, work, jobs)
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                submission = pending.pop(future)
                graded = future.result()
                if graded is not None:
                    done(submission, graded)
            _fill(pool, pending, queue, work, jobs)
    except BaseException:
        grader.control.stop()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _fill(
    pool: ThreadPoolExecutor,
    pending: dict[Future[Graded | None], Submission],
    queue: Iterator[Submission],
    work: Callable[[Submission], Graded],
    jobs: int,
) -> None:
    while len(pending) < jobs:
        submission = next(queue, None)
        if submission is None:
            return
        pending[pool.submit(_stoppable, work, submission)] = submission


def _stoppable(work: Callable[[Submission], Graded], submission: Submission) -> Graded | None:
    try:
        return work(submission)
    except GradingStopped:
        return None


def _grade_one(grader: Grader, submission: Submission) -> Graded:
    try:
        return grader.measure(submission.path, submission.student)
    except GradingStopped:
        raise
    except Exception as error:  # a grader bug on one notebook must not stop the class
        if grader.control.stopping.is_set():
            raise GradingStopped() from None
        return Graded(grader.error_result(submission.path, submission.student, error), {})
