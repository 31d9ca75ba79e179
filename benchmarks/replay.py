"""Replays recorded timing phases through the grader's own timing.measure_speed, to compare ways
of turning rounds into a ratio on the same measurements instead of on different hours' noise.

Record long phases first, e.g. with a rubric whose timing asks for 20 rounds (`min_repeats: 20`,
`budget_s: 0.4`): `python benchmarks/phases.py --pairs PAIRS FOLDER -j 2 --out OUT --quiet
--rubric LONG.yaml`. Each recorded phase is then replayed from every starting round that leaves
enough rounds for a default phase (min_repeats 5), as if measured from there.
Prints per problem the spread of the ratio across the replays, (p90 - p10) / median, for the
identical answer that spreads most (students numbered as `grade_class.py` names them, answer =
number % --variants), and the pairs a phase measured on average.

Usage: python benchmarks/replay.py PAIRS [--variants 1]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics

from grade_class import spread_of  # this folder, first on sys.path when run as a script

from grader.rubric import TimingSettings
from grader.speed import MAX_ROUNDS_FACTOR, BaselineTimes, StudentCalls, measure_speed

SPEC = TimingSettings(sizes={}, min_repeats=5)
NEEDED = SPEC.min_repeats * MAX_ROUNDS_FACTOR
SIZING_ROUNDS = 2  # measure_speed's rounds 1 and 2; pairs start at round 3


def replay(rounds: list[tuple[float, float]]) -> tuple[float, int]:
    """The ratio measure_speed gives for these recorded (student, baseline) fastest calls in us,
    round 0 also standing for the sizing rounds; and how many pairs it measured. Recorded
    student times include passing (phases.py records round trips), and the replayed echo costs
    nothing: the ratios compare ways of choosing rounds, not the grader's final figures."""
    measured: set[int] = set()

    def recorded(index: int) -> tuple[float, float]:
        index = max(index - SIZING_ROUNDS, 0)
        measured.add(index)
        student, baseline = rounds[index]
        return student * 1e-6, baseline * 1e-6

    def student(index: int, calls: int) -> StudentCalls:
        return StudentCalls([recorded(index)[0]] * calls, [0.0] * calls)

    def baseline(index: int, calls: int) -> BaselineTimes:
        return BaselineTimes([recorded(index)[1]] * calls)

    outcome = measure_speed(student, baseline, SPEC, 1, lambda: 0.0)
    return outcome.ratio, len(measured) - 1


def answer_of(student: str, variants: int) -> int:
    number = re.search(r"\d+", student.split("\x1f")[0])
    return int(number.group()) % variants if number else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("pairs")
    parser.add_argument("--variants", type=int, default=1)
    args = parser.parse_args()
    ratios: dict[tuple[str, int], list[float]] = {}
    measured: list[int] = []
    with open(args.pairs) as lines:
        for line in lines:
            phase = json.loads(line)
            rounds = [(student, baseline) for student, baseline in phase["pairs"]]
            key = (phase["problem"], answer_of(phase["student"], args.variants))
            for start in range(len(rounds) - NEEDED):
                try:
                    ratio, pairs = replay(rounds[start:])
                except IndexError:  # a phase that needed more rounds than are left
                    break
                ratios.setdefault(key, []).append(ratio)
                measured.append(pairs)
    worst: dict[str, tuple[float, float, int]] = {}
    for (problem, _), found in ratios.items():
        median, spread = spread_of(found)
        if spread >= worst.get(problem, (0.0, 0.0, 0))[0]:
            worst[problem] = (spread, median, len(found))
    for problem, (widest, median, count) in sorted(worst.items()):
        print(f"  {problem:22} ratio {median:8.3g}, spread {widest:5.1%} over {count} replays")
    print(f"  pairs measured per phase: {statistics.mean(measured):.1f}")


if __name__ == "__main__":
    main()
