"""The ``cnnscope`` command line: the static commands and those that build torch models."""

from cnnscope.cli import model, static, vision
from cnnscope.cli.app import app

__all__ = ["app", "main", "model", "static", "vision"]


def main() -> None:
    app()
