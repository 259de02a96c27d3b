"""The lecture's demos as commands: conv, pool, sobel, maximize."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cnnscope.cli.app import Target, app, err, fail, load_spec, out
from cnnscope.cli.model import WeightsOption
from cnnscope.errors import CnnscopeError
from cnnscope.layers.sliding import Axis
from cnnscope.vision.examples import LECTURE_IMAGE, LECTURE_KERNEL, POOL_EXAMPLE

if TYPE_CHECKING:  # numpy and rich load inside the demo commands only, to keep every other command fast
    import numpy as np
    from PIL import Image
    from rich.console import Group


PANEL = "The lecture's demos"
SOBEL_PIXELS = 16_000_000  # about 800 MB of gradients; larger pictures are resized first (--width)


def matrix_table(title: str, matrix: np.ndarray, highlight: np.ndarray | None = None) -> Group:
    """A titled matrix; ``highlight`` marks cells in reverse video."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(show_header=False, box=None, padding=(0, 1))
    for _ in range(matrix.shape[1]):
        table.add_column(justify="right")
    for i, row in enumerate(matrix):
        marked = highlight[i] if highlight is not None else [False] * len(row)
        table.add_row(*(Text(f"{v:g}", style="bold reverse" if mark else "") for v, mark in zip(row, marked)))
    return Group(Text(title, style="bold"), table, Text(""))


@app.command("conv", rich_help_panel=PANEL)
def conv_command(
    image: Annotated[str, typer.Option("--image", help="Matrix '1 0; 0 1' or a .txt/.csv file.")] = LECTURE_IMAGE,
    kernel: Annotated[str, typer.Option("--kernel", help="Matrix or file, as --image.")] = LECTURE_KERNEL,
    stride: Annotated[int, typer.Option("--stride", help="Step of the kernel, in pixels.")] = 1,
    padding: Annotated[int, typer.Option("--padding", help="Zeros added on every side.")] = 0,
    steps: Annotated[bool, typer.Option("--steps/--no-steps", help="Show the sum behind every output.")] = True,
) -> None:
    """Convolve a matrix with a kernel step by step (default: the lecture's 5x5 image and 3x3 X kernel)."""
    from cnnscope.vision import demos

    try:
        x, k = demos.parse_matrix(image, "--image"), demos.parse_matrix(kernel, "--kernel")
        result = demos.convolve(x, k, stride, padding)
    except CnnscopeError as exc:
        fail(exc)
    out.print(
        matrix_table(f"image {x.shape[0]}x{x.shape[1]}" + (f", padded by {padding}" if padding else ""), result.padded)
    )
    out.print(matrix_table(f"kernel {k.shape[0]}x{k.shape[1]}", k))
    for name, size, taps in (("height", x.shape[0], k.shape[0]), ("width", x.shape[1], k.shape[1])):
        out.print(f"{name}: {Axis(size, taps, stride, padding, padding).formula()}", markup=False)
    if steps:
        for line in result.steps():
            out.print(line, markup=False)
    out.print(matrix_table("convolved feature", result.output))


@app.command("pool", rich_help_panel=PANEL)
def pool_command(
    matrix: Annotated[str, typer.Option("--matrix", help="Matrix or file.")] = POOL_EXAMPLE,
    size: Annotated[int, typer.Option("--kernel", help="Window size, as the pooling layers' kernel key.")] = 2,
    stride: Annotated[int | None, typer.Option("--stride", help="Default: the window size.")] = None,
    grad: Annotated[str | None, typer.Option("--grad", help="dL/dout (default: all ones).")] = None,
) -> None:
    """Max and average pooling, and where the gradient goes on the way back."""
    import numpy as np

    from cnnscope.vision import demos

    step = stride or size
    try:
        x = demos.parse_matrix(matrix, "--matrix")
        upstream = demos.parse_matrix(grad, "--grad") if grad else None
        demos.check_pool_shapes(x, size, step, upstream)
        pooled_max = demos.max_pool(x, size, step, upstream)
        pooled_avg = demos.avg_pool(x, size, step, upstream)
    except CnnscopeError as exc:
        fail(exc)
    out.print(matrix_table("input", x, highlight=pooled_max.input_gradient != 0))
    out.print(f"{size}x{size} windows, stride {step}; highlighted: the max-pooling winners")
    out.print(matrix_table("max pooling", pooled_max.output))
    out.print(matrix_table("average pooling", pooled_avg.output))
    upstream_shown = upstream if upstream is not None else np.ones_like(pooled_max.output)
    out.print(matrix_table("dL/dout (from the next layer)", upstream_shown))
    out.print(matrix_table("dL/dx under max pooling: only the winners get the gradient", pooled_max.input_gradient))
    out.print(
        matrix_table(
            f"dL/dx under average pooling: each window spreads it, 1/{size * size} each", pooled_avg.input_gradient
        )
    )


