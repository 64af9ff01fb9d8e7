"""``sweep``: the cartesian product of configs and variations, as a ``Tensor`` one axis larger."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from labtrack.errors import ConfigError
from labtrack.runner.config import Config, merge
from labtrack.runner.tensor import Tensor


def sweep(
    configs: Tensor | Iterable[Mapping[str, Any]], variations: Sequence[Mapping[str, Any]]
) -> Tensor:
    """Combine every config with every variation; the result gains one axis.

    >>> cfgs = sweep([{"name": "exp", "mlp": {"width": 32, "depth": 2}}],
    ...              [{"name": "w64", "mlp.width": 64}, {"name": "w128", "mlp.width": 128}])
    >>> cfgs.shape, [c.name for c in cfgs], cfgs[0, 1].mlp
    ((1, 2), ['exp_w64', 'exp_w128'], {'width': 128, 'depth': 2})

    Names are joined with ``_`` (empty parts skipped); dotted keys update one nested value.
    An empty list of variations gives an empty axis (shape ``old_shape + (0,)``), as in pyexp.
    """
    base = configs if isinstance(configs, Tensor) else Tensor(configs)
    if isinstance(variations, Mapping) or not isinstance(variations, Sequence):
        raise ConfigError("sweep(configs, variations): variations must be a list of dicts")
    for i, var in enumerate(variations):
        if not isinstance(var, Mapping):
            raise ConfigError(f"sweep variation {i} must be a dict, got {type(var).__name__}")
    out: list[Config] = []
    for i, cfg in enumerate(base):
        if not isinstance(cfg, Mapping):
            raise ConfigError(f"sweep config {i} must be a dict, got {type(cfg).__name__}")
        for var in variations:
            update = {k: v for k, v in var.items() if k != "name"}
            merged = merge(cfg, update)
            names = [str(n) for n in (cfg.get("name"), var.get("name")) if n not in (None, "")]
            if names:
                merged["name"] = "_".join(names)
            out.append(merged)
    return Tensor(out, (*base.shape, len(variations)))
