"""A start-up path without typer for the commands scripts call most: ``inspect TARGET --json`` (with
``--input``) and ``list --json``.

Importing typer and building its seventeen commands is two fifths of a cold ``inspect --json``. This
module serves the exact forms above with the commands' own functions and hands everything else to the
typer app (:func:`serve` returns None): any other option or order it does not know, ``--help``, a
value that looks like an option, and any error at all, which the typer path then reports itself.
The output is therefore the typer path's, byte for byte (``tests/test_fast_path.py`` compares them).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cnnscope.analysis import Analysis
    from cnnscope.spec import Spec


def load_spec(target: str, input_size: str | None = None) -> Spec:
    from cnnscope.spec.sizes import resize
    from cnnscope.zoo import load_target

    spec = load_target(target)
    return resize(spec, input_size) if input_size else spec


def analyze_target(target: str, input_size: str | None = None) -> Analysis:
    from cnnscope.analysis import analyze

    return analyze(load_spec(target, input_size))


def json_text(data: object) -> str:
    """Indented for a person at a terminal; compact (and several times faster) in a pipe."""
    return json.dumps(data, indent=2 if sys.stdout.isatty() else None) + "\n"


def emit_json(data: object) -> None:
    sys.stdout.write(json_text(data))


def _inspect_options(args: list[str]) -> tuple[str, str | None] | None:
    """(target, input size) of ``TARGET --json [--input SIZE | -i SIZE | --input=SIZE]`` in any order;
    None for anything else."""
    target: str | None = None
    input_size: str | None = None
    seen_json = seen_input = False
    rest = iter(args)
    for arg in rest:
        if arg == "--json" and not seen_json:
            seen_json = True
        elif arg in ("--input", "-i") and not seen_input:
            value = next(rest, None)
            if value is None or value.startswith("-"):  # click would take it as the value: let it
                return None
            seen_input, input_size = True, value
        elif arg.startswith("--input=") and not seen_input:
            seen_input, input_size = True, arg.removeprefix("--input=")
        elif not arg.startswith("-") and target is None:
            target = arg
        else:
            return None
    return (target, input_size) if seen_json and target is not None else None


def _document(args: list[str]) -> object | None:
    """What the command would print as JSON, or None where the typer path must answer."""
    if args[:1] == ["inspect"]:
        options = _inspect_options(args[1:])
        if options is None:
            return None
        from cnnscope.report.documents import inspect_document

        return inspect_document(analyze_target(*options))
    if args == ["list", "--json"]:
        from cnnscope.report.documents import zoo_entry
        from cnnscope.zoo import zoo_names

        return [zoo_entry(name, analyze_target(name)) for name in zoo_names()]
    return None


def serve(args: list[str]) -> int | None:
    """Run a form this module knows and return its exit code; None: the typer app must run ``args``."""
    if sys.stdout is None or sys.stderr is None:  # the typer app's set-up replaces closed streams
        return None
    try:
        document = _document(args)
        if document is None:
            return None
        text = json_text(document)
    except Exception:  # an invalid spec, a bug, memory: the typer path answers, as it always has
        return None
    sys.stdout.write(text)
    return 0
