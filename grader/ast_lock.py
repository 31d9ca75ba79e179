"""One lock around every use of CPython's ast machinery in the grader's process.

CPython 3.11's ast module keeps its recursion counter per interpreter, not per thread, so two
threads converting ASTs at once fail with "SystemError: AST constructor recursion depth
mismatch" (cpython#106905). Batches grade in threads, and besides our own parsing of notebooks,
numpy parses every .npy header with ast.literal_eval.
"""

from __future__ import annotations

import threading

AST_LOCK = threading.Lock()
