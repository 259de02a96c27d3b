"""torch modules for the layer types that ``torch.nn`` has no module for.

Imported only by a layer's ``torch_module`` (never by the static engine). Each takes
per-sample settings; the batch axis is axis 0 of every tensor it sees. Parameters keep
the names torchvision's models give them, so their state_dicts load as they are.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from cnnscope.layers.structure import axis_size


class Reshape(nn.Module):
    """``x.reshape(n, *shape)``, where an entry ``"axis K"`` is the size of axis K (per sample) of the input,
    or of a second input where one is given: ``x.reshape(B, 2, -1, H, W)`` with ``B, C, H, W = x.shape``."""

    def __init__(self, shape: tuple[int | str, ...]) -> None:
        super().__init__()
        self.written = shape  # as the spec writes it
        self.shape = tuple(size if isinstance(size, int) else 0 for size in shape)  # 0: copied
        self.copies = tuple(
            (i, copied) for i, size in enumerate(shape) if isinstance(size, str) and (copied := axis_size(size))
        )

    def forward(self, x: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        sizes = list(self.shape)
        for i, copied in self.copies:
            sizes[i] = copied.of((x if reference is None else reference).shape[1:])
        return x.reshape(x.shape[0], *sizes)


class MaxOverTime(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).amax(dim=-1)


class Mean(nn.Module):
    """The mean over every axis after the channels: N x C x H x W -> N x C (``x.mean([2, 3])``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=tuple(range(2, x.ndim)))


class MatMul(nn.Module):
    """``a @ b``, written as the models it is read from write it (ptflops counts ``torch.matmul``, not ``@``)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a @ b


class Attention(nn.Module):
    """``softmax(q @ k^T * scale) @ v`` written out, as timm's unfused attention writes it: FlopCounterMode
    (``verify``) then sees its two products whatever the inputs, where it counts F.scaled_dot_product_attention
    only when torch takes its math path (heads broadcast, an input permuted into place), not the CPU's flash
    kernel (every input contiguous, heads alike: counted 0)."""

    def __init__(self, scale: float | None, causal: bool) -> None:
        super().__init__()
        self.scale, self.causal = scale, causal

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        scores = (q @ k.transpose(-2, -1)) * (self.scale if self.scale is not None else q.shape[-1] ** -0.5)
        if self.causal:
            seen = torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device).tril()
            scores = scores.masked_fill(~seen, float("-inf"))
        return scores.softmax(dim=-1) @ v


class Stack(nn.Module):
    def __init__(self, axis: int) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.stack(xs, dim=self.axis + 1)


class BinomialBlur(nn.Module):
    """A fixed filter per channel, then a stride (timm's BlurPool2d after its padding). The filter is a
    buffer outside the state_dict, as timm keeps it: the two modules' state_dicts agree (both empty)."""

    filt: torch.Tensor

    def __init__(
        self, channels: int, filters: list[list[float]], stride: tuple[int, ...], padding: tuple[int, ...]
    ) -> None:
        super().__init__()
        rows, columns = (torch.tensor(taps) for taps in filters)
        taps = torch.outer(rows, columns).expand(channels, 1, len(rows), len(columns)).contiguous()
        self.register_buffer("filt", taps, persistent=False)
        self.stride, self.padding, self.channels = stride, padding, channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.filt, None, self.stride, self.padding, 1, self.channels)


