"""Commands that build torch models: build, verify, export. torch is imported inside them only."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from cnnscope.cli.app import InputOption, JsonOption, Target, app, emit_json, err, fail, load_spec, out
from cnnscope.cli.importing import TOLERANCE
from cnnscope.errors import CnnscopeError
from cnnscope.layers import fmt_shape
from cnnscope.report.numbers import count

if TYPE_CHECKING:  # imported inside the commands, so that the static ones stay torch-free
    import torch

    from cnnscope.runtime.build import SpecModel

DEFAULT_DEVICE = "auto"  # one default for every command that runs a model
DeviceOption = Annotated[
    str, typer.Option("--device", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps.")
]
DtypeOption = Annotated[str, typer.Option("--dtype", help="float32, float16 or bfloat16.")]
WeightsOption = Annotated[
    str | None,
    typer.Option(
        "--weights",
        "-w",
        help="A .pth/.pt state_dict or .safetensors file to load, or 'torchvision': torchvision's published"
        " ImageNet weights (torchvision-layout zoo specs; downloaded once into torch's cache).",
    ),
]


PANEL = "Torch models"


def _check_weights(weights: str | None) -> None:
    """A mistyped --weights is reported at once, not after torch's seconds of loading."""
    from cnnscope.runtime.published import TORCHVISION

    if weights and weights != TORCHVISION:
        from pathlib import Path

        from cnnscope.errors import CheckpointError
        from cnnscope.files import regular_file

        regular_file(Path(weights), "a checkpoint", CheckpointError)


def _prepare(
    target: str, input_size: str | None, weights: str | None, device: str, batch: int = 1, init: bool = True
) -> tuple[SpecModel, torch.device]:
    """Spec -> model on its device, with weights; a spinner while torch loads and builds.
    ``init=False``: no random weights (a check of shapes and arithmetic), see ``build``.

    What does not fit in the device's free memory (float32 weights and a forward pass of ``batch``)
    is refused with the numbers before anything is allocated.
    """
    _check_weights(weights)
    with err.status("importing torch and building the model..."):
        from cnnscope.runtime.build import build
        from cnnscope.runtime.device import resolve_device
        from cnnscope.runtime.memory import check_model_fits
        from cnnscope.runtime.opening import choose_weights, load_source

        spec = load_spec(target, input_size)
        if weights:
            choose_weights(spec, weights)  # a spec without torchvision weights: said before building
        chosen = resolve_device(device)
        check_model_fits(spec, chosen, batch)
        model = build(spec, init=init, device=chosen).eval()
        if weights:
            load_source(model, spec.name, weights)
        return model.to(chosen), chosen


