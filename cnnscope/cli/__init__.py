"""The ``cnnscope`` command line: the static commands and those that build torch models."""

from cnnscope.cli import demos, model, static, vision
from cnnscope.cli.app import app

__all__ = ["app", "demos", "main", "model", "static", "vision"]


def main() -> None:
    app()
