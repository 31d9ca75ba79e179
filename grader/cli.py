"""Command line: arguments -> pipeline -> files. The only place that picks exit codes.

Exit codes: 0 grading finished (whatever the scores), 1 a grader failure, 2 a usage or rubric
error, 3 a protection named by --require is missing, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from grader import __version__
from grader.errors import MatgradeError, UsageError
from grader.models import SandboxReport
from grader.sandbox.layers import LAYERS

DEFAULT_OUT = Path("matgrade-results")
EXIT_OK, EXIT_GRADER_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="matgrade",
        description="Grade Jupyter notebooks of JAX matrix-calculus homework on hidden inputs.",
    )
    parser.add_argument(
        "submissions", nargs="*", type=Path, metavar="SUBMISSION.ipynb", help="notebooks to grade"
    )
    parser.add_argument(
        "--rubric",
        type=Path,
        default=None,
        metavar="FILE",
        help="rubric YAML (default: the bundled hw2 rubric)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"folder for STUDENT.json and STUDENT.md (default: {DEFAULT_OUT}/)",
    )
    parser.add_argument(
        "--secret-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="file holding the secret that hides the inputs "
        "(default: $MATGRADE_SECRET, else a public default)",
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "gpu"),
        default="cpu",
        help="JAX device for the student's code and the baseline (default: cpu)",
    )
    parser.add_argument(
        "--require",
        type=_names,
        default=frozenset(),
        metavar="LIST",
        help="refuse to grade unless these protections or layers hold, comma-separated "
        "(e.g. read_secret,tcp,udp or landlock,namespaces)",
    )
    parser.add_argument(
        "--disable-layers",
        type=_names,
        default=frozenset(),
        metavar="LIST",
        help="confinement layers not to use: landlock, seccomp, namespaces, uid, cgroup "
        "(for debugging and benchmarks)",
    )
    parser.add_argument(
        "--schema", action="store_true", help="print the JSON Schema of the result files and exit"
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    parser.add_argument("--version", action="version", version=f"matgrade {__version__}")
    return parser  # fmt: skip


def _names(text: str) -> frozenset[str]:
    return frozenset(name.strip() for name in text.split(",") if name.strip())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except MatgradeError as error:
        print(f"matgrade: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("matgrade: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def run(args: argparse.Namespace) -> int:
    from grader.report import schema_json

    if args.schema:
        sys.stdout.write(schema_json())
        return EXIT_OK
    if not args.submissions:
        raise UsageError("no submission given (try: matgrade SUBMISSION.ipynb)")
    missing = [str(path) for path in args.submissions if not path.exists()]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    return grade_files(args)


def grade_files(args: argparse.Namespace) -> int:
    from grader.inputs import load_secret
    from grader.pipeline import GradeOptions, Grader
    from grader.report import feedback_markdown, result_json, summary_table, write_atomic
    from grader.rubric import default_rubric_path

    secret = load_secret(args.secret_file)
    unknown = args.disable_layers - set(LAYERS)
    if unknown:
        raise UsageError(f"--disable-layers: unknown {', '.join(sorted(unknown))}")
    protected = tuple(path for path in (args.out, args.secret_file) if path is not None)
    options = GradeOptions(
        rubric_path=args.rubric or default_rubric_path(),
        secret=secret,
        device=args.device,
        disabled_layers=args.disable_layers,
        required=args.require,
        protected_paths=protected,
    )
    grader = Grader(options)
    if grader.sandbox.level != "full" and not args.quiet:
        print(f"matgrade: warning: {sandbox_warning(grader.sandbox)}", file=sys.stderr)
    if not secret.hidden and not args.quiet:
        print(
            "matgrade: warning: no secret given (--secret-file or $MATGRADE_SECRET): "
            "inputs come from a public default and are not hidden",
            file=sys.stderr,
        )
    for notebook in args.submissions:
        result = grader.grade(notebook)
        write_atomic(args.out / f"{result.student}.json", result_json(result))
        write_atomic(args.out / f"{result.student}.md", feedback_markdown(result))
        if not args.quiet:
            print(summary_table(result))
            print(f"  -> {args.out / result.student}.json, .md ({result.elapsed_s:.1f} s)")
    return EXIT_OK


def sandbox_warning(report: SandboxReport) -> str:
    missing = [name for name, held in report.protections.items() if not held]
    unavailable = [name for name, state in report.layers.items() if not state.startswith("active")]
    return (
        f"sandbox level {report.level}: not blocked: {', '.join(missing)}; "
        f"layers unavailable: {', '.join(unavailable)} (see README, Security)"
    )


if __name__ == "__main__":
    sys.exit(main())
