"""``cnnscope draw``: the architecture figure of a spec, as SVG or PNG (torch is never imported)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cnnscope.cli.app import InputOption, Target, analyze_target, app, err, fail
from cnnscope.errors import CnnscopeError

PANEL = "Static analysis (no torch)"
FORMATS = (".svg", ".png")


@app.command(rich_help_panel=PANEL)
def draw(
    target: Target,
    out_file: Annotated[
        Path, typer.Option("--out", "-o", help="Where to write the figure: a .svg (vector, text kept) or .png file.")
    ],
    style: Annotated[
        str | None,
        typer.Option(
            "--style",
            "-s",
            help="volumes: feature maps as boxes (default for chains); graph: blocks top down, branches side by"
            " side (default where the net branches).",
        ),
    ] = None,
    depth: Annotated[
        int | None,
        typer.Option(
            "--depth",
            "-d",
            min=1,
            help="Fold blocks nested deeper than N into one box each (1: every top-level block is a box);"
            " default: as deep as fits the slide. Identical repeated blocks are drawn once with 'x N'.",
        ),
    ] = None,
    fit: Annotated[
        str,
        typer.Option(
            "--fit",
            help="slide: fold and wrap so that every text is at least 9 px on a 1920x1080 slide (what was"
            " folded is said on stderr); none: every layer (or as deep as --depth) at full size.",
        ),
    ] = "slide",
    input_size: InputOption = None,
) -> None:
    """Draw the architecture figure, every size in it computed: for slides and papers.

    By default it fits a 16:9 slide: blocks are folded (identical repeats as 'x N', different ones
    as a stage box saying what it spans) and long chains wrapped until every text is legible.
    Every box in the SVG carries data-params, data-layers and a hover title with the exact numbers.
    Each output of a model that returns several is tagged with its key and shape; outputs on
    branches of their own are drawn as a graph, even with --style volumes (said on stderr).
    """
    from cnnscope.draw import draw, to_png
    from cnnscope.files import write_bytes_atomically

    try:
        suffix = out_file.suffix.lower()
        if suffix not in FORMATS:
            raise CnnscopeError(
                f"cannot draw into '{out_file.name}': the file must end in .svg or .png", path=str(out_file)
            )
        analysis = analyze_target(target, input_size)
        figure = draw(analysis, style, depth, fit)
        data = to_png(figure) if suffix == ".png" else figure.to_svg().encode("utf-8")
        write_bytes_atomically(out_file, data)
    except CnnscopeError as exc:
        fail(exc)
    if figure.note:
        err.print(figure.note, markup=False, highlight=False, soft_wrap=True)
    err.print(f"wrote {out_file}", markup=False, highlight=False, soft_wrap=True)  # a path is never broken
