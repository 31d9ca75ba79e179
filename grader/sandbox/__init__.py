"""Starting, confining and killing worker processes.

process.py launches a worker and enforces deadlines; layers.py decides which confinement layers
this machine offers and prepares them; canary.py verifies, under the very configuration used for
students, what those layers actually stop.
"""

from grader.sandbox.process import (
    Worker,
    WorkerConfig,
    descendants,
    describe_exit,
    kill_tree,
    launch_worker,
    processes_with,
    remove_stale_scratch,
    start_worker,
    tree_cpu_seconds,
)

__all__ = [
    "Worker",
    "WorkerConfig",
    "descendants",
    "describe_exit",
    "kill_tree",
    "launch_worker",
    "processes_with",
    "remove_stale_scratch",
    "start_worker",
    "tree_cpu_seconds",
]
