"""``@register`` and ``build``: make objects from configs that name their class under ``type``.

The registry is a plain dict filled only by explicit ``@register`` calls. The runner ships a
snapshot of it with every config it sends to a worker, so ``build`` works in subprocesses and
on Ray workers that never imported the script that registered the classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from labtrack.errors import (
    BuildTypeError,
    ConfigError,
    ConfigKeyError,
    RegistryError,
    UnknownTypeError,
)

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

    Raises:
        RegistryError: (a ``RuntimeError``, as in pyexp) another class is already registered
            under this name. The same definition executed again (a script re-imported by a
            worker, a module reloaded) replaces the old entry instead.
    """
    if not isinstance(cls, type):
        raise TypeError(f"@register decorates a class, got {type(cls).__name__}")
    old = _REGISTRY.get(cls.__name__)
    if old is not None and old is not cls and _origin(old) != _origin(cls):
        raise RegistryError(
            f"Class with name {cls.__name__!r} already exists in registry! "
            f"({old.__module__}.{old.__qualname__} is registered; cannot also register "
            f"{cls.__module__}.{cls.__qualname__})"
        )
    _REGISTRY[cls.__name__] = cls
    return cls


def _origin(cls: type) -> tuple[str, str]:
    # ``__main__`` and ``__mp_main__`` are the same script seen from a driver and a worker.
    module = "__main__" if cls.__module__ == "__mp_main__" else cls.__module__
    return module, cls.__qualname__


def registered() -> dict[str, type]:
    """A copy of the registry (name -> class)."""
    return dict(_REGISTRY)


def install(classes: Mapping[str, type]) -> None:
    """Add classes to this process's registry (used by workers); existing names are kept."""
    for name, cls in classes.items():
        _REGISTRY.setdefault(name, cls)


def build(base: type[T], config: Any, /, *args: Any, **overrides: Any) -> T:
    """Make an instance of the class that ``config["type"]`` names, checked against ``base``.

    >>> @register
    ... class Adam:
    ...     def __init__(self, params, lr=0.001):
    ...         self.params, self.lr = params, lr
    >>> opt = build(Adam, {"type": "Adam", "lr": 0.01}, ["w"])
    >>> opt.params, opt.lr, build(Adam, opt) is opt
    (['w'], 0.01, True)

    Args:
        base: the class the result must be an instance of (a registered class or a base).
        config: a mapping with ``type`` and constructor arguments; anything else (an
            instance made earlier) is returned as is after the check against ``base``.
        args: positional arguments passed to the constructor before the config's keywords.
        overrides: constructor arguments that replace the config's.

    Raises:
        ConfigKeyError: (a ``KeyError``) the mapping has no ``type``.
        UnknownTypeError: (a ``KeyError``) the type is not registered; the message lists
            the registered ones.
        BuildTypeError: (a ``TypeError``) the object made or given is not a ``base``.
        ConfigError: (a ``ValueError``) ``config`` is None.
    """
    if config is None:
        raise ConfigError(f"build({base.__name__}, None): cannot build from a None config")
    if not isinstance(config, Mapping):
        if overrides or args:
            raise BuildTypeError(
                f"build({base.__name__}, ...): cannot apply arguments to an existing "
                f"{type(config).__name__} instance"
            )
        return _checked(base, config)
    kwargs = {**config, **overrides}
    if "type" not in kwargs:
        raise ConfigKeyError(
            f"build({base.__name__}, ...): the config has no 'type' key naming the class to "
            f"build (keys: {', '.join(map(str, config)) or 'none'})"
        )
    type_name = kwargs.pop("type")
    if isinstance(type_name, type):
        cls: type = type_name
    else:
        found = _REGISTRY.get(str(type_name))
        if found is None:
            known = ", ".join(sorted(_REGISTRY)) or "none"
            raise UnknownTypeError(
                f"build({base.__name__}, ...): type {type_name!r} is not registered "
                f"(registered: {known}); decorate the class with @register"
            )
        cls = found
    if not issubclass(cls, base):
        raise BuildTypeError(
            f"build({base.__name__}, ...): type {cls.__name__!r} is not a subclass of "
            f"{base.__name__}"
        )
    return _checked(base, cls(*args, **kwargs))


def _checked(base: type[T], obj: Any) -> T:
    if not isinstance(obj, base):
        raise BuildTypeError(
            f"build({base.__name__}, ...): expected a {base.__name__}, got {type(obj).__name__}"
        )
    return obj
