"""``labtrack demo rl``: the flagship distributed RL example (``examples/distributed_rl``).

The example is a package of the repository, not of the wheel: this command finds it in a
checkout (the current directory or one of its parents, or the checkout an editable install of
labtrack points into), then runs its command line (``labtrack demo rl --help`` shows it). Outside
a checkout it says how to get one. Ray, torch and gymnasium are checked first, so a missing one
is reported with its install command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError, LabtrackError, require

PACKAGE = Path("examples") / "distributed_rl"
HOW_TO = (
    "labtrack demo rl runs the example package examples/distributed_rl, which is part of the "
    "labtrack repository, not of the installed package. Run it from a checkout:\n"
    "  git clone https://github.com/labtrack/labtrack && cd labtrack\n"
    '  pip install -e ".[rl]"\n'
    "  labtrack demo rl        # or: python -m examples.distributed_rl"
)


def find_checkout(start: Path | None = None) -> Path | None:
    """The repository root holding ``examples/distributed_rl``, or None."""
    here = (start or Path.cwd()).resolve()
    source = Path(__file__).resolve().parents[3]  # <checkout>/src/labtrack/cli/_demo_rl.py
    for root in (here, *here.parents, source):
        if (root / PACKAGE / "__init__.py").is_file():
            return root
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the example with ``argv`` (the arguments after ``labtrack demo rl``); returns the
    exit code (2, with the fix on stderr, when the example or a dependency is missing)."""
    try:
        return _run(argv)
    except LabtrackError as exc:
        print(f"labtrack demo rl: error: {exc}", file=sys.stderr)
        return 2


def _run(argv: Sequence[str] | None) -> int:
    root = find_checkout()
    if root is None:
        raise ConfigError(HOW_TO)
    for module, extra in (("ray", "ray"), ("torch", "torch"), ("gymnasium", "media")):
        require(module, extra, "labtrack demo rl")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    # Ray's worker processes import the example by name too; they inherit this environment.
    paths = [str(root), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    from examples.distributed_rl.cli import main as example_main

    result: int = example_main(list(argv or []), prog="labtrack demo rl")
    return result
