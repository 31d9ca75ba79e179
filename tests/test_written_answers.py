"""Written answers in notebooks: finding each problem's final formula, judging it on the hidden
cases (the seed and copies of it with a transposed symbol, a wrong factor, index notation), the
result block and feedback lines, and check-rubric's reference formulas."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from helpers import REPO, TEST_SECRET

from grader.assignment import load_assignment
from grader.derivations import Derivations, judge_derivations, read_derivations
from grader.errors import RubricError
from grader.jax_runtime import configure_jax
from grader.measurement import ProblemMeasurement
from grader.models import GradeResult
from grader.notebook import code_cells, extract
from grader.pipeline import Grader
from grader.reference_side import ReferenceSide
from grader.rubric import load_rubric, parse_rubric
from grader.written.find import locate, markdown_statements
from grader.written.target import Target

SEED = REPO / "submissions_example" / "seed_homework.ipynb"
HW2 = REPO / "rubrics" / "hw2.yaml"
# Where the seed defines its graded functions (indices among all cells).
SEED_CELLS: dict[str, int | None] = {
    "p1_grad_u": 6, "p1_grad_v": 6, "p1_logistic_grad": None, "p1_logistic_hessian": None,
    "p1_chain_grad": None, "p2_softmax_jacobian": 17, "p2_grad_eigsum": 26, "p2_grad_eigprod": 30,
}  # fmt: skip
TARGET_U = Target(frozenset({"J"}), "U", 1, frozenset(), frozenset({"U", "V", "Y", "\\lambda"}))


def statements(*cells: str) -> list:  # type: ignore[type-arg]
    return markdown_statements(list(enumerate(cells)))


@pytest.mark.parametrize(
    ("markdown", "sides"),
    [
        (r"Thus $\nabla_U J = 2U$.", [(r"\nabla_U J", "2U")]),
        (r"$$\nabla_U J = A = B$$", [(r"\nabla_U J", "A", "B")]),
        (r"\[ x = 1 \]", [("x", "1")]),
        (r"$\frac{d}{dX} tr(X) = I, so \nabla f(X) = I$", [(r"\frac{d}{dX} tr(X)", "I"), (r"so \nabla f(X)", "I")]),
        (r"$a = b \Rightarrow c = d$", [("a", "b"), ("c", "d")]),
        (r"$a = b \text{ where } c = d$", [("a", "b"), ("c", "d")]),
        (r"$\nabla f = \text{adj}(X)^T$", [(r"\nabla f", r"\text{adj}(X)^T")]),
        ("\\begin{align} g &= Ax \\\\ h &= b \\end{align}", [("g", "Ax"), ("h", "b")]),
        ("$$\\begin{aligned} g &= Ax \\\\ &= x^T A^T \\\\ &+ b \\end{aligned}$$", [("g", "Ax", "x^T A^T  + b")]),
        (r"costs \$5 and \$6", []),
    ],
    ids=["inline", "display chain", "bracket", "comma and words", "arrow", "text words",
         "operator text", "align", "aligned lines that go on", "escaped dollars"],
)  # fmt: skip
def test_markdown_math_is_split_into_statements(markdown: str, sides: list) -> None:  # type: ignore[type-arg]
    assert [s.sides for s in statements(markdown)] == sides


def test_a_boxed_formula_is_the_answer() -> None:
    found = statements(
        r"$\nabla_U J = 2(UV-Y)V^T + \lambda U$",
        r"$$\boxed{\nabla_U J(U, V) = 2 (UV - Y) V^T + \lambda U}$$ and $\nabla_U J = 0$",
    )
    located = locate(found, TARGET_U, anchor=5, others=[])
    assert [c.formula for c in located.candidates] == [r"2 (UV - Y) V^T + \lambda U"]


def test_the_last_claimed_formula_before_the_function_wins() -> None:
    found = statements(
        r"$\nabla_U J = U$",
        r"$\nabla_V J = V$",
        r"$\frac{\partial J}{\partial U} = 2U$",
        "",
        r"$\nabla_U J = 3U$",
    )
    located = locate(found, TARGET_U, anchor=3, others=[])
    assert [c.formula for c in located.candidates] == ["2U"]


def test_a_formula_on_its_own_counts_only_after_the_claim_and_not_in_a_shared_cell() -> None:
    found = statements(r"$\nabla_U J = \sum_{ij} M_{ij}$", r"so it is $(UV - Y)V^T$")
    alone = locate(found, TARGET_U, anchor=2, others=[])
    assert [c.formula for c in alone.candidates] == [r"\sum_{ij} M_{ij}", "(UV - Y)V^T"]
    shared = locate(found, TARGET_U, anchor=2, others=[2])
    assert [c.formula for c in shared.candidates] == [r"\sum_{ij} M_{ij}"]


def test_away_from_any_function_only_a_formula_naming_the_variable_counts() -> None:
    found = statements(r"$\nabla J = U$", r"$\nabla_U J = 2U$")
    located = locate(found, TARGET_U, anchor=None, others=[4])
    assert [c.formula for c in located.candidates] == ["2U"]


def test_the_region_ends_at_the_neighbouring_functions() -> None:
    found = statements(r"$\nabla_U J = U$", "", r"$\nabla_U J = 2U$", "", r"$\nabla_U J = 3U$")
    located = locate(found, TARGET_U, anchor=3, others=[1, 5])
    assert [c.formula for c in located.candidates] == ["2U"]


def test_a_rubric_formula_that_does_not_parse_is_refused_with_its_place() -> None:
    text = HW2.read_text().replace(r'reference: ["I"]', r'reference: ["I +"]')
    with pytest.raises(
        RubricError, match=r"p2_grad_eigsum\.written: reference: 'I \+' ends too early"
    ):
        parse_rubric(text, "hw2.yaml")


def test_written_points_count_in_the_maximum() -> None:
    text = HW2.read_text().replace(r'reference: ["I"]', r'points: 2, reference: ["I"]')
    rubric = parse_rubric(text, "hw2.yaml")
    assert rubric.max_total() == load_rubric(HW2).rubric.max_total() + 2


# --- judged on the hidden cases (JAX in this process; no workers) ---------------------------


def seed_with(*edits: tuple[int, str, str]) -> nbformat.NotebookNode:
    notebook = copy.deepcopy(nbformat.read(SEED, as_version=4))
    for cell, old, new in edits:
        assert old in notebook.cells[cell].source
        notebook.cells[cell].source = notebook.cells[cell].source.replace(old, new)
    return notebook


@pytest.fixture(scope="module")
def judged() -> Callable[[nbformat.NotebookNode], dict[str, object]]:
    configure_jax("cpu")
    rubric = load_rubric(HW2)
    assignment = load_assignment(rubric.reference_path())
    reference = ReferenceSide()

    def judge(notebook: nbformat.NotebookNode) -> dict[str, object]:
        markdown = [
            (i, c.source) for i, c in enumerate(notebook.cells) if c.cell_type == "markdown"
        ]
        derivations = Derivations(markdown_statements(markdown), SEED_CELLS)
        return judge_derivations(  # type: ignore[return-value]
            derivations, rubric.rubric.problems, assignment.problems, reference,
            TEST_SECRET.key, "student",
        )  # fmt: skip

    return judge


@pytest.mark.slow
def test_the_seed_formulas_are_found_and_judged_correct(judged) -> None:  # type: ignore[no-untyped-def]
    verdicts = judged(nbformat.read(SEED, as_version=4))
    found = {pid: (v.status, v.formula) for pid, v in verdicts.items()}
    assert found["p1_grad_u"] == ("agrees", r"2(UV-Y)V^T + \lambda U")
    assert found["p1_grad_v"] == ("agrees", r"2U^T(UV-Y) + \lambda V")
    assert found["p2_grad_eigsum"] == ("agrees", "I")
    assert found["p2_grad_eigprod"] == ("agrees", "(X^{-1})^T*det(X)")
    # The seed writes the softmax Jacobian entry by entry, with no final matrix formula.
    assert found["p2_softmax_jacobian"][0] == "not_found"
    assert {found[p][0] for p in ("p1_logistic_grad", "p1_chain_grad")} == {"not_found"}


TRANSPOSED = (4, r"\frac{J(U, V)}{dU} = 2(UV-Y)V^T", r"\frac{J(U, V)}{dU} = 2(UV-Y)V")
WRONG_FACTOR = (4, r"\frac{J(U, V)}{dV} = 2U^T(UV-Y)", r"\frac{J(U, V)}{dV} = U^T(UV-Y)")
INDEX_NOTATION = (22, r"so \nabla f(X) = I", r"so \nabla f(X) = \delta_{ij}")
SIGN = (
    4,
    r"\frac{J(U, V)}{dV} = 2U^T(UV-Y) + \lambda V",
    r"\frac{J(U, V)}{dV} = -2U^T(UV-Y) - \lambda V",
)
MISSING_TERM = (
    4,
    r"\frac{J(U, V)}{dU} = 2(UV-Y)V^T + \lambda U",
    r"\frac{J(U, V)}{dU} = 2(UV-Y)V^T",
)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("edit", "problem", "diagnosis", "detail"),
    [
        (TRANSPOSED, "p1_grad_u", "symbol_transposed:V", "it has V where the reference has Vᵀ"),
        (WRONG_FACTOR, "p1_grad_v", "term_factor:0.5", "its term U^T(UV-Y) is 1/2 times what it should be"),
        (SIGN, "p1_grad_v", "factor:-1", "its sign is flipped"),
        (MISSING_TERM, "p1_grad_u", "mistake:missing_regulariser", "The regulariser's gradient is missing"),
    ],
    ids=["transposed symbol", "wrong factor", "sign", "known mistake"],
)  # fmt: skip
def test_a_wrong_formula_is_judged_wrong_with_its_diagnosis(  # type: ignore[no-untyped-def]
    judged, edit: tuple[int, str, str], problem: str, diagnosis: str, detail: str
) -> None:
    verdict = judged(seed_with(edit))[problem]
    assert verdict.status == "disagrees"
    assert diagnosis in verdict.diagnosis
    assert verdict.detail.startswith(detail)


@pytest.mark.slow
def test_index_notation_is_not_checked_and_says_why(judged) -> None:  # type: ignore[no-untyped-def]
    verdict = judged(seed_with(INDEX_NOTATION))["p2_grad_eigsum"]
    assert verdict.status == "not_checked"
    assert verdict.formula == r"\delta_{ij}"
    assert verdict.detail.startswith(r"it is written entry by entry (\delta_ij)")


@pytest.mark.slow
def test_results_carry_the_written_block_and_feedback(grader: Grader, tmp_path: Path) -> None:
    notebook = tmp_path / "variant.ipynb"
    nbformat.write(seed_with(TRANSPOSED, INDEX_NOTATION), notebook)
    result: GradeResult = grader.grade(notebook)
    by_id = {p.id: p for p in result.problems}
    grad_u = by_id["p1_grad_u"]
    assert grad_u.status == "passed" and grad_u.cell == 6
    assert grad_u.written is not None and grad_u.written.status == "disagrees"
    assert grad_u.written.cell == 4 and grad_u.written.score == 0.0
    assert (
        r"Your code is right but your written formula (2(UV-Y)V + \lambda U, cell 5) is not: it "
        "has V where the reference has Vᵀ." in grad_u.feedback
    )
    assert by_id["p2_grad_eigsum"].written.status == "not_checked"  # type: ignore[union-attr]
    assert by_id["p2_grad_eigprod"].feedback[-1] == (
        "Your written formula ((X^{-1})^T*det(X), cell 30) agrees with the reference."
    )
    assert result.max_total == 12.0  # the default rubric reports written answers only


# Another student's notebook, written in other notations than the seed's: every final formula
# agrees. (function name, Markdown before it, code).
OTHER_NOTATIONS = [
    ("grad_u", r"""**1.1** $$\begin{aligned} \frac{\partial J}{\partial U} &= 2(UV - Y)V^\top \\
