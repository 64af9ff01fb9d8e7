"""Config: dict access, dot access, nested access."""

from labtrack import Config

config = Config({"learning_rate": 0.01, "optimizer": {"lr": 0.1, "betas": [0.9, 0.99]}})

print(config["learning_rate"])  # dict-style
print(config.learning_rate)  # dot notation
print(config.optimizer.lr)  # nested access
