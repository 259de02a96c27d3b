"""The registry answers every question about a layer type: a walk over all of them.

Each type is built from its own ``example`` keys on its ``example_inputs``, and must
give a shape, costs, a receptive-field effect, explanations, a count for each of the
five peers (as a module and as a function) and a torch module that computes the shape
the engine promised, with as many parameters as the engine counts.
"""

from __future__ import annotations

import pytest

from cnnscope.layers import LAYER_TYPES, Activation, Layer, PeerCounts, activation_types

TYPES = sorted(LAYER_TYPES)


def example(name: str) -> tuple[Layer, list[tuple[int, ...]], tuple[int, ...]]:
    cls = LAYER_TYPES[name]
    layer = cls.from_config(dict(cls.example))
    inputs = list(cls.example_inputs)
    return layer, inputs, layer.infer(inputs, tuple(f"input {i + 1}" for i in range(len(inputs))))


@pytest.mark.parametrize("name", TYPES)
def test_every_type_answers_every_static_question(name):
    layer, inputs, out = example(name)
    cls = type(layer)
    assert cls.summary and cls.type_name == name
    cost = layer.cost(inputs, out)
    assert cost.params >= 0 and cost.macs >= 0 and cost.flops >= 0
    layer.window(inputs)
    assert layer.explain(inputs, out) and layer.explain_cost(inputs, out)
    layer.cells()
    assert all(doc for _, _, doc in cls.keys_doc()), "every key says what it means"
    fewest, most = cls.arity
    assert fewest <= len(inputs) <= (most or len(inputs))
    for functional in (False, True):
        counts = layer.peer_counts(inputs, out, functional)
        assert isinstance(counts, PeerCounts) and all(isinstance(c, int) and c >= 0 for c in counts)


@pytest.mark.parametrize("name", TYPES)
def test_every_type_builds_a_torch_module_that_keeps_the_engines_promises(name):
    torch = pytest.importorskip("torch")
    layer, inputs, out = example(name)
    module = layer.torch_module(inputs).eval()
    if name == "embedding":
        xs = [torch.randint(0, 10, (2, *inputs[0]))]
    else:
        xs = [torch.randn(2, *shape) for shape in inputs]
    with torch.no_grad():
        result = module(*xs)
    assert tuple(result.shape) == (2, *out)
    assert sum(p.numel() for p in module.parameters()) == layer.cost(inputs, out).params


def test_the_base_class_never_counts_an_unknown_type_as_zero():
    class Unstated(Layer):
        type_name = "unstated"

    with pytest.raises(NotImplementedError):
        Unstated().peer_counts([(1,)], (1,), False)
    with pytest.raises(NotImplementedError):
        Unstated().torch_module([(1,)])


def test_activations_are_the_registered_activation_types():
    found = activation_types()
    assert {"relu", "relu6", "hardswish", "hardsigmoid", "silu", "gelu", "prelu", "leaky_relu"} <= set(found)
    assert all(issubclass(cls, Activation) for cls in found.values())
    assert "conv2d" not in found


def test_capabilities_come_from_the_types():
    filters = {name for name, cls in LAYER_TYPES.items() if cls.draws_filters}
    units = {name for name, cls in LAYER_TYPES.items() if cls.has_units}
    assert filters == {"conv2d", "conv1d"}
    assert units == {"conv2d", "conv1d", "linear"}
    assert {name for name, cls in LAYER_TYPES.items() if cls.gives_probabilities} == {"softmax"}
