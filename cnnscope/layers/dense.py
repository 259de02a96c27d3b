"""Layers with a weight per (input, output) pair: fully connected and embedding lookups."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cnnscope.errors import SpecError
from cnnscope.layers.base import (
    GLOBAL,
    UNCOUNTED,
    Cells,
    Cost,
    Global,
    Layer,
    Mixes,
    PeerCounts,
    Shape,
    TorchCall,
    boolean,
    expect_rank,
    given,
    key,
    multiply_add_counts,
    numel,
    positive,
    register,
    weight_argument,
)
from cnnscope.rules import LINEAR_ON_MAP, Finding

if TYPE_CHECKING:
    from torch import nn


@register
class Linear(Layer):
    """Fully connected layer; like torch, it acts on the last axis."""

    type_name = "linear"
    summary = "fully connected layer (acts on the last axis, like torch)"
    has_units = True
    fresh_output = True
    example = {"out": 5}
    example_inputs = ((12,),)
    out: int = key(positive, doc="number of neurons (output features)")
    bias: bool = key(boolean, True, "add a learned bias per neuron")

    imports = ("nn.Linear", "F.linear")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        if call.module is not None:
            return {"out": call.module.out_features, "bias": call.module.bias is not None}
        return {"out": weight_argument(call, 1, "weight").shape[0], "bias": given(call.arg(2, "bias"))}

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        expect_rank(self, shape, (1, 2, 3, 4), "an input")
        return (*shape[:-1], self.out)

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        fan_in = inputs[0][-1]
        macs = numel(out) * fan_in
        return Cost(weights=fan_in * self.out, biases=self.out if self.bias else 0, macs=macs, flops=2 * macs)

    def window(self, inputs: list[Shape]) -> Global | Mixes:
        shape = inputs[0]
        return GLOBAL if len(shape) == 1 else Mixes(len(shape) - 1, shape[-1], replaces=True)

    def warnings(self, inputs: list[Shape], spatial_axes: tuple[int, ...] = ()) -> list[Finding]:
        shape = inputs[0]
        if len(shape) == 1 or len(shape) - 1 not in spatial_axes:  # e.g. channels last, after a permute
            return []
        return [
            Finding(
                LINEAR_ON_MAP,
                f"linear acts on the last axis only ({shape[-1]} features, repeated over {numel(shape[:-1])}"
                f" positions); add a flatten before it to connect all {numel(shape):,} inputs",
            )
        ]

    def cells(self) -> Cells:
        return Cells(units=str(self.out))

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        return [f"{inputs[0][-1]} inputs -> {self.out} neurons"]

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        fan_in = inputs[0][-1]
        cost = self.cost(inputs, out)
        bias = f" + {self.out}" if self.bias else ""
        repeats = numel(out[:-1])
        macs = f"{repeats} * {fan_in} * {self.out}" if repeats > 1 else f"{fan_in} * {self.out}"
        return [
            f"params = {fan_in} * {self.out}{bias} = {cost.params:,}",
            f"MACs = {macs} = {cost.macs:,}",
            f"FLOPs = 2 * MACs = {cost.flops:,}",
        ]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        cost = self.cost(inputs, out)
        return multiply_add_counts(cost, out, functional, torchinfo=cost.params, thop=cost.macs)

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        return nn.Linear(inputs[0][-1], self.out, self.bias)


@register
class Embedding(Layer):
    """Word vectors looked up for each token; output is dim x length (channels first)."""

    type_name = "embedding"
    summary = "lookup table of word vectors: tokens (L) -> dim x L"
    dim: int = key(positive, doc="vector size per token")
    vocab: int | None = key(positive, None, "vocabulary size (default: the input's)")
    trainable: bool = key(boolean, True, "false for a frozen (static) table")
    example = {"dim": 4, "vocab": 10}
    example_inputs = ((7,),)

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        expect_rank(self, shape, (1,), "a sequence of tokens")
        if self.vocab is None:
            raise SpecError("embedding needs 'vocab' (or an input with tokens and vocab)")
        return (self.dim, shape[0])

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost(weights=(self.vocab or 0) * self.dim, trainable=self.trainable)

    def cells(self) -> Cells:
        return Cells(units=str(self.dim), size="static" if not self.trainable else "")

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        return [f"{inputs[0][0]} tokens, one {self.dim}-vector each -> {self.dim}x{inputs[0][0]} (channels first)"]

    def explain_cost(self, inputs: list[Shape], out: Shape) -> list[str]:
        frozen = "" if self.trainable else " (frozen: static)"
        return [f"params = {self.vocab} words * {self.dim} = {self.cost(inputs, out).params:,}{frozen}, MACs = 0"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        # torchinfo: the parameters of a leaf module; F.embedding is seen by none
        return UNCOUNTED._replace(torchinfo=0 if functional else self.cost(inputs, out).params)

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import ChannelsFirstEmbedding

        module = ChannelsFirstEmbedding(self.vocab or 0, self.dim)
        module.weight.requires_grad_(self.trainable)
        return module
