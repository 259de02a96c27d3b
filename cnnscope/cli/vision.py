"""Commands about pictures and training: run an image through a model, train the digit model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cnnscope.cli.app import JsonOption, Target, app, emit_json, err, fail, load_spec, out
from cnnscope.cli.model import DEFAULT_DEVICE, DeviceOption, DtypeOption, WeightsOption
from cnnscope.errors import CnnscopeError
from cnnscope.layers import fmt_shape
from cnnscope.spec import output_label

if TYPE_CHECKING:  # imported inside the commands, so that the static ones stay torch-free
    from rich.progress import Progress

    from cnnscope.runtime.build import SpecModel
    from cnnscope.spec import Spec
    from cnnscope.vision.explain import HeatMap
    from cnnscope.vision.run import RunResult

PANEL = "Images, training and the TUI"
MAX_EPOCHS = 10_000  # hours of training for lenet5: more is a typo, and would run on for days


def _progress() -> Progress:
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # in a log, a bar draws nothing but a stray empty line
    )


@app.command("run", rich_help_panel=PANEL)
def run_command(
    image: Annotated[str, typer.Option("--image", help="JPEG, PNG, WebP, BMP or GIF (first frame).")],
    target: Annotated[
        str | None,
        typer.Argument(
            metavar="[TARGET]",
            help="A zoo name (see `cnnscope list`) or the path of a .toml spec; default: resnet50 with"
            " torchvision's published ImageNet weights (downloaded once into torch's cache).",
        ),
    ] = None,
    weights: WeightsOption = None,
    top: Annotated[int, typer.Option("--top", min=1, help="How many predictions to list.")] = 5,
    device: DeviceOption = DEFAULT_DEVICE,
    dtype: DtypeOption = "float32",
    save: Annotated[
        str | None, typer.Option("--save", help="Folder for activation grids, filters, activations.npz, summary.md.")
    ] = None,
    layer: Annotated[str | None, typer.Option("--layer", help="Layer to preview (default: the first conv).")] = None,
    labels: Annotated[str | None, typer.Option("--labels", help="File of class names, one per line.")] = None,
    preview: Annotated[
        bool | None,
        typer.Option("--preview/--no-preview", help="Draw the layer's maps as half blocks (default: at a terminal)."),
    ] = None,
    shared_scale: Annotated[
        bool,
        typer.Option(
            "--shared-scale", help="Draw every channel's tile on one scale (the colour bar gives the real range)."
        ),
    ] = False,
    cam: Annotated[
        bool,
        typer.Option(
            "--cam",
            help="A class-activation heat-map over the input (Grad-CAM unless --cam-method says), checked by"
            " hiding its hottest pixels: in the terminal, and as cam.png with --save. Any --cam-* option"
            " implies it.",
        ),
    ] = False,
    cam_layer: Annotated[
        str | None, typer.Option("--cam-layer", help="Layer of the heat-map (default: the last one with a map).")
    ] = None,
    cam_method: Annotated[
        str,
        typer.Option(
            "--cam-method",
            help="gradcam: channels weighted by their mean gradient (Selvaraju et al. 2017). difference:"
            " gradient x the change from the blank background, per position (for models such as the tanh"
            " LeNet-5 whose features are not zero on an empty background).",
        ),
    ] = "gradcam",
    cam_class: Annotated[
        str | None, typer.Option("--cam-class", help="Class of the heat-map, name or index (default: the top one).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run one image: top-k predictions, a layer's activation maps in the terminal, everything as PNGs.

    Without a model (`cnnscope run --image cat.jpg`), an ImageNet classifier: resnet50 with torchvision's
    published weights, downloaded once with a progress bar into torch's cache ($TORCH_HOME), then offline.

    With --cam, also where the image made the class: a heat-map over the input, and how much the
    class's probability falls when its hottest 15% of pixels are hidden, against 15% hidden at random.
    """
    cam = cam or cam_layer is not None or cam_class is not None or cam_method != "gradcam"  # any --cam-* asks for it
    from cnnscope.errors import CheckpointError
    from cnnscope.runtime.published import DEFAULT_CLASSIFIER, TORCHVISION

    default = target is None  # the default classifier has real weights or does not run: never random predictions
    if target is None:
        target, weights = DEFAULT_CLASSIFIER, weights or TORCHVISION
    try:
        from pathlib import Path

        from cnnscope.files import regular_file

        regular_file(Path(image), "an image", CnnscopeError)  # before torch's seconds of loading
        if weights and weights != TORCHVISION:  # the published weights are looked for once the spec is read
            regular_file(Path(weights), "a checkpoint", CheckpointError)
        if save is not None and not save.strip():
            raise CnnscopeError("--save needs a folder name")
        spec = load_spec(target)  # what can be checked without torch is checked before its seconds of loading
        from cnnscope.vision.labels import class_names

        names = class_names(spec, labels)
        if layer is not None:
            _check_layer(spec, layer)
        cam_class_index = None
        if cam:
            from cnnscope.vision.explain import chosen_class, heat_map_layer

            cam_layer = heat_map_layer(spec, cam_layer, cam_method)
            if cam_class is not None:
                cam_class_index = chosen_class(spec, cam_class, names, None)
        with _progress() as progress:
            task = progress.add_task("importing torch", total=5 if cam else 4)
            from cnnscope.runtime.device import resolve_device, resolve_dtype
            from cnnscope.runtime.opening import open_model
            from cnnscope.vision.run import run_image, save_run

            chosen = resolve_device(device)
            from cnnscope.runtime.memory import check_model_fits

            check_model_fits(spec, chosen, keep_activations=True)  # run keeps every layer's output
            progress.update(task, advance=1, description="building the model and loading its weights")
            model, chosen_weights = open_model(spec, weights)  # asked-for, else trained, else random
            source = chosen_weights.source
            progress.update(task, advance=1, description=chosen_weights.note)
            model = model.to(chosen, resolve_dtype(dtype))
            progress.update(task, advance=1, description=f"running {image}")
            result = run_image(model, image, chosen, top, names)
            note = chosen_weights.note
            heat = None
            if not result.finite:  # said once, in one line; there is no class to explain
                err.print(f"warning: {result.not_finite_note(spec.name)}", style="yellow", markup=False, soft_wrap=True)
            elif cam:
                from cnnscope.vision.explain import class_heat_map

                progress.update(task, advance=1, description="heat-map")
                top_class = result.predictions[0].index if result.predictions else None
                index = cam_class_index if cam_class_index is not None else chosen_class(spec, None, names, top_class)
                heat = class_heat_map(model, result.input, index, cam_layer, cam_method, names)
            progress.update(task, advance=1, description="saving")
            written = save_run(result, model, save, note, shared_scale, heat) if save else []
    except CnnscopeError as exc:
        if default and isinstance(exc, CheckpointError):
            exc.message = f"run without a model uses {DEFAULT_CLASSIFIER} with torchvision's weights: {exc.message}"
        fail(exc)
    if as_json:
        from cnnscope.report.documents import run_document

        found = [(p.index, p.label, p.probability) for p in result.predictions] if result.predictions else None
        document = run_document(
            spec.name,
            device=str(chosen),
            dtype=dtype,
            image=image,
            weights=source,
            output=spec.returns.items()[0],
            output_shape=list(result.output.shape),
            predictions=found,
            note=result.note,
            saved=written,
            cam=None if heat is None else _heat_document(heat),
            output_finite=result.finite,
        )
        emit_json(document)
        return
    out.print(f"{spec.name} on {chosen}, input {fmt_shape(spec.input.shape)}")
    out.print(note, style="yellow" if not source else None, markup=False)
    if result.note:
        out.print(f"input: {result.note}", markup=False)
    returns = spec.returns
    if returns.several:
        key, layer_name = returns.items()[0]
        out.print(
            f"{len(returns.layers)} outputs: run reads the first, {output_label(key)} ({layer_name})",
            markup=False,
        )
    if result.predictions:
        from rich.table import Table

        table = Table(title=f"top-{len(result.predictions)}", show_header=True, header_style="bold")
        table.add_column("#", justify="right")
        table.add_column("class")
        table.add_column("probability", justify="right")
        for rank, prediction in enumerate(result.predictions, 1):
            table.add_row(str(rank), prediction.label, prediction.percent())
        out.print(table)
    else:
        out.print(f"output {fmt_shape(result.output.shape)} (not a class vector: no predictions)")
    previewing = preview if preview is not None else out.is_terminal  # in a log, uncoloured blocks say nothing
    if previewing:
        _preview(model, result, layer, shared_scale)
    if heat is not None:
        from cnnscope.vision.explain import heat_caption, heat_check

        if previewing:
            from cnnscope.vision.pictures import half_blocks, heat_picture

            picture = heat_picture(result.seen, heat.heat, heat_caption(heat))
            out.print(picture.caption, markup=False)
            out.print(half_blocks(picture.unframed, width=min(96, out.width - 1), color_system=out.color_system))
        for line in heat_check(heat):
            out.print(line, markup=False)
    if written:
        out.print(f"saved {len(written)} files to {str(save).rstrip('/') or save}/ (summary.md lists them)")