def same_pads(x: torch.Tensor, conv: nn.Conv1d | nn.Conv2d | nn.Conv3d) -> list[int]:
    """F.pad's amounts for TensorFlow's SAME at any stride: O = ceil(I / S), an odd zero at the end."""
    pads: list[int] = []
    for size, k, s, d in reversed(list(zip(x.shape[2:], conv.kernel_size, conv.stride, conv.dilation))):
        total = max((-(-size // s) - 1) * s + d * (k - 1) + 1 - size, 0)
        pads += [total // 2, total - total // 2]
    return pads


class SameConv2d(nn.Conv2d):
    """nn.Conv2d padded as TensorFlow's SAME at any stride (timm's Conv2dSame): the same weights."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(nn.functional.pad(x, same_pads(x, self)))


class SameConv1d(nn.Conv1d):
    """nn.Conv1d padded as TensorFlow's SAME at any stride."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(nn.functional.pad(x, same_pads(x, self)))


class SameConv3d(nn.Conv3d):
    """nn.Conv3d padded as TensorFlow's SAME at any stride."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(nn.functional.pad(x, same_pads(x, self)))


SAME_CONVS: dict[int, type[nn.Module]] = {1: SameConv1d, 2: SameConv2d, 3: SameConv3d}


class _Standardized(nn.Module):
    """A convolution whose filters are standardised to mean 0, variance 1 before use (weight
    standardisation, BiT) and, given ``gamma``, scaled by a learned ``gain`` per filter times
    gamma / sqrt(fan-in) (NFNets); computed as timm's StdConv2d and ScaledStdConv2d do, op for op,
    so that the outputs and the parameters' names are theirs. ``same``: padded as TensorFlow's SAME."""

    # what the torch convolution it is mixed into holds
    weight: torch.Tensor
    bias: torch.Tensor | None
    out_channels: int
    _conv_forward: Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]

    def __init__(self, *args: Any, eps: float, gamma: float | None, same: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # the torch convolution after this class in the MRO
        self.eps, self.same = eps, same
        self.scale = None if gamma is None else gamma * self.weight[0].numel() ** -0.5
        gain = torch.ones((self.out_channels,) + (1,) * (self.weight.ndim - 1))
        self.gain = None if gamma is None else nn.Parameter(gain)

    def standardized_weight(self) -> torch.Tensor:
        affine = None if self.gain is None or self.scale is None else (self.gain * self.scale).view(-1)
        flat = self.weight.reshape(1, self.out_channels, -1)
        normed = nn.functional.batch_norm(flat, None, None, weight=affine, training=True, momentum=0.0, eps=self.eps)
        return normed.reshape_as(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.same:
            x = nn.functional.pad(x, same_pads(x, self))  # type: ignore[arg-type]  # it is a convolution
        return self._conv_forward(x, self.standardized_weight(), self.bias)


class StandardizedConv1d(_Standardized, nn.Conv1d):
    pass


class StandardizedConv2d(_Standardized, nn.Conv2d):
    pass


class StandardizedConv3d(_Standardized, nn.Conv3d):
    pass


STANDARDIZED_CONVS: dict[int, type[nn.Module]] = {1: StandardizedConv1d, 2: StandardizedConv2d, 3: StandardizedConv3d}


class Reduce(nn.Module):
    """``x.mean(dims, keepdim)``, ``x.sum(...)``, ``x.amax(...)`` or ``x.norm(2, dims, keepdim)``
    (``op``: "mean", "sum", "max", "l2")."""

    def __init__(self, op: str, dims: tuple[int, ...], keepdim: bool) -> None:
        super().__init__()
        self.op, self.dims, self.keepdim = op, dims, keepdim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.op == "max":
            return x.amax(dim=self.dims, keepdim=self.keepdim)
        if self.op == "l2":
            return torch.linalg.vector_norm(x, 2, self.dims, self.keepdim)
        return x.sum(dim=self.dims, keepdim=self.keepdim) if self.op == "sum" else x.mean(self.dims, self.keepdim)


class Inline(nn.Module):
    """A module whose forward is one Python expression over its inputs.

    The generated forward (:mod:`cnnscope.runtime.forward`) writes the expression where a module
    call would be, as torchvision writes ``out += identity``, unless a hook could see the module.
    The expression must compute what ``forward`` does, op for op; ``torch`` is in its scope.
    """

    def expression(self, inputs: list[str]) -> str:
        """``forward`` on the tensors named ``inputs``, as an expression."""
        raise NotImplementedError

    def in_place(self, inputs: list[str]) -> str | None:
        """The same values written into the first input (which nothing else reads), or None."""
        return None


class Concat(Inline):
    def __init__(self, axis: int) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=self.axis + 1)

    def expression(self, inputs: list[str]) -> str:
        joined = ", ".join(inputs) + ("," if len(inputs) == 1 else "")
        return f"torch.cat(({joined}), dim={self.axis + 1})"


class Add(Inline):
    def __init__(self, broadcasts: bool = False) -> None:
        super().__init__()
        self.broadcasts = broadcasts  # the first input is smaller than the sum: it cannot hold it

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        total = xs[0]
        for x in xs[1:]:
            total = total + x
        return total

    def expression(self, inputs: list[str]) -> str:
        return " + ".join(inputs)

    def in_place(self, inputs: list[str]) -> str | None:
        if self.broadcasts:
            return None
        # add_ keeps the first input's dtype, where + would promote (float16 + float32 under autocast)
        same_dtype = " == ".join(f"{x}.dtype" for x in inputs)
        total = inputs[0] + "".join(f".add_({x})" for x in inputs[1:])
        return f"{total} if {same_dtype} else {self.expression(inputs)}"


class Mul(Inline):
    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        product = xs[0]
        for x in xs[1:]:
            product = product * x
        return product

    def expression(self, inputs: list[str]) -> str:
        return " * ".join(inputs)


class MulBy(nn.Module):
    """Times a constant (a plain call: the generated forward holds no number of the spec but integers)."""

    def __init__(self, by: float) -> None:
        super().__init__()
        self.by = by

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        product = xs[0]
        for x in xs[1:]:
            product = product * x
        return product * self.by


class AddBy(nn.Module):
    """Plus a constant (a plain call, as :class:`MulBy`): a norm's ``+ eps``."""

    def __init__(self, by: float) -> None:
        super().__init__()
        self.by = by

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        total = xs[0]
        for x in xs[1:]:
            total = total + x
        return total + self.by


class Ordered(nn.Module):
    """The first input divided by (``/``) or minus (``-``) the second, or a constant."""

    def __init__(self, symbol: str, by: float | None = None) -> None:
        super().__init__()
        self.symbol, self.by = symbol, by
        self.operation = {"/": operator.truediv, "-": operator.sub}[symbol]

    def forward(self, x: torch.Tensor, other: torch.Tensor | None = None) -> torch.Tensor:
        if other is None:
            assert self.by is not None
            return self.operation(x, self.by)
        return self.operation(x, other)

    def extra_repr(self) -> str:
        return f"x {self.symbol} {'y' if self.by is None else self.by}"


class Permute(nn.Module):
    def __init__(self, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.dims = (0, *(d + 1 for d in dims))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(self.dims)


class Slice(nn.Module):
    def __init__(self, axis: int, start: int, stop: int | None, step: int) -> None:
        super().__init__()
        self.axis, self.range = axis + 1, slice(start, stop, step)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[(slice(None),) * self.axis + (self.range,)]


class CenterCrop(nn.Module):
    """Crop the spatial axes to ``size``, or to the spatial size of a second input."""

    def __init__(self, size: tuple[int, ...] | None) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        spatial = x.shape[2:]
        if reference is not None:
            target = tuple(reference.shape[2:])
        else:
            assert self.size is not None
            target = self.size * len(spatial) if len(self.size) == 1 else self.size
        cuts = tuple(slice((s - t) // 2, (s - t) // 2 + t) for s, t in zip(spatial, target))
        return x[(slice(None), slice(None), *cuts)]


class ResizeLike(nn.Module):
    """Interpolate to the spatial size of a second input: ``F.interpolate(x, size=reference.shape[2:])``."""

    def __init__(self, mode: str, align_corners: bool | None) -> None:
        super().__init__()
        self.mode, self.align_corners = mode, align_corners

    def forward(self, x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(x, size=reference.shape[2:], mode=self.mode, align_corners=self.align_corners)


class ChannelsFirstEmbedding(nn.Embedding):
    """Token ids (N, L) -> vectors (N, dim, L), ready for conv1d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).transpose(1, 2)


class ChannelLayerNorm(nn.LayerNorm):
    """Layer norm over the channels of each position of an N x C x H x W map (ConvNeXt's LayerNorm2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.movedim(1, -1)
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.movedim(-1, 1)


class StochasticDepth(nn.Module):
    """Zeroes the whole input per sample ("row") or per batch while training, scaling the rest by 1/(1-p)."""

    def __init__(self, p: float, mode: str) -> None:
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        shape = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        noise = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * noise.div_(keep)


class ChannelScale(nn.Module):
    """A learned multiplier per channel, shaped C x 1 x ... x 1 to broadcast over the positions
    (or of any shape that broadcasts over a sample: one in all, one per channel of a channels-last map).

    torchvision keeps ConvNeXt's layer scale as a bare parameter of the block
    (``features.1.0.layer_scale``), not as a module's ``weight``; the state_dict hook
    below stores it under the layer's own name, and :func:`load_own_names` (a hook of the
    whole model) loads it from there, so such checkpoints load as they are.
    """

    parameter = "weight"  # the name of its one parameter

    def __init__(self, broadcast: tuple[int, ...], init: float, stored: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.broadcast = broadcast  # as the values broadcast against one sample, batch axis excluded
        values = torch.full(broadcast if stored is None else stored, init)  # as checkpoints hold it
        self.register_parameter(self.parameter, nn.Parameter(values))
        self.register_state_dict_post_hook(_store_under_own_name)

    def learned(self) -> torch.Tensor:
        values: torch.Tensor = getattr(self, self.parameter)
        return values if values.shape == self.broadcast else values.view(self.broadcast)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.learned() * x


class ChannelShift(ChannelScale):
    """A learned additive term of the same shapes (timm's ``LearnableAffineBlock``'s ``bias``), stored alike."""

    parameter = "bias"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.learned()


def _store_under_own_name(module: nn.Module, state: dict[str, Any], prefix: str, local_metadata: Any) -> None:
    assert isinstance(module, ChannelScale)
    if prefix + module.parameter in state:
        state[prefix[:-1]] = state.pop(prefix + module.parameter)


def load_own_names(model: nn.Module, state: dict[str, Any], prefix: str, *args: Any) -> None:
    """A load_state_dict pre-hook of the whole model: each ChannelScale's (or ChannelShift's) key back to
    its parameter's.

    It must run at the top: torch hands a submodule only the keys under ``name.``, never
    ``name`` itself, so a hook of the ChannelScale would not see its own key.
    """
    for name, module in model.named_modules(prefix=prefix[:-1]):
        if isinstance(module, ChannelScale) and name in state:
            state[f"{name}.{module.parameter}"] = state.pop(name)
