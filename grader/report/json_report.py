"""The per-student JSON file and the JSON Schema of its model."""

from __future__ import annotations

import json

from grader.models import GradeResult


def result_json(result: GradeResult) -> str:
    return result.model_dump_json(indent=2) + "\n"


def schema_json() -> str:
    return json.dumps(GradeResult.model_json_schema(), indent=2) + "\n"
