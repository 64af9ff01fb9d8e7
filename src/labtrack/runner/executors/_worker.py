"""Entry point of a subprocess worker: ``python -m labtrack.runner.executors._worker <payload>``.

The payload file holds two pickles: a plain header (the parent's ``sys.path``, the config's
name and result path), then the cloudpickled task and config. The header comes first because
unpickling the task may import modules that only the parent's ``sys.path`` finds.

Exit status 0 means a result record was written (success or error record); anything else
means the worker died, and the runner writes the error record for it.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    with open(argv[0], "rb") as f:
        header = pickle.load(f)
        sys.path[:] = header["sys_path"]
        try:
            fn, config = pickle.load(f)
        except Exception as exc:
            from labtrack.runner import cache
            from labtrack.runner.task import error_record

            stub = {"name": header["name"], "out": header["out"]}
            record = error_record(stub, exc)
            record["message"] = f"cannot load the experiment in the worker: {record['message']}"
            cache.write_result(Path(header["out"]) / cache.RESULT_FILE, record)
            return 0
    fn(config)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
