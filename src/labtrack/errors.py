"""labtrack's one error hierarchy.

A leaf module: it imports nothing of ours, so every package (``store`` included) may use it.

::

    LabtrackError
    ├── ConfigError          (also a ValueError) bad configuration, names the key path
    │   └── ConfigKeyError   (also a KeyError) a key that must be there is missing
    │       └── UnknownTypeError  build() of a type nobody registered (lists the registered)
    ├── RegistryError        (also a RuntimeError) two different classes @register one name
    ├── BuildTypeError       (also a TypeError) build() made or got an object of the wrong class
    ├── StoreError           a store or run directory cannot be used as asked
    │   ├── RunLockedError   a second writer tried to open a running run
    │   ├── UnreadableRunError  a run's metadata is missing or corrupt
    │   └── DataLossError    finish() could not write everything that was logged
    ├── SinkError            a mirror (MLflow, TensorBoard, ...) failed
    ├── ExecutorError        the runner could not execute a config
    │   └── UnknownExecutorError  (also a ValueError) no executor has that name (lists them)
    ├── SerializationError   a checkpoint or result could not be written or read
    └── MissingExtraError    (also an ImportError) an optional dependency is not installed

Bad values passed to logging calls raise the built-in ``TypeError`` / ``ValueError`` so that
users can catch them the way they catch any Python argument error.
"""

from __future__ import annotations


class LabtrackError(Exception):
    """Base class of every error labtrack raises on purpose."""


class ConfigError(LabtrackError, ValueError):
    """A configuration value or file is invalid; the message names the key path or file."""


class ConfigKeyError(ConfigError, KeyError):
    """A required key is missing (``except KeyError`` catches it, as pyexp users expect)."""

    def __str__(self) -> str:
        # KeyError's str() is the repr of its argument; the message reads better unquoted.
        return str(self.args[0]) if self.args else ""


class UnknownTypeError(ConfigKeyError):
    """``build()`` was asked for a type that is not registered; the message lists those that are."""


class RegistryError(LabtrackError, RuntimeError):
    """``@register`` of a second, different class under a name already taken."""


class BuildTypeError(LabtrackError, TypeError):
    """``build(base, ...)`` made or was given an object that is not a ``base``."""


class StoreError(LabtrackError):
    """A store or run directory cannot be used as asked."""


class RunLockedError(StoreError):
    """A run is already being written by a live process (one writer per run)."""


class UnreadableRunError(StoreError):
    """A run directory's metadata is missing or corrupt."""


class DataLossError(StoreError):
    """``finish()`` could not write everything that was logged (a disk that stayed full); what
    was written is readable and the run's metadata records the loss."""


class SinkError(LabtrackError):
    """A mirror to another tool failed."""


class ExecutorError(LabtrackError):
    """The runner could not execute a config."""


class UnknownExecutorError(ExecutorError, ValueError):
    """An executor name that does not exist; the message lists the valid names."""


class SerializationError(LabtrackError):
    """A checkpoint, buffer or result could not be written or read back."""


class MissingExtraError(LabtrackError, ImportError):
    """An optional dependency is missing; the message gives the exact install command."""

    def __init__(self, package: str, extra: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs the '{package}' package, which is not installed. "
            f'Install it with: pip install "labtrack[{extra}]"'
        )
        self.package = package
        self.extra = extra


def require(module: str, extra: str, feature: str) -> object:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(module.split(".")[0], extra, feature) from exc
