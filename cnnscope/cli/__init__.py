"""The ``cnnscope`` command line: the static commands and those that build torch models."""

from importlib import import_module

from cnnscope.cli.app import app

# Importing a module registers its commands; this order is the order of --help.
for _module in ("static", "draw", "model", "importing", "vision", "demos"):
    import_module(f"cnnscope.cli.{_module}")

__all__ = ["app", "main"]


def main() -> None:
    """The console script: exit codes, signals and broken pipes are handled in :mod:`cnnscope.cli.entry`."""
    from cnnscope.cli.entry import main as run_main

    run_main()
