"""``Config`` (a dict with dot access), ``merge`` and ``load_config`` (YAML with ``imports:``).

Dotted keys in an update (``{"model.width": 64}``) set one nested value and keep its siblings;
a plain key replaces the value wholesale. ``load_config`` merges imports first (in order), then
the file's own keys, so later files override earlier ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from labtrack.errors import ConfigError


class Config(dict[str, Any]):
    """A dict whose keys are also attributes, at any depth.

    >>> c = Config({"lr": 0.1, "optimizer": {"momentum": 0.9}})
    >>> c.lr, c["lr"], c.optimizer.momentum
    (0.1, 0.1, 0.9)

    Nested mappings (also inside lists) become ``Config`` objects when the config is built.
    The runner adds ``out``, the config's run directory as a :class:`~pathlib.Path`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key, value in self.items():
            dict.__setitem__(self, key, _wrap(value))

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(
                f"config has no key {key!r} (keys: {', '.join(map(str, self)) or 'none'})"
            ) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __delattr__(self, key: str) -> None:
        try:
            del self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, _wrap(value))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Config, (dict(self),))

    def to_dict(self) -> dict[str, Any]:
        """A plain ``dict`` copy (nested ``Config`` objects become dicts too)."""
        return _unwrap(self)  # type: ignore[no-any-return]


def _wrap(value: Any) -> Any:
    if isinstance(value, Config):
        return value
    if isinstance(value, Mapping):
        return Config(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _unwrap(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> Config:
    """Return ``base`` updated by ``update``; neither argument is modified.

    >>> merge({"model": {"width": 32, "depth": 2}}, {"model.width": 64, "lr": 0.1})
    {'model': {'width': 64, 'depth': 2}, 'lr': 0.1}

    A dotted key sets one nested value, creating missing levels and replacing a level that
    holds something other than a mapping (as pyexp does); a plain key replaces.

    >>> merge({"a": 1}, {"a.b": 2})
    {'a': {'b': 2}}
    """
    result = Config(_unwrap(base))
    for key, value in update.items():
        if not isinstance(key, str):
            raise ConfigError(f"config keys must be strings, got {key!r}")
        parts = key.split(".")
        node: dict[str, Any] = result
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = Config()
                node[part] = child
            node = child
        node[parts[-1]] = _unwrap(value)
    return result


def load_config(path: str | Path | Iterable[str | Path]) -> Config:
    """Load a YAML config (or several, later ones overriding earlier ones).

    A file may list other files under ``imports:`` (paths relative to itself); they are merged
    first, in order, then the file's own keys, where dotted keys update nested values::

        # experiment.yaml
        imports: [base.yaml]
        model.hidden_size: 512

    Raises:
        ConfigError: a missing file, malformed YAML (file and line), an import cycle (the
            cycle), or a file whose top level is not a mapping.
    """
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    result = Config()
    for p in paths:
        result = _load_file(Path(p), result, stack=(), imported_by=None)
    return result


def _load_file(
    path: Path, base: Config, stack: tuple[Path, ...], imported_by: Path | None
) -> Config:
    """``base`` updated by ``path``'s imports, then by its own keys (dotted keys reach into
    what earlier files set)."""
    import yaml

    resolved = path.resolve()
    if resolved in stack:
        cycle = " -> ".join(str(p) for p in (*stack[stack.index(resolved) :], resolved))
        raise ConfigError(f"import cycle in YAML configs: {cycle}")
    if not resolved.is_file():
        where = f" (imported by {imported_by})" if imported_by else ""
        raise ConfigError(f"config file not found: {path}{where}")
    try:
        data = yaml.safe_load(resolved.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"malformed YAML in {path}{line}: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"malformed YAML in {path}: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    imports = data.pop("imports", None) or []
    if isinstance(imports, str):
        imports = [imports]
    if not isinstance(imports, list) or not all(isinstance(i, str) for i in imports):
        raise ConfigError(f"{path}: 'imports' must be a file name or a list of file names")
    result = base
    for name in imports:
        child = resolved.parent / name
        result = _load_file(child, result, (*stack, resolved), imported_by=path)
    try:
        return merge(result, data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
