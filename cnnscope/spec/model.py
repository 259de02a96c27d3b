"""A spec after parsing: validated, blocks expanded, references resolved."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from cnnscope.layers import Activation, Layer, Shape

INPUT = "input"  # name of the model's input tensor in Node.inputs


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
class Expectations:
    """``[expect]``: figures the spec's author vouches for, checked by ``cnnscope check``."""

    params: int | None = None
    trainable_params: int | None = None
    macs: int | None = None
    output: Shape | None = None
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

    def with_input(self, shape: Shape) -> Spec:
        """The same architecture on another input size (``--input``).

        A spec whose expressions read ``in_channels`` is parsed again, so that they see the new input.
        """
        if self.reads_input and self.source is not None:
            from cnnscope.spec.parse import parse

            return parse(self.source, self.path, self.name, input_shape=shape)
        return replace(self, input=replace(self.input, shape=shape))
