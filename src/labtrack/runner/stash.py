"""``stash()``: the exact state of the git checkout, as a commit that changes nothing.

As pyexp's ``stash``: every tracked and untracked (not ignored) file is written into a
temporary index, and a parentless commit is made of that tree. The working tree, the real
index, ``HEAD`` and every ref stay untouched; the commit is dangling (``git gc`` may prune it
after the reflog expiry), and ``git archive <hash>`` or ``git checkout <hash> -- .`` gets the
files back.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path


def stash(cwd: str | os.PathLike[str] | None = None) -> str:
    """Snapshot the git checkout around ``cwd`` (default: the working directory).

    >>> commit = stash()  # doctest: +SKIP
    >>> len(commit)  # doctest: +SKIP
    40

    Returns:
        The snapshot commit's hash.

    Raises:
        subprocess.CalledProcessError: ``cwd`` is not inside a git checkout, or git failed.
        FileNotFoundError: git is not installed.
    """
    where = Path(cwd) if cwd is not None else Path.cwd()
    root = _git(["rev-parse", "--show-toplevel"], where, os.environ.copy()).strip()
    with tempfile.TemporaryDirectory() as tmp:
        env = os.environ.copy()
        env["GIT_INDEX_FILE"] = str(Path(tmp) / "index")
        for key, value in (
            ("GIT_AUTHOR_NAME", "labtrack"),
            ("GIT_AUTHOR_EMAIL", "labtrack@snapshot"),
            ("GIT_COMMITTER_NAME", "labtrack"),
            ("GIT_COMMITTER_EMAIL", "labtrack@snapshot"),
        ):
            env.setdefault(key, value)
        _git(["add", "-A"], Path(root), env)
        tree = _git(["write-tree"], Path(root), env).strip()
        return _git(["commit-tree", tree, "-m", "labtrack snapshot"], Path(root), env).strip()


def in_git_checkout(cwd: str | os.PathLike[str] | None = None) -> bool:
    """True when ``cwd`` is inside a git work tree (and git is installed)."""
    try:
        out = _git(["rev-parse", "--is-inside-work-tree"], Path(cwd or Path.cwd()), None)
    except (OSError, subprocess.CalledProcessError):
        return False
    return out.strip() == "true"


def _git(args: list[str], cwd: Path, env: dict[str, str] | None) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout
