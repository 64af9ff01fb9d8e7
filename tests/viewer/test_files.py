"""Only regular files inside the viewed directory are served."""

from __future__ import annotations

import os

import pytest

from labtrack.viewer.files import PathRefused, inside_run, resolve_inside


@pytest.fixture
def root(tmp_path):
    (tmp_path / "root" / "run" / "artifacts").mkdir(parents=True)
    (tmp_path / "root" / "run" / "artifacts" / "model.bin").write_bytes(b"ok")
    (tmp_path / "outside.txt").write_text("secret")
    return tmp_path / "root"


def test_a_file_inside_resolves(root):
    assert resolve_inside(root, "run/artifacts/model.bin").read_bytes() == b"ok"


@pytest.mark.parametrize(
    "rel",
    [
        "../outside.txt",
        "run/../../outside.txt",
        "/etc/passwd",
        "C:/Windows/win.ini",
        "run\\..\\..\\outside.txt",
        "%2e%2e/outside.txt",
        "run/%2E%2E/%2e%2e/outside.txt",
        "",
        "run/\0",
    ],
)
def test_traversal_and_absolute_paths_are_refused(root, rel):
    with pytest.raises(PathRefused):
        resolve_inside(root, rel)


def test_a_symlink_leaving_the_root_is_refused(root):
    os.symlink(root.parent / "outside.txt", root / "run" / "link.txt")
    os.symlink(root.parent, root / "run" / "up")
    with pytest.raises(PathRefused, match="leaves"):
        resolve_inside(root, "run/link.txt")
    with pytest.raises(PathRefused, match="leaves"):
        resolve_inside(root, "run/up/outside.txt")


def test_a_symlink_inside_the_root_is_fine(root):
    os.symlink(root / "run" / "artifacts" / "model.bin", root / "run" / "alias.bin")
    assert resolve_inside(root, "run/alias.bin").name == "model.bin"


def test_missing_files_and_directories_are_not_found(root):
    with pytest.raises(FileNotFoundError):
        resolve_inside(root, "run/nope.bin")
    with pytest.raises(FileNotFoundError):
        resolve_inside(root, "run/artifacts")


def test_a_file_named_by_a_record_is_used_only_inside_its_run(root):
    run = root / "run"
    (root / "other").mkdir()
    (root / "other" / "meta.json").write_text("{}")
    os.symlink(root.parent / "outside.txt", run / "link.txt")
    assert inside_run(run, "artifacts/model.bin") == (run / "artifacts" / "model.bin").resolve()
    assert inside_run(run, run / "artifacts" / "model.bin") is not None  # absolute, but inside
    for named in [
        "../outside.txt",
        "../other/meta.json",  # inside the viewed directory, but another run's
        str(root.parent / "outside.txt"),
        "/etc/passwd",
        "link.txt",  # a symlink leaving the run
        "artifacts",  # not a regular file
        "nope.bin",
        "bad\0name",
        "",
        None,
    ]:
        assert inside_run(run, named) is None, named
