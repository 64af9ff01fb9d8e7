"""Code written for pyexp runs on labtrack's runner, beside the seed document's forms."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from unittest.mock import patch

import pytest

import labtrack
from labtrack import ConfigError, LogReader, get_executor
from labtrack.runner import Result, stash


def make(**options):
    @labtrack.experiment(executor="inline", **options)
    def exp(config):
        if config.get("fail"):
            raise ValueError(f"bad {config.name}")
        if config.get("plain"):
            return config.x * 10
        return {"acc": config.x / 10}

    return exp


CONFIGS = [{"name": "a", "x": 1}, {"name": "b", "x": 2, "plain": True}, {"name": "c", "fail": True}]


def test_each_result_is_a_dict_with_the_seeds_keys_and_pyexps_attributes():
    results = make().run(configs=CONFIGS, argv=[])
    a, b, c = results
    assert all(isinstance(r, Result) and isinstance(r, dict) for r in results)
    # the seed's way
    assert (a["name"], a["acc"], a["config"]["x"]) == ("a", 0.1, 1)
    assert c["__error__"] and (c["type"], c["message"]) == ("ValueError", "bad c")
    assert "ValueError: bad c" in c["traceback"]
    # pyexp's way
    assert (a.name, a.result, a.error, a.config["x"]) == ("a", {"acc": 0.1}, None, 1)
    assert (b.result, b["result"], b["value"]) == (20, 20, 20)  # a non-dict return value
    assert c.result is None and c.error == "ValueError: bad c"
    assert a.out == Path(a["config"]["out"]) and a.out.is_dir()
    assert (repr(a), repr(c)) == ("Result('a', ok)", "Result('c', error)")


def test_log_is_what_the_config_printed():
    @labtrack.experiment(executor="subprocess")
    def talk(config):
        print(f"hello from {config.name}")
        return {}

    (r,) = talk.run(configs=[{"name": "t"}], argv=[])
    assert r.log.strip() == "hello from t"


def test_report_takes_results_or_results_and_out_and_run_returns_its_value():
    exp = make()

    @exp.report
    def seed_report(results):
        return len(results)

    assert exp.run(configs=CONFIGS, argv=[]) == 3

    def pyexp_report(results, out):
        (out / "table.txt").write_text("ok")
        return out

    out = exp.run(configs=CONFIGS, report=pyexp_report, argv=[])
    assert out.name == "report" and (out / "table.txt").read_text() == "ok"
    assert out.parent.parent == Path("out/exp").absolute()  # beside the configs' directories
    no_report = make()
    assert isinstance(no_report.run(configs=CONFIGS, argv=[]), labtrack.Tensor)


def test_retry_in_the_decorator_in_run_and_on_the_command_line(tmp_path):
    tries = tmp_path / "tries"

    @labtrack.experiment(executor="inline", retry=2)
    def flaky(config):
        with open(tries, "a") as f:
            f.write("x")
        if len(tries.read_text()) < config.succeed_on:
            raise RuntimeError("try again")
        return {"tries": len(tries.read_text())}

    (r,) = flaky.run(configs=[{"name": "f", "succeed_on": 3}], argv=[])
    assert r.ok and r["tries"] == 3 and r["attempts"][0]["message"] == "try again"
    tries.unlink()
    (r,) = flaky.run(configs=[{"name": "f", "succeed_on": 3}], retry=0, argv=[])
    assert r.error == "RuntimeError: try again" and "attempts" not in r  # default 0 tries more
    tries.unlink()
    (r,) = flaky.run(configs=[{"name": "f", "succeed_on": 2}], argv=["--retry", "1"])
    assert r.ok and r["tries"] == 2
    assert make().retry == 0


def test_run_reads_sys_argv_where_ever_the_experiment_is_defined():
    exp = make(name="from_argv")
    with patch.object(sys, "argv", ["main.py", "--name", "renamed", "--no-timestamp", "-q"]):
        results = exp.run(configs=CONFIGS[:1])  # -q belongs to the host program: ignored
    assert Path(results[0].out).parent == Path("out/renamed").absolute()


def test_pyexps_command_line_spellings(capsys):
    exp = make(name="cli")
    first = exp.run(configs=CONFIGS, argv=[])
    stamp = Path(first[0].out).parent.name
    exp.run(configs=CONFIGS, argv=[])  # a newer timestamp
    # --continue TIMESTAMP, and --continue alone: the latest
    again = exp.run(configs=CONFIGS, argv=["--continue", stamp])
    assert Path(again[0].out).parent.name == stamp
    capsys.readouterr()
    exp.run(configs=CONFIGS, argv=["--continue"])
    assert "3 configs, 2 cached" in capsys.readouterr().err  # the failed one ran again
    # --report TIMESTAMP reports that run; --report alone the latest
    reported = exp.run(configs=CONFIGS, argv=["--report", stamp])
    assert Path(reported[0].out).parent.name == stamp
    # --filter REGEX on config names
    only = exp.run(configs=CONFIGS, argv=["--filter", "^[ab]$", "--no-timestamp"])
    assert [r.name for r in only] == ["a", "b"]
    with pytest.raises(ConfigError, match="matches no config"):
        exp.run(configs=CONFIGS, argv=["--filter", "zzz"])
    # --list: names and state, nothing runs
    listed = exp.run(configs=CONFIGS, argv=["--list", "--output-dir", "elsewhere"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:2] for line in lines] == [
        ["a", "missing"],
        ["b", "missing"],
        ["c", "missing"],
    ]
    assert len(listed) == 3 and not Path("elsewhere").exists()


def test_viewer_and_stash_flags_are_accepted():
    from labtrack.runner import cli

    opts = cli.parse(["--viewer", "--viewer-port", "9000", "--no-stash", "--retry", "2"])
    assert opts == {"viewer": True, "viewer_port": 9000, "stash": False, "retry": 2}
    assert cli.parse(["--report"]) == {"report_only": True, "continue_latest": True}
    assert cli.parse(["--report", "2024-01-25_14-30-00"]) == {
        "report_only": True,
        "timestamp": "2024-01-25_14-30-00",
    }


def test_errors_are_the_builtins_a_python_user_catches():
    with pytest.raises(ValueError, match="unknown executor 'nope'"):
        get_executor("nope")
    assert issubclass(ConfigError, ValueError)
    from labtrack.errors import ConfigKeyError

    assert issubclass(ConfigKeyError, KeyError) and issubclass(ConfigKeyError, ConfigError)


def test_an_experiment_taking_a_logger_gets_one_writing_to_its_run():
    @labtrack.experiment(executor="subprocess")
    def with_logger(config, logger):
        for it in range(3):
            logger.set_global_it(it)
            logger.add_scalar("loss", 1.0 / (it + 1))
            logger.add_checkpoint("state", {"it": it})
        return {"done": True}

    @labtrack.experiment(executor="inline")
    def seed_form(config):
        labtrack.current_run().log({"loss": 0.5}, step=0)
        return {"done": True}

    (r,) = with_logger.run(configs=[{"name": "l"}], argv=[])
    reader = LogReader(r.out)
    assert reader.load_scalars("loss") == [(0, 1.0), (1, 0.5), (2, 1.0 / 3)]
    assert reader.load_checkpoint("state", 1) == {"it": 1}
    (s,) = seed_form.run(configs=[{"name": "s"}], argv=[])
    assert LogReader(s.out).load_scalars("loss") == [(0, 0.5)]


def test_a_config_with_its_own_out_key_is_refused_naming_it():
    with pytest.raises(ConfigError, match=r"config 1 \('b'\) has a key 'out'"):
        make().run(configs=[{"name": "a"}, {"name": "b", "out": "mine"}], argv=[])


SCRIPT = textwrap.dedent(
    """
    import labtrack

    @labtrack.experiment(executor="inline", timestamp=False)
    def exp(config):
        if config.get("fail"):
            raise ValueError("no")
        return {"v": 1}

    @exp.configs
    def configs():
        return [{"name": "good"}, {"name": "bad", "fail": True}, {"name": "worse", "fail": True}]

    @exp.report
    def report(results):
        print("REPORT", [r.name for r in results if r.error])

    if __name__ == "__main__":
        exp.run()
    """
)


def test_a_sweep_with_failures_exits_non_zero_after_its_report(tmp_path, script):
    main = tmp_path / "main.py"
    main.write_text(SCRIPT)
    proc = script(main, check=False)
    assert proc.returncode == 1
    assert "REPORT ['bad', 'worse']" in proc.stdout
    assert proc.stderr.splitlines()[-1] == "labtrack: exp: 2 of 3 configs failed"
    again = script(main, "--report", check=False)  # --report still reports, and says so too
    assert again.returncode == 1 and "REPORT ['bad', 'worse']" in again.stdout
    bad = script(main, "--no-such-flag", check=False)  # the script's own argv: strict
    assert bad.returncode == 2 and "unrecognized arguments: --no-such-flag" in bad.stderr


def git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout


def test_stash_snapshots_the_checkout_without_touching_it(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "train.py").write_text("lr = 0.1\n")
    git(repo, "add", "train.py")
    git(repo, "commit", "-qm", "first")
    (repo / "train.py").write_text("lr = 0.2\n")  # uncommitted change
    (repo / "new.py").write_text("x = 1\n")  # untracked file
    status = git(repo, "status", "--porcelain")
    commit = stash(repo)
    assert len(commit) == 40
    assert git(repo, "show", f"{commit}:train.py") == "lr = 0.2\n"
    assert git(repo, "show", f"{commit}:new.py") == "x = 1\n"
    assert git(repo, "status", "--porcelain") == status  # working tree and index untouched
    # a sweep run inside the checkout tags its runs with the snapshot; --no-stash does not
    monkeypatch.chdir(repo)
    (r,) = make().run(configs=[{"name": "a", "x": 1}], argv=[])
    tags = labtrack.Store(r.out).run(r.out).tags
    assert len(tags["git_stash"]) == 40
    (r,) = make().run(configs=[{"name": "b", "x": 1}], argv=["--no-stash"])
    assert "git_stash" not in labtrack.Store(r.out).run(r.out).tags
