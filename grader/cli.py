"""Command line: arguments -> one library call per command. The only place that turns errors
into messages and picks exit codes.

Exit codes: 0 grading finished (whatever the scores), 1 the grader failed (for a batch: on at
least one submission), 2 a usage or rubric error (nothing to grade or merge included), 3 a
protection named by --require is missing, 4 a score below --fail-under (who is named), 130
interrupted (rerun the same command to resume).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from grader import __version__
from grader.errors import MatgradeError, UsageError
from grader.models import GradeResult, SandboxReport
from grader.report.text import one_line, terminal_text
from grader.sandbox.layers import LAYERS

if TYPE_CHECKING:
    from grader.batch import BatchEvents, Submission
    from grader.pipeline import Grader

DEFAULT_OUT = Path("matgrade-results")
EXIT_OK, EXIT_GRADER_ERROR, EXIT_USAGE, EXIT_FAIL_UNDER, EXIT_INTERRUPTED = 0, 1, 2, 4, 130
SUMMARY_FILES = ("summary.csv", "summary.md", "summary.png")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="matgrade",
        description="Grade Jupyter notebooks of JAX matrix-calculus homework on hidden inputs. "
        "Other commands: merge, check-rubric, schema, explain (matgrade COMMAND --help).",
    )
    parser.add_argument(
        "submissions", nargs="*", type=Path, metavar="PATH",
        help="notebooks, or folders searched recursively for *.ipynb",
    )  # fmt: skip
    add = parser.add_argument
    add("--rubric", type=Path, metavar="FILE", help="rubric YAML (default: the bundled hw2 rubric)")
    add("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
        help=f"folder for the result files (default: {DEFAULT_OUT}/)")  # fmt: skip
    add("--secret-file", type=Path, metavar="FILE",
        help="file holding the secret that hides the inputs "
        "(default: $MATGRADE_SECRET, else a public default)")  # fmt: skip
    add("--device", choices=("cpu", "gpu"), default="cpu",
        help="JAX device for the student's code and the baseline (default: cpu)")  # fmt: skip
    add("-j", "--jobs", type=_positive, default=os.cpu_count() or 1, metavar="N",
        help="notebooks graded at once (default: the machine's cores)")  # fmt: skip
    add("--force", action="store_true", help="regrade students whose results are up to date")
    add("--shard", metavar="K/N", help="grade only shard K of N (by a hash of the student id)")
    add("--html", action="store_true", help="also write the feedback as STUDENT.html")
    add("--feedback-notebook", action="store_true",
        help="also write the student's notebook with the feedback in it, as "
        "STUDENT.feedback.ipynb and STUDENT.feedback.html (never executed)")  # fmt: skip
    add("--format", choices=("json", "gradescope"), default="json",
        help="also write Gradescope's results.json (default: JSON and Markdown only)")  # fmt: skip
    add("--fail-under", type=float, metavar="SCORE",
        help="exit with code 4 if any graded total is below SCORE")  # fmt: skip
    add("--require", type=_names, default=frozenset(), metavar="LIST",
        help="refuse to grade unless these protections or layers hold, comma-separated "
        "(e.g. read_secret,tcp,udp or landlock,namespaces)")  # fmt: skip
    add("--disable-layers", type=_names, default=frozenset(), metavar="LIST",
        help="confinement layers not to use: landlock, seccomp, namespaces, uid, cgroup "
        "(for debugging and benchmarks)")  # fmt: skip
    add("--schema", action="store_true", help="print the JSON Schema of the result files and exit")
    add("--quiet", action="store_true", help="print nothing but errors")
    add("--version", action="version", version=f"matgrade {__version__}")
    return parser


def build_merge_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="matgrade merge", description="Join the outputs of sharded runs into one summary."
    )
    parser.add_argument("folders", nargs="+", type=Path, metavar="DIR", help="shard outputs")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="merged output")
    return parser


def build_check_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="matgrade check-rubric",
        description="Validate a rubric and grade its reference against itself: closed forms "
        "must match autodiff within tolerance, wrong variants must fail, the reference must earn "
        "full speed points.",
    )
    parser.add_argument("rubric", type=Path, metavar="RUBRIC.yaml")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    return parser


def build_schema_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="matgrade schema", description="Print the JSON Schema of result files or rubrics."
    )
    parser.add_argument("kind", choices=("result", "rubric"))
    return parser


def build_explain_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="matgrade explain",
        description="For instructors: the failing cases of a result; with --reveal also their "
        "hidden inputs, the student's output and the reference, side by side.",
    )
    parser.add_argument("result", type=Path, metavar="STUDENT.json")
    parser.add_argument(
        "--reveal",
        action="store_true",
        help="regenerate the inputs from the secret and rerun the function",
    )
    parser.add_argument("--rubric", type=Path, metavar="FILE", help="the rubric it was graded with")
    parser.add_argument("--secret-file", type=Path, metavar="FILE", help="the secret it used")
    return parser


def _names(text: str) -> frozenset[str]:
    return frozenset(name.strip() for name in text.split(",") if name.strip())


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _interrupt)
    # A grader started in the background inherits SIGINT ignored; Ctrl-C and `kill -INT` must
    # still stop it cleanly (results so far kept).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    commands: dict[str, tuple[Callable[[], argparse.ArgumentParser], Command]] = {
        "merge": (build_merge_parser, merge_command),
        "check-rubric": (build_check_parser, check_rubric_command),
        "schema": (build_schema_parser, schema_command),
        "explain": (build_explain_parser, explain_command),
    }
    try:
        if arguments and arguments[0] in commands:
            parser, command = commands[arguments[0]]
            return command(parser().parse_args(arguments[1:]))
        return run(build_parser().parse_args(arguments))
    except MatgradeError as error:
        print(f"matgrade: error: {one_line(_message(error))}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(
            "matgrade: interrupted; results written so far are kept: "
            "run the same command again to grade the rest",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


Command = Callable[[argparse.Namespace], int]


def _message(error: MatgradeError) -> str:
    """The error in the user's terms: the option it concerns, when it concerns one."""
    option = getattr(error, "option", None)
    return f"--{option}: {error}" if option else str(error)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from grader.report import schema_json

    if args.schema:
        sys.stdout.write(schema_json())
        return EXIT_OK
    if not args.submissions:
        raise UsageError("no submission given (try: matgrade SUBMISSION.ipynb)")
    return grade_command(args)


