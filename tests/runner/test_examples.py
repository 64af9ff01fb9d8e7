"""Every example in examples/runner runs as a script, from a copy of the folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "runner"


@pytest.fixture
def examples(tmp_path):
    folder = tmp_path / "examples"
    shutil.copytree(EXAMPLES, folder)
    return folder


def test_quick_start_and_its_cli(examples, script):
    first = script(examples / "quick_start.py")
    assert "fast: 0.95\nslow: 0.95\nfast: fast" in first.stdout
    ts = next((examples / "out" / "mnist").iterdir()).name
    again = script(examples / "quick_start.py", "--timestamp", ts)
    assert "2 configs, 2 cached" in again.stderr
    report = script(examples / "quick_start.py", "--timestamp", ts, "--report")
    assert "fast: 0.95" in report.stdout
    rerun = script(examples / "quick_start.py", "--timestamp", ts, "--rerun")
    assert "2 done" in rerun.stderr
    script(
        examples / "quick_start.py",
        "--executor",
        "inline",
        "--no-timestamp",
        "--output-dir",
        "results/",
    )
    assert len(list((examples / "results" / "mnist").glob("*/result.pkl"))) == 2
    live = script(examples / "quick_start.py", "-s")
    assert "[labtrack 2/2]" in live.stderr
    live = script(examples / "quick_start.py", "--capture=no", "-j", "1")
    assert "[labtrack 2/2]" in live.stderr


def test_robust_execution(examples, script):
    proc = script(examples / "robust_execution.py", check=False)
    assert proc.returncode == 1, proc.stderr  # some configs failed: the exit status says so
    out = proc.stdout
    assert "ok: 0.9" in out
    assert "raise failed: ValueError: diverged" in out
    assert "exit failed: WorkerCrashed" in out and "segfault failed: WorkerCrashed" in out


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("output_structure.py", ["out/experiment_v2/a-", "out/mnist/a-", "out/my_experiment/"]),
        (
            "execution_modes.py",
            [
                "in_subprocess: ran in a child process",
                "in_fork: ran in a child process",
                "inline: ran in this process",
            ],
        ),
        ("config_class.py", ["0.01\n0.01\n0.1"]),
        ("yaml_configs.py", ["'learning_rate': 0.0005", "small 512\nlarge 4096"]),
        ("registry_build.py", ["MLP 512 4", "MLP 1024", "MLP True"]),
        (
            "sweeps.py",
            [
                "(1, 2, 2, 2)",
                "lr0.1 & e10: ['exp_lr0.1_e10_w64', 'exp_lr0.1_e10_w128']",
                "exp_lr0.01_e10_w128 1.0",
            ],
        ),
        ("custom_executor.py", ["[0, 2, 4]"]),
        ("alternative_api.py", ["s10 0.1\ns100 0.01"]),
        ("logging_in_runs.py", ["completed ['loss'] ['notes', 'stdout']"]),
    ],
)
def test_example(examples, script, name, expected):
    out = script(examples / name).stdout
    for text in expected:
        assert text in out


@pytest.mark.slow
def test_output_directory_example_saves_torch_models(examples, script):
    pytest.importorskip("torch")
    out = script(examples / "output_directory.py", timeout=300).stdout
    assert "small ['model.pt']\nwide ['model.pt']" in out


@pytest.mark.ray
@pytest.mark.slow
def test_ray_example(examples, script):
    pytest.importorskip("ray")
    out = script(examples / "ray_execution.py", timeout=300).stdout
    assert out.count("squares: [0, 1, 4, 9]") == 2
    assert "RayExecutor(address='ray://cluster:10001', num_cpus=4, num_gpus=1)" in out


def test_pyexp_style_script_runs_with_only_its_import_changed(examples, script):
    proc = script(examples / "pyexp_style.py")
    out = proc.stdout
    assert "shape (1, 2, 2) first exp_lr0.1_ok" in out
    assert "exp_lr0.1_ok: loss=0.5905 checkpoint@4=4" in out
    assert "  printed: 'trained exp_lr0.1_flaky', tries: 2" in out  # retried once, then ok
    assert "returned ['exp_lr0.01_flaky', 'exp_lr0.01_ok', 'exp_lr0.1_flaky', 'exp_lr0.1_ok']" in (
        proc.stderr
    )
    (summary,) = (examples / "out" / "pyexp_style").glob("*/report/summary.txt")
    assert summary.read_text() == "4 ok\n"
    listed = script(examples / "pyexp_style.py", "--list").stdout.splitlines()
    assert [line.split("\t")[1] for line in listed] == ["done"] * 4
    only = script(examples / "pyexp_style.py", "--continue", "--filter", "lr0.01_ok")
    assert "1 configs, 1 cached" in only.stderr and "shape (1, 1, 1)" in only.stdout
