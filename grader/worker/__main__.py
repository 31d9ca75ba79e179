"""Worker process: the only place student code runs.

Started by grader.sandbox with an empty environment, in its own session, with two pipe file
descriptors for the protocol. It limits itself before importing JAX (limits cannot be set from a
threaded parent safely), then serves `load`, `call`, `timed_calls` and `exit` requests.
Everything it sends back is JSON, .npy or raw float64 bytes; the parent trusts none of it beyond
its format.
"""

from __future__ import annotations

import json
import sys

from grader.worker.limits import apply_limits


def main() -> None:
    config = json.loads(sys.argv[1])
    apply_limits(config)
    from grader.worker.server import serve

    serve(config)


if __name__ == "__main__":
    main()
