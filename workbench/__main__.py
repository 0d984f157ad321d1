"""`python -m workbench` runs the CLI."""

from workbench.cli.main import entrypoint

entrypoint()
