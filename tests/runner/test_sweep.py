from __future__ import annotations

import pytest

from labtrack import ConfigError, Tensor, sweep


def test_sweep_is_a_cartesian_product_with_joined_names_and_kept_shape():
    cfgs = [{"name": "exp", "base_lr": 0.01}]
    cfgs = sweep(
        cfgs, [{"name": "lr0.1", "learning_rate": 0.1}, {"name": "lr0.01", "learning_rate": 0.01}]
    )
    cfgs = sweep(cfgs, [{"name": "e10", "epochs": 10}, {"name": "e100", "epochs": 100}])
    assert isinstance(cfgs, Tensor)
    assert cfgs.shape == (1, 2, 2)
    assert [c.name for c in cfgs] == [
        "exp_lr0.1_e10",
        "exp_lr0.1_e100",
        "exp_lr0.01_e10",
        "exp_lr0.01_e100",
    ]
    assert cfgs[0, 1, 0] == {
        "name": "exp_lr0.01_e10",
        "base_lr": 0.01,
        "learning_rate": 0.01,
        "epochs": 10,
    }


def test_sweep_dot_notation_keeps_sibling_keys():
    cfgs = sweep(
        [{"name": "exp", "mlp": {"width": 32, "depth": 2}}],
        [
            {"name": "w64", "mlp.width": 64},
            {"name": "w128", "mlp.width": 128},
        ],
    )
    assert [c.mlp for c in cfgs] == [{"width": 64, "depth": 2}, {"width": 128, "depth": 2}]


def test_sweep_skips_missing_names_when_joining():
    cfgs = sweep([{"x": 1}], [{"name": "small", "y": 1}, {"y": 2}])
    assert [c.get("name") for c in cfgs] == ["small", None]


def test_sweep_rejects_variations_that_are_not_a_list_of_dicts():
    with pytest.raises(ConfigError, match="list of dicts"):
        sweep([{"name": "a"}], {"name": "b"})
    with pytest.raises(ConfigError, match="variation 1 must be a dict"):
        sweep([{"name": "a"}], [{"name": "b"}, 3])


def test_sweep_over_no_variations_gives_an_empty_axis_as_in_pyexp():
    cfgs = sweep(sweep([{"name": "a"}, {"name": "b"}], [{"x": 1}]), [])
    assert cfgs.shape == (2, 1, 0) and len(cfgs) == 0 and list(cfgs) == []
