"""The ``cnnscope`` typer app and what its commands share.

Exit codes, for CI: 0 all good, 1 an expectation or check failed, 2 the input
(spec, option, file, device) is invalid. Errors are one line on stderr, never a traceback;
signals, pipes and bugs are handled in :mod:`cnnscope.cli.entry` (130, 141, 143, 3).
"""

from __future__ import annotations

import inspect
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, cast

import typer
import typer.core

# shared with the typer-free path of cnnscope.cli.fast, re-exported for the commands
from cnnscope.cli.fast import analyze_target as analyze_target
from cnnscope.cli.fast import emit_json as emit_json
from cnnscope.cli.fast import load_spec as load_spec
from cnnscope.errors import CnnscopeError, missing_extra

if TYPE_CHECKING:
    from rich.console import Console


class _Command(typer.core.TyperCommand):
    """Usage lines name arguments as in the docs, ``TARGET``: typer 0.2x writes required ones as ``{TARGET}``."""

    def invoke(self, ctx: Any) -> Any:
        """A lean install (no torch extra) asked for a torch command: one line naming the extra, exit 2."""
        try:
            return super().invoke(ctx)
        except ImportError as exc:
            error = missing_extra(exc, f"`cnnscope {ctx.info_name}`")
            if error is None:
                raise
            fail(error)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:  # typer vendors click: its Context
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


class _Typer(typer.Typer):
    def command(self, *args: Any, **kwargs: Any) -> Any:
        """As typer's, with the docstring's paragraphs reflowed for the terminal (see :func:`reflowed`)."""
        kwargs.setdefault("cls", _Command)
        register = super().command

        def decorator(function: Any) -> Any:
            if "help" not in kwargs and function.__doc__:
                kwargs["help"] = reflowed(inspect.getdoc(function) or "")
            return register(*args, **kwargs)(function)

        return decorator


def reflowed(text: str) -> str:
    """Each paragraph on one line, for rich to wrap at the terminal's width: in "rich" markup mode a
    docstring's line breaks are kept, and wrapped again they leave a ragged half line at 80 columns.
    Paragraphs holding lists or indented lines keep their lines."""
    paragraphs = text.split("\n\n")
    return "\n\n".join(
        p if any(line.startswith((" ", "-", "*", "$", "|")) for line in p.splitlines()) else " ".join(p.split("\n"))
        for p in paragraphs
    )


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


class _LazyConsole:
    """A rich Console made on first use: commands that print only JSON or plain lines never import
    rich (a fifth of a cold ``cnnscope inspect --json``). Attribute access goes to the Console."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            # User text (names, titles, paths, labels) is printed literally: no rich markup, no :emoji:
            # codes. Piped output is read in files and pagers, not squeezed into 80 columns (COLUMNS wins).
            stream = sys.stderr if self._stderr else sys.stdout
            width = None if self._stderr or stream.isatty() or "COLUMNS" in os.environ else 150
            self._console = Console(stderr=self._stderr, highlight=False, markup=False, emoji=False, width=width)
        return getattr(self._console, name)

    def forget(self) -> None:
        """Make the Console again on next use."""
        self._console = None

    def __enter__(self) -> Any:  # rich's Live and Progress hold their console in `with` blocks
        return self.__getattr__("__enter__")()

    def __exit__(self, *exc: object) -> None:
        self.__getattr__("__exit__")(*exc)


out = cast("Console", _LazyConsole(stderr=False))
err = cast("Console", _LazyConsole(stderr=True))

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
    """Every command prints through consoles made for its own streams and environment (``COLUMNS``), also
    where one process runs several (typer's test runner, a notebook)."""
    for console in (out, err):
        cast("_LazyConsole", console).forget()


def fail(exc: CnnscopeError) -> NoReturn:
    err.print(f"error: {exc}", style="red", soft_wrap=True, markup=False)
    raise typer.Exit(2)
