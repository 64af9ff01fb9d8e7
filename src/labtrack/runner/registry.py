"""``@register`` and ``build``: make objects from configs that name their class under ``type``.

The registry is a plain dict filled only by explicit ``@register`` calls. The runner ships a
snapshot of it with every config it sends to a worker, so ``build`` works in subprocesses and
on Ray workers that never imported the script that registered the classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from labtrack.errors import ConfigError

T = TypeVar("T")

_REGISTRY: dict[str, type] = {}


def register(cls: type[T]) -> type[T]:
    """Register a class under its name so that configs can say ``type: <name>``.

    >>> @register
    ... class MLP:
    ...     def __init__(self, hidden_size: int = 256):
    ...         self.hidden_size = hidden_size
    >>> build(MLP, {"type": "MLP", "hidden_size": 512}).hidden_size
    512
    """
    if not isinstance(cls, type):
        raise TypeError(f"@register decorates a class, got {type(cls).__name__}")
    _REGISTRY[cls.__name__] = cls
    return cls


def registered() -> dict[str, type]:
    """A copy of the registry (name -> class)."""
    return dict(_REGISTRY)


def install(classes: Mapping[str, type]) -> None:
    """Add classes to this process's registry (used by workers); existing names are kept."""
    for name, cls in classes.items():
        _REGISTRY.setdefault(name, cls)


def build(base: type[T], config: Any, /, **overrides: Any) -> T:
    """Make an instance of the class that ``config["type"]`` names, checked against ``base``.

    Args:
        base: the class the result must be an instance of (a registered class or a base).
        config: a mapping with ``type`` and constructor arguments, or an instance of ``base``
            (returned as is). Without ``type``, ``base`` itself is built.
        overrides: constructor arguments that replace the config's.

    Raises:
        ConfigError: the type is not registered (the message lists the registered ones), or it
            is not a subclass of ``base``, or ``config`` is neither a mapping nor a ``base``.
    """
    if isinstance(config, base) and not isinstance(config, Mapping):
        if overrides:
            raise ConfigError(f"build({base.__name__}, ...): cannot apply overrides to an instance")
        return config
    if not isinstance(config, Mapping):
        raise ConfigError(
            f"build({base.__name__}, ...): expected a config mapping or a {base.__name__} "
            f"instance, got {type(config).__name__}"
        )
    kwargs = {**config, **overrides}
    type_name = kwargs.pop("type", None)
    if type_name is None:
        cls: type = base
    elif isinstance(type_name, type):
        cls = type_name
    else:
        found = _REGISTRY.get(str(type_name))
        if found is None:
            known = ", ".join(sorted(_REGISTRY)) or "none"
            raise ConfigError(
                f"build({base.__name__}, ...): type {type_name!r} is not registered "
                f"(registered: {known}); decorate the class with @register"
            )
        cls = found
    if not issubclass(cls, base):
        raise ConfigError(
            f"build({base.__name__}, ...): type {cls.__name__!r} is not a subclass of "
            f"{base.__name__}"
        )
    obj = cls(**kwargs)
    return obj  # type: ignore[no-any-return]
