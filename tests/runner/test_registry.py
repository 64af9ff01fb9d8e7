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
    with pytest.raises(TypeError, match="'NotAModel' is not a subclass of Model"):
        build(Model, {"type": "NotAModel"})


def test_build_passes_an_instance_through_after_a_type_check():
    model = TinyMLP()
    assert build(Model, model) is model
    with pytest.raises(TypeError, match="expected a Model, got NotAModel"):
        build(Model, NotAModel())


def test_build_of_an_unregistered_type_is_a_key_error_listing_the_registered_ones():
    with pytest.raises(KeyError, match=r"'Nope' is not registered \(registered: .*TinyMLP"):
        build(Model, {"type": "Nope"})
    with pytest.raises(ConfigError):  # also labtrack's own error
        build(Model, {"type": "Nope"})


def test_build_without_type_is_a_key_error_as_in_pyexp():
    with pytest.raises(KeyError, match="no 'type' key") as info:
        build(TinyMLP, {"hidden_size": 8})
    assert "hidden_size" in str(info.value) and not str(info.value).startswith("'")
    with pytest.raises(ValueError, match="None"):
        build(TinyMLP, None)


def test_build_passes_extra_positional_arguments_to_the_constructor():
    @register
    class Optimizer:
        def __init__(self, params, lr=0.001):
            self.params, self.lr = params, lr

    opt = build(Optimizer, {"type": "Optimizer", "lr": 0.1}, ["w1", "w2"])
    assert (opt.params, opt.lr) == (["w1", "w2"], 0.1)
    assert build(Optimizer, {"type": "Optimizer"}, [], lr=0.5).lr == 0.5


def test_registering_a_second_class_under_a_taken_name_raises_runtime_error():
    @register
    class Encoder:
        pass

    with pytest.raises(RuntimeError, match="'Encoder' already exists in registry"):
        register(type("Encoder", (), {}))  # another class (defined elsewhere), same name

    register(Encoder)  # the same class again is fine (a re-imported module does this)
