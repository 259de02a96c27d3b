"""The ``cnnscope`` typer app and what its commands share.

Exit codes, for CI: 0 all good, 1 an expectation or check failed, 2 the input
(spec, option, file, device) is invalid. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from cnnscope.analysis import Analysis, analyze
from cnnscope.errors import CnnscopeError
from cnnscope.spec import Spec
from cnnscope.spec.sizes import resize
from cnnscope.zoo import load_target

app = typer.Typer(
    help="Shapes, parameters, MACs and receptive fields of CNNs written as TOML specs, with the arithmetic shown.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
# Piped output is read in files and pagers, not squeezed into 80 columns (COLUMNS still wins).
out = Console(highlight=False, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 150)
err = Console(stderr=True, highlight=False)

Target = Annotated[str, typer.Argument(help="A zoo name (see `cnnscope list`) or the path of a .toml spec.")]
InputOption = Annotated[
    str | None,
    typer.Option(
        "--input",
        "-i",
        help="Input size per sample: 3x224x224, or 224x224 / 448 to change only the spatial size"
        " (token specs: the sequence length).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts (layout in docs/json.md).")]


def fail(exc: CnnscopeError) -> NoReturn:
    err.print(f"error: {exc}", style="red", soft_wrap=True, markup=False)
    raise typer.Exit(2)


def load_spec(target: str, input_size: str | None = None) -> Spec:
    spec = load_target(target)
    return resize(spec, input_size) if input_size else spec


def analyze_target(target: str, input_size: str | None = None) -> Analysis:
    return analyze(load_spec(target, input_size))


def emit_json(data: object) -> None:
    """Indented for a person at a terminal; compact (and several times faster) in a pipe."""
    sys.stdout.write(json.dumps(data, indent=2 if sys.stdout.isatty() else None) + "\n")
