"""The static engine: shapes, parameters, MACs, FLOPs, memory and receptive fields.

Pure Python over a :class:`Spec`; it never imports torch, so a whole ResNet-152 is
analysed in milliseconds. Every figure is per sample (no batch axis).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

from cnnscope.errors import SpecError
from cnnscope.layers import (
    GLOBAL,
    MAX_ELEMENTS,
    Cost,
    Effect,
    Global,
    Mixes,
    Moves,
    Shape,
    Window,
    bounded,
    fmt_shape,
    numel,
)
from cnnscope.rules import IMPOSSIBLE_SHAPE, Finding
from cnnscope.spec import INPUT, Node, OutputKey, Spec, output_label

BYTES_PER_ELEMENT = 4  # float32 activations


@dataclass(frozen=True)
class Field:
    """Receptive field of one output position: its size and jump (effective stride) per spatial axis.

    Sizes and jumps are exact fractions: after upsampling or a transposed convolution
    neighbouring outputs are less than one input pixel apart. ``axes`` says which axes of
    the tensor (per sample) are the spatial ones, in order; ``permute`` moves them.
    """

    size: tuple[Fraction, ...]
    jump: tuple[Fraction, ...]
    axes: tuple[int, ...]

    def through(self, window: Window) -> Field | None:
        if len(window.kernel) != len(self.size):
            return None
        if window.kernel_on_output:
            jump = tuple(j * s for j, s in zip(self.jump, window.stride))
            size = tuple(r + (k - 1) * j for r, k, j in zip(self.size, window.kernel, jump))
            return Field(size, jump, self.axes)
        size = tuple(r + (k - 1) * j for r, k, j in zip(self.size, window.kernel, self.jump))
        return Field(size, tuple(j * s for j, s in zip(self.jump, window.stride)), self.axes)

    def mixed(self, effect: Mixes) -> Receptive:
        """After a layer that mixes one axis (see :class:`~cnnscope.layers.Mixes`)."""
        if effect.axis not in self.axes:
            return self
        k = self.axes.index(effect.axis)
        if effect.replaces:  # the axis now holds features: the field is that of the other spatial axes
            if len(self.axes) == 1:
                return GLOBAL
            keep = [i for i in range(len(self.axes)) if i != k]
            return Field(
                tuple(self.size[i] for i in keep), tuple(self.jump[i] for i in keep), tuple(self.axes[i] for i in keep)
            )
        size = list(self.size)
        size[k] += (effect.extent - 1) * self.jump[k]  # every position along the axis
        return Field(tuple(size), self.jump, self.axes)

    def moved(self, dims: tuple[int, ...]) -> Field:
        """The same field after ``permute(dims)``: spatial axes keep their order of appearance."""
        order = sorted((dims.index(axis), size, jump) for axis, size, jump in zip(self.axes, self.size, self.jump))
        return Field(tuple(o[1] for o in order), tuple(o[2] for o in order), tuple(o[0] for o in order))


Receptive = Field | Global | None  # None: the tensor has no spatial axes


@dataclass(frozen=True)
class LayerReport:
    """Everything the engine knows about one layer."""

    node: Node
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    cost: Cost  # the layer plus its fused activation
    receptive: Receptive
    warnings: tuple[Finding, ...]

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def type(self) -> str:
        return self.node.layer.type_name

    @property
    def activations(self) -> int:
        """Elements in the output tensor (what must be kept for the next layer)."""
        return numel(self.output_shape)


@dataclass(frozen=True)
class Totals:
    params: int
    trainable_params: int
    macs: int
    flops: int
    activations: int

    @property
    def frozen_params(self) -> int:
        return self.params - self.trainable_params

    @property
    def activation_bytes(self) -> int:
        return self.activations * BYTES_PER_ELEMENT


@dataclass(frozen=True)
class ModelOutput:
    """One tensor the model returns: ``model(x)[key]`` (``model(x)`` itself where key is None)."""

    key: OutputKey
    layer: str  # the layer whose output it is ("input" for a model without layers)
    shape: Shape

    @property
    def label(self) -> str:
        return output_label(self.key)


@dataclass(frozen=True)
class Analysis:
    spec: Spec
    layers: tuple[LayerReport, ...]

    @cached_property
    def by_name(self) -> dict[str, LayerReport]:
        return {report.name: report for report in self.layers}

    def output_of(self, name: str) -> Shape | None:
        """Output shape of a layer, or of a block instance (its last layer); None if unknown."""
        if name in self.by_name:
            return self.by_name[name].output_shape
        inside = [r for r in self.layers if name in r.node.scope]
        return inside[-1].output_shape if inside else None

    @cached_property
    def outputs(self) -> tuple[ModelOutput, ...]:
        """What the model returns, in order (``spec.returns``); a partial analysis (the TUI's, of a
        model that breaks) has those of its layers that work."""
        shapes = {INPUT: self.spec.input.shape} | {r.name: r.output_shape for r in self.layers}
        return tuple(
            ModelOutput(key, layer, shapes[layer]) for key, layer in self.spec.returns.items() if layer in shapes
        )

    @property
    def output_shape(self) -> Shape:
        """The shape of the (first) output: the one tensor most commands and ``--json``'s ``output_shape`` mean."""
        outputs = self.outputs
        if outputs:
            return outputs[0].shape
        return self.layers[-1].output_shape if self.layers else self.spec.input.shape

    @cached_property
    def total(self) -> Totals:
        costs = [r.cost for r in self.layers]
        return Totals(
            params=sum(c.params for c in costs),
            trainable_params=sum(c.params for c in costs if c.trainable),
            macs=sum(c.macs for c in costs),
            flops=sum(c.flops for c in costs),
            activations=sum(r.activations for r in self.layers),
        )

    @property
    def warnings(self) -> list[tuple[str, Finding]]:
        return [(r.name, w) for r in self.layers for w in r.warnings]


