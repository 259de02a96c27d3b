"""The ``cnnscope`` command line: the static commands and those that build torch models."""

from cnnscope.cli import model, static
from cnnscope.cli.app import app

__all__ = ["app", "main", "model", "static"]


def main() -> None:
    app()