@app.command("build", rich_help_panel=PANEL)
def build_command(
    target: Target,
    device: DeviceOption = DEFAULT_DEVICE,
    dtype: DtypeOption = "float32",
    batch: Annotated[int, typer.Option("--batch", min=1, help="Batch size of the test forward pass.")] = 1,
    weights: WeightsOption = None,
    input_size: InputOption = None,
    channels_last: Annotated[
        bool | None,
        typer.Option("--channels-last/--no-channels-last", help="NHWC memory layout (default: on for cuda)."),
    ] = None,
    autocast: Annotated[
        bool, typer.Option("--autocast", help="Run a float32 model under CUDA autocast (float16 kernels).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Build the model, run one forward pass and check it against the static numbers."""
    try:
        _check_weights(weights)
        import torch

        from cnnscope.runtime.device import resolve_dtype, synchronize
        from cnnscope.runtime.verify import example_input, run_forward

        precision = resolve_dtype(dtype)
        model, chosen = _prepare(target, input_size, weights, device, batch)
        if autocast and chosen.type != "cuda":
            raise CnnscopeError(
                f"--autocast is CUDA's mixed precision, and the model runs on {chosen}",
                hint="--device cuda, or --dtype bfloat16 for lower precision on the CPU",
            )
        model = model.to(precision)
        spec = model.spec
        images = len(spec.input.shape) == 3 and not spec.input.is_tokens
        x = example_input(spec, batch, chosen, precision)
        if images and (channels_last if channels_last is not None else chosen.type == "cuda"):
            model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(chosen.type, enabled=autocast):
            run_forward(model, x)  # warm-up
            synchronize(chosen)
            start = time.perf_counter()
            output = run_forward(model, x)
            synchronize(chosen)
        elapsed = time.perf_counter() - start
    except CnnscopeError as exc:
        fail(exc)
    from cnnscope.analysis import analyze
    from cnnscope.runtime.build import output_tensors

    analysis = analyze(spec)
    params = sum(p.numel() for p in model.parameters())
    returned = [list(tensor.shape[1:]) for tensor in output_tensors(spec, output)]
    shapes_ok = returned == [list(o.shape) for o in analysis.outputs]
    params_ok = params == analysis.total.params
    if as_json:
        from cnnscope.report.documents import build_document

        emit_json(
            build_document(
                analysis,
                device=str(chosen),
                dtype=dtype,
                batch=batch,
                weights=weights,
                returned_shapes=returned,
                params=params,
                seconds=elapsed,
            )
        )
        raise typer.Exit(0 if shapes_ok and params_ok else 1)
    out.print(f"{spec.name} on {chosen} ({dtype}, batch {batch}){', weights ' + weights if weights else ''}")
    for model_output, shape in zip(analysis.outputs, returned):
        label = "output " if model_output.key is None else f"output {model_output.label} ({model_output.layer})"
        verdict = "ok" if list(model_output.shape) == shape else "MISMATCH"
        out.print(
            f"  {label} {fmt_shape(tuple(shape))} per sample  {verdict} (static {fmt_shape(model_output.shape)})",
            markup=False,
        )
    out.print(f"  params  {count(params)}  {'ok' if params_ok else 'MISMATCH'} (static {count(analysis.total.params)})")
    out.print(f"  forward {elapsed * 1000:.1f} ms for {batch} sample(s), {batch / elapsed:.1f} samples/s")
    raise typer.Exit(0 if shapes_ok and params_ok else 1)


@app.command("verify", rich_help_panel=PANEL)
def verify_command(
    target: Target,
    device: DeviceOption = DEFAULT_DEVICE,
    dtype: DtypeOption = "float32",
    weights: WeightsOption = None,
    input_size: InputOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the model once and compare every layer's shape, the params and the MACs with the static engine."""
    try:
        _check_weights(weights)
        from cnnscope.runtime.device import resolve_dtype
        from cnnscope.runtime.verify import verify

        precision = resolve_dtype(dtype)
        model, chosen = _prepare(target, input_size, weights, device, init=False)
        result = verify(model.to(precision), chosen, dtype=precision)
    except CnnscopeError as exc:
        fail(exc)
    if as_json:
        from cnnscope.report.documents import verify_document

        shapes = {name: list(shape) for name, shape in result.runtime_shapes.items()}
        returned = [list(shape) for shape in result.returned_shapes]
        document = verify_document(
            result.analysis, result.device, shapes, result.torch_params, result.counted_macs, returned
        )
        emit_json(document)
        raise typer.Exit(0 if result.ok else 1)
    total = result.analysis.total
    out.print(f"verify {model.spec.name} on {result.device}")
    for name, static, runtime in result.shape_mismatches:
        out.print(f"  MISMATCH {name}: static {fmt_shape(static)}, torch {fmt_shape(runtime)}", style="red")
    matched = result.layers_checked - len(result.shape_mismatches)
    out.print(f"  shapes  {matched}/{result.layers_checked} layers match")
    outputs = result.analysis.outputs
    if len(outputs) > 1 or not result.outputs_ok:  # one output: the last layer's shape, checked above
        shown = ", ".join(f"{o.label} {fmt_shape(s)}" for o, s in zip(outputs, result.returned_shapes))
        verdict = "as the spec says" if result.outputs_ok else f"MISMATCH: the spec says {len(outputs)}"
        out.print(f"  outputs {len(result.returned_shapes)} returned ({shown}), {verdict}", markup=False)
    out.print(
        f"  params  static {count(total.params)} {'=' if result.params_ok else '!='} torch {count(result.torch_params)}"
    )
    out.print(
        f"  MACs    static {count(total.macs)} {'=' if result.macs_ok else '!='}"
        f" FlopCounterMode {count(int(2 * result.counted_macs))} / 2"
    )
    out.print("ok" if result.ok else "FAILED", style="green" if result.ok else "red bold")
    raise typer.Exit(0 if result.ok else 1)


@app.command("export", rich_help_panel=PANEL)
def export_command(
    target: Target,
    destination: Annotated[
        str, typer.Option("--out", "-o", help="Where to write: .safetensors, .pth or .pt (weights), or .onnx.")
    ],
    weights: WeightsOption = None,
    static_batch: Annotated[
        bool, typer.Option("--static-batch", help="ONNX: fix the batch axis at 1 (default: any batch size).")
    ] = False,
    input_size: InputOption = None,
) -> None:
    """Save the model's weights (random, or those of --weights) as safetensors or a torch state_dict,
    or the whole model as ONNX.

    ONNX goes through torch's exporter (opset 20); node names follow the spec's layer names, and the
    file is checked against onnxruntime (on two batch sizes) before it is written. Its spatial sizes
    are fixed: the spec's, or those of --input. It needs the onnx extra besides the torch extra.
    """
    to_onnx = destination.lower().endswith(".onnx")
    try:
        if static_batch and not to_onnx:
            raise CnnscopeError("--static-batch applies to an ONNX file (--out NAME.onnx)")
        if to_onnx:
            import onnx  # noqa: F401  # the exporter and the check need these: said before torch loads
            import onnxruntime  # noqa: F401
            import onnxscript  # noqa: F401

            from cnnscope.runtime.onnx import OPSET, export_onnx

            model, _ = _prepare(target, input_size, weights, "cpu")
            with err.status("exporting through torch's ONNX exporter and checking with onnxruntime..."):
                path, worst = export_onnx(model, destination, static_batch=static_batch, tolerance=TOLERANCE)
        else:
            from cnnscope.runtime.weights import save_weights

            model, _ = _prepare(target, input_size, weights, "cpu")
            path = save_weights(model, destination)
    except CnnscopeError as exc:
        fail(exc)
    note = "" if weights else " (random initial weights: pass --weights to convert a checkpoint)"
    params = count(sum(p.numel() for p in model.parameters()))
    if to_onnx:
        batch = "batch 1" if static_batch else "any batch size"
        out.print(
            f"wrote {path}: {params} parameters, opset {OPSET}, {batch}; outputs equal to onnxruntime's"
            f" (largest difference {worst:.1g} of the output's scale){note}",
            markup=False,
            soft_wrap=True,
        )
    else:
        out.print(f"wrote {path}: {params} parameters{note}", soft_wrap=True)
