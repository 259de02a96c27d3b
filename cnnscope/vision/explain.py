"""Beyond the first layer: which input excites a channel, and where a picture made a class.

:func:`maximize_channel` is gradient ascent on the input (Erhan et al. 2009; Simonyan et al.
2013) for the mean activation of one channel, with the usual regularisation: an L2 penalty
on the input and a small blur every few steps, from seeded noise.

:func:`class_heat_map` is a class-activation heat-map over the input, by one of :data:`CAM_METHODS`:
Grad-CAM (Selvaraju et al. 2017), the layer's channels weighted by the class score's mean gradient
over the map, summed, negatives cut; or "difference", gradient x (activation - its value on the
blank background) per position, summed over channels, negatives cut: where the picture's difference
from its empty background raises the class score (a first-order share of the score's change, the
reference of DeepLIFT, Shrikumar et al. 2017). Grad-CAM reads a zero activation as "nothing here";
the difference method is for models whose features are not zero on an empty background. Each map
comes with a check of its own faithfulness: the class's probability once the hottest pixels are hidden
(set to the picture's background), against as many pixels hidden at random. A map that shows
where the evidence is lowers it far more than chance does; one that does not, says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnnscope.errors import CnnscopeError
from cnnscope.layers import fmt_shape

if TYPE_CHECKING:  # torch is imported where a model runs: inside the functions
    import torch

    from cnnscope.runtime.build import SpecModel
    from cnnscope.spec import Spec


# the heat-map methods, with the names captions give them (the module's docstring and `run --help` explain them)
CAM_METHODS = {"gradcam": "Grad-CAM", "difference": "gradient x difference from the blank background"}
HIDDEN_SHARE = 0.15  # of the input's pixels, hidden by the faithfulness check
RANDOM_DRAWS = 8  # random masks of the same size, averaged
UNLIKELY = 0.05  # a class less probable than this leaves the check nothing to lower


@dataclass(frozen=True)
class HeatMap:
    """Where the picture raised one class's score, at the input's size, and how much that holds."""

    layer: str
    method: str
    class_index: int
    label: str  # the class's name, or "class N"
    heat: np.ndarray  # height x width of the input, >= 0, in the score's units (0: no part in the class)
    probability: float  # of the class, on the picture as it is
    hottest_hidden: float  # ... with the hottest HIDDEN_SHARE of pixels set to the background
    random_hidden: float  # ... with as many pixels hidden at random (the mean of RANDOM_DRAWS masks)


@dataclass(frozen=True)
class Ascent:
    """The input found by gradient ascent, and the channel's mean activation along the way."""

    image: np.ndarray  # channels x height x width, as the model takes it
    activations: list[float]  # after each step


def is_map(shape: tuple[int, ...]) -> bool:
    """Channels x height x width with more than one position: a 1x1 map (LeNet's c5) has no "where"."""
    return len(shape) == 3 and shape[1] * shape[2] > 1


def spatial_layer(spec: Spec, name: str | None, last_map: bool = False) -> str:
    """``name``, checked, or the last convolution whose output is still a map (with ``last_map``:
    the last layer of any type whose output is a map, the one a classifier pools away, and a
    named layer must have more than one position: a 1x1 map has no "where")."""
    from cnnscope.analysis import analyze
    from cnnscope.errors import did_you_mean

    analysis = analyze(spec)
    maps = [r.name for r in analysis.layers if (last_map or r.node.layer.draws_filters) and is_map(r.output_shape)]
    if name is not None:
        if name not in analysis.by_name:
            hint = did_you_mean(name, analysis.by_name) or "`cnnscope inspect` lists the layer names"
            raise CnnscopeError(f"no layer named '{name}'", hint=hint)
        shape = analysis.by_name[name].output_shape
        if len(shape) != 3:
            raise CnnscopeError(f"'{name}' outputs {fmt_shape(shape)}, not channels x height x width")
        if last_map and not is_map(shape):
            raise CnnscopeError(
                f"'{name}' outputs {fmt_shape(shape)}: one position, nowhere for a heat-map to point",
                hint=f"a layer with a map, such as '{maps[-1]}'" if maps else None,
            )
        return name
    if not maps:
        kind = "layer" if last_map else "convolution"
        raise CnnscopeError(f"{spec.name} has no {kind} with a 2-D output to look into")
    return maps[-1]


