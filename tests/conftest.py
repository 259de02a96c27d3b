"""Shared helpers: run the CLI in-process, parse spec text, find the zoo."""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path

# Compiled modules are kept in __pycache__ (ignored by git) even where PYTHONDONTWRITEBYTECODE is set: every
# test worker and every `cnnscope` process the tests start would otherwise compile the same sources again
# (collecting the suite took 4.5 s longer per worker). Set before cnnscope is imported, and passed on.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

import pytest  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from cnnscope.analysis import Analysis, analyze  # noqa: E402
from cnnscope.cli import app  # noqa: E402
from cnnscope.spec import parse  # noqa: E402

if os.environ.get("PYTEST_XDIST_WORKER"):  # several workers share the cores: one torch thread each (set before
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # torch is imported, as its thread pool reads it once)

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collecting imported (torch, torchvision, timm, onnx, textual: millions of objects) lives to the end:
    the garbage collector leaves it out of its passes from here on, as CPython's gc.freeze is meant for (a
    full pass over it took half a second). And a pass starts after 100,000 new objects rather than 700: the
    TUI tests make Textual allocate millions of short-lived ones (the suite: 281 s -> 263 s here)."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 50)


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