def _check_layer(spec: Spec, layer: str) -> None:
    from cnnscope.analysis import analyze
    from cnnscope.errors import did_you_mean

    by_name = analyze(spec).by_name
    if layer not in by_name:
        raise CnnscopeError(f"no layer named '{layer}'", hint=did_you_mean(layer, by_name))


def _heat_document(heat: HeatMap) -> dict[str, object]:
    from cnnscope.vision.explain import HIDDEN_SHARE, flagged

    return {
        "layer": heat.layer,
        "method": heat.method,
        "class": {"index": heat.class_index, "label": heat.label},
        "probability": heat.probability,
        "hidden_share": HIDDEN_SHARE,
        "hottest_hidden": heat.hottest_hidden,
        "random_hidden": heat.random_hidden,
        "flagged": flagged(heat),
    }


def _preview(model: SpecModel, result: RunResult, layer: str | None, shared: bool = False) -> None:
    """A layer's maps as half blocks: ``layer``, else the first conv, else the output (``shared``: on one scale)."""
    from cnnscope.vision.pictures import activation_picture, half_blocks

    convs = [n.name for n in model.spec.nodes if n.layer.draws_filters]
    name = layer or (convs[0] if convs else model.spec.returns.first)
    activation = result.activations[name]
    picture = activation_picture(activation, max_tiles=16, tile_pixels=24, shared=shared)
    out.print(f"{name}: {fmt_shape(activation.shape)}: {picture.caption}", markup=False)
    out.print(half_blocks(picture.unframed, width=min(96, out.width - 1), color_system=out.color_system))


