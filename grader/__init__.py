"""matgrade: grade matrix-calculus notebooks on hidden inputs, safely and fast.

The package root stays import-light because the worker process imports it too: the public API
below is loaded on first use at run time, and seen with its types by type checkers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.assignment import (
        Arg as Arg,
    )
    from grader.assignment import (
        Mistake as Mistake,
    )
    from grader.assignment import (
        Problem as Problem,
    )
    from grader.batch import (
        BatchEvents as BatchEvents,
    )
    from grader.batch import (
        Submission as Submission,
    )
    from grader.batch import (
        discover as discover,
    )
    from grader.batch import (
        grade_submissions as grade_submissions,
    )
    from grader.check_rubric import (
        check_rubric as check_rubric,
    )
    from grader.errors import (
        MatgradeError as MatgradeError,
    )
    from grader.events import (
        Event as Event,
    )
    from grader.events import (
        PhaseEvent as PhaseEvent,
    )
    from grader.events import (
        TimingEvent as TimingEvent,
    )
    from grader.inputs import (
        Secret as Secret,
    )
    from grader.inputs import (
        load_secret as load_secret,
    )
    from grader.models import (
        GradeResult as GradeResult,
    )
    from grader.models import (
        ProblemResult as ProblemResult,
    )
    from grader.outputs import (
        OutputOptions as OutputOptions,
    )
    from grader.pipeline import (
        GradeOptions as GradeOptions,
    )
    from grader.pipeline import (
        Grader as Grader,
    )
    from grader.rubric import (
        Rubric as Rubric,
    )
    from grader.rubric import (
        load_rubric as load_rubric,
    )

__version__ = "0.1.0"

_PUBLIC = {
    "Grader": "grader.pipeline",
    "GradeOptions": "grader.pipeline",
    "GradeResult": "grader.models",
    "ProblemResult": "grader.models",
    "Rubric": "grader.rubric",
    "load_rubric": "grader.rubric",
    "Secret": "grader.inputs",
    "load_secret": "grader.inputs",
    "Problem": "grader.assignment",
    "Arg": "grader.assignment",
    "Mistake": "grader.assignment",
    "check_rubric": "grader.check_rubric",
    "MatgradeError": "grader.errors",
    "Submission": "grader.batch",
    "BatchEvents": "grader.batch",
    "discover": "grader.batch",
    "grade_submissions": "grader.batch",
    "OutputOptions": "grader.outputs",
    "Event": "grader.events",
    "PhaseEvent": "grader.events",
    "TimingEvent": "grader.events",
}

__all__ = ["__version__", *sorted(_PUBLIC)]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'grader' has no attribute {name!r}")
