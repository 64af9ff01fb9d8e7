from __future__ import annotations

from abc import ABC

import pytest

from labtrack import Config, ConfigError, build, register


class Model(ABC):
    pass


@register
class TinyMLP(Model):
    def __init__(self, hidden_size: int = 256, num_layers: int = 2):
        self.hidden_size = hidden_size
        self.num_layers = num_layers


@register
class NotAModel:
    def __init__(self, size: int = 1):
        self.size = size


def test_build_makes_the_registered_type_with_config_and_overrides():
    cfg = Config({"type": "TinyMLP", "hidden_size": 512, "num_layers": 4})
    model = build(TinyMLP, cfg)
    assert (type(model), model.hidden_size, model.num_layers) == (TinyMLP, 512, 4)
    assert build(TinyMLP, cfg, hidden_size=1024).hidden_size == 1024
    assert cfg["hidden_size"] == 512  # the config is not modified


def test_build_checks_the_type_against_a_base_class():
    assert isinstance(build(Model, {"type": "TinyMLP"}), TinyMLP)
    with pytest.raises(ConfigError, match="'NotAModel' is not a subclass of Model"):
        build(Model, {"type": "NotAModel"})


def test_build_passes_an_instance_through_after_a_type_check():
    model = TinyMLP()
    assert build(Model, model) is model
    with pytest.raises(ConfigError, match="expected a config mapping or a Model instance"):
        build(Model, NotAModel())


def test_build_of_an_unregistered_type_lists_the_registered_ones():
    with pytest.raises(ConfigError, match=r"'Nope' is not registered \(registered: .*TinyMLP"):
        build(Model, {"type": "Nope"})


def test_build_without_type_builds_the_base_itself():
    assert build(TinyMLP, {"hidden_size": 8}).hidden_size == 8
