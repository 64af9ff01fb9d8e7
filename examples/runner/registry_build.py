"""Registry and build: classes made from configs that name them under `type`."""

from abc import ABC

from labtrack import build, load_config, register


@register
class MLP:
    def __init__(self, hidden_size: int = 256, num_layers: int = 2):
        self.hidden_size = hidden_size
        self.num_layers = num_layers


@register
class Transformer:
    def __init__(self, d_model: int = 512, num_heads: int = 8):
        self.d_model = d_model
        self.num_heads = num_heads


config = load_config("config.yaml")
model = build(MLP, config["model"])  # Creates MLP(hidden_size=512, num_layers=4)
print(type(model).__name__, model.hidden_size, model.num_layers)

# Override config with kwargs
model = build(MLP, config["model"], hidden_size=1024)
print(type(model).__name__, model.hidden_size)

# Pass existing instance (returned as-is with type check)
assert build(MLP, model) is model


# Or use base class for polymorphism
class Model(ABC):
    pass


@register
class MLP(Model):
    def __init__(self, hidden_size: int = 256, num_layers: int = 2):
        self.hidden_size = hidden_size
        self.num_layers = num_layers


model = build(Model, config["model"])  # Type-checked against Model
print(type(model).__name__, isinstance(model, Model))
