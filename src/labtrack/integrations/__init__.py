"""Integrations: thin adapters from training frameworks' hooks to labtrack's tracking API.

Leaves of the package graph: nothing of ours imports them, and each imports its framework
(``sb3`` imports Stable-Baselines3) when it is imported itself, never from ``import labtrack``.
"""
