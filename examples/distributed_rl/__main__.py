"""``python -m examples.distributed_rl``: see ``--help``."""

import sys

from .cli import main

sys.exit(main(prog="python -m examples.distributed_rl"))