@app.command("train", rich_help_panel=PANEL)
def train_command(
    target: Target,
    epochs: Annotated[
        int, typer.Option("--epochs", min=1, max=MAX_EPOCHS, help="Passes over the training digits.")
    ] = 30,
    out_path: Annotated[
        str | None, typer.Option("--out", help="Checkpoint to write (default: where run and the TUI look).")
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=2**32 - 1, help="Seed of the weights, the split and the batches.")
    ] = 0,
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="Stop after this many batches (quick try).")
    ] = None,
) -> None:
    """Train a digit model (lenet5) on scikit-learn's handwritten digits, offline, and save it."""
    try:
        import math

        import torch

        from cnnscope.runtime.build import build
        from cnnscope.runtime.home import trained_checkpoint
        from cnnscope.runtime.memory import check_training_fits
        from cnnscope.runtime.weights import check_destination, save_weights
        from cnnscope.vision.train import BATCH, DIGITS, TEST_FRACTION, check_digit_spec, load_digits, train

        spec = load_spec(target)
        check_digit_spec(spec)
        check_training_fits(spec, DIGITS, BATCH, math.ceil(DIGITS * TEST_FRACTION))
        destination = out_path if out_path is not None else str(trained_checkpoint(spec.name))
        if out_path is None:
            from cnnscope.files import os_error

            try:
                trained_checkpoint(spec.name).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise os_error(exc, trained_checkpoint(spec.name).parent, "cannot make CNNSCOPE_HOME") from None
        check_destination(destination)  # a wrong --out is refused before training, not after
        torch.manual_seed(seed)
        model = build(spec)
        height, width = spec.input.shape[1:]  # check_digit_spec: a 1 x H x W input
        data = load_digits((height, width), seed=seed)
        with _progress() as progress:
            task = progress.add_task(f"training on {len(data.train_y)} digits", total=epochs)

            def report(epoch: int, loss: float, test_accuracy: float) -> None:
                line = f"epoch {epoch}: loss {loss:.4f}, held-out accuracy {test_accuracy:.2%}"
                progress.update(task, completed=epoch, description=line)
                if not err.is_terminal:  # a log file or CI: no progress bar is drawn, so one plain line per epoch
                    err.print(line, markup=False)

            accuracy = train(model, data, epochs, seed=seed, max_steps=steps, on_epoch=report)
        metadata = {"spec": spec.name, "test_accuracy": f"{accuracy:.4f}", "test_images": str(len(data.test_y))}
        save_weights(model, destination, metadata=metadata)
    except CnnscopeError as exc:
        fail(exc)
    out.print(f"held-out accuracy {accuracy:.2%} on {len(data.test_y)} digits never seen in training")
    out.print(f"saved {destination}")


@app.command("tui", rich_help_panel=PANEL)
def tui_command(
    target: Annotated[
        str | None, typer.Argument(metavar="[TARGET]", help="A zoo name or spec path; default: pick one.")
    ] = None,
    image: Annotated[str | None, typer.Option("--image", help="Run this image once the model is open.")] = None,
    weights: WeightsOption = None,
    folder: Annotated[str | None, typer.Option("--folder", help="Also list the specs of this folder.")] = None,
) -> None:
    """Browse models in the terminal: layers, arithmetic, filters and activations."""
    from pathlib import Path

    from cnnscope.tui.app import CnnscopeApp
    from cnnscope.tui.terminal import graphics_widget, probe

    terminal = probe()  # before the app reads the keyboard; keys typed meanwhile are replayed to it
    CnnscopeApp(
        target, image, weights, Path(folder) if folder else None, graphics_widget(terminal), terminal.typed
    ).run()
