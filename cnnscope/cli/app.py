"""The ``cnnscope`` typer app and what its commands share.

Exit codes, for CI: 0 all good, 1 an expectation or check failed, 2 the input
(spec, option, file, device) is invalid. Errors are one line on stderr, never a traceback;
signals, pipes and bugs are handled in :mod:`cnnscope.cli.entry` (130, 141, 143, 3).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any, NoReturn

import typer
import typer.core
from rich.console import Console

from cnnscope.analysis import Analysis, analyze
from cnnscope.errors import CnnscopeError, missing_torch_extra
from cnnscope.spec import Spec
from cnnscope.spec.sizes import resize
from cnnscope.zoo import load_target


class _Command(typer.core.TyperCommand):
    """Usage lines name arguments as in the docs, ``TARGET``: typer 0.2x writes required ones as ``{TARGET}``."""

    def invoke(self, ctx: Any) -> Any:
        """A lean install (no torch extra) asked for a torch command: one line naming the extra, exit 2."""
        try:
            return super().invoke(ctx)
        except ImportError as exc:
            error = missing_torch_extra(exc, f"`cnnscope {ctx.info_name}`")
            if error is None:
                raise
            fail(error)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:  # typer vendors click: its Context
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


class _Typer(typer.Typer):
    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", _Command)
        return super().command(*args, **kwargs)


app = _Typer(
    help="Shapes, parameters, MACs and receptive fields of CNNs written as TOML specs, with the arithmetic shown.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def _usable_streams() -> None:
    """A closed stdout or stderr (``cnnscope inspect x >&-``) is None in Python: write to nowhere instead,
    and a COLUMNS or LINES that is no positive number (COLUMNS=0 would hide every line) counts as unset."""
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (open for the whole run)
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    for name in ("COLUMNS", "LINES"):
        value = os.environ.get(name)
        if value is not None and not (value.isascii() and value.isdigit() and len(value) < 6 and int(value) > 0):
            del os.environ[name]


_usable_streams()
# User text (names, titles, paths, labels) is printed literally: no rich markup, no :emoji: codes.
# Piped output is read in files and pagers, not squeezed into 80 columns (COLUMNS still wins).
out = Console(
    highlight=False, markup=False, emoji=False, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 150
)
err = Console(stderr=True, highlight=False, markup=False, emoji=False)

Target = Annotated[
    str, typer.Argument(metavar="TARGET", help="A zoo name (see `cnnscope list`) or the path of a .toml spec.")
]
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


def _print_version(value: bool) -> None:
    if value:
        from cnnscope import __version__

        typer.echo(f"cnnscope {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    pass


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