@app.command("sobel", rich_help_panel=PANEL)
def sobel_command(
    image: Annotated[
        str, typer.Argument(metavar="IMAGE", help="Any image Pillow reads; it is converted to grayscale.")
    ],
    save: Annotated[str | None, typer.Option("--save", help="Folder for gx.png, gy.png, g.png and sobel.npz.")] = None,
    width: Annotated[int, typer.Option("--width", help="Resize to this width first (0: keep).")] = 256,
) -> None:
    """Sobel edges: Gx = Wx * X, Gy = Wy * X and G = sqrt(Gx^2 + Gy^2), as pictures."""
    import numpy as np
    from PIL import Image

    from cnnscope.vision import demos
    from cnnscope.vision.images import open_image, to_mode
    from cnnscope.vision.pictures import half_blocks, normalize

    try:
        if save is not None and not save.strip():
            raise CnnscopeError("--save needs a folder name")
        picture = to_mode(open_image(image), 1)
        if width < 0:
            raise CnnscopeError("--width must be 0 (keep) or a positive number of pixels")
        if width and picture.size[0] > width:
            picture = picture.resize((width, max(3, round(picture.size[1] * width / picture.size[0]))))
        if picture.size[0] * picture.size[1] > SOBEL_PIXELS:  # float64 gradients: ~50 bytes a pixel
            raise CnnscopeError(
                f"{picture.size[0]}x{picture.size[1]} pixels is more than the {SOBEL_PIXELS:,} sobel computes",
                path=image,
                hint="resize with --width",
            )
        result = demos.sobel(np.asarray(picture, dtype=np.float64))
        pictures = {
            name: Image.fromarray(np.uint8(255 * normalize(getattr(result, key))))
            for name, key in (("gx", "gx"), ("gy", "gy"), ("g", "magnitude"))
        }
        if save:
            from cnnscope.files import files_in_folder

            with files_in_folder(save, [*(f"{name}.png" for name in pictures), "sobel.npz"]) as temporaries:
                for name, picture_out in pictures.items():
                    picture_out.save(temporaries[f"{name}.png"], format="PNG")
                with temporaries["sobel.npz"].open("wb") as file:
                    np.savez_compressed(file, gx=result.gx, gy=result.gy, g=result.magnitude)
    except CnnscopeError as exc:
        fail(exc)
    out.print(
        f"{image}: {picture.size[0]}x{picture.size[1]} grayscale -> G {result.magnitude.shape[1]}x"
        f"{result.magnitude.shape[0]} (valid), max |G| = {result.magnitude.max():.1f}"
    )
    out.print(half_blocks(pictures["g"], width=min(96, out.width - 1), color_system=out.color_system))
    if save:
        out.print(f"saved gx.png, gy.png, g.png and sobel.npz to {save}/")


