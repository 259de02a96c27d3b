"""Engine arithmetic against torch (shapes) and against the formula worked by hand."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnscope.errors import SpecError
from cnnscope.spec import parse
from tests.conftest import analyze_text

torch = pytest.importorskip("torch")


def one_layer(input_shape, layer: str):
    return analyze_text(f"input = {list(input_shape)}\nlayers = [{layer}]")


def torch_shape(module, input_shape):
    """Output shape per sample, or None where torch rejects the configuration."""
    try:
        with torch.no_grad():
            return tuple(module(torch.zeros(1, *input_shape, device="meta")).shape[1:])
    except (RuntimeError, ValueError):
        return None


def engine_shape(input_shape, layer: str):
    try:
        return one_layer(input_shape, layer).output_shape
    except SpecError:
        return None


sizes = st.integers(1, 24)


@settings(max_examples=150, deadline=None)
@given(
    channels=st.integers(1, 6),
    h=sizes,
    w=sizes,
    out=st.integers(1, 6),
    kernel=st.integers(1, 7),
    stride=st.integers(1, 4),
    padding=st.integers(0, 3),
    dilation=st.integers(1, 3),
    groups=st.integers(1, 3),
)
def test_conv2d_shapes_match_torch(channels, h, w, out, kernel, stride, padding, dilation, groups):
    try:
        module = torch.nn.Conv2d(channels, out, kernel, stride, padding, dilation, groups, device="meta")
    except ValueError:  # torch refuses groups that do not divide the channels at construction
        module = None
    expected = torch_shape(module, (channels, h, w)) if module else None
    layer = (
        f"{{type = 'conv2d', out = {out}, kernel = {kernel}, stride = {stride}, padding = {padding},"
        f" dilation = {dilation}, groups = {groups}}}"
    )
    assert engine_shape((channels, h, w), layer) == expected


@settings(max_examples=150, deadline=None)
@given(
    h=sizes,
    w=sizes,
    kernel=st.integers(1, 6),
    stride=st.integers(1, 4),
    padding=st.integers(0, 3),
    ceil=st.booleans(),
    kind=st.sampled_from(["max", "avg"]),
)
def test_pool2d_shapes_match_torch(h, w, kernel, stride, padding, ceil, kind):
    make = torch.nn.MaxPool2d if kind == "max" else torch.nn.AvgPool2d
    try:
        module = make(kernel, stride, padding, ceil_mode=ceil)
        expected = torch_shape(module, (2, h, w))
    except (RuntimeError, ValueError):
        expected = None
    layer = f"{{type = '{kind}pool', kernel = {kernel}, stride = {stride}, padding = {padding}, ceil = {str(ceil).lower()}}}"
    assert engine_shape((2, h, w), layer) == expected


@settings(max_examples=60, deadline=None)
@given(
    length=st.integers(1, 40),
    kernel=st.integers(1, 9),
    stride=st.integers(1, 3),
    padding=st.integers(0, 4),
    dilation=st.integers(1, 3),
)
def test_conv1d_shapes_match_torch(length, kernel, stride, padding, dilation):
    expected = torch_shape(torch.nn.Conv1d(3, 4, kernel, stride, padding, dilation, device="meta"), (3, length))
    layer = f"{{type = 'conv1d', out = 4, kernel = {kernel}, stride = {stride}, padding = {padding}, dilation = {dilation}}}"
    assert engine_shape((3, length), layer) == expected


@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5])
def test_same_padding_matches_torch(kernel):
    expected = torch_shape(torch.nn.Conv2d(3, 4, kernel, padding="same", device="meta"), (3, 9, 10))
    assert engine_shape((3, 9, 10), f"{{type = 'conv2d', out = 4, kernel = {kernel}, padding = 'same'}}") == expected


def test_floor_warning_names_the_dropped_pixels():
    analysis = one_layer((3, 224, 224), "{type = 'conv2d', out = 96, kernel = 11, stride = 4, padding = 2}")
    assert analysis.output_shape == (96, 55, 55)  # floor((224 - 11 + 4) / 4) + 1 = floor(54.25) + 1
    (warning,) = analysis.layers[0].warnings
    assert warning.code == "CS102"
    assert "224 - 11 + 4 = 217 is not a multiple of stride 4" in warning.message
    assert "last 1 pixel(s)" in warning.message  # 217 = 4 * 54 + 1
    assert one_layer((3, 227, 227), "{type = 'conv2d', out = 96, kernel = 11, stride = 4}").layers[0].warnings == ()


def test_ceil_and_dilation_formulas():
    pool = one_layer((64, 112, 112), "{type = 'maxpool', kernel = 3, stride = 2, ceil = true}")
    assert pool.output_shape == (64, 56, 56)  # ceil((112 - 3) / 2) + 1 = 55 + 1
    lines = pool.layers[0].node.layer.explain([(64, 112, 112)], (64, 56, 56))
    assert "O = ceil((112 - 3 + 2*0)/2) + 1 = ceil(54.5) + 1 = 56" in lines[0]
    dilated = one_layer((1, 20, 20), "{type = 'conv2d', out = 1, kernel = 3, dilation = 2}")
    assert dilated.output_shape == (1, 16, 16)  # K = 2*(3-1)+1 = 5, O = 20 - 5 + 1
    assert dilated.layers[0].receptive.size == (5, 5)


def test_costs_by_hand():
    grouped = one_layer((8, 10, 10), "{type = 'conv2d', out = 16, kernel = 3, groups = 4, bias = false}")
    assert grouped.total.params == 16 * (8 // 4) * 3 * 3
    assert grouped.total.macs == 16 * 8 * 8 * (8 // 4) * 3 * 3
    assert grouped.total.flops == 2 * grouped.total.macs
    bn = one_layer((8, 4, 4), "{type = 'batchnorm'}")
    assert bn.total.params == 16 and bn.total.flops == 2 * 8 * 4 * 4
    frozen = analyze_text(
        "input = {tokens = 7, vocab = 50}\nlayers = [{type = 'embedding', dim = 4, trainable = false}]"
    )
    assert frozen.output_shape == (4, 7) and frozen.total.frozen_params == 200 and frozen.total.trainable_params == 0


conv_layers = st.fixed_dictionaries(
    {
        "kind": st.just("conv2d"),
        "out": st.sampled_from([2, 4, 6]),
        "kernel": st.integers(1, 5),
        "stride": st.integers(1, 3),
        "padding": st.integers(0, 2),
        "dilation": st.integers(1, 2),
        "groups": st.sampled_from([1, 2]),
    }
)
pool_layers = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["maxpool", "avgpool"]),
        "kernel": st.integers(1, 4),
        "stride": st.integers(1, 3),
        "padding": st.integers(0, 2),
        "ceil": st.booleans(),
    }
)


def torch_stack(channels, layers, head):
    modules = []
    for layer in layers:
        if layer["kind"] == "conv2d":
            modules.append(
                torch.nn.Conv2d(
                    channels,
                    layer["out"],
                    layer["kernel"],
                    layer["stride"],
                    layer["padding"],
                    layer["dilation"],
                    layer["groups"],
                    device="meta",
                )
            )
            channels = layer["out"]
        else:
            make = torch.nn.MaxPool2d if layer["kind"] == "maxpool" else torch.nn.AvgPool2d
            modules.append(make(layer["kernel"], layer["stride"], layer["padding"], ceil_mode=layer["ceil"]))
    if head:
        modules += [torch.nn.Flatten(), torch.nn.LazyLinear(head, device="meta")]
    return torch.nn.Sequential(*modules)


def toml_layer(layer):
    return (
        "{"
        + ", ".join(
            f"{'type' if k == 'kind' else k} = {str(v).lower() if isinstance(v, bool) else repr(v)}"
            for k, v in layer.items()
        )
        + "}"
    )


@settings(max_examples=120, deadline=None)
@given(
    channels=st.sampled_from([2, 4]),
    size=st.integers(1, 32),
    head=st.sampled_from([0, 10]),
    layers=st.lists(st.one_of(conv_layers, pool_layers), min_size=1, max_size=4),
)
def test_random_stacks_match_torch(channels, size, head, layers):
    """Whole stacks: torch and the engine agree on the output shape, or both refuse."""
    try:
        expected = torch_shape(torch_stack(channels, layers, head), (channels, size, size))
    except ValueError:  # groups that do not divide the channels
        expected = None
    body = [toml_layer(layer) for layer in layers]
    if head:
        body += ["{type = 'flatten'}", f"{{type = 'linear', out = {head}}}"]
    try:
        actual = analyze_text(f"input = [{channels}, {size}, {size}]\nlayers = [{', '.join(body)}]").output_shape
    except SpecError:
        actual = None
    assert actual == expected


def test_same_padding_at_a_stride_is_tensorflows_rule():
    """O = ceil(I / S); the zeros total (O - 1) * S + K - I, the odd one at the end: for I = 8, K = 3,
    S = 2 that is 4 outputs from 0 zeros before and 1 after, as TensorFlow's SAME (and timm's Conv2dSame)."""
    import torch
    import torch.nn.functional as F

    from cnnscope.runtime.build import build

    text = (
        'input = [3, 8, 7]\nlayers = [{name = "s", type = "conv2d", out = 4, kernel = 3, stride = 2, padding = "same"}]'
    )
    spec = parse(text)
    assert analyze_text(text).output_shape == (4, 4, 4)  # ceil(8 / 2), ceil(7 / 2)
    model = build(spec).eval()
    x = torch.randn(1, 3, 8, 7)
    conv = model.get_submodule("s")
    by_hand = F.conv2d(F.pad(x, [1, 1, 0, 1]), conv.weight, conv.bias, stride=2)  # width 7: 2 zeros, height 8: 1
    assert torch.allclose(model(x), by_hand)


@settings(max_examples=80, deadline=None)
@given(
    frames=st.integers(1, 8),
    h=st.integers(1, 12),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 5)),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3)),
    padding=st.integers(0, 2),
    dilation=st.integers(1, 2),
    kind=st.sampled_from(["conv3d", "maxpool3d", "avgpool3d"]),
    ceil=st.booleans(),
)
def test_3d_windows_match_torch(frames, h, kernel, stride, padding, dilation, kind, ceil):
    """conv3d and 3-D pooling: each axis its own kernel and stride, as in (2+1)-D networks."""
    shape = (2, frames, h, h + 1)
    if kind == "conv3d":
        module = torch.nn.Conv3d(2, 3, kernel, stride, padding, dilation, device="meta")
        layer = f"{{type = 'conv3d', out = 3, kernel = {list(kernel)}, stride = {list(stride)}, padding = {padding}, dilation = {dilation}}}"
    else:
        make = torch.nn.MaxPool3d if kind == "maxpool3d" else torch.nn.AvgPool3d
        try:
            module = make(kernel, stride, padding, ceil_mode=ceil)
        except (RuntimeError, ValueError):
            module = None
        layer = f"{{type = '{kind}', kernel = {list(kernel)}, stride = {list(stride)}, padding = {padding}, ceil = {str(ceil).lower()}}}"
    expected = torch_shape(module, shape) if module is not None else None
    if expected is not None and 0 in expected:  # torch returns an empty map; the engine calls it an error
        expected = None
    assert engine_shape(shape, layer) == expected


def test_3d_formulas_by_hand():
    """R3D-18's stem on a 16-frame clip: each axis worked out on paper."""
    stem = one_layer(
        (3, 16, 112, 112),
        "{type = 'conv3d', out = 64, kernel = [3, 7, 7], stride = [1, 2, 2], padding = [1, 3, 3], bias = false}",
    )
    assert stem.output_shape == (64, 16, 56, 56)  # depth (16 - 3 + 2)/1 + 1; floor((112 - 7 + 6)/2) + 1
    report = stem.layers[0]
    assert report.cost.params == 64 * 3 * 3 * 7 * 7
    assert report.cost.macs == 64 * 16 * 56 * 56 * (3 * 3 * 7 * 7)
    assert report.node.layer.explain(list(report.input_shapes), report.output_shape) == [
        "depth: O = (16 - 3 + 2*1)/1 + 1 = 15 + 1 = 16",
        "height = width: O = floor((112 - 7 + 2*3)/2) + 1 = floor(55.5) + 1 = 56",
    ]
    assert report.receptive.size == (3, 7, 7) and report.receptive.jump == (1, 2, 2)
    assert all(w.message.startswith("height and width: 112 - 7 + 6 = 111") for w in report.warnings)
    head = analyze_text(
        "input = [8, 4, 6, 6]\nlayers = [{type = 'batchnorm'}, {type = 'global_avgpool3d'}, {type = 'flatten'}]"
    )
    bn, pool, _ = head.layers
    assert bn.cost.params == 16 and bn.cost.flops == 2 * 8 * 4 * 6 * 6  # BatchNorm3d: a scale and shift per channel
    assert pool.output_shape == (8, 1, 1, 1) and pool.cost.flops == 8 * 4 * 6 * 6 + 8
    with pytest.raises(SpecError, match=r"conv3d needs a channels x depth x height x width input, got .* 4x6x6"):
        one_layer((4, 6, 6), "{type = 'conv3d', out = 2, kernel = 3}")
    with pytest.raises(SpecError, match="expected 3 numbers, one per spatial axis, got 2"):
        one_layer((4, 4, 6, 6), "{type = 'conv3d', out = 2, kernel = [3, 3]}")


def test_an_average_that_leaves_the_padding_out_of_its_divisor():
    """avgpool with count_pad = false is torch's count_include_pad=False (Inception-ResNet's branches):
    a corner of a 3x3 window over padding 1 averages its 4 input pixels, not 9 values."""
    import torch.nn.functional as F

    from cnnscope.runtime.build import build

    for kind, function in (("avgpool", F.avg_pool2d), ("avgpool3d", F.avg_pool3d)):
        shape = (2, 5, 5) if kind == "avgpool" else (2, 4, 5, 5)
        text = f'input = {list(shape)}\nlayers = [{{name = "p", type = "{kind}", kernel = 3, stride = 1, padding = 1, count_pad = false}}]'
        x = torch.ones(1, *shape)
        assert torch.equal(build(parse(text))(x), function(x, 3, 1, 1, count_include_pad=False))
        assert torch.equal(build(parse(text))(x), x)  # every average of ones is one when the zeros do not count
