"""Beyond the first layer: which input excites a channel of any layer.

:func:`maximize_channel` is gradient ascent on the input (Erhan et al. 2009; Simonyan et al.
2013) for the mean activation of one channel, with the usual regularisation: an L2 penalty
on the input and a small blur every few steps, from seeded noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnnscope.errors import CnnscopeError
from cnnscope.layers import fmt_shape

if TYPE_CHECKING:  # torch is imported where a model runs: inside the functions
    from cnnscope.runtime.build import SpecModel


@dataclass(frozen=True)
class Ascent:
    """The input found by gradient ascent, and the channel's mean activation along the way."""

    image: np.ndarray  # channels x height x width, as the model takes it
    activations: list[float]  # after each step


def spatial_layer(model: SpecModel, name: str | None) -> str:
    """``name``, checked, or the last convolution whose output is still a map."""
    from cnnscope.analysis import analyze

    analysis = analyze(model.spec)
    if name is not None:
        if name not in analysis.by_name:
            raise CnnscopeError(f"no layer named '{name}'", hint="`cnnscope inspect` lists the layer names")
        if len(analysis.by_name[name].output_shape) != 3:
            shape = fmt_shape(analysis.by_name[name].output_shape)
            raise CnnscopeError(f"'{name}' outputs {shape}, not channels x height x width")
        return name
    maps = [
        r.name
        for r in analysis.layers
        if r.node.layer.draws_filters and len(r.output_shape) == 3 and r.output_shape[1] * r.output_shape[2] > 1
    ]  # a 1x1 map (LeNet's c5) has no "where"
    if not maps:
        raise CnnscopeError(f"{model.spec.name} has no convolution with a 2-D output to look into")
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