&+ \lambda U \end{aligned}$$ and $\frac{\partial J}{\partial V} = 2 U^\top (UV - Y) + \lambda V$.""",
     "def grad_u(U, V, Y, lambd):\n    return 2 * (U @ V - Y) @ V.T + lambd * U\n\n"
     "def grad_v(U, V, Y, lambd):\n    return 2 * U.T @ (U @ V - Y) + lambd * V"),
    ("logistic_grad", r"""Let $p_i = \sigma(-y^{(i)} \mathbf{w}^T \mathbf{x}^{(i)})$. Then
$$\nabla_{\mathbf{w}} f(\mathbf{w}) = -\sum_{i=1}^{N} p_i y^{(i)} \mathbf{x}^{(i)} + \mathbf{w}.$$""",
     "def logistic_grad(w, X, y):\n    return -X.T @ (y * jax.nn.sigmoid(-y * (X @ w))) + w"),
    ("logistic_hessian", r"""$\nabla^2 f(w) = X^\top S X + I_n$, where $S = \text{diag}(s \odot (1 - s))$
and $s = \sigma(Xw)$.""",
     "def logistic_hessian(w, X, y):\n    s = jax.nn.sigmoid(X @ w)\n"
     "    return X.T @ jnp.diag(s * (1 - s)) @ X + jnp.eye(w.shape[0])"),
    ("chain_grad", r"""Chain rule: $g'(x) = A^\top f'(Ax + b)$""",
     "def chain_grad(x, A, b, grad_f):\n    return A.T @ grad_f(A @ x + b)"),
    ("softmax_jacobian", r"""With $p = \frac{e^{w}}{\mathbf{1}^\top e^{w}}$:
