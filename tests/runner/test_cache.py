from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labtrack import ConfigError
from labtrack.runner import cache

SRC = str(Path(__file__).resolve().parents[2] / "src")
CONFIG = {"name": "a", "lr": 0.1, "layers": [1, 2], "opt": {"beta": 0.9, "eps": 1e-8}, "flag": True}
# sha256 of '{"flag":true,"layers":[1,2],"lr":0.1,"opt":{"beta":0.9,"eps":1e-08}}', first 12 hex
KNOWN = "da80fad8d9a2"


def test_hash_ignores_name_out_and_key_order():
    h = cache.config_hash(CONFIG)
    assert h == cache.config_hash({**CONFIG, "name": "other", "out": Path("/x")})
    assert h == cache.config_hash(dict(reversed(list(CONFIG.items()))))
    assert h != cache.config_hash({**CONFIG, "lr": 0.2})
    assert cache.config_hash({"x": 1}) != cache.config_hash({"x": True})


def test_hash_is_stable_across_processes_and_hash_seeds():
    code = f"import sys; sys.path.insert(0, {SRC!r}); from labtrack.runner import cache; print(cache.config_hash({CONFIG!r}))"
    seen = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("0", "1", "12345")
    }
    assert seen == {cache.config_hash(CONFIG)}
    assert seen == {KNOWN}  # fixed: the same on every machine and Python version


def test_values_that_cannot_be_stored_name_their_key_path():
    with pytest.raises(ConfigError, match=r"config 'a': value at 'opt.fn' has type function"):
        cache.config_hash({"name": "a", "opt": {"fn": lambda: 1}}, config_name="a")
    with pytest.raises(ConfigError, match=r"value at 'layers\[1\]' has type object"):
        cache.config_hash({"layers": [1, object()]})


def test_results_are_written_whole_and_corrupt_ones_read_as_missing(tmp_path):
    path = tmp_path / "r" / cache.RESULT_FILE
    cache.write_result(path, {"acc": 1.0})
    assert cache.read_result(path) == {"acc": 1.0}
    assert not list(path.parent.glob(".result-*"))  # no temp file left
    path.write_bytes(b"\x80\x05garbage")
    with pytest.warns(UserWarning, match="corrupt"):
        assert cache.read_result(path) is None
    assert cache.read_result(tmp_path / "none.pkl") is None


def test_an_unpicklable_result_raises_serialization_error_and_writes_nothing(tmp_path):
    import threading

    from labtrack import SerializationError

    path = tmp_path / cache.RESULT_FILE
    with pytest.raises(SerializationError, match="cannot be pickled"):
        cache.write_result(path, {"lock": threading.Lock()})
    assert not path.exists()