def grade_command(args: argparse.Namespace) -> int:
    from grader.batch import Shard, discover, grade_submissions
    from grader.outputs import OutputOptions

    submissions = discover(args.submissions)
    if not submissions:
        where = ", ".join(str(path) for path in args.submissions)
        raise UsageError(f"no notebooks (*.ipynb) found under {where}")
    if args.shard:
        shard = Shard.parse(args.shard)
        submissions = [s for s in submissions if shard.contains(s.student)]
    _prepare_output_folder(args.out)
    grader = _make_grader(args)
    # Resuming is for batches; one notebook named on its own is always graded.
    single = len(args.submissions) == 1 and args.submissions[0].is_file()
    outputs = OutputOptions(
        args.out, args.html, args.format == "gradescope", single, args.feedback_notebook
    )
    try:
        results = grade_submissions(
            grader, submissions, args.jobs, outputs, args.force or single, _events(args, single)
        )
    finally:
        grader.close()
    if not single and not args.quiet and results:
        _say_summaries_written(args.out, results)
    return _exit_code(results, args.fail_under)


def _prepare_output_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out {out}: cannot create the folder: {error.strerror}") from error


def _make_grader(args: argparse.Namespace) -> Grader:
    from grader.inputs import load_secret
    from grader.jax_runtime import cache_warning
    from grader.pipeline import GradeOptions, Grader
    from grader.rubric import default_rubric_path

    secret = load_secret(args.secret_file)
    unknown = args.disable_layers - set(LAYERS)
    if unknown:
        raise UsageError(f"unknown {', '.join(sorted(unknown))}", option="disable-layers")
    protected = tuple(path for path in (args.out, args.secret_file) if path is not None)
    grader = Grader(
        GradeOptions(
            rubric_path=args.rubric or default_rubric_path(),
            secret=secret,
            device=args.device,
            disabled_layers=args.disable_layers,
            required=args.require,
            protected_paths=protected,
        )
    )
    if not args.quiet:
        for warning in (sandbox_warning(grader.sandbox), cache_warning()):
            if warning:
                print(f"matgrade: warning: {warning}", file=sys.stderr)
        if not secret.hidden:
            print(
                "matgrade: warning: no secret given (--secret-file or $MATGRADE_SECRET): "
                "inputs come from a public default and are not hidden",
                file=sys.stderr,
            )
    return grader


def _events(args: argparse.Namespace, single: bool) -> BatchEvents:
    """Progress on the terminal (a bar where it is one) and, for one notebook, its table."""
    from grader.batch import BatchEvents
    from grader.report import summary_table

    if args.quiet:
        return BatchEvents()
    progress: list[Callable[[str], None]] = []

    def started(todo: int, up_to_date: int) -> None:
        if not single:
            progress.append(_progress(todo, up_to_date))

    def graded(submission: Submission, result: GradeResult) -> None:
        if single:
            print(summary_table(result))
            files = ", ".join(_suffixes(args))
            print(f"  -> {args.out / submission.file_stem}{files} ({result.elapsed_s:.1f} s)")
        elif submission not in provisional:
            progress[0](f"{_score_line(result)} {result.status}")

    provisional: set[Submission] = set()

    def kept_meanwhile(submission: Submission, result: GradeResult) -> None:
        provisional.add(submission)
        if not single:
            progress[0](f"{_score_line(result)} so far")

    def retiming(count: int) -> None:
        if not single:
            print(
                f"matgrade: timing {count} notebooks' answers once more, in case the machine "
                "was busy during their first attempts",
                file=sys.stderr,
            )

    return BatchEvents(started, graded, kept_meanwhile, retiming)


