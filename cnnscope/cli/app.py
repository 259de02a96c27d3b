"""The ``cnnscope`` typer app and what its commands share.

Exit codes, for CI: 0 all good, 1 an expectation or check failed, 2 the input
(spec, option, file, device) is invalid. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from cnnscope.analysis import Analysis, analyze
from cnnscope.errors import CnnscopeError
from cnnscope.layers import fmt_shape
from cnnscope.spec import Spec
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


def resize(spec: Spec, text: str) -> Spec:
    """Apply ``--input``: a full shape, or just the spatial size, or a sequence length."""
    if not re.fullmatch(r"\d+([x\u00d7,]\d+)*", text.strip()):
        raise CnnscopeError(f"--input '{text}' is not a size such as 3x224x224 or 224")
    dims = tuple(int(d) for d in re.split(r"[x\u00d7,]", text.strip()))
    if any(d <= 0 for d in dims):
        raise CnnscopeError(f"--input '{text}': sizes must be positive")
    shape = spec.input.shape
    if len(dims) == len(shape):
        return spec.with_input(dims)
    if len(shape) >= 2 and len(dims) == 1:
        return spec.with_input((shape[0],) + dims * (len(shape) - 1))
    if len(shape) == 3 and len(dims) == 2:
        return spec.with_input((shape[0], *dims))
    raise CnnscopeError(f"--input '{text}' does not fit the spec's input {fmt_shape(shape)}")


def load_spec(target: str, input_size: str | None = None) -> Spec:
    spec = load_target(target)
    return resize(spec, input_size) if input_size else spec


def analyze_target(target: str, input_size: str | None = None) -> Analysis:
    return analyze(load_spec(target, input_size))


def emit_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
