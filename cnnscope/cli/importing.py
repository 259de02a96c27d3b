"""``cnnscope import``: a PyTorch model -> a spec. torch is imported inside the command only."""

from __future__ import annotations

from typing import Annotated

import typer

from cnnscope.cli.app import app, err, fail, out
from cnnscope.errors import CnnscopeError
from cnnscope.spec.parse import check_spec_name

PANEL = "Torch models"
TOLERANCE = 1e-4  # largest output difference, relative to the output's scale, that still counts as equal


@app.command("import", rich_help_panel=PANEL)
def import_command(
    target: Annotated[
        str,
        typer.Argument(
            metavar="TARGET",
            help="package.module:callable (torchvision.models:resnet50), path/to/file.py:Name (called without"
            " arguments), or timm:NAME (timm.create_model, random weights).",
        ),
    ],
    input_size: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            help="Input size per sample that the model is read on [default: timm's for timm:NAME, else 3x224x224].",
        ),
    ] = None,
    destination: Annotated[
        str | None, typer.Option("--out", "-o", help="Write the spec here (.toml) instead of to stdout.")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="The spec's name (default: the callable's).")] = None,
) -> None:
    """Read a PyTorch model and write it as a spec, checked against the model first.

    The model is put in eval mode and read with torch.fx on one random input. Layer names are the
    module's own, repeated submodules become blocks. Before anything is written, the model's
    state_dict is loaded into the spec and both must give the same outputs.

    This imports the target's module and calls it: its code runs, as `python -c "import ..."`
    would run it. Import only models whose code you trust. What the target prints goes to stderr,
    so that stdout holds the spec alone.
    """
    try:
        from cnnscope.spec.sizes import parse_size

        shape = parse_size(input_size) if input_size else None
        if name is not None:
            check_spec_name(name)
        with err.status("importing torch and reading the model..."):
            from cnnscope.importer import ImportFailure, check_import, load_model, read_module, running_target

            with running_target(target):
                module, attribute, default_shape = load_model(target)
                spec, left_out = read_module(module, shape or default_shape, name=name or attribute, origin=target)
                difference = check_import(module, spec)
        for path, count in left_out.items():
            err.print(f"left out {path} ({count:,} parameters): eval mode does not use it", markup=False)
        if difference > TOLERANCE:
            raise ImportFailure(
                f"the written spec does not compute the model's function (outputs differ by {difference:.2g})",
                hint="please report this model",
            )
        assert spec.source is not None
        if destination:
            from cnnscope.files import write_text_atomically

            write_text_atomically(destination, spec.source)
    except CnnscopeError as exc:
        fail(exc)
    lines = sum(1 for line in spec.source.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    summary = (
        f"{len(spec.nodes)} layers in {lines} lines of TOML (besides comments); outputs equal to the original's"
        f" (largest difference {difference:.1g} of the output's scale)"
    )
    if destination:
        out.print(f"wrote {destination}: {summary}", markup=False, soft_wrap=True)
    else:
        typer.echo(spec.source, nl=False)
        err.print(summary, markup=False)
