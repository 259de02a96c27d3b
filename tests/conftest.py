"""Shared helpers: run the CLI in-process, parse spec text, find the zoo."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnnscope.analysis import Analysis, analyze
from cnnscope.cli import app
from cnnscope.spec import parse

if os.environ.get("PYTEST_XDIST_WORKER"):  # several workers share the cores: one torch thread each (set before
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # torch is imported, as its thread pool reads it once)

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args))

    return invoke


def analyze_text(text: str) -> Analysis:
    return analyze(parse(text, path="test.toml"))


def inspect_json(cli, *args: str) -> dict:
    result = cli("inspect", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def record_output_shapes(model, names) -> dict:
    """Forward hooks on the submodules named ``names``: name -> output shape, filled by a forward pass."""
    recorded: dict[str, tuple[int, ...]] = {}
    for name in names:
        model.get_submodule(name).register_forward_hook(
            lambda _module, _inputs, out, key=name: recorded.__setitem__(key, tuple(out.shape))
        )
    return recorded
