"""Runtime verification: a real forward pass checked against the static engine.

Forward hooks record each layer's output shape; ``sum(p.numel())`` is compared with
the static parameter total, and torch's own ``FlopCounterMode`` (FLOPs / 2) with the
static MACs (conv, linear, blur, matmul: what it counts).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import torch
from torch.utils.flop_counter import FlopCounterMode

from cnnscope.analysis import Analysis, analyze
from cnnscope.errors import DeviceError
from cnnscope.layers import Shape
from cnnscope.runtime.build import SpecModel, output_tensors
from cnnscope.spec import Spec

T = TypeVar("T")


def example_input(spec: Spec, batch: int, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A random batch of what the spec takes: images/signals, or token ids."""
    shape = (batch, *spec.input.shape)
    if spec.input.is_tokens:
        return torch.randint(0, spec.input.vocab or 1, shape, device=device)
    return torch.randn(shape, device=device, dtype=dtype)


def run_forward(forward: Callable[[torch.Tensor], T], x: torch.Tensor) -> T:
    """One inference pass (a model, or e.g. its ``activations``); a device/dtype that cannot
    run the model becomes a DeviceError."""
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # torch notes that even "same" kernels pad a copy of the input: expected, not the user's concern
            warnings.filterwarnings("ignore", message="Using padding='same'")
            return forward(x)
    except (RuntimeError, NotImplementedError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DeviceError(
            f"the model cannot run on {x.device} in {x.dtype}: {first}", hint="try --dtype float32 or another --device"
        ) from None


@dataclass
class Verification:
    analysis: Analysis
    device: str
    layers_checked: int
    shape_mismatches: list[tuple[str, Shape, Shape]] = field(default_factory=list)
    torch_params: int = 0
    counted_macs: float = 0.0  # FlopCounterMode FLOPs / 2, per sample
    runtime_shapes: dict[str, Shape] = field(default_factory=dict)  # what the hooks saw, per layer
    returned_shapes: list[Shape] = field(default_factory=list)  # of the tensors the model returned, per output

    @property
    def outputs_ok(self) -> bool:
        """The model returned what the spec says, in that form and order, each of its static shape."""
        return self.returned_shapes == [output.shape for output in self.analysis.outputs]

    @property
    def params_ok(self) -> bool:
        return self.torch_params == self.analysis.total.params

    @property
    def macs_ok(self) -> bool:
        return self.counted_macs == self.analysis.total.macs

    @property
    def ok(self) -> bool:
        return not self.shape_mismatches and self.outputs_ok and self.params_ok and self.macs_ok


def _count_without_dynamo() -> None:
    """torch wraps every dispatch mode's ``__torch_dispatch__`` so that its first call imports
    ``torch._dynamo`` (about 1.7 s on two cores, a third of ``verify resnet50``), only to keep
    ``torch.compile`` from tracing into it. Nothing here compiles: fill the wrapper's cache with
    the function itself. Should torch change that wrapper, this does nothing and dynamo loads."""
    if "torch._dynamo" in sys.modules:
        return
    from torch.utils.flop_counter import _FlopCounterMode

    raw = getattr(_FlopCounterMode.__dict__.get("__torch_dispatch__"), "__wrapped__", None)
    if callable(raw) and getattr(raw, "__dynamo_disable", None) is None:
        setattr(raw, "__dynamo_disable", raw)


def verify(model: SpecModel, device: torch.device, batch: int = 1, dtype: torch.dtype = torch.float32) -> Verification:
    """Run ``model`` once on ``device`` and compare everything with the static analysis."""
    _count_without_dynamo()
    analysis = analyze(model.spec)
    recorded: dict[str, tuple[int, ...]] = {}
    handles = [
        model.get_submodule(report.name).register_forward_hook(
            lambda _m, _i, out, key=report.name: recorded.__setitem__(key, tuple(out.shape[1:]))
        )
        for report in analysis.layers
    ]
    x = example_input(model.spec, batch, device, dtype)
    try:
        with FlopCounterMode(display=False) as counter:
            returned = run_forward(model, x)
    finally:
        for handle in handles:
            handle.remove()
    mismatches = [
        (report.name, report.output_shape, recorded.get(report.name, ()))
        for report in analysis.layers
        if recorded.get(report.name) != report.output_shape
    ]
    return Verification(
        analysis=analysis,
        device=str(device),
        layers_checked=len(analysis.layers),
        shape_mismatches=mismatches,
        torch_params=sum(p.numel() for p in model.parameters()),
        counted_macs=counter.get_total_flops() / 2 / batch,
        runtime_shapes=recorded,
        returned_shapes=[tuple(t.shape[1:]) for t in output_tensors(model.spec, returned)],
    )
