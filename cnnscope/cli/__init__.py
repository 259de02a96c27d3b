"""The ``cnnscope`` command line: the static commands and those that build torch models.

The console script starts here without importing typer: :mod:`cnnscope.cli.fast` answers the forms
scripts call most, and the typer ``app`` is built on first use (``from cnnscope.cli import app``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

__all__ = ["app", "main", "typer_app"]


def __getattr__(name: str) -> Any:
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return typer_app()


def typer_app() -> typer.Typer:
    """The typer app with every command registered (imports typer: some 40 ms)."""
    from cnnscope.cli.app import app

    # Importing a module registers its commands; this order is the order of --help.
    for module in ("static", "draw", "model", "importing", "vision", "demos"):
        import_module(f"cnnscope.cli.{module}")
    # Importing the submodule cnnscope.cli.app bound its name here: the typer app takes it back.
    globals()["app"] = app
    return app


def main() -> None:
    """The console script: exit codes, signals and broken pipes are handled in :mod:`cnnscope.cli.entry`."""
    from cnnscope.cli.entry import main as run_main

    run_main()