def analyze(spec: Spec) -> Analysis:
    """Walk the graph in order; raise SpecError at the first layer that cannot work."""
    analysis, error = analyze_until_error(spec)
    if error is not None:
        raise error
    return analysis


def analyze_until_error(spec: Spec) -> tuple[Analysis, SpecError | None]:
    """The layers that work, and the error of the first one that does not (for the TUI)."""
    try:
        shapes: dict[str, Shape] = {INPUT: bounded(spec.input.shape, "the input")}
    except SpecError as exc:
        return Analysis(spec, ()), exc.located(path=spec.path)
    fields: dict[str, Receptive] = {INPUT: _input_field(spec)}
    reports: list[LayerReport] = []
    for node in spec.nodes:
        inputs = [shapes[name] for name in node.inputs]
        sources = tuple("in" if name == INPUT else name for name in node.inputs)
        incoming = [fields[name] for name in node.inputs]
        try:
            out = bounded(node.layer.infer(inputs, sources))
            cost = node.layer.cost(inputs, out)
            if node.act is not None:
                cost = cost + node.act.cost([out], out)
            spatial = incoming[0].axes if isinstance(incoming[0], Field) else ()
            warnings = tuple(node.layer.warnings(inputs, spatial))
            field = _bounded_field(_receptive(node.layer.window(inputs), incoming[: node.layer.value_inputs]))
        except SpecError as exc:
            return Analysis(spec, tuple(reports)), exc.located(
                path=spec.path, line=node.line, layer=node.name, code=IMPOSSIBLE_SHAPE
            )
        shapes[node.name], fields[node.name] = out, field
        reports.append(LayerReport(node, tuple(inputs), out, cost, field, warnings))
    return Analysis(spec, tuple(reports)), None


def _input_field(spec: Spec) -> Receptive:
    shape = spec.input.shape
    if spec.input.is_tokens:  # token ids: the sequence is axis 1 once embedded (dim x length)
        return Field((Fraction(1),), (Fraction(1),), (1,))
    spatial = len(shape) - 1
    return Field((Fraction(1),) * spatial, (Fraction(1),) * spatial, tuple(range(1, spatial + 1))) if spatial else None


def _bounded_field(field: Receptive) -> Receptive:
    """A field checked as shapes are: strides with padding that keeps the output small can still grow it
    without end, and a number of millions of digits cannot even be printed."""
    if isinstance(field, Field) and any(value > MAX_ELEMENTS for value in (*field.size, *field.jump)):
        raise SpecError(
            "the receptive field grows past 2^62 input pixels: larger than any input",
            hint="a smaller stride or padding",
        )
    return field


def _receptive(effect: Effect, incoming: list[Receptive]) -> Receptive:
    """The field of a layer's output from its inputs' fields and its effect (see ``layers.base``)."""
    if any(field is None for field in incoming):
        return None
    if any(isinstance(field, Global) for field in incoming):
        return GLOBAL
    fields = [f for f in incoming if isinstance(f, Field)]
    if len({(len(f.size), f.axes) for f in fields}) > 1:
        return None
    merged = (
        fields[0]  # one input (most layers): its field as it is, no Fraction comparisons
        if len(fields) == 1
        else Field(
            tuple(max(axis) for axis in zip(*(f.size for f in fields))),
            tuple(max(axis) for axis in zip(*(f.jump for f in fields))),
            fields[0].axes,
        )
    )
    if effect is None:
        return merged
    if isinstance(effect, Global):
        return GLOBAL
    if isinstance(effect, Mixes):
        return merged.mixed(effect)
    if isinstance(effect, tuple):
        if set(merged.axes) <= {mixes.axis for mixes in effect}:
            return GLOBAL  # every spatial axis mixed whole
        field: Receptive = merged
        for mixes in effect:
            field = field.mixed(mixes) if isinstance(field, Field) else field
        return field
    if isinstance(effect, Moves):
        return merged.moved(effect.dims)
    return merged.through(effect)


@dataclass(frozen=True)
class Mismatch:
    """One ``[expect]`` entry that the analysis contradicts."""

    what: str
    expected: str
    actual: str


def unmet_expectations(analysis: Analysis) -> list[Mismatch]:
    expect, total = analysis.spec.expect, analysis.total
    found = []
    for what, wanted, actual in (
        ("params", expect.params, total.params),
        ("trainable_params", expect.trainable_params, total.trainable_params),
        ("macs", expect.macs, total.macs),
    ):
        if wanted is not None and wanted != actual:
            found.append(Mismatch(what, f"{wanted:,}", f"{actual:,}"))
    if expect.output is not None and expect.output != analysis.output_shape:
        found.append(Mismatch("output", fmt_shape(expect.output), fmt_shape(analysis.output_shape)))
    returned = {output.key: output.shape for output in analysis.outputs}
    for key, shape in expect.outputs.items():  # parse held the keys to those of ``outputs``
        got = returned.get(key)
        if got != shape:
            found.append(
                Mismatch(f"output {output_label(key)}", fmt_shape(shape), "-" if got is None else fmt_shape(got))
            )
    for name, shape in expect.shapes.items():
        out = analysis.output_of(name)
        if out != shape:
            found.append(
                Mismatch(f"shape of {name}", fmt_shape(shape), "no such layer" if out is None else fmt_shape(out))
            )
    return found