def maximize_channel(
    model: SpecModel,
    layer: str,
    channel: int,
    steps: int = 120,
    seed: int = 0,
    step_done: Callable[[int], None] | None = None,
) -> Ascent:
    """The input that most excites channel ``channel`` of ``layer``: Adam on the input, L2 and blur."""
    import torch

    from cnnscope.analysis import analyze
    from cnnscope.runtime.device import training_threads

    channels = _output_shape(model, layer)[0]
    if not 0 <= channel < channels:
        raise CnnscopeError(f"'{layer}' has channels 0-{channels - 1}, not {channel}")
    model.eval()
    previous = torch.get_num_threads()
    torch.set_num_threads(training_threads(analyze(model.spec).total.macs, 1))  # small models: one thread
    try:
        return _ascend(model, layer, channel, steps, seed, step_done)
    finally:
        torch.set_num_threads(previous)


def _ascend(
    model: SpecModel, layer: str, channel: int, steps: int, seed: int, step_done: Callable[[int], None] | None
) -> Ascent:
    import torch
    import torch.nn.functional as F

    generator = torch.Generator().manual_seed(seed)
    x = (0.1 * torch.randn(1, *model.spec.input.shape, generator=generator)).requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=0.05)
    history = []
    for step in range(steps):
        optimizer.zero_grad()
        activation = model.activations(x)[layer][0, channel].mean()
        loss = -activation + 1e-3 * x.pow(2).sum()
        loss.backward()
        optimizer.step()
        if step % 4 == 3:  # a little blur keeps the high frequencies that fool the model out
            with torch.no_grad():
                x.copy_(F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False) * 0.5 + x * 0.5)
        history.append(float(activation.detach()))
        if step_done:
            step_done(step)
    return Ascent(x.detach()[0].numpy(), history)


def _output_shape(model: SpecModel, layer: str) -> tuple[int, ...]:
    from cnnscope.analysis import analyze

    return analyze(model.spec).by_name[layer].output_shape


def heat_caption(heat: HeatMap) -> str:
    """What the heat-map picture shows, in one sentence."""
    method = CAM_METHODS[heat.method]
    return f"Where the picture made '{heat.label}' ({heat.probability:.1%}): {method} at {heat.layer}, 0 to its highest"


def heat_check(heat: HeatMap) -> list[str]:
    """The faithfulness check in sentences: hiding the hottest pixels against hiding random ones."""
    if not heat.heat.max() > 0:
        return [f"The heat-map is zero everywhere: no position of {heat.layer} raises P('{heat.label}')."]
    share = f"{HIDDEN_SHARE:.0%}"
    lines = [
        f"Heat-map check: with the hottest {share} of pixels hidden (set to the background),"
        f" P('{heat.label}') {heat.probability:.1%} -> {heat.hottest_hidden:.1%};"
        f" with {share} hidden at random, {heat.random_hidden:.1%}."
    ]
    if heat.probability < UNLIKELY:
        lines.append(f"P('{heat.label}') is under {UNLIKELY:.0%} to begin with: hiding pixels cannot show much.")
    elif flagged(heat):
        other = "difference" if heat.method == "gradcam" else "gradcam"
        lines.append(
            "The class barely depends on the hottest pixels: this map may not show where the evidence is"
            f" (try --cam-method {other}, or an earlier --cam-layer, whose map is finer)."
        )
    return lines


def flagged(heat: HeatMap) -> bool:
    """Whether hiding the hottest pixels took less than a quarter of the class's probability away."""
    return heat.hottest_hidden > 0.75 * heat.probability


def heat_map_layer(spec: Spec, layer: str | None, method: str) -> str:
    """The layer a heat-map of ``spec`` is drawn at, once what can be known without running it holds:
    the method exists, the output is a vector of classes, the layer has a map."""
    from cnnscope.analysis import analyze

    if method not in CAM_METHODS:
        raise CnnscopeError(f"no heat-map method '{method}'", hint=f"one of: {', '.join(CAM_METHODS)}")
    output = analyze(spec).output_shape  # the first output, where the model has several
    if len(output) != 1:
        first = f"'s first output ({spec.returns.first})" if spec.returns.several else ""
        raise CnnscopeError(
            f"a heat-map needs a class: {spec.name}{first} is {fmt_shape(output)}, not a vector of classes"
        )
    return spatial_layer(spec, layer, last_map=True)


