"""Tests of labtrack.importers: real TensorBoard, MLflow and W&B files read back."""
