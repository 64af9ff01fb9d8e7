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
    assert t[(0,)].shape == (2, 2)  # a one-element tuple indexes the first axis, padded
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
    assert t[{"config.learning_rate": 0.1, "config.epochs": 100}]["acc"] == 1  # one: the item
    assert len(t[{"config.mlp.width": 64}]) == 4
    with pytest.raises(IndexError, match=r"No configs match query .*'config.learning_rate': 5"):
        t[{"config.learning_rate": 5}]
    with pytest.raises(IndexError, match="No configs match"):
        t[{"config.no.such.key": 1}]


def test_a_single_integer_is_a_flat_row_major_index_as_in_pyexp():
    t = grid()
    assert [t[i]["acc"] for i in range(4)] == [0, 1, 2, 3]
    assert t[-1]["acc"] == 3
    with pytest.raises(IndexError, match="out of range"):
        t[4]
    # the pyexp form the issue names: the first config of a sweep, not a sub-tensor
    from labtrack import sweep

    assert sweep([{"name": "exp"}], [{"lr": 0.1}, {"lr": 0.01}])[0]["lr"] == 0.1


def test_a_glob_matching_one_item_returns_it_and_no_match_names_the_pattern():
    t = grid()
    assert t["*_lr0.01_e100"]["acc"] == 3
    with pytest.raises(IndexError, match="'nothing_\\*'"):
        t["nothing_*"]


def test_a_nested_dict_query_matches_partially():
    t = grid()
    assert len(t[{"config": {"mlp": {"width": 64}}}]) == 4  # whatever else config holds
    assert t[{"config": {"learning_rate": 0.01, "epochs": 10}}]["acc"] == 2
    with pytest.raises(IndexError):
        t[{"config": {"mlp": {"width": 32}}}]


def test_config_tensor_and_result_tensor_are_pyexps_names_for_tensor():
    from labtrack.runner.tensor import ConfigTensor, ResultTensor

    assert ConfigTensor is Tensor and ResultTensor is Tensor


def test_to_pandas_flattens_nested_keys():
    df = grid().to_pandas()
    assert list(df["config.learning_rate"]) == [0.1, 0.1, 0.01, 0.01]
    assert {"name", "acc", "config.mlp.width"} <= set(df.columns)
