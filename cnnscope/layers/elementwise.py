"""Layers that keep the shape: activations, normalisation, dropout.

FLOP convention (see docs/conventions.md): 1 FLOP per element for an activation,
3 for softmax (exp, sum, divide), 2 for inference batch norm (scale and shift),
2 * size + 3 for local response normalisation, 0 for dropout (off at inference).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cnnscope.layers.base import (
    Cells,
    Cost,
    Layer,
    Shape,
    boolean,
    expect_rank,
    key,
    number,
    numel,
    positive,
    positive_number,
    probability,
    register,
)


@dataclass(frozen=True)
class Activation(Layer):
    """A function applied to every element; usable as a layer or as ``act = "..."``."""

    flops_per_element: ClassVar[int] = 1

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost(flops=self.flops_per_element * numel(out))

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        flops = self.cost(inputs, out).flops
        return [f"params = 0, MACs = 0, FLOPs = {numel(out):,} elements * {self.flops_per_element} = {flops:,}"]

    @property
    def label(self) -> str:
        """How the table's activation column names it."""
        return self.type_name


@register
@dataclass(frozen=True)
class ReLU(Activation):
    type_name = "relu"
    summary = "max(0, x)"


@register
@dataclass(frozen=True)
class Tanh(Activation):
    type_name = "tanh"
    summary = "hyperbolic tangent"


@register
@dataclass(frozen=True)
class Sigmoid(Activation):
    type_name = "sigmoid"
    summary = "1 / (1 + exp(-x))"


@register
@dataclass(frozen=True)
class LeakyReLU(Activation):
    type_name = "leaky_relu"
    summary = "x if x > 0 else slope * x (YOLO uses slope 0.1)"
    slope: float = key(number, 0.01, "slope for negative inputs")

    @property
    def label(self) -> str:
        return f"leaky_relu({self.slope:g})"


@register
@dataclass(frozen=True)
class Softmax(Activation):
    type_name = "softmax"
    summary = "exp(x_i) / sum_j exp(x_j) over the channel axis"
    flops_per_element = 3


ACTIVATIONS: dict[str, type[Activation]] = {c.type_name: c for c in (ReLU, Tanh, Sigmoid, LeakyReLU, Softmax)}


@register
@dataclass(frozen=True)
class BatchNorm(Layer):
    type_name = "batchnorm"
    summary = "batch normalisation over channels (axis 0)"
    eps: float = key(positive_number, 1e-5, "added to the variance")
    momentum: float = key(positive_number, 0.1, "running-statistics momentum")
    affine: bool = key(boolean, True, "learn a scale and shift per channel")

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        channels = out[0] if self.affine else 0
        return Cost(weights=channels, biases=channels, flops=2 * numel(out))

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        cost = self.cost(inputs, out)
        params = f"{out[0]} scales + {out[0]} shifts = {cost.params:,}" if self.affine else "0"
        return [
            f"params = {params} (running mean and variance are buffers, not parameters)",
            f"MACs = 0, FLOPs = {numel(out):,} elements * 2 (scale, shift) = {cost.flops:,}",
        ]


@register
@dataclass(frozen=True)
class LocalResponseNorm(Layer):
    type_name = "lrn"
    summary = "local response normalisation across neighbouring channels (AlexNet, GoogLeNet)"
    size: int = key(positive, 5, "number of neighbouring channels (n)")
    alpha: float = key(number, 1e-4, "scale (alpha)")
    beta: float = key(number, 0.75, "exponent (beta)")
    k: float = key(number, 2.0, "additive constant (k)")

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        expect_rank(self, shape, (2, 3, 4), "a channels x spatial input")
        return shape

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost(flops=(2 * self.size + 3) * numel(out))

    def cells(self) -> Cells:
        return Cells(size=str(self.size))

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        flops = self.cost(inputs, out).flops
        return [f"params = 0, MACs = 0, FLOPs = {numel(out):,} elements * (2*{self.size} + 3) = {flops:,}"]


@register
@dataclass(frozen=True)
class Dropout(Layer):
    type_name = "dropout"
    summary = "zeroes elements with probability p while training; identity at inference"
    p: float = key(probability, 0.5, "drop probability")

    def cells(self) -> Cells:
        return Cells(units=f"p={self.p:g}")
