"""``cnnscope run``: one image through a model, with predictions, activations and filters.

Everything is computed first and written last, into a temporary folder that replaces
the destination in one move, so a failure never leaves a half-written ``--save`` folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from PIL import Image

from cnnscope.layers import fmt_shape
from cnnscope.vision.images import open_image, prepare
from cnnscope.vision.labels import class_label, ends_in_softmax
from cnnscope.vision.pictures import (
    activation_picture,
    enlarged,
    filter_layout,
    filter_picture,
    heat_picture,
    whole_factor,
)

if TYPE_CHECKING:  # torch is imported where a model runs: importing this module stays torch-free
    import torch

    from cnnscope.runtime.build import SpecModel
    from cnnscope.vision.explain import HeatMap


@dataclass(frozen=True)
class Prediction:
    index: int
    label: str
    probability: float | None  # None where the output is not finite: no probability can be computed

    def percent(self, digits: int = 2) -> str:
        return "not finite" if self.probability is None else f"{self.probability:.{digits}%}"


@dataclass
class RunResult:
    seen: Image.Image  # the picture the model receives (resized, cropped, inverted where it was)
    input: np.ndarray  # the input itself: channels x height x width, normalised
    note: str  # how the image was made into the input ("" when nothing needs saying)
    output: np.ndarray  # per sample: the model's first output (its only one, for most models)
    activations: dict[str, np.ndarray]  # layer name -> output per sample, in order
    predictions: list[Prediction] | None  # None when the output is not a class vector

    @property
    def finite(self) -> bool:
        """Whether every value of the output is a number: NaN or infinite weights (or an overflow) spoil it."""
        return bool(np.isfinite(self.output).all())

    def not_finite_note(self, name: str) -> str:
        """The one line that says the output is not finite (see :attr:`finite`)."""
        bad = int(self.output.size - np.count_nonzero(np.isfinite(self.output)))
        return (
            f"the output of {name} is not finite ({bad:,} of {self.output.size:,} values are NaN or infinite):"
            " its weights hold NaN or infinities, or a layer overflows; no probabilities or heat-map"
        )


def predictions(
    output: np.ndarray, names: list[str] | None, top: int, softmax_applied: bool
) -> list[Prediction] | None:
    """Top-k classes of a 1-D output (probabilities, with a softmax where the model has none)."""
    if output.ndim != 1:
        return None
    if not np.isfinite(output).all():  # ranked by the values themselves (NaN last), no probability
        order = [int(i) for i in np.argsort(-output.astype(np.float64), kind="stable")[:top]]
        return [Prediction(i, class_label(i, names), None) for i in order]
    if softmax_applied:
        probabilities = output.astype(np.float64)
    else:
        shifted = np.exp(output.astype(np.float64) - output.max())
        probabilities = shifted / shifted.sum()
    order = [int(i) for i in np.argsort(-probabilities)[:top]]
    return [Prediction(i, class_label(i, names), float(probabilities[i])) for i in order]


def run_image(
    model: SpecModel, image_path: str | Path, device: torch.device, top: int, names: list[str] | None
) -> RunResult:
    prepared = prepare(open_image(image_path), model.spec)
    import torch

    from cnnscope.runtime.verify import run_forward

    weight = next(model.parameters(), None)  # the picture follows the model's --dtype
    x = torch.from_numpy(prepared.array)[None].to(device, weight.dtype if weight is not None else torch.float32)
    values = run_forward(model.activations, x)
    activations = {name: tensor[0].float().cpu().numpy() for name, tensor in values.items()}
    output = activations[model.spec.returns.first]
    found = predictions(output, names, top, ends_in_softmax(model.spec))
    return RunResult(prepared.seen, prepared.array, prepared.note, output, activations, found)


def filter_layers(model: SpecModel) -> list[tuple[str, np.ndarray]]:
    """(name, weight) of every convolution, first layer first."""
    found = []
    for node in model.spec.nodes:
        if node.layer.draws_filters:
            found.append((node.name, model.weight(node.name).detach().float().cpu().numpy()))
    return found


def _file_name(index: int, name: str) -> str:
    return f"{index:03d}_{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}"


# What ``run --save`` writes: a folder holding only these is an earlier output, and may be replaced whole.
RUN_FILES = re.compile(r"input\.png|summary\.md|activations\.npz|cam\.(png|npy)|(filters_)?\d{3,}_[A-Za-z0-9_.-]*\.png")


def earlier_run(folder: Path) -> bool:
    """True when ``folder`` holds only files that ``run --save`` writes."""
    return all(entry.is_file() and RUN_FILES.fullmatch(entry.name) for entry in folder.iterdir())


def save_run(
    result: RunResult,
    model: SpecModel,
    destination: str | Path,
    weights_note: str,
    shared: bool = False,
    heat: HeatMap | None = None,
) -> list[str]:
    """Write input.png, per-layer grids, filters, activations.npz and summary.md (and with ``heat``
    cam.png and cam.npy) into a new folder that replaces ``destination`` whole (an earlier output, or
    an empty folder), or nothing at all. ``shared``: each layer's tiles on one scale (see
    :func:`activation_picture`)."""
    from cnnscope.files import replaced_folder

    with replaced_folder(destination, earlier_run) as staging:
        return _write(result, model, staging, weights_note, shared, heat)


# zlib's fastest level: a run saves a picture of every layer and filter bank (ninety for a ResNet-18), and at
# Pillow's default (6) compressing them took a quarter of the run; the files are a few per cent larger.
FAST_PNG = 1


def _write(
    result: RunResult,
    model: SpecModel,
    folder: Path,
    weights_note: str,
    shared: bool = False,
    heat: HeatMap | None = None,
) -> list[str]:
    spec = model.spec
    lines = [f"# {spec.name}: activations", "", weights_note, ""]
    factor = whole_factor(max(result.seen.size), 192)  # a 32x32 input is a speck at native size
    seen = enlarged(result.seen, factor)
    about = [result.note] if result.note else []
    about += [f"each pixel drawn {factor}x{factor}"] if factor > 1 else []
    lines += ["The input as the model receives it" + (f" ({'; '.join(about)})" if about else "") + ":", ""]
    lines += ["![input](input.png)", ""]
    seen.save(folder / "input.png", compress_level=FAST_PNG)
    written = ["input.png"]
    if not result.finite:
        lines += [f"Warning: {result.not_finite_note(spec.name)}.", ""]
    if result.predictions:
        lines += ["| rank | class | probability |", "| --- | --- | --- |"]
        lines += [f"| {i + 1} | {p.label} | {p.percent()} |" for i, p in enumerate(result.predictions)]
        lines.append("")
    if heat is not None:
        from cnnscope.vision.explain import heat_caption, heat_check

        picture = heat_picture(result.seen, heat.heat, heat_caption(heat))
        picture.image.save(folder / "cam.png", compress_level=FAST_PNG)
        np.save(folder / "cam.npy", heat.heat)
        written += ["cam.png", "cam.npy"]
        lines += ["## Heat-map", "", picture.caption + " (cam.npy holds its values).", "", "![heat-map](cam.png)", ""]
        lines += [" ".join(heat_check(heat)), ""]
    lines += ["## Activations", ""]
    last = next(reversed(result.activations))
    for index, (name, activation) in enumerate(result.activations.items()):
        file = _file_name(index, name) + ".png"
        probabilities = [(p.label, p.probability) for p in result.predictions or [] if p.probability is not None]
        bars = probabilities if name == last and probabilities else None
        picture = activation_picture(activation, bars=bars, shared=shared)
        picture.image.save(folder / file, compress_level=FAST_PNG)
        written.append(file)
        lines += [
            f"### {name} ({fmt_shape(activation.shape)})",
            "",
            picture.caption + ".",
            "",
            f"![{name}]({file})",
            "",
        ]
    # keys are layer names: numpy's stub types **kwds as arrays, yet one could be its flag allow_pickle
    np.savez_compressed(folder / "activations.npz", **cast("dict[str, Any]", result.activations))
    written.append("activations.npz")
    lines += ["## Filters", ""]
    for position, (name, weight) in enumerate(filter_layers(model)):
        file = f"filters_{_file_name(position, name)}.png"
        picture = filter_picture(weight)
        picture.image.save(folder / file, compress_level=FAST_PNG)
        written.append(file)
        layout = filter_layout(weight.shape)
        lines += [f"### {name} ({'x'.join(map(str, weight.shape))}: {layout})", "", picture.caption + ".", ""]
        lines += [f"![{name}]({file})", ""]
    (folder / "summary.md").write_text("\n".join(lines), encoding="utf-8")
    written.append("summary.md")
    return written