def chosen_class(spec: Spec, asked: str | None, names: list[str] | None, top: int | None) -> int:
    """The class a heat-map is for: ``asked`` as a class name or index, else the top prediction ``top``."""
    if asked is None:
        if top is None:
            raise CnnscopeError("a heat-map needs a class: this model's output is not a class vector")
        return top
    asked = asked.strip()
    if names and asked in names:
        return names.index(asked)
    if asked.lstrip("-").isdigit():
        return _class_in_range(spec, int(asked))
    from cnnscope.errors import did_you_mean

    raise CnnscopeError(f"no class named '{asked}'", hint=did_you_mean(asked, names or []) or "a class index or name")


def _class_in_range(spec: Spec, index: int) -> int:
    from cnnscope.analysis import analyze

    classes = int(np.prod(analyze(spec).output_shape))
    if not 0 <= index < classes:
        raise CnnscopeError(f"{spec.name} has classes 0-{classes - 1}, not {index}")
    return index


def class_heat_map(
    model: SpecModel,
    image: np.ndarray,
    class_index: int,
    layer: str | None = None,
    method: str = "gradcam",
    names: list[str] | None = None,
) -> HeatMap:
    """The heat-map of ``class_index`` for ``image`` (channels x height x width, as the model takes it)
    at ``layer`` (default: the last layer whose output is a map), by ``method`` (see :data:`CAM_METHODS`).

    The score is the class's output before any softmax (its log where the model ends in one). The map
    is computed at the layer's resolution and stretched bilinearly over the input, as Grad-CAM does.
    """
    import torch
    import torch.nn.functional as F

    from cnnscope.vision.labels import class_label

    layer = heat_map_layer(model.spec, layer, method)
    _class_in_range(model.spec, class_index)
    model.eval()
    weight = next(model.parameters(), None)  # the input follows the model's device and --dtype
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None]
    if weight is not None:
        x = x.to(weight.device, weight.dtype)
    blank = _background(x)
    values = model.activations(x)
    maps, score = values[layer], _log_if_softmax(model, values[model.spec.returns.first]).reshape(-1)[class_index]
    (gradient,) = torch.autograd.grad(score, maps)
    with torch.no_grad():
        maps, gradient = maps.float(), gradient.float()
        if method == "gradcam":
            cam = (gradient.mean(dim=(2, 3), keepdim=True) * maps).sum(dim=1)
        else:
            cam = (gradient * (maps - model.activations(blank)[layer].float())).sum(dim=1)
        heat = F.interpolate(F.relu(cam)[:, None], size=x.shape[2:], mode="bilinear", align_corners=False)[0, 0]
        checked = _hidden_probabilities(model, x, blank, heat, class_index)
    return HeatMap(layer, method, class_index, class_label(class_index, names), heat.cpu().numpy(), *checked)


def _background(x: torch.Tensor) -> torch.Tensor:
    """The blank picture: each channel filled with the median of the input's border (its background)."""
    import torch

    border = torch.cat([x[..., 0, :], x[..., -1, :], x[..., :, 0], x[..., :, -1]], dim=-1)
    return border.median(dim=-1).values[..., None, None].expand_as(x).contiguous()


def _log_if_softmax(model: SpecModel, output: torch.Tensor) -> torch.Tensor:
    from cnnscope.vision.labels import ends_in_softmax

    return output.clamp_min(1e-12).log() if ends_in_softmax(model.spec) else output


def _hidden_probabilities(
    model: SpecModel, x: torch.Tensor, blank: torch.Tensor, heat: torch.Tensor, class_index: int
) -> tuple[float, float, float]:
    """The class's probability as it is, with the hottest pixels hidden, and with random pixels hidden."""
    import torch

    from cnnscope.vision.labels import ends_in_softmax

    pixels = heat.numel()
    hidden = max(1, round(HIDDEN_SHARE * pixels))
    generator = torch.Generator().manual_seed(0)  # the same masks every run
    orders = [torch.argsort(heat.flatten(), descending=True, stable=True).cpu()]
    orders += [torch.randperm(pixels, generator=generator) for _ in range(RANDOM_DRAWS)]
    masks = torch.zeros(len(orders), pixels, dtype=torch.bool)
    for row, order in enumerate(orders):
        masks[row, order[:hidden]] = True
    masks = masks.reshape(len(orders), 1, *heat.shape).to(x.device)
    inputs = [x, *torch.where(masks, blank, x).split(1)]  # one at a time: no more memory than the run took
    from cnnscope.runtime.build import first_output

    output = torch.cat([first_output(model.spec, model(one)).double().reshape(1, -1) for one in inputs])  # as run's
    probabilities = output if ends_in_softmax(model.spec) else output.softmax(dim=1)
    column = probabilities[:, class_index].cpu()
    return float(column[0]), float(column[1]), float(column[2:].mean())
