"""Layers that rearrange, cut or join tensors: flatten, reshape, permute, channel shuffle,
slice, crop, concat, add, mul, max-over-time."""

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
    Moves,
    PeerCounts,
    Shape,
    TorchCall,
    Window,
    compact,
    expect_rank,
    fmt_shape,
    key,
    non_negative,
    numbers,
    numel,
    per_spatial_axis,
    positive,
    register,
    shape_list,
)
from cnnscope.rules import RESIDUAL_MISMATCH

if TYPE_CHECKING:
    from torch import nn


@register
class Flatten(Layer):
    type_name = "flatten"
    summary = "all axes into one vector (the batch axis stays)"

    imports = ("nn.Flatten", "torch.flatten", "Tensor.flatten", "Tensor.view", "Tensor.reshape", "torch.reshape")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        return {} if len(call.out) == 1 else None  # anything else: a reshape

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        return (numel(inputs[0]),)

    def window(self, inputs: list[Shape]) -> Global:
        return GLOBAL

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        return [f"{' * '.join(map(str, inputs[0]))} = {out[0]:,}"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        return nn.Flatten()


@register
class Reshape(Layer):
    type_name = "reshape"
    summary = "same elements, new shape (one size may be -1)"
    shape: tuple[int, ...] = key(shape_list, doc="target shape per sample, e.g. [30, 7, 7]")
    example = {"shape": [-1, 4]}

    imports = ("Tensor.view", "Tensor.reshape", "torch.reshape", "cnnscope.Reshape")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        return {"shape": list(call.out)}

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

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import Reshape as Module

        return Module(self.shape)


@register
class MaxOverTime(Layer):
    type_name = "max_over_time"
    summary = "maximum of each channel over all positions (Collobert, Kim): C x L -> C"

    imports = ("cnnscope.MaxOverTime",)

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

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import MaxOverTime as Module

        return Module()


@register
class Concat(Layer):
    type_name = "concat"
    summary = "join inputs along an axis (default 0: channels), as in inception"
    arity = (2, None)
    fresh_output = True
    example_inputs = ((4, 8, 8), (2, 8, 8))
    axis: int = key(non_negative, 0, "axis to join along (0 = channels)")

    imports = ("torch.cat", "torch.concat", "cnnscope.Concat")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        if call.module is not None:
            return {"axis": call.module.axis}
        dim = call.arg(1, "dim", 0)
        axis = dim % (len(call.out) + 1) - 1
        if axis < 0:
            raise SpecError("concatenating along the batch axis has no spec form")
        return {"axis": axis} if axis else {}

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

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import Concat as Module

        return Module(self.axis)


@register
class Add(Layer):
    type_name = "add"
    summary = "element-wise sum of inputs of one shape (residual shortcut)"
    arity = (2, None)
    fresh_output = True
    example_inputs = ((4, 8, 8), (4, 8, 8))

    imports = ("operator.add", "operator.iadd", "torch.add", "Tensor.add", "Tensor.add_", "cnnscope.Add")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        if call.module is not None:
            return {}
        if len(call.inputs) < 2 or call.parameters or call.kwargs.get("alpha", 1) != 1:
            return None
        return {} if all(shape == call.out for shape in call.inputs) else None

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        first, first_name = inputs[0], sources[0] if sources else "input 1"
        for shape, name in zip(inputs[1:], sources[1:]):
            if len(shape) != len(first):
                raise SpecError(
                    f"rank mismatch: '{first_name}' is {fmt_shape(first)}, '{name}' is {fmt_shape(shape)}",
                    hint="add joins tensors of the same shape",
                    code=RESIDUAL_MISMATCH,
                )
            if len(first) == 1 and shape != first:  # flat vectors: features, not channels of a map
                raise SpecError(
                    f"size mismatch: '{first_name}' has {first[0]} features, '{name}' has {shape[0]}",
                    hint=f"give '{name}' a linear layer with out = {first[0]}",
                    code=RESIDUAL_MISMATCH,
                )
            if shape[:1] != first[:1]:
                raise SpecError(
                    f"channel mismatch: '{first_name}' has {first[0]} channels, '{name}' has {shape[0]}",
                    hint=f"project '{name}' with a 1x1 conv2d (out = {first[0]})",
                    code=RESIDUAL_MISMATCH,
                )
            if shape != first:
                raise SpecError(
                    f"spatial mismatch: '{first_name}' is {fmt_shape(first)}, '{name}' is {fmt_shape(shape)}",
                    hint="give the shortcut's projection the stride of the main path",
                    code=RESIDUAL_MISMATCH,
                )
        return first

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost(flops=(len(inputs) - 1) * numel(out))

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        return [f"{len(inputs)} inputs of {fmt_shape(out)} summed element by element"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED  # torchvision writes `out += identity`, which no peer counts

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import Add as Module

        return Module()


def _broadcast(first: Shape, other: Shape) -> Shape | None:
    """numpy's broadcasting of two shapes (aligned from the last axis), or None."""
    if len(first) < len(other):
        first, other = other, first
    other = (1,) * (len(first) - len(other)) + other
    if any(a != b and 1 not in (a, b) for a, b in zip(first, other)):
        return None
    return tuple(max(a, b) for a, b in zip(first, other))


@register
class Mul(Layer):
    """Element-wise product; a C x 1 x 1 gate broadcasts over C x H x W (squeeze-and-excitation)."""

    type_name = "mul"
    summary = "element-wise product of inputs, with broadcasting (squeeze-and-excitation's gate)"
    arity = (2, None)
    fresh_output = True
    example_inputs = ((4, 8, 8), (4, 1, 1))

    imports = ("operator.mul", "operator.imul", "torch.mul", "Tensor.mul", "Tensor.mul_", "cnnscope.Mul")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        return {} if call.module is not None or (len(call.inputs) >= 2 and not call.parameters) else None

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        names = sources or tuple(f"input {i + 1}" for i in range(len(inputs)))
        out = inputs[0]
        for shape, name in zip(inputs[1:], names[1:]):
            joined = _broadcast(out, shape)
            if joined is None:
                raise SpecError(
                    f"cannot multiply '{names[0]}' ({fmt_shape(inputs[0])}) by '{name}' ({fmt_shape(shape)}):"
                    " the shapes do not broadcast",
                    hint="each axis must be equal or 1 in one of them, e.g. a Cx1x1 gate over CxHxW",
                )
            out = joined
        return out

    def cost(self, inputs: list[Shape], out: Shape) -> Cost:
        return Cost(flops=(len(inputs) - 1) * numel(out))

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        shapes = " * ".join(fmt_shape(s) for s in inputs)
        return [f"{shapes} -> {fmt_shape(out)} (axes of size 1 are repeated to match)"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED  # torchvision writes `scale * x`, which no peer counts

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import Mul as Module

        return Module()


def _dims(value: Any, _cls: type[Layer]) -> tuple[int, ...]:
    if not isinstance(value, list) or sorted(value) != list(range(len(value))):
        raise ValueError("expected a reordering of the axes per sample, such as [1, 2, 0] (C x H x W -> H x W x C)")
    return tuple(value)


@register
class Permute(Layer):
    type_name = "permute"
    summary = "reorder the axes of each sample (ConvNeXt: [1, 2, 0] puts the channels last)"
    dims: tuple[int, ...] = key(_dims, doc="output axis i is input axis dims[i]; the batch axis is not counted")
    example = {"dims": [1, 2, 0]}

    imports = ("Tensor.permute", "torch.permute", "torchvision.Permute", "cnnscope.Permute")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        if call.module is not None:
            dims = list(call.module.dims)
        else:
            dims = list(call.args[1:]) if len(call.args) > 2 else list(call.arg(1, "dims"))
        dims = [d % len(dims) for d in dims]
        if dims[0] != 0:
            raise SpecError("a permutation that moves the batch axis has no spec form")
        return {"dims": [d - 1 for d in dims[1:]]}

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        if len(self.dims) != len(shape):
            raise SpecError(f"dims has {len(self.dims)} axes, the input {fmt_shape(shape)} has {len(shape)}")
        return tuple(shape[d] for d in self.dims)

    def window(self, inputs: list[Shape]) -> Moves:
        return Moves(self.dims)

    def cells(self) -> Cells:
        return Cells(size=str(list(self.dims)))

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        return [f"axes {list(self.dims)} of {fmt_shape(inputs[0])} -> {fmt_shape(out)}"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import Permute as Module

        return Module(self.dims)


@register
class ChannelShuffle(Layer):
    type_name = "channel_shuffle"
    summary = "interleave the channels of groups (ShuffleNet): g x C/g -> C/g x g"
    groups: int = key(positive, doc="number of groups (must divide the channels)")
    example = {"groups": 2}

    imports = ("nn.ChannelShuffle",)

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        return {"groups": call.module.groups}

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        expect_rank(self, shape, (2, 3), "a channels x positions input")
        if shape[0] % self.groups:
            raise SpecError(f"groups = {self.groups} must divide the {shape[0]} channels")
        return shape

    def cells(self) -> Cells:
        return Cells(size=f"{self.groups} groups")

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        per = out[0] // self.groups
        return [f"{out[0]} channels as {self.groups} x {per}, transposed to {per} x {self.groups}: shape unchanged"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from torch import nn

        return nn.ChannelShuffle(self.groups)


def _optional_count(value: Any, cls: type[Layer]) -> int | None:
    return None if value is None else non_negative(value, cls)


@register
class Slice(Layer):
    """``x[start:stop:step]`` along one axis: ShuffleNet's ``x.chunk(2, dim=1)`` is two slices."""

    type_name = "slice"
    summary = "a range along one axis, x[start:stop:step] (ShuffleNet's chunk)"
    axis: int = key(non_negative, 0, "axis to cut (0 = channels)")
    start: int = key(non_negative, 0, "first index kept")
    stop: int | None = key(_optional_count, None, "index after the last one kept (default: the end)")
    step: int = key(positive, 1, "keep every step-th index")
    example = {"start": 1, "stop": 3}

    imports = ("Tensor.chunk", "torch.chunk", "operator.getitem", "cnnscope.Slice")

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        """``x.chunk(n, dim)[i]``, ``x[:, a:b]`` or the module; the chunk's index is ``kwargs["index"]``."""
        shape = call.inputs[0]
        if call.module is not None:
            window = call.module.range
            return _slice_keys(call.module.axis - 1, window.start, window.stop, window.step, shape)
        if call.name.endswith("chunk"):
            chunks, dim, index = call.arg(1, "chunks"), call.arg(2, "dim", 0), call.kwargs["index"]
            axis = dim % (len(shape) + 1) - 1
            step = -(-shape[axis] // chunks)
            return _slice_keys(axis, index * step, min((index + 1) * step, shape[axis]), 1, shape)
        index = call.args[1] if isinstance(call.args[1], tuple) else (call.args[1],)
        cuts = [(axis, item) for axis, item in enumerate(index) if item != slice(None)]
        if len(cuts) != 1 or cuts[0][0] == 0 or not isinstance(cuts[0][1], slice) or Ellipsis in index:
            return None
        axis, window = cuts[0]
        return _slice_keys(axis - 1, window.start, window.stop, window.step, shape)

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        (shape,) = inputs
        if self.axis >= len(shape):
            raise SpecError(f"axis {self.axis} does not exist in an input of shape {fmt_shape(shape)}")
        size = shape[self.axis]
        stop = size if self.stop is None else self.stop
        if not self.start < stop <= size:
            raise SpecError(
                f"start = {self.start}, stop = {stop} is not a range inside axis {self.axis} of size {size}",
                hint="0 <= start < stop <= size",
            )
        kept = len(range(self.start, stop, self.step))
        return (*shape[: self.axis], kept, *shape[self.axis + 1 :])

    def window(self, inputs: list[Shape]) -> Window | None:
        """Every step-th position of a spatial axis: neighbouring outputs are step positions apart."""
        if self.axis == 0 or self.step == 1:
            return None
        axes = len(inputs[0]) - 1
        return Window((1,) * axes, tuple(self.step if i == self.axis - 1 else 1 for i in range(axes)))

    def cells(self) -> Cells:
        stop = "" if self.stop is None else self.stop
        step = "" if self.step == 1 else f":{self.step}"
        return Cells(size=f"[{self.start}:{stop}{step}] axis {self.axis}")

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        stop = inputs[0][self.axis] if self.stop is None else self.stop
        return [f"axis {self.axis}: indices {self.start}..{stop - 1} step {self.step} = {out[self.axis]} kept"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import Slice as Module

        return Module(self.axis, self.start, self.stop, self.step)


@register
class Crop(Layer):
    """Center crop of the spatial axes, to a size or to the size of a second input (U-Net's skips).

    Where the margin is odd, the extra pixel is cut at the end: offset = (I - O) // 2.
    """

    type_name = "crop"
    summary = "center crop to a size, or to the size of a second input (U-Net's skip connections)"
    arity = (1, 2)
    value_inputs = 1
    size: tuple[int, ...] | None = key(numbers(1, whole=True), None, "output size; omit to crop to the second input")
    example = {"size": 6}

    imports = ("cnnscope.CenterCrop",)

    @classmethod
    def from_torch(cls, call: TorchCall) -> dict[str, Any] | None:
        return {} if call.module.size is None else {"size": compact(call.module.size)}

    def target(self, inputs: list[Shape], sources: tuple[str, ...]) -> tuple[int, ...]:
        shape = inputs[0]
        if len(inputs) == 2:
            if self.size is not None:
                raise SpecError("give either 'size' or a second input to crop to, not both")
            if len(inputs[1]) != len(shape):
                raise SpecError(f"cannot crop {fmt_shape(shape)} to the size of {fmt_shape(inputs[1])}")
            return inputs[1][1:]
        if self.size is None:
            raise SpecError("crop needs 'size' or a second input (from = [layer, reference])")
        return per_spatial_axis(self.size, shape, "size")

    def infer(self, inputs: list[Shape], sources: tuple[str, ...] = ()) -> Shape:
        shape = inputs[0]
        expect_rank(self, shape, (2, 3), "a channels x spatial input")
        target = self.target(inputs, sources)
        if any(t > s for t, s in zip(target, shape[1:])):
            name = sources[0] if sources else "the input"
            raise SpecError(f"cannot crop '{name}' ({fmt_shape(shape)}) to a larger {'x'.join(map(str, target))}")
        return (shape[0], *target)

    def explain(self, inputs: list[Shape], out: Shape) -> list[str]:
        cuts = [
            f"{s} - {o} = {s - o}: {(s - o) // 2} before, {s - o - (s - o) // 2} after"
            for s, o in zip(inputs[0][1:], out[1:])
        ]
        return [f"per spatial axis, {'; '.join(cuts)} -> {fmt_shape(out)}"]

    def peer_counts(self, inputs: list[Shape], out: Shape, functional: bool) -> PeerCounts:
        return UNCOUNTED

    def torch_module(self, inputs: list[Shape]) -> nn.Module:
        from cnnscope.layers.modules import CenterCrop

        return CenterCrop(self.size)


def _slice_keys(axis: int, start: int | None, stop: int | None, step: int | None, shape: Shape) -> dict[str, Any]:
    """Slice keys for ``x[start:stop:step]`` along ``axis`` (per sample), with Python's negative indices."""
    begin, end, stride = slice(start, stop, step).indices(shape[axis])
    keys: dict[str, Any] = {"axis": axis} if axis else {}
    keys["start"] = begin
    if end != shape[axis]:
        keys["stop"] = end
    if stride != 1:
        keys["step"] = stride
    return keys