$$\boxed{J_f(w) = \operatorname{diag}(p) - p p^\top}$$""",
     "def softmax_jacobian(w):\n    p = jax.nn.softmax(w)\n    return jnp.diag(p) - jnp.outer(p, p)"),
    ("grad_eigsum", r"""(a) $\sum_i \lambda_i(X) = \operatorname{Tr} X$, so $\nabla f(X) = \mathbf{I}$.""",
     "def grad_eigsum(X):\n    return jnp.eye(X.shape[0])"),
    ("grad_eigprod", r"""(b) $\prod_i \lambda_i = |X|$ and $\nabla f(X) = |X| \cdot (X^{-1})^\top$""",
     "def grad_eigprod(X):\n    return jnp.linalg.det(X) * jnp.linalg.inv(X).T"),
]  # fmt: skip
FUNCTIONS = {
    "p1_grad_u": "grad_u", "p1_grad_v": "grad_v", "p1_logistic_grad": "logistic_grad",
    "p1_logistic_hessian": "logistic_hessian", "p1_chain_grad": "chain_grad",
    "p2_softmax_jacobian": "softmax_jacobian", "p2_grad_eigsum": "grad_eigsum",
    "p2_grad_eigprod": "grad_eigprod",
}  # fmt: skip


@pytest.mark.slow
def test_a_notebook_in_other_notations_agrees_everywhere() -> None:
    cells = [nbformat.v4.new_code_cell("import jax\nimport jax.numpy as jnp")]
    for _name, markdown, code in OTHER_NOTATIONS:
        cells += [nbformat.v4.new_markdown_cell(markdown), nbformat.v4.new_code_cell(code)]
    notebook = nbformat.v4.new_notebook(cells=cells)
    configure_jax("cpu")
    rubric = load_rubric(HW2)
    assignment = load_assignment(rubric.reference_path())
    measurements = {pid: ProblemMeasurement(pid, function=f) for pid, f in FUNCTIONS.items()}
    derivations = read_derivations(notebook, extract(code_cells(notebook)), measurements)
    verdicts = judge_derivations(
        derivations, rubric.rubric.problems, assignment.problems, ReferenceSide(),
        TEST_SECRET.key, "student",
    )  # fmt: skip
    assert {pid: (v.status, v.detail) for pid, v in verdicts.items()} == {
        pid: ("agrees", "") for pid in FUNCTIONS
    }


@pytest.mark.parametrize(
    ("markdown", "sides"),
    [
        (r"$\nabla_U J = 2(UV-Y)V^\text{T} + \lambda U$", [(r"\nabla_U J", r"2(UV-Y)V^\text{T} + \lambda U")]),
        (r"$H = I + X^T\text{Diag}(p)X$", [("H", r"I + X^T\text{Diag}(p)X")]),
        ("$$\\begin{aligned} g &= A \\\\ &\\quad + b \\\\[2pt] &+ c \\\\ \\nonumber &- d \\end{aligned}$$",
         [("g", "A  + b  + c  - d")]),
    ],
    ids=["text T superscript", "text operator", "aligned lines with spacing"],
)  # fmt: skip
def test_formula_text_and_continued_lines_stay_in_one_statement(markdown: str, sides: list) -> None:  # type: ignore[type-arg]
    assert [s.sides for s in statements(markdown)] == sides


@pytest.mark.parametrize(
    "markdown",
    ["\\[" * 100_000, "$$ \\\\" + " " * 200_000 + "x$$", "$" + "a" * 200_000, "\\boxed{" * 50_000],
    ids=["unclosed brackets", "a long break", "unclosed dollar", "unclosed boxes"],
)
def test_pathological_markdown_is_read_in_one_pass(markdown: str) -> None:
    """Quadratic scanning would take minutes here; each finds nothing to check."""
    assert statements(markdown) == []
