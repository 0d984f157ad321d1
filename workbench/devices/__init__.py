"""Devices the workbench does not search on: kernel features and per-device latency predictors."""
