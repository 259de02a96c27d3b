"""One torch module per layer type: the only place that maps spec layers to torch.

Each builder gets the validated layer and its input shapes (per sample) and returns a
module whose parameters carry torch's usual names (``weight``, ``bias``), so that
state_dicts of torchvision models load as they are.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from cnnscope.errors import SpecError
from cnnscope.layers import Layer, Shape, dense, elementwise, sliding, structure


class Reshape(nn.Module):
    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


class MaxOverTime(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).amax(dim=-1)


class Concat(nn.Module):
    def __init__(self, axis: int) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=self.axis + 1)


class Add(nn.Module):
    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        total = xs[0]
        for x in xs[1:]:
            total = total + x
        return total


class ChannelsFirstEmbedding(nn.Embedding):
    """Token ids (N, L) -> vectors (N, dim, L), ready for conv1d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).transpose(1, 2)


def _conv(layer: sliding.Conv, shapes: list[Shape]) -> nn.Module:
    conv = nn.Conv2d if layer.ndim == 2 else nn.Conv1d
    return conv(
        shapes[0][0], layer.out, layer.kernel, layer.stride, layer.padding, layer.dilation, layer.groups, layer.bias
    )


def _pool(layer: sliding.Pool, shapes: list[Shape]) -> nn.Module:
    kinds = {("max", 2): nn.MaxPool2d, ("avg", 2): nn.AvgPool2d, ("max", 1): nn.MaxPool1d, ("avg", 1): nn.AvgPool1d}
    return kinds[layer.reduce, layer.ndim](layer.kernel, layer.steps, layer.padding, ceil_mode=layer.ceil)


def _batchnorm(layer: elementwise.BatchNorm, shapes: list[Shape]) -> nn.Module:
    norm = nn.BatchNorm2d if len(shapes[0]) == 3 else nn.BatchNorm1d
    return norm(shapes[0][0], eps=layer.eps, momentum=layer.momentum, affine=layer.affine)


def _embedding(layer: dense.Embedding, shapes: list[Shape]) -> nn.Module:
    module = ChannelsFirstEmbedding(layer.vocab or 0, layer.dim)
    module.weight.requires_grad_(layer.trainable)
    return module


BUILDERS: dict[type[Layer], Callable[..., nn.Module]] = {
    sliding.Conv2d: _conv,
    sliding.Conv1d: _conv,
    sliding.MaxPool2d: _pool,
    sliding.AvgPool2d: _pool,
    sliding.MaxPool1d: _pool,
    sliding.AvgPool1d: _pool,
    sliding.AdaptiveAvgPool: lambda layer, shapes: nn.AdaptiveAvgPool2d(layer.out),
    sliding.GlobalAvgPool: lambda layer, shapes: nn.AdaptiveAvgPool2d(1),
    elementwise.ReLU: lambda layer, shapes: nn.ReLU(),
    elementwise.Tanh: lambda layer, shapes: nn.Tanh(),
    elementwise.Sigmoid: lambda layer, shapes: nn.Sigmoid(),
    elementwise.LeakyReLU: lambda layer, shapes: nn.LeakyReLU(layer.slope),
    elementwise.Softmax: lambda layer, shapes: nn.Softmax(dim=1),
    elementwise.BatchNorm: _batchnorm,
    elementwise.LocalResponseNorm: lambda layer, shapes: nn.LocalResponseNorm(
        layer.size, layer.alpha, layer.beta, layer.k
    ),
    elementwise.Dropout: lambda layer, shapes: nn.Dropout(layer.p),
    dense.Linear: lambda layer, shapes: nn.Linear(shapes[0][-1], layer.out, layer.bias),
    dense.Embedding: _embedding,
    structure.Flatten: lambda layer, shapes: nn.Flatten(),
    structure.Reshape: lambda layer, shapes: Reshape(layer.shape),
    structure.MaxOverTime: lambda layer, shapes: MaxOverTime(),
    structure.Concat: lambda layer, shapes: Concat(layer.axis),
    structure.Add: lambda layer, shapes: Add(),
}


def module_for(layer: Layer, shapes: list[Shape]) -> nn.Module:
    builder = BUILDERS.get(type(layer))
    if builder is None:
        raise SpecError(f"layer type '{layer.type_name}' has no torch module yet", hint="add one to BUILDERS")
    return builder(layer, shapes)


# Layers whose output is always a fresh tensor: a fused activation may overwrite it in place
# (as torchvision's ReLU(inplace=True) does), saving a copy. Not dropout, flatten or reshape,
# whose output can share memory with a tensor another branch still needs.
FRESH_OUTPUT = (
    sliding.Conv,
    sliding.Pool,
    sliding.AveragePoolTo,
    elementwise.BatchNorm,
    elementwise.LocalResponseNorm,
    dense.Linear,
    structure.Concat,
    structure.Add,
)


def activation_for(act: elementwise.Activation, layer: Layer, shape: Shape) -> nn.Module:
    """The module of a fused ``act``, in place where the layer's output is fresh."""
    module = module_for(act, [shape])
    if isinstance(module, (nn.ReLU, nn.LeakyReLU)) and isinstance(layer, FRESH_OUTPUT):
        module.inplace = True
    return module
