"""A spec after parsing: validated, blocks expanded, references resolved."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from cnnscope.layers import Activation, Layer, Shape

INPUT = "input"  # name of the model's input tensor in Node.inputs

OutputKey = str | int | None  # what indexes the model's return value: a dict's key, a tuple's index, None (a tensor)


@dataclass(frozen=True)
class InputSpec:
    """What the model takes per sample: an image/signal/vector shape, or token ids."""

    shape: Shape
    vocab: int | None = None  # set for token inputs: shape is (length,)

    @property
    def is_tokens(self) -> bool:
        return self.vocab is not None


@dataclass(frozen=True)
class Node:
    """One layer of the expanded graph, in execution order."""

    name: str  # unique, dotted inside blocks: "layer2.0.conv1"
    layer: Layer
    inputs: tuple[str, ...]  # names of earlier nodes, or INPUT
    act: Activation | None = None  # fused activation (``act = "relu"``)
    functional: bool = False  # the reference model calls it as a function (F.relu, x.mean): for --count-as
    scope: tuple[str, ...] = ()  # enclosing block instances, outermost first
    line: int | None = None  # TOML line that defines it


@dataclass(frozen=True)
class Outputs:
    """What the model returns (``outputs``): one layer's tensor, a tuple, or a dict of layers' tensors.

    ``outputs = "fc"`` is a tensor, ``outputs = ["layer3", "layer4"]`` a tuple in that order and
    ``outputs = {out = "classifier.4", aux = "aux_classifier.4"}`` a dict with those keys, in that
    order (torchvision's segmentation models). Without ``outputs`` the model returns its last layer.
    """

    kind: Literal["tensor", "tuple", "dict"]
    layers: tuple[str, ...]  # full layer names, in the order returned (a layer may be returned twice)
    keys: tuple[str, ...] = ()  # the dict's keys, one per layer; () for a tensor or a tuple

    @property
    def several(self) -> bool:
        """A tuple or a dict (even of one): code that wants one tensor takes the first (:attr:`first`)."""
        return self.kind != "tensor"

    @property
    def first(self) -> str:
        """The layer of the first output: what ``run``'s predictions and ``--cam`` read."""
        return self.layers[0]

    def items(self) -> list[tuple[OutputKey, str]]:
        """(key, layer) per output: ``model(x)[key]`` is that layer's tensor (key None: ``model(x)`` is)."""
        if self.kind == "dict":
            return list(zip(self.keys, self.layers))
        if self.kind == "tuple":
            return list(enumerate(self.layers))
        return [(None, self.layers[0])]


def output_label(key: OutputKey) -> str:
    """An output's key as people read it: 'out', [0], or "output" for a model's one tensor."""
    if key is None:
        return "output"
    return f"[{key}]" if isinstance(key, int) else repr(key)


@dataclass(frozen=True)
class Expectations:
    """``[expect]``: figures the spec's author vouches for, checked by ``cnnscope check``."""

    params: int | None = None
    trainable_params: int | None = None
    macs: int | None = None
    output: Shape | None = None  # a model with one output
    outputs: dict[str | int, Shape] = field(default_factory=dict)  # several: by dict key, or by tuple index
    shapes: dict[str, Shape] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self == Expectations()


@dataclass(frozen=True)
class Preprocess:
    """``[preprocess]``: how an image becomes the model's input (used by ``cnnscope run``)."""

    resize: int | None = None  # shorter side before the center crop; default input / 0.875
    mean: tuple[float, ...] | None = None  # per channel, on pixels scaled to [0, 1]
    std: tuple[float, ...] | None = None
    # "auto": make the background dark (bright strokes on black, as digit models are trained),
    # inverting only an image whose border is light; true/false: always / never invert
    invert: bool | str = False
    labels: str | None = None  # "imagenet", "digits", or a file of class names, one per line


@dataclass(frozen=True)
class Spec:
    name: str
    input: InputSpec
    nodes: tuple[Node, ...]
    title: str = ""
    paper: str = ""
    path: str | None = None
    expect: Expectations = field(default_factory=Expectations)
    groups: dict[str, str] = field(default_factory=dict)  # block instance -> "bottleneck", "bottleneck x3"
    checkpoint_keys: dict[str, str] = field(default_factory=dict)  # checkpoint key prefix -> layer name
    preprocess: Preprocess = field(default_factory=Preprocess)
    source: str | None = None  # the TOML text it was parsed from
    reads_input: bool = False  # some expression read in_channels: another input size means another parse
    outputs: Outputs | None = None  # as the spec says it; None without an ``outputs`` key (see ``returns``)

    @property
    def returns(self) -> Outputs:
        """What the model returns: ``outputs``, or else the last layer's tensor (the input's, without layers)."""
        if self.outputs is not None:
            return self.outputs
        return Outputs("tensor", (self.nodes[-1].name if self.nodes else INPUT,))

    def with_input(self, shape: Shape) -> Spec:
        """The same architecture on another input size (``--input``).

        A spec whose expressions read ``in_channels`` is parsed again, so that they see the new input.
        """
        if self.reads_input and self.source is not None:
            from cnnscope.spec.parse import parse

            return parse(self.source, self.path, self.name, input_shape=shape)
        return replace(self, input=replace(self.input, shape=shape))
