"""The pipeline's entry point, as the document names it (``runners.run_training``)."""

from .runner import run_training

__all__ = ["run_training"]
