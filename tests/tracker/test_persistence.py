from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from labtrack import PersistenceConfig, SerializationError, Tracker, TrackerConfig
from labtrack.sinks import MemorySink
from labtrack.tracker import persistence
from labtrack.tracker.persistence import encode, read_state_file

SRC = Path(__file__).resolve().parents[2] / "src"


def config(root: Path, run: str, **persist: object) -> TrackerConfig:
    return TrackerConfig(
        app_name="app",
        run_name=run,
        persistence=PersistenceConfig(ROOT_DATA_DIR=str(root), **persist),  # type: ignore[arg-type]
    )


def save(tracker: Tracker, step: int, **kw: object) -> str:
    return tracker.save_training_state(
        nn_state_dict={"w": step},
        optimizer_state_dict={"lr": 0.1},
        global_step=step,
        **kw,  # type: ignore[arg-type]
    )


def test_latest_step_files_best_buffer_and_configs(tmp_path: Path) -> None:
    with Tracker(config(tmp_path, "r1", KEEP_LAST_N_CHECKPOINTS=2), sinks=[]) as t:
        for step in (10, 20, 30):
            save(
                t,
                step,
                is_best=step == 20,
                save_buffer=True,
                buffer_content=[step],
                model_config_dict={"layers": 2},
                env_config_dict={"id": "env-v1"},
            )
    folder = tmp_path / "app/runs/r1/checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == [
        "best.pkl",
        "checkpoint_step_20.pkl",
        "checkpoint_step_30.pkl",
        "latest.pkl",
    ]
    assert read_state_file(folder / "latest.pkl", "checkpoint")["global_step"] == 30
    assert read_state_file(folder / "best.pkl", "checkpoint")["global_step"] == 20
    buffer = read_state_file(tmp_path / "app/runs/r1/buffers/buffer.pkl", "buffer")
    assert buffer == {"buffer_list": [30]}
    # the buffers of pruned checkpoints go with them; those of kept ones stay
    buffers = tmp_path / "app/runs/r1/buffers"
    assert sorted(p.name for p in buffers.iterdir()) == [
        "buffer.pkl",
        "buffer_step_20.pkl",
        "buffer_step_30.pkl",
    ]
    import json

    configs = json.loads((tmp_path / "app/runs/r1/configs/configs.json").read_text())
    assert configs["model"] == {"layers": 2} and configs["env"] == {"id": "env-v1"}


def test_resume_from_the_most_recent_previous_run_restores_actor_state(tmp_path: Path) -> None:
    with Tracker(config(tmp_path, "old"), sinks=[]) as t:
        save(t, 5)
    time.sleep(0.01)
    with Tracker(config(tmp_path, "newer"), sinks=[]) as t:
        t.process_and_log(7)
        t.force_process_and_log(7)
        save(t, 7, save_buffer=True, buffer_content=["a", "b"])
    with Tracker(config(tmp_path, "now"), sinks=[]) as t:
        state = t.load_initial_state()
        assert state.checkpoint_data is not None and state.buffer_data is not None
        assert state.checkpoint_data.global_step == 7
        assert state.checkpoint_data.model_state_dict == {"w": 7}
        assert state.buffer_data.buffer_list == ["a", "b"]
        assert t.get_counts()["last_processed_step"] == 7


def test_nothing_to_resume_is_an_empty_state(tmp_path: Path) -> None:
    with Tracker(config(tmp_path, "first"), sinks=[]) as t:
        state = t.load_initial_state()
    assert state.checkpoint_data is None and state.buffer_data is None


def test_explicit_run_or_path(tmp_path: Path) -> None:
    for run, step in (("a", 1), ("b", 2)):
        with Tracker(config(tmp_path, run), sinks=[]) as t:
            save(t, step)
    with Tracker(config(tmp_path, "c", RESUME_RUN_NAME="a"), sinks=[]) as t:
        assert t.load_initial_state().checkpoint_data.global_step == 1  # type: ignore[union-attr]
    path = tmp_path / "app/runs/b/checkpoints/latest.pkl"
    with Tracker(config(tmp_path, "d", LOAD_CHECKPOINT_PATH=str(path)), sinks=[]) as t:
        assert t.load_initial_state().checkpoint_path == str(path)


