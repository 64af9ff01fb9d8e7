from __future__ import annotations

import pickle

import pytest

from labtrack import Config, ConfigError, load_config, merge


def test_config_gives_dict_and_dot_access_at_any_depth():
    config = Config({"lr": 0.1, "optimizer": {"momentum": 0.9, "betas": [{"b": 1}]}})
    assert config["lr"] == config.lr == 0.1
    assert config.optimizer.momentum == 0.9
    assert config.optimizer.betas[0].b == 1
    config.epochs = 3
    assert config["epochs"] == 3
    with pytest.raises(AttributeError, match="no key 'missing'"):
        config.missing


def test_config_pickles_and_converts_back_to_plain_dicts():
    config = Config({"a": {"b": 1}})
    again = pickle.loads(pickle.dumps(config))
    assert again == config and isinstance(again.a, Config)
    assert type(config.to_dict()["a"]) is dict


def test_merge_dotted_keys_update_one_nested_value_and_keep_siblings():
    base = {"mlp": {"width": 32, "depth": 2}, "lr": 0.1}
    assert merge(base, {"mlp.width": 64}) == {"mlp": {"width": 64, "depth": 2}, "lr": 0.1}
    assert merge(base, {"a.b.c": 1})["a"] == {"b": {"c": 1}}
    assert base == {"mlp": {"width": 32, "depth": 2}, "lr": 0.1}  # not modified


def test_merge_plain_key_replaces_the_whole_value():
    assert merge({"mlp": {"width": 32, "depth": 2}}, {"mlp": {"width": 64}}) == {
        "mlp": {"width": 64}
    }


def test_a_dotted_key_replaces_a_non_mapping_level_as_in_pyexp():
    assert merge({"a": 1}, {"a.b": 2}) == {"a": {"b": 2}}
    assert merge({"lr": 0.1, "x": 1}, {"lr.value": 1}) == {"lr": {"value": 1}, "x": 1}


def test_load_config_resolves_imports_relative_to_the_importing_file(tmp_path):
    (tmp_path / "configs" / "shared").mkdir(parents=True)
    (tmp_path / "configs" / "shared" / "base.yaml").write_text(
        "model:\n  hidden_size: 256\n  num_layers: 4\nlearning_rate: 0.001\n"
    )
    (tmp_path / "configs" / "exp.yaml").write_text(
        "imports:\n  - shared/base.yaml\nmodel.hidden_size: 512\nbatch_size: 32\n"
    )
    config = load_config(tmp_path / "configs" / "exp.yaml")
    assert config == {
        "model": {"hidden_size": 512, "num_layers": 4},
        "learning_rate": 0.001,
        "batch_size": 32,
    }
    assert isinstance(config, Config) and config.model.num_layers == 4


def test_load_config_later_files_override_earlier_ones(tmp_path):
    (tmp_path / "a.yaml").write_text("x: 1\ny: {p: 1, q: 2}\n")
    (tmp_path / "b.yaml").write_text("x: 2\ny.q: 3\n")
    assert load_config(["a.yaml", "b.yaml"]) == {"x": 2, "y": {"p": 1, "q": 3}}


def test_load_config_names_an_import_cycle(tmp_path):
    (tmp_path / "a.yaml").write_text("imports: [b.yaml]\n")
    (tmp_path / "b.yaml").write_text("imports: [a.yaml]\n")
    with pytest.raises(ConfigError, match=r"import cycle.*a\.yaml -> .*b\.yaml -> .*a\.yaml"):
        load_config("a.yaml")


def test_load_config_names_a_missing_import_and_who_imports_it(tmp_path):
    (tmp_path / "a.yaml").write_text("imports: [nope.yaml]\n")
    with pytest.raises(ConfigError, match=r"not found: .*nope\.yaml \(imported by a\.yaml\)"):
        load_config("a.yaml")
    with pytest.raises(ConfigError, match="not found: missing.yaml"):
        load_config("missing.yaml")


def test_load_config_reports_malformed_yaml_with_file_and_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(ConfigError, match=r"malformed YAML in bad\.yaml, line \d+"):
        load_config("bad.yaml")


def test_load_config_refuses_a_non_mapping_file(tmp_path):
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config("list.yaml")
