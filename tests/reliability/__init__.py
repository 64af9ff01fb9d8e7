"""The reliability suite: issue 9's guarantees checked with real processes, kills and damage.

The checks live in the ``_*.py`` helper modules so that ``bench/soak.py`` runs the same ones at a
larger scale; the ``test_*.py`` files run them at CI sizes and assert the guarantees.
"""