def test_corrupt_latest_falls_back_with_a_warning_naming_both(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Tracker(config(tmp_path, "r"), sinks=[]) as t:
        save(t, 1)
        save(t, 2)
    latest = tmp_path / "app/runs/r/checkpoints/latest.pkl"
    latest.unlink()  # it is a hard link of step 2's file: break it on its own
    latest.write_bytes(encode("checkpoint", {"run_name": "r", "global_step": 3})[:-5])
    with caplog.at_level(logging.WARNING), Tracker(config(tmp_path, "r2"), sinks=[]) as t:
        state = t.load_initial_state()
    assert state.checkpoint_data.global_step == 2  # type: ignore[union-attr]
    message = next(r.getMessage() for r in caplog.records if "unreadable" in r.getMessage())
    assert str(latest) in message and "checkpoint_step_2.pkl" in message and "truncated" in message


def test_checksum_and_newer_format_version_are_detected(tmp_path: Path) -> None:
    blob = bytearray(encode("checkpoint", {"global_step": 1}))
    blob[-1] ^= 0xFF
    (tmp_path / "bad.pkl").write_bytes(bytes(blob))
    with pytest.raises(SerializationError, match="checksum"):
        read_state_file(tmp_path / "bad.pkl", "checkpoint")
    newer = bytearray(encode("checkpoint", {"global_step": 1}))
    newer[len(persistence.MAGIC)] = 99  # version field
    (tmp_path / "new.pkl").write_bytes(bytes(newer))
    with pytest.raises(SerializationError, match="newer labtrack .format version 99"):
        read_state_file(tmp_path / "new.pkl", "checkpoint")
    (tmp_path / "junk.pkl").write_bytes(b"not a checkpoint")
    with pytest.raises(SerializationError, match="junk.pkl is not a labtrack checkpoint"):
        read_state_file(tmp_path / "junk.pkl", "checkpoint")


def test_real_torch_state_dicts_are_moved_to_cpu_and_load(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.ones(4, 3)).sum().backward()
    opt.step()
    with Tracker(config(tmp_path, "t"), sinks=[]) as t:
        t.save_training_state(
            nn_state_dict=model.state_dict(), optimizer_state_dict=opt.state_dict(), global_step=1
        )
    with Tracker(config(tmp_path, "t2"), sinks=[]) as t:
        ckpt = t.load_initial_state().checkpoint_data
    assert ckpt is not None
    fresh = torch.nn.Linear(3, 2)
    fresh.load_state_dict(ckpt.model_state_dict)
    assert torch.equal(fresh.weight, model.weight)
    opt2 = torch.optim.Adam(fresh.parameters(), lr=1e-3)
    opt2.load_state_dict(ckpt.optimizer_state_dict)
    assert opt2.state_dict()["state"][0]["step"] == 1


def test_unpicklable_state_is_a_clear_error_and_keeps_the_old_checkpoint(tmp_path: Path) -> None:
    with Tracker(config(tmp_path, "r"), sinks=[MemorySink()]) as t:
        save(t, 1)
        with pytest.raises(SerializationError, match="cannot pickle the checkpoint"):
            t.save_training_state(
                nn_state_dict={"lock": __import__("threading").Lock()},
                optimizer_state_dict={},
                global_step=2,
            )
    latest = tmp_path / "app/runs/r/checkpoints/latest.pkl"
    assert read_state_file(latest, "checkpoint")["global_step"] == 1


SAVER = """
import sys
from labtrack import PersistenceConfig, Tracker, TrackerConfig
cfg = TrackerConfig(app_name="app", run_name="victim",
                    persistence=PersistenceConfig(ROOT_DATA_DIR=sys.argv[1]))
t = Tracker(cfg, sinks=[])
blob = bytes(8_000_000)
step = 0
while True:
    step += 1
    t.save_training_state(nn_state_dict={"step": step, "blob": blob}, optimizer_state_dict={},
                          buffer_content=[step] * 1000, save_buffer=True, global_step=step)
    print(step, flush=True)
"""


def test_sigkill_during_save_leaves_a_loadable_checkpoint(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SAVER), str(tmp_path)],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for _ in range(3):  # let a few saves complete, then kill in the middle of the next ones
        assert proc.stdout.readline()
    time.sleep(0.15)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    with Tracker(config(tmp_path, "after"), sinks=[]) as t:
        state = t.load_initial_state()
    ckpt = state.checkpoint_data
    assert ckpt is not None and ckpt.global_step >= 3
    assert ckpt.model_state_dict["step"] == ckpt.global_step
    assert state.buffer_data is not None and len(state.buffer_data.buffer_list) == 1000
    # the restarted owner of the killed run cleans the temporaries the kill left
    Tracker(config(tmp_path, "victim"), sinks=[]).shutdown()
    assert not list((tmp_path / "app/runs/victim").rglob("*.tmp"))


def test_unchanged_configs_and_state_are_not_rewritten(tmp_path: Path) -> None:
    with Tracker(config(tmp_path, "r1"), sinks=[]) as t:
        configs = tmp_path / "app/runs/r1/configs/configs.json"
        save(t, 1)
        first = configs.stat().st_mtime_ns, configs.stat().st_ino
        save(t, 2)  # the same configs: the file is left as it is
        assert (configs.stat().st_mtime_ns, configs.stat().st_ino) == first
        t.save_run_config({"model": {"layers": 3}})  # changed: rewritten
        assert configs.stat().st_ino != first[1]
        assert '"layers": 3' in configs.read_text()
        configs.unlink()  # deleted behind the tracker's back: written again
        save(t, 3)
        assert configs.is_file()
