"""``cnnscope import``: a PyTorch model or an ONNX file -> a spec. torch is imported inside the command only,
and an ONNX file is read without it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cnnscope.cli.app import app, err, fail, out
from cnnscope.errors import CnnscopeError
from cnnscope.report.numbers import counted
from cnnscope.spec.parse import check_spec_name

PANEL = "Torch models"
# suffixes of files that are not a spec: `--out net.json` would otherwise hold TOML
NOT_A_SPEC = frozenset({".json", ".onnx", ".pt", ".pth", ".safetensors", ".py", ".yaml", ".yml", ".png", ".svg"})
TOLERANCE = 1e-4  # largest output difference, relative to the output's scale, that still counts as equal

if TYPE_CHECKING:
    from cnnscope.importer.onnx import OnnxReading
    from cnnscope.layers import Shape
    from cnnscope.spec import Spec


@app.command("import", rich_help_panel=PANEL)
def import_command(
    target: Annotated[
        str,
        typer.Argument(
            metavar="TARGET",
            help="package.module:callable (torchvision.models:resnet50), path/to/file.py:Name (called without"
            " arguments), timm:NAME (timm.create_model, random weights), or an ONNX file (model.onnx).",
        ),
    ],
    input_size: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            help="Input size per sample that the model is read on, channels first (3x160x160, 1x28x28,"
            " 3x16x112x112), or one number for every spatial side with the default's channels (160)"
            " [default: the ONNX file's, timm's for timm:NAME, else 3x224x224].",
        ),
    ] = None,
    destination: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            help="Write the spec here (.toml) instead of to stdout; an ONNX file's weights go beside it"
            " (.safetensors).",
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="The spec's name (default: the callable's, or the file's).")
    ] = None,
) -> None:
    """Read a PyTorch model and write it as a spec, checked against the model first.

    The model is put in eval mode and read with torch.fx on one random input. Layer names are the
    module's own, repeated submodules become blocks. Before anything is written, the model's
    state_dict is loaded into the spec and both must give the same outputs.

    This imports the target's module and calls it: its code runs, as `python -c "import ..."`
    would run it. Import only models whose code you trust. What the target prints goes to stderr,
    so that stdout holds the spec alone.

    An ONNX file (the onnx extra) is read without running any code: its initializers become a
    .safetensors file beside the spec. With torch, the spec-built model is checked against
    onnxruntime on the file first; without, the spec says it was not checked.
    """
    try:
        from cnnscope.spec.sizes import fitted, parse_size

        shape = parse_size(input_size) if input_size else None
        if destination and Path(destination).suffix.lower() in NOT_A_SPEC:
            raise CnnscopeError(
                "--out names the spec, a .toml file",
                path=destination,
                hint="an ONNX file's weights go beside it; for JSON, `cnnscope inspect SPEC --json`",
            )
        if name is not None:
            check_spec_name(name)
        if target.lower().endswith(".onnx"):
            _import_onnx(target, shape, destination, name)
            return
        with err.status("importing torch and reading the model..."):
            from cnnscope.importer import ImportFailure, check_import, load_model, read_module, running_target

            with running_target(target):
                module, attribute, default_shape = load_model(target)
                if shape is not None and input_size is not None and len(shape) == 1:  # 160 is 3x160x160
                    shape = fitted(shape, default_shape, input_size, "the model's default input")
                spec, run = read_module(module, shape or default_shape, name=name or attribute, origin=target)
                difference = check_import(module, spec, against=run)  # against the reading's own run of the model
        for path, count in run.unreached.items():
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
        f"{counted(len(spec.nodes), 'layer')} in {counted(lines, 'line')} of TOML (besides comments); outputs equal"
        " to the original's"
        f" (largest difference {difference:.1g} of the output's scale)"
    )
    if destination:
        out.print(f"wrote {destination}: {summary}", markup=False, soft_wrap=True)
    else:
        typer.echo(spec.source, nl=False)
        err.print(summary, markup=False)


def _import_onnx(target: str, shape: Shape | None, destination: str | None, name: str | None) -> None:
    """``cnnscope import model.onnx``: the spec and its weights, checked against onnxruntime where torch is."""
    weights_path = Path(destination).with_suffix(".safetensors") if destination else None
    with err.status("reading the ONNX file..."):
        from cnnscope.importer.onnx import annotated, from_onnx

        spec, reading = from_onnx(target, shape, name=name)
    verdict, notes = _check_onnx(Path(target), spec, reading)
    if weights_path is not None:
        notes.append(
            f"Weights: {weights_path.name} beside this file (cnnscope build ... --weights {weights_path.name})."
        )
    spec = annotated(spec, notes)
    assert spec.source is not None
    if destination and weights_path is not None:
        from safetensors.numpy import save_file

        from cnnscope.files import files_in_folder

        spec_path = Path(destination)
        with files_in_folder(spec_path.parent, [spec_path.name, weights_path.name]) as temporary:
            temporary[spec_path.name].write_text(spec.source, encoding="utf-8")
            save_file(reading.weights, str(temporary[weights_path.name]), metadata={"source": Path(target).name})
    lines = sum(1 for line in spec.source.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    summary = f"{counted(len(spec.nodes), 'layer')} in {counted(lines, 'line')} of TOML (besides comments); {verdict}"
    if destination and weights_path is not None:
        out.print(f"wrote {destination} and {weights_path}: {summary}", markup=False, soft_wrap=True)
    else:
        typer.echo(spec.source, nl=False)
        err.print(f"{summary}; weights not written (give --out to write them beside the spec)", markup=False)


def _check_onnx(path: Path, spec: Spec, reading: OnnxReading) -> tuple[str, list[str]]:
    """The spec-built model against onnxruntime on the file; without torch or onnxruntime, a note that
    says the spec was not checked. Returns the summary's verdict and the spec's header notes."""
    from cnnscope.importer import ImportFailure

    try:
        import onnxruntime  # noqa: F401  # both are needed for the check: said before torch loads
        import torch  # noqa: F401
    except ImportError as exc:
        missing = (exc.name or "torch").partition(".")[0]
        note = f"Not checked: {missing} is not installed, so this spec was not run against onnxruntime on the file."
        return f"not checked ({missing} is not installed)", [note]
    with err.status("importing torch and comparing with onnxruntime..."):
        from cnnscope.runtime.onnx import compare_import

        comparison = compare_import(path, spec, reading, TOLERANCE)
    if comparison.parting is not None:
        raise ImportFailure(
            f"the written spec parts from onnxruntime on the file at layer '{comparison.parting}'"
            f" (outputs differ by {comparison.difference:.2g})",
            hint="please report this model",
        )
    shown = f"{comparison.difference:.1g}"
    note = f"Checked: with these weights its outputs equal onnxruntime's on the file (largest difference {shown})."
    return f"outputs equal to onnxruntime's on the file (largest difference {shown} of the output's scale)", [note]