@app.command("maximize", rich_help_panel=PANEL)
def maximize_command(
    target: Target,
    weights: WeightsOption = None,
    save: Annotated[
        str | None, typer.Option("--save", help="Folder for units.png (first layer) or channel_K.png (--layer).")
    ] = None,
    layer: Annotated[
        str | None,
        typer.Option("--layer", help="Any layer with maps: find its channel's best input by gradient ascent."),
    ] = None,
    channel: Annotated[int, typer.Option("--channel", min=0, help="The channel of --layer to excite.")] = 0,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Gradient-ascent steps (with --layer).")] = 120,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=2**64 - 1, help="Seed of the starting noise (with --layer).")
    ] = 0,  # torch's generators take 64-bit seeds
) -> None:
    """The input that maximally activates a unit: x = W_i / ||W_i|| for the first layer, or gradient
    ascent on the input for a channel of any layer (--layer, --channel), regularised and seeded."""
    if layer is not None:
        _maximize_channel(target, weights, save, layer, channel, steps, seed)
        return
    try:
        from cnnscope.runtime.opening import open_model
        from cnnscope.vision import demos
        from cnnscope.vision.pictures import filter_picture, half_blocks

        if save is not None and not save.strip():
            raise CnnscopeError("--save needs a folder name")
        spec = load_spec(target)
        model, chosen_weights = open_model(spec, weights)  # asked-for, else trained, else random
        first = next((n for n in spec.nodes if n.layer.has_units), None)
        if first is None:
            raise CnnscopeError(f"{spec.name} has no conv or linear layer")
        weight = model.weight(first.name).detach().numpy()
        _warn_not_finite(weight, f"weights of {first.name}")
        inputs = demos.maximizing_inputs(weight)
        if not first.layer.draws_filters and len(spec.input.shape) == 3:
            inputs = inputs.reshape(inputs.shape[0], *spec.input.shape)  # back to images
        picture = filter_picture(inputs)
        if save is not None:  # a folder, as every --save takes
            _save_png(picture.image, save, "units.png")
    except CnnscopeError as exc:
        fail(exc)
    out.print(f"{spec.name}.{first.name}: {inputs.shape[0]} units, {chosen_weights.note}", markup=False)
    out.print(half_blocks(picture.unframed, width=min(96, out.width - 1), color_system=out.color_system))
    if save:
        out.print(f"saved {Path(save) / 'units.png'}")


def _maximize_channel(
    target: str, weights: str | None, save: str | None, layer: str, channel: int, steps: int, seed: int
) -> None:
    """``maximize --layer``: gradient ascent for one channel, with a progress bar."""
    try:
        from rich.progress import Progress

        from cnnscope.runtime.opening import open_model
        from cnnscope.vision.explain import maximize_channel, spatial_layer
        from cnnscope.vision.pictures import filter_picture, half_blocks

        if save is not None and not save.strip():
            raise CnnscopeError("--save needs a folder name")
        spec = load_spec(target)
        name = spatial_layer(spec, layer)  # before torch's seconds of loading
        model, chosen_weights = open_model(spec, weights)  # asked-for, else trained, else random
        with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
            task = progress.add_task(f"gradient ascent on {name}, channel {channel}", total=steps)
            found = maximize_channel(model, name, channel, steps, seed, step_done=lambda _: progress.advance(task))
        _warn_not_finite(found.image, f"values of the input found for {name}")
        picture = filter_picture(found.image[None], tile_pixels=128)
        if save is not None:
            _save_png(picture.image, save, f"channel_{channel}.png")
    except CnnscopeError as exc:
        fail(exc)
    out.print(
        f"{spec.name}.{name}, channel {channel}: mean activation {found.activations[0]:.3g} -> "
        f"{found.activations[-1]:.3g} in {steps} steps (seed {seed}), {chosen_weights.note}",
        markup=False,
    )
    out.print(half_blocks(picture.unframed, width=min(64, out.width - 1), color_system=out.color_system))
    if save:
        out.print(f"saved {Path(save) / f'channel_{channel}.png'}", markup=False)


def _warn_not_finite(values: np.ndarray, what: str) -> None:
    """One line on stderr where NaN or infinite weights (or an overflow) spoil what is drawn."""
    import numpy as np

    bad = values.size - np.count_nonzero(np.isfinite(values))
    if bad:
        err.print(
            f"warning: {bad:,} of {values.size:,} {what} are NaN or infinite (drawn grey):"
            " the weights hold NaN or infinities, or a layer overflows",
            style="yellow",
            markup=False,
            soft_wrap=True,
        )


def _save_png(image: Image.Image, folder: str, name: str) -> None:
    """``image`` as ``folder/name``, written atomically; ``folder`` made if missing (every --save takes a folder),
    and gone again if the image cannot be written."""
    from cnnscope.files import files_in_folder

    with files_in_folder(folder, [name]) as temporaries:
        image.save(temporaries[name], format="PNG")
