from __future__ import annotations

import pickle
import threading
from pathlib import Path

import pytest

import labtrack
from labtrack import Config, ConfigError, Tensor


def make(executor="inline", **kw):
    @labtrack.experiment(name="exp", executor=executor, **kw)
    def train(config: Config):
        print("training", config.name)
        run = labtrack.current_run()
        run.log({"loss": config.lr}, step=0)
        if config.get("fail"):
            raise RuntimeError("diverged")
        (config.out / "model.txt").write_text("weights")
        return {"accuracy": 1 - config.lr}

    return train


CONFIGS = [{"name": "fast", "lr": 0.1}, {"name": "slow", "lr": 0.01}]


def test_run_writes_the_layout_and_returns_results_with_name_config_and_outputs(tmp_path):
    train = make()
    results = train.run(configs=CONFIGS, timestamp="t1", argv=[])
    assert isinstance(results, Tensor) and results.shape == (2,)
    fast = results["fast"]
    assert fast["accuracy"] == 0.9 and fast["config"]["lr"] == 0.1 and fast["name"] == "fast"
    out = fast["config"].out
    assert out.parent == tmp_path / "out" / "exp" / "t1" and out.name.startswith("fast-")
    assert (out / "result.pkl").exists() and (out / "model.txt").read_text() == "weights"
    assert "training fast" in (out / "stdout.log").read_text()


def test_every_config_is_a_run_in_the_store(tmp_path):
    make().run(
        configs=[*CONFIGS, {"name": "bad", "lr": 0.5, "fail": True}], timestamp=False, argv=[]
    )
    views = {v.name: v for v in labtrack.Store("out").runs(experiment="exp")}
    assert {n: v.status for n, v in views.items()} == {
        "fast": "completed",
        "slow": "completed",
        "bad": "failed",
    }
    fast = views["fast"]
    assert fast.config == {"name": "fast", "lr": 0.1}
    assert list(fast.scalars("loss").values) == [0.1]
    assert "training fast" in fast.text("stdout")[0].text
    assert labtrack.Store("out").runs(where={"config.lr": 0.01})[0].name == "slow"


def test_continue_skips_completed_and_reruns_failed(tmp_path):
    calls = []

    @labtrack.experiment(executor="inline", timestamp=False)
    def flaky(config):
        calls.append(config.name)
        if config.name == "b" and calls.count("b") == 1:
            raise ValueError("first try fails")
        return {"ok": True}

    cfgs = [{"name": "a"}, {"name": "b"}]
    first = flaky.run(configs=cfgs, argv=[])
    assert first["b"]["__error__"] and first["b"]["type"] == "ValueError"
    assert "first try fails" in first["b"]["traceback"]
    second = flaky.run(configs=cfgs, argv=[])
    assert calls == ["a", "b", "b"] and second["b"]["ok"]
    flaky.run(configs=cfgs, argv=["--rerun"])
    assert calls == ["a", "b", "b", "a", "b"]


def test_report_only_reports_the_latest_timestamp_without_running(tmp_path, capsys):
    train = make()
    train.run(configs=CONFIGS, timestamp="2024-01-01_00-00-00", argv=[])
    seen = []
    train.run(configs=[*CONFIGS, {"name": "new", "lr": 0.2}], report=seen.append, argv=["--report"])
    (results,) = seen
    assert results["fast"]["accuracy"] == 0.9
    assert results["new"]["type"] == "NotRun"
    assert not any("new-" in p.name for p in Path("out/exp/2024-01-01_00-00-00").iterdir())


def test_cli_beats_run_arguments_which_beat_the_decorator(tmp_path):
    train = make(output_dir="deco")
    train.run(configs=CONFIGS, output_dir="runarg", timestamp=False, argv=[])
    assert Path("runarg/exp").is_dir() and not Path("deco").exists()
    train.run(
        configs=CONFIGS,
        output_dir="runarg",
        argv=["--output-dir", "cli", "--name", "v2", "--no-timestamp"],
    )
    assert len(list(Path("cli/v2").glob("*/result.pkl"))) == 2


def test_run_under_pytest_does_not_parse_pytests_argv(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["pytest", "-x", "--weird-flag"])
    results = make().run(configs=CONFIGS, timestamp=False)  # argv=None, function not in __main__
    assert len(results) == 2


def test_new_timestamps_do_not_collide(tmp_path):
    train = make()
    train.run(configs=CONFIGS, argv=[])
    train.run(configs=CONFIGS, argv=[])
    assert len(list(Path("out/exp").iterdir())) == 2


def test_same_name_and_same_values_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="configs 0 and 1 have the same name 'a'"):
        make().run(configs=[{"name": "a", "lr": 1}, {"name": "a", "lr": 1}], argv=[])
    make().run(configs=[{"name": "a", "lr": 1}, {"name": "a", "lr": 2}], argv=[])  # differ: fine


def test_unstorable_config_values_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match=r"'a': value at 'opt.fn' has type builtin_function"):
        make().run(configs=[{"name": "a", "lr": 1, "opt": {"fn": len}}], argv=[])
    assert not Path("out").exists()


def test_an_unpicklable_result_becomes_an_error_record(tmp_path):
    @labtrack.experiment(executor="inline", timestamp=False)
    def locky(config):
        return {"lock": threading.Lock()}

    results = locky.run(configs=[{"name": "a"}], argv=[])
    assert results[0]["__error__"] and results[0]["type"] == "SerializationError"
    assert labtrack.Store("out").runs()[0].status == "failed"


def test_a_corrupt_cached_result_is_run_again_with_a_warning(tmp_path):
    train = make()
    results = train.run(configs=CONFIGS, timestamp=False, argv=[])
    (results["fast"]["config"].out / "result.pkl").write_bytes(b"\x80\x05not a pickle")
    with pytest.warns(UserWarning, match="corrupt"):
        again = train.run(configs=CONFIGS, timestamp=False, argv=[])
    assert again["fast"]["accuracy"] == 0.9
    assert (
        pickle.loads((again["fast"]["config"].out / "result.pkl").read_bytes())["accuracy"] == 0.9
    )


def test_unknown_executor_lists_the_valid_ones(tmp_path):
    with pytest.raises(
        labtrack.ExecutorError,
        match="unknown executor 'warp'; valid: inline, subprocess, fork, ray",
    ):
        make(executor="warp").run(configs=CONFIGS, argv=[])
    assert not Path("out").exists()
    with pytest.raises(labtrack.ExecutorError, match="unknown executor 'warp'"):
        make().run(configs=CONFIGS, argv=["--executor", "warp"])


def test_missing_configs_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"no configs: decorate a function with @exp.configs"):
        make().run(argv=[])


def test_decorator_bare_and_configs_report_decorators(tmp_path):
    @labtrack.experiment
    def square(config):
        return config.x**2

    @square.configs
    def configs():
        return labtrack.sweep([{"name": "sq"}], [{"name": str(x), "x": x} for x in range(3)])

    reported = []
    square.report(reported.append)
    square.run(executor="inline", argv=[])
    assert square.name == "square"
    assert reported[0].shape == (1, 3) and [r["result"] for r in reported[0]] == [0, 1, 4]
    assert square({"x": 3}) == 9
