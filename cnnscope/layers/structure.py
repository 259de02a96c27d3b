"""Layers that rearrange or join tensors: flatten, reshape, concat, add, max-over-time."""

from __future__ import annotations

from dataclasses import dataclass

from cnnscope.errors import SpecError
from cnnscope.layers.base import (
    GLOBAL,
    Cells,
    Cost,
    Global,
    Layer,
    Shape,
    expect_rank,
    fmt_shape,
    key,
    non_negative,
    numel,
    register,
    shape_list,
)


@register
@dataclass(frozen=True)
class Flatten(Layer):
    type_name = "flatten"
    summary = "all axes into one vector (the batch axis stays)"

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        return (numel(inputs[0]),)

    def window(self, inputs: list[Shape]) -> Global:
        return GLOBAL

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        return [f"{' * '.join(map(str, inputs[0]))} = {out[0]:,}"]


@register
@dataclass(frozen=True)
class Reshape(Layer):
    type_name = "reshape"
    summary = "same elements, new shape (one size may be -1)"
    shape: tuple[int, ...] = key(shape_list, doc="target shape per sample, e.g. [30, 7, 7]")

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        total, known = numel(inputs[0]), numel(d for d in self.shape if d != -1)
        if -1 in self.shape:
            if total % known:
                raise SpecError(f"cannot reshape {fmt_shape(inputs[0])} ({total:,} elements) to {self._text()}")
            return tuple(total // known if d == -1 else d for d in self.shape)
        if known != total:
            raise SpecError(
                f"cannot reshape {fmt_shape(inputs[0])} ({total:,} elements) to {self._text()} ({known:,} elements)"
            )
        return self.shape

    def _text(self) -> str:
        return "x".join(map(str, self.shape))

    def window(self, inputs: list[Shape]) -> Global:
        return GLOBAL

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        return [f"{fmt_shape(inputs[0])} = {numel(out):,} elements = {fmt_shape(out)}"]


@register
@dataclass(frozen=True)
class MaxOverTime(Layer):
    type_name = "max_over_time"
    summary = "maximum of each channel over all positions (Collobert, Kim): C x L -> C"

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        expect_rank(self, shape, (2, 3), "a channels x positions input")
        return (shape[0],)

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost(flops=numel(inputs[0]) - out[0])

    def window(self, inputs: list[Shape]) -> Global:
        return GLOBAL

    def cells(self) -> Cells:
        return Cells(size="global")

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        return [f"max over {numel(inputs[0][1:])} positions for each of {out[0]} channels"]


@register
@dataclass(frozen=True)
class Concat(Layer):
    type_name = "concat"
    summary = "join inputs along an axis (default 0: channels), as in inception"
    merges = True
    axis: int = key(non_negative, 0, "axis to join along (0 = channels)")

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        first, first_name = inputs[0], sources[0] if sources else "input 1"
        if self.axis >= len(first):
            raise SpecError(f"axis {self.axis} does not exist in '{first_name}' ({fmt_shape(first)})")
        for shape, name in zip(inputs[1:], sources[1:]):
            same_rank = len(shape) == len(first)
            if (
                not same_rank
                or shape[: self.axis] + shape[self.axis + 1 :] != first[: self.axis] + first[self.axis + 1 :]
            ):
                raise SpecError(
                    f"cannot concat '{name}' ({fmt_shape(shape)}) with '{first_name}' ({fmt_shape(first)}):"
                    f" all sizes except axis {self.axis} must match",
                    hint="check the stride and padding of the branches",
                )
        joined = sum(shape[self.axis] for shape in inputs)
        return (*first[: self.axis], joined, *first[self.axis + 1 :])

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        parts = " + ".join(str(s[self.axis]) for s in inputs)
        return [f"axis {self.axis}: {parts} = {out[self.axis]} -> {fmt_shape(out)}"]


@register
@dataclass(frozen=True)
class Add(Layer):
    type_name = "add"
    summary = "element-wise sum of inputs of one shape (residual shortcut)"
    merges = True

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        first, first_name = inputs[0], sources[0] if sources else "input 1"
        for shape, name in zip(inputs[1:], sources[1:]):
            if shape[:1] != first[:1]:
                raise SpecError(
                    f"channel mismatch: '{first_name}' has {first[0]} channels, '{name}' has {shape[0]}",
                    hint=f"project '{name}' with a 1x1 conv2d (out = {first[0]})",
                )
            if shape != first:
                raise SpecError(
                    f"spatial mismatch: '{first_name}' is {fmt_shape(first)}, '{name}' is {fmt_shape(shape)}",
                    hint="give the shortcut's projection the stride of the main path",
                )
        return first

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost(flops=(len(inputs) - 1) * numel(out))

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        return [f"{len(inputs)} inputs of {fmt_shape(out)} summed element by element"]
