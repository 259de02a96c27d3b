"""Spec -> ``nn.Module`` whose submodule names are the spec's layer names.

A layer named ``layer2.0.conv1`` becomes ``model.layer2[0].conv1`` (nested containers),
so ``model.get_submodule("layer2.0.conv1")`` and state_dict keys follow the spec, and the
torchvision-layout specs load torchvision checkpoints without conversion.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from cnnscope.analysis import analyze
from cnnscope.errors import SpecError
from cnnscope.layers import Activation, Layer, Shape
from cnnscope.layers.modules import load_own_names
from cnnscope.runtime.forward import Generated, Step, generate, observed
from cnnscope.runtime.memory import check_fits
from cnnscope.spec import INPUT, Spec
from cnnscope.zoo import load_target


class SpecModel(nn.Module):
    """Runs the spec's graph in order, freeing each tensor after its last use.

    A fused ``act`` runs after the layer's module (so a forward hook on ``conv1`` sees
    its output before the activation, and like torchvision's in-place ReLU the
    activation may then overwrite that tensor).

    ``forward`` runs Python generated for the spec (``forward_source``, see
    :mod:`cnnscope.runtime.forward`); ``activations``, and ``forward`` whenever a hook could
    tell the difference, run the steps in a loop. Both give the same values.

    It returns what the spec's ``outputs`` say (``spec.returns``): the last layer's tensor by
    default, else one layer's tensor, a tuple of them, or a dict keyed by the spec's keys in the
    spec's order (as torchvision's segmentation models return ``{"out": ..., "aux": ...}``).
    """

    def __init__(self, spec: Spec) -> None:
        super().__init__()
        self.spec = spec
        self.register_load_state_dict_pre_hook(load_own_names)  # keys stored under a layer's own name
        analysis = analyze(spec)
        params = analysis.total.params
        check_fits(4 * params, f"building {spec.name} ({params:,} float32 parameters)")
        self._steps: list[Step] = []
        for report in analysis.layers:
            node = report.node
            module = node.layer.torch_module(list(report.input_shapes))
            self._attach(node.name, module)
            act = _activation(node.act, node.layer, report.output_shape) if node.act else None
            fresh = node.layer.fresh_output and act is None  # an activation's backward may need its output
            in_place = _in_place_twin(node.layer, module, list(report.input_shapes))
            self._steps.append(Step(node.name, node.inputs, module, act, fresh, in_place))
        returns = spec.returns
        self._outputs = returns.layers
        self._keys = returns.keys if returns.kind == "dict" else None  # pairs the generated tuple into a dict
        self._several = returns.several
        last_use: dict[str, int] = {}
        for index, step in enumerate(self._steps):
            for name in step.inputs:
                last_use[name] = index
        for name in self._outputs:
            last_use[name] = len(self._steps)  # returned: never freed
        # each tensor is freed once, after the step that last reads it (a name may appear twice in `from`)
        self._release = [
            [n for n in dict.fromkeys(step.inputs) if last_use[n] == i] for i, step in enumerate(self._steps)
        ]
        self._compiled: Generated | None = None  # made on the first call of forward

    @property
    def _generated(self) -> Generated:
        """The generated forward, made when it is first needed: a model built only to be checked with
        ``forward_steps`` or to be inspected does not pay for writing and compiling it (a tenth of
        building inception_resnet_v2)."""
        if self._compiled is None:
            self._compiled = generate(self._steps, INPUT, self._outputs, as_tuple=self._several)
        return self._compiled

    @property
    def forward_source(self) -> str:
        """The Python that ``forward`` runs (``m[k]`` calls the k-th module); comments name the layers,
        as string literals (the compiled code holds no text of the spec)."""
        return self._generated.source

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_compiled"] = None  # compiled code does not pickle: made again from the steps
        return state

    def _attach(self, name: str, module: nn.Module) -> None:
        *path, leaf = name.split(".")
        parent: nn.Module = self
        for part in path:
            child = parent._modules.get(part)
            if child is None:
                child = nn.Module()
                _add_module(parent, part, child, name)
            parent = child
        group = parent._modules.get(leaf)
        if group is not None:
            if type(group) is not nn.Module:  # a layer's own module is never a bare nn.Module
                raise SpecError(f"the name '{name}' is used by two layers", layer=name)
            # "norm" after "norm.permute": the layer holds the layers named under it, as in the model
            # it was imported from (timm's BatchNormAct2d holds its `act`), so the state_dict keys agree
            for part, child in group.named_children():
                _add_module(module, part, child, name)
            del parent._modules[leaf]
        _add_module(parent, leaf, module, name)

    def weight(self, name: str) -> torch.Tensor:
        """The weight of the layer ``name`` (a conv's filters, a linear layer's matrix)."""
        weight = self.get_submodule(name).weight
        if not isinstance(weight, torch.Tensor):
            raise TypeError(f"layer '{name}' has no weight tensor")
        return weight

    def forward(self, x: torch.Tensor) -> Any:
        """The spec's output: a tensor, or a tuple or dict of tensors where the spec has several (see the class)."""
        generated = self._generated
        if observed(generated.watched, x):
            return self.forward_steps(x)
        if self._keys is None:
            return generated.function(generated.calls, x)
        return dict(zip(self._keys, generated.function(generated.calls, x)))  # keys outside the compiled code

    def forward_steps(self, x: torch.Tensor) -> Any:
        """``forward`` as the loop over the steps, which it falls back to while a hook is watching
        (equal values; for comparisons and benchmarks)."""
        values = self._run(x, keep=False)
        returned = tuple(values[name] for name in self._outputs)
        if self._keys is not None:
            return dict(zip(self._keys, returned))
        return returned if self._several else returned[0]

    def activations(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every layer's output (after its fused activation), in execution order."""
        values = self._run(x, keep=True)
        del values[INPUT]
        return values

    def _run(self, x: torch.Tensor, keep: bool) -> dict[str, torch.Tensor]:
        values: dict[str, torch.Tensor] = {INPUT: x}
        for (name, inputs, module, act, _, _), release in zip(self._steps, self._release):
            out = module(*(values[i] for i in inputs))
            if act is not None:
                out = act(out)
            values[name] = out
            if not keep:
                for done in release:
                    del values[done]
        return values


def output_tensors(spec: Spec, returned: Any) -> list[torch.Tensor]:
    """The tensors of a model's return value in the order of ``spec.returns`` (one for a tensor).

    Checks the form too: a model that returns something else than the spec says (a tensor for a
    dict, other keys, another count) raises a ValueError that says what it got.
    """
    returns = spec.returns
    if returns.kind == "tensor" and isinstance(returned, torch.Tensor):
        return [returned]
    if returns.kind == "tuple" and isinstance(returned, (tuple, list)) and len(returned) == len(returns.layers):
        return list(returned)
    if returns.kind == "dict" and isinstance(returned, dict) and list(returned) == list(returns.keys):
        return [returned[key] for key in returns.keys]
    got = f"a dict with keys {list(returned)}" if isinstance(returned, dict) else type(returned).__name__
    if isinstance(returned, (tuple, list)):
        got = f"a {type(returned).__name__} of {len(returned)}"
    count = len(returns.layers)
    wanted = {"tensor": "a tensor", "tuple": f"a tuple of {count}", "dict": f"a dict with keys {list(returns.keys)}"}
    raise ValueError(f"the model returned {got}, the spec says {wanted[returns.kind]}")


def first_output(spec: Spec, returned: Any) -> torch.Tensor:
    """The first of a model's outputs (the only one of most): what ``run`` and ``--cam`` read."""
    return output_tensors(spec, returned)[0]


def _activation(act: Activation, layer: Layer, shape: Shape) -> nn.Module:
    """The module of a fused ``act``, in place where the layer's output is a fresh tensor
    (as torchvision's ``ReLU(inplace=True)``), saving a copy."""
    module = act.torch_module([shape])
    if hasattr(module, "inplace") and layer.fresh_output:
        cast(Any, module).inplace = True  # a plain flag: nn.Module's __setattr__ is typed for tensors and modules
    return module


def _in_place_twin(layer: Layer, module: nn.Module, inputs: list[Shape]) -> nn.Module | None:
    """An activation layer's module, once more, in place: the generated forward runs it where
    the layer's input is a tensor that nothing else reads (torchvision's ``ReLU(inplace=True)``)."""
    if not isinstance(layer, Activation) or getattr(module, "inplace", True):
        return None
    twin = layer.torch_module(inputs)
    cast(Any, twin).inplace = True  # a plain flag: nn.Module's __setattr__ is typed for tensors and modules
    return twin


def _add_module(parent: nn.Module, part: str, module: nn.Module, layer: str) -> None:
    try:
        parent.add_module(part, module)
    except KeyError:  # e.g. "training" or "forward": names nn.Module already uses
        raise SpecError(
            f"the name '{part}' clashes with an attribute of torch modules", layer=layer, hint="rename the layer"
        ) from None


_BUILDING = threading.Lock()


def build(spec_or_path: Spec | str | Path, *, init: bool = True, device: torch.device | str = "cpu") -> SpecModel:
    """Build a runnable model from a Spec, a spec file or a zoo name.

    ``init=False`` skips the random initialisation of the weights, for a check that needs only
    shapes and arithmetic (``verify``) or weights that are loaded next: the parameters keep the
    uninitialised memory torch allocated for them (drawing resnet50's 25 M weights takes longer
    than building it), made on ``device``; batch norm statistics are still reset (mean 0,
    variance 1). With ``init`` the model is on the CPU.
    """
    spec = spec_or_path if isinstance(spec_or_path, Spec) else load_target(str(spec_or_path))
    with _BUILDING:  # the TUI builds in worker threads: no build with its weights drawn while the fillers are off
        if init:
            return SpecModel(spec)
        with _weights_left_uninitialised(), _made_on(torch.device(device)):
            return SpecModel(spec)


@contextmanager
def _weights_left_uninitialised() -> Iterator[None]:
    """``torch.nn.init``'s fillers (what modules' ``reset_parameters`` call) leave tensors as they are.

    As ``transformers``' ``no_init_weights`` does: torch has no switch for it, and making the modules
    on the meta device instead runs those fillers through Python decompositions under a device mode
    (a quarter of building efficientnet_b0). Tensor methods (batch norm's ``reset_running_stats``) still run.
    """
    fillers = {name: getattr(nn.init, name) for name in dir(nn.init) if name.endswith("_") and not name.startswith("_")}
    for name in fillers:
        setattr(nn.init, name, _left_as_it_is)
    try:
        yield
    finally:
        for name, filler in fillers.items():
            setattr(nn.init, name, filler)


def _left_as_it_is(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return tensor


def _made_on(device: torch.device) -> AbstractContextManager[Any]:
    """Tensors made on ``device`` from here on; the CPU, torch's default, needs no device mode (which
    would see every torch call)."""
    return nullcontext() if device.type == "cpu" else device
