from __future__ import annotations

import pytest

from labtrack import Tensor


def grid():
    data = [
        {
            "name": f"exp_lr{lr}_e{e}",
            "config": {"learning_rate": lr, "epochs": e, "mlp": {"width": w}},
            "acc": i,
        }
        for i, (lr, e, w) in enumerate(
            (lr, e, w) for lr in (0.1, 0.01) for e in (10, 100) for w in (64,)
        )
    ]
    return Tensor(data, shape=(1, 2, 2))


def test_shape_len_and_flat_iteration():
    t = grid()
    assert t.shape == (1, 2, 2) and len(t) == 4
    assert [r["acc"] for r in t] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="does not match data length"):
        Tensor([1, 2], shape=(3,))


def test_integer_and_slice_indexing_per_axis():
    t = grid()
    assert t[0, 1, 0]["name"] == "exp_lr0.01_e10"
    first_lr = t[:, 0, :]
    assert first_lr.shape == (1, 2) and [r["acc"] for r in first_lr] == [0, 1]
    assert t[0].shape == (2, 2)
    assert t[0, -1, -1]["acc"] == 3
    with pytest.raises(IndexError, match="Too many indices"):
        t[0, 0, 0, 0]
    with pytest.raises(IndexError, match="out of range"):
        t[0, 2]


def test_glob_on_names_keeps_the_grid_when_it_can():
    t = grid()
    lr01 = t["exp_lr0.1_*"]
    assert lr01.shape == (1, 1, 2)
    assert [r["name"] for r in t["*_e10"]] == ["exp_lr0.1_e10", "exp_lr0.01_e10"]
    assert t["exp_lr0.1_e100"]["acc"] == 1  # an exact name gives that one result
    with pytest.raises(IndexError, match="No configs match"):
        t["nothing_*"]


def test_dict_query_on_dotted_keys_with_several_constraints():
    t = grid()
    assert [r["acc"] for r in t[{"config.learning_rate": 0.1}]] == [0, 1]
    assert [r["acc"] for r in t[{"config.learning_rate": 0.1, "config.epochs": 100}]] == [1]
    assert len(t[{"config.mlp.width": 64}]) == 4
    assert len(t[{"config.learning_rate": 5}]) == 0
    assert len(t[{"config.no.such.key": 1}]) == 0


def test_to_pandas_flattens_nested_keys():
    df = grid().to_pandas()
    assert list(df["config.learning_rate"]) == [0.1, 0.1, 0.01, 0.01]
    assert {"name", "acc", "config.mlp.width"} <= set(df.columns)