def _suffixes(args: argparse.Namespace) -> list[str]:
    """The files written for one notebook, by what follows its file stem."""
    suffixes = [".json", ".md"] + [".html"] * args.html
    return suffixes + [".feedback.ipynb", ".feedback.html"] * args.feedback_notebook


def _score_line(result: GradeResult) -> str:
    return f"{one_line(result.student)}: {result.total:g}/{result.max_total:g}"


def _progress(count: int, skipped: int) -> Callable[[str], None]:
    if skipped:
        print(f"matgrade: {skipped} results are up to date (use --force to regrade)")
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=count, unit="notebook", file=sys.stderr)

        def advance(line: str) -> None:
            bar.set_postfix_str(line[:40])
            bar.update(1)
            if bar.n == bar.total:
                bar.close()

        return advance
    position = iter(range(1, count + 1))

    def log(line: str) -> None:
        print(f"[{next(position)}/{count}] {line}", flush=True)

    return log


def _say_summaries_written(out: Path, results: list[GradeResult]) -> None:
    graded = sum(r.status == "graded" for r in results)
    print(f"matgrade: {len(results)} results ({graded} graded) -> {out}/summary.csv, .md, .png")


def _exit_code(results: list[GradeResult], fail_under: float | None) -> int:
    if any(result.status == "error" for result in results):
        return EXIT_GRADER_ERROR
    below = [r for r in results if fail_under is not None and r.total < fail_under]
    if below:
        names = ", ".join(f"{one_line(r.student)} ({r.total:g})" for r in below)
        print(f"matgrade: below --fail-under {fail_under:g}: {names}", file=sys.stderr)
        return EXIT_FAIL_UNDER
    return EXIT_OK


def merge_command(args: argparse.Namespace) -> int:
    from grader.merge import merge_folders
    from grader.outputs import append_step_summary, write_summaries

    results = merge_folders(args.folders, args.out)
    if not results:
        where = ", ".join(str(folder) for folder in args.folders)
        raise UsageError(f"merge: no matgrade results (*.json) found in {where}")
    write_summaries(args.out, results)
    append_step_summary(results, single=False)
    _say_summaries_written(args.out, results)
    return _exit_code(results, None)


def check_rubric_command(args: argparse.Namespace) -> int:
    from grader.check_rubric import check_rubric

    findings = check_rubric(args.rubric, args.device)
    for finding in findings:
        print(finding.line())
    failed = sorted({f.problem for f in findings if not f.ok})
    if failed:
        print(f"matgrade: {args.rubric}: problems to fix: {', '.join(failed)}", file=sys.stderr)
        return EXIT_GRADER_ERROR
    print(f"matgrade: {args.rubric}: every problem passed its checks")
    return EXIT_OK


def schema_command(args: argparse.Namespace) -> int:
    from grader.report import schema_json
    from grader.rubric import rubric_schema_json

    sys.stdout.write(schema_json() if args.kind == "result" else rubric_schema_json())
    return EXIT_OK


def explain_command(args: argparse.Namespace) -> int:
    from grader.explain import explain
    from grader.inputs import load_secret
    from grader.pipeline import GradeOptions
    from grader.rubric import default_rubric_path

    options = None
    if args.reveal:
        rubric = args.rubric or default_rubric_path()
        options = GradeOptions(rubric_path=rubric, secret=load_secret(args.secret_file))
    print(terminal_text(explain(args.result, options)))
    return EXIT_OK


def sandbox_warning(report: SandboxReport) -> str:
    """One line naming what the sandbox lacks on this machine; empty when nothing is missing."""
    missing = [name for name, held in report.protections.items() if not held]
    unavailable = [
        f"{name} ({state.removeprefix('unavailable: ')})"
        for name, state in report.layers.items()
        if not state.startswith("active")
    ]
    if not missing and (not unavailable or report.level == "full"):
        return ""  # every probed attack was blocked: the layers are in the result for the record
    blocked = f"not blocked: {', '.join(missing)}; " if missing else ""
    return (
        f"sandbox level {report.level}: {blocked}"
        f"layers unavailable: {', '.join(unavailable)} (see docs/security.md)"
    )


if __name__ == "__main__":
    sys.exit(main())
