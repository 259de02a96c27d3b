"""The modern layer types' static shapes against torch: where torch runs a configuration the
engine gives its shape, and where torch rejects one the engine rejects it too (hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnscope.errors import SpecError
from tests.conftest import analyze_text
from tests.test_engine import engine_shape

torch = pytest.importorskip("torch")
nn = torch.nn
sizes = st.integers(1, 16)


@settings(max_examples=150, deadline=None)
@given(
    channels=st.integers(1, 4),
    h=sizes,
    w=sizes,
    out=st.integers(1, 4),
    kernel=st.integers(1, 5),
    stride=st.integers(1, 3),
    padding=st.integers(0, 3),
    output_padding=st.integers(0, 2),
    dilation=st.integers(1, 2),
    groups=st.integers(1, 2),
)
def test_conv_transpose2d_shapes_match_torch(
    channels, h, w, out, kernel, stride, padding, output_padding, dilation, groups
):
    try:  # on the CPU, not the meta device, which skips torch's output_padding check
        module = nn.ConvTranspose2d(channels, out, kernel, stride, padding, output_padding, groups, True, dilation)
        with torch.no_grad():
            expected = tuple(module(torch.zeros(1, channels, h, w)).shape[1:])
    except (ValueError, RuntimeError):  # groups that do not divide; sizes torch rejects
        expected = None
    if expected is not None and 0 in expected:  # torch returns an empty map; the engine calls it an error
        expected = None
    layer = (
        f"{{type = 'conv_transpose2d', out = {out}, kernel = {kernel}, stride = {stride}, padding = {padding},"
        f" output_padding = {output_padding}, dilation = {dilation}, groups = {groups}}}"
    )
    assert engine_shape((channels, h, w), layer) == expected


@settings(max_examples=100, deadline=None)
@given(
    h=sizes,
    w=sizes,
    scale=st.one_of(st.integers(1, 4), st.sampled_from([0.5, 1.5, 2.5, 0.3])),
    size=st.one_of(st.none(), st.integers(1, 20)),
    mode=st.sampled_from(["nearest", "bilinear", "bicubic"]),
    align=st.sampled_from([None, True, False]),
)
def test_upsample_shapes_match_torch(h, w, scale, size, mode, align):
    try:
        module = nn.Upsample(size=size, scale_factor=None if size else float(scale), mode=mode, align_corners=align)
        with torch.no_grad():
            expected = tuple(module(torch.zeros(1, 2, h, w)).shape[1:])
    except (ValueError, RuntimeError):
        expected = None
    how = f"size = {size}" if size else f"scale = {scale}"
    align_key = "" if align is None else f", align_corners = {str(align).lower()}"
    assert engine_shape((2, h, w), f"{{type = 'upsample', {how}, mode = '{mode}'{align_key}}}") == expected


@settings(max_examples=80, deadline=None)
@given(
    channels=st.integers(1, 8),
    h=sizes,
    groups=st.integers(1, 4),
    kind=st.sampled_from(["groupnorm", "channel_shuffle"]),
)
def test_channel_groups_match_torch(channels, h, groups, kind):
    try:  # on the CPU: the meta device skips checks torch makes on data
        module = nn.GroupNorm(groups, channels) if kind == "groupnorm" else nn.ChannelShuffle(groups)
        with torch.no_grad():
            expected = tuple(module.eval()(torch.zeros(1, channels, h, h)).shape[1:])
    except (ValueError, RuntimeError):
        expected = None
    assert engine_shape((channels, h, h), f"{{type = '{kind}', groups = {groups}}}") == expected


@settings(max_examples=80, deadline=None)
@given(
    first=st.lists(st.sampled_from([1, 2, 3]), min_size=1, max_size=3),
    second=st.lists(st.sampled_from([1, 2, 3]), min_size=1, max_size=3),
)
def test_mul_broadcasts_as_torch_does(first, second):
    try:
        expected = tuple((torch.zeros(1, *first) * torch.zeros(1, *second)).shape[1:])
    except RuntimeError:
        expected = None
    # two operands of any shape from one vector input: a slice of it, reshaped
    sizes = [math.prod(first), math.prod(second)]
    spec = (
        f"input = [{max(sizes)}]\nlayers = ["
        f"{{name = 'a', type = 'slice', stop = {sizes[0]}}}, {{name = 'x', type = 'reshape', shape = {first}}},"
        f"{{name = 'b', type = 'slice', from = 'in', stop = {sizes[1]}}}, {{name = 'y', type = 'reshape', shape = {second}}},"
        "{type = 'mul', from = ['x', 'y']}]"
    )
    try:
        actual = analyze_text(spec).output_shape
    except SpecError:
        actual = None
    assert actual == expected


@settings(max_examples=80, deadline=None)
@given(size=st.integers(1, 12), start=st.integers(0, 12), stop=st.integers(0, 13), step=st.integers(1, 3))
def test_slice_matches_python_slicing(size, start, stop, step):
    kept = len(range(size)[start:stop:step])
    expected = (kept, 3) if 0 <= start < stop <= size else None
    assert engine_shape((size, 3), f"{{type = 'slice', start = {start}, stop = {stop}, step = {step}}}") == expected
    if expected:
        assert kept == len(range(start, stop, step))


@pytest.mark.parametrize(("size", "mode"), [(12, "nearest"), ([7, 13], "bilinear"), (5, "bicubic")])
def test_upsample_size_means_the_same_in_the_engine_and_at_runtime(size, mode, cli, tmp_path):
    """``size = 12`` is every spatial axis, as torch reads ``size=12``; the built model agrees."""
    import cnnscope
    from cnnscope.spec import parse

    text = (
        f'name = "up"\ninput = [2, 6, 9]\nlayers = [{{name = "up", type = "upsample", size = {size}, mode = "{mode}"}}]'
    )
    model = cnnscope.build(parse(text, path="up.toml")).eval()
    x = torch.randn(3, 2, 6, 9)
    with torch.no_grad():
        expected = nn.functional.interpolate(x, size=tuple(size) if isinstance(size, list) else size, mode=mode)
        assert torch.equal(model(x), expected)
    assert analyze_text(text).output_shape == tuple(expected.shape[1:])
    spec = tmp_path / "up.toml"
    spec.write_text(text)
    for command in ("build", "verify"):
        assert cli(command, str(spec), "--device", "cpu").exit_code == 0


@settings(max_examples=40, deadline=None)
@given(
    source=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    reference=st.tuples(st.integers(1, 20), st.integers(1, 20)),
    mode=st.sampled_from(["nearest", "bilinear", "bicubic"]),
    align=st.sampled_from([None, True, False]),
)
def test_upsample_to_a_second_input_is_interpolate_to_its_size(source, reference, mode, align):
    """The module of ``from = [x, ref]`` computes ``F.interpolate(x, size=ref.shape[-2:])``, exactly."""
    from cnnscope.layers import LAYER_TYPES

    keys = {"mode": mode} | ({} if align is None or mode == "nearest" else {"align_corners": align})
    layer = LAYER_TYPES["upsample"].from_config(keys)
    shapes = [(3, *source), (5, *reference)]
    out = layer.infer(shapes, ("x", "ref"))
    x, ref = torch.randn(2, *shapes[0]), torch.randn(2, *shapes[1])
    expected = nn.functional.interpolate(x, size=ref.shape[-2:], mode=mode, align_corners=keys.get("align_corners"))
    with torch.no_grad():
        actual = layer.torch_module(shapes)(x, ref)
    assert out == (3, *reference) == tuple(expected.shape[1:]) and torch.equal(actual, expected)


def test_a_size_taken_from_another_layer_follows_the_input_size():
    """A U-Net-like decoder resizes to its skip and to the input: right at any input size, built and run."""
    import cnnscope
    from cnnscope.spec import parse

    text = """
name = "seg"
input = [3, 40, 30]
layers = [
  {name = "enc1", type = "conv2d", out = 4, kernel = 3, padding = 1},
  {name = "deep", type = "conv2d", out = 4, kernel = 3, stride = 3, padding = 1},
  {name = "up", type = "upsample", from = ["deep", "enc1"], mode = "bilinear", align_corners = false},
  {name = "cat", type = "concat", from = ["up", "enc1"]},
  {name = "head", type = "conv2d", out = 2, kernel = 1, stride = 2},
  {name = "out", type = "upsample", from = ["head", "in"]},
]
"""
    spec = parse(text, path="seg.toml")
    model = cnnscope.build(spec).eval()
    for size in ((3, 40, 30), (3, 17, 23)):
        analysis = analyze_text(text.replace("[3, 40, 30]", str(list(size))))
        assert analysis.by_name["up"].output_shape == (4, *size[1:]) and analysis.output_shape == (2, *size[1:])
        x = torch.randn(1, *size)
        with torch.no_grad():  # the same network written out in torch
            enc1 = model.get_submodule("enc1")(x)
            up = nn.functional.interpolate(
                model.get_submodule("deep")(enc1), size=enc1.shape[-2:], mode="bilinear", align_corners=False
            )
            head = model.get_submodule("head")(torch.cat([up, enc1], dim=1))
            expected = nn.functional.interpolate(head, size=x.shape[-2:])
            assert torch.equal(model(x), expected)


@settings(max_examples=60, deadline=None)
@given(
    shape=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    before=st.lists(st.integers(0, 3), min_size=1, max_size=3),
    after=st.integers(0, 3),
    value=st.sampled_from([0.0, 1.5]),
    mode=st.sampled_from(["constant", "reflect", "replicate", "circular"]),
)
def test_pad_is_f_pad(shape, before, after, value, mode):
    """``before``/``after`` per spatial axis in the axes' order are F.pad's pairs from the last axis back, in each
    of F.pad's modes; an amount F.pad refuses (reflecting more than an axis holds) is refused by the shape rule."""
    from cnnscope.layers import LAYER_TYPES

    spatial = len(shape) - 1
    if len(before) not in (1, spatial):
        before = before[:1]
    value = value if mode == "constant" else 0.0  # a value fills a constant border alone
    layer = LAYER_TYPES["pad"].from_config({"before": before, "after": after, "value": value, "mode": mode})
    x = torch.randn(2, *shape)
    firsts = before * spatial if len(before) == 1 else before
    pads = [amount for b in reversed(firsts) for amount in (b, after)]
    try:
        expected = nn.functional.pad(x, pads, mode=mode, **({"value": value} if mode == "constant" else {}))
    except (RuntimeError, NotImplementedError):
        with pytest.raises(SpecError, match=f"{mode} padding of"):
            layer.infer([tuple(shape)])
        return
    out = layer.infer([tuple(shape)])
    with torch.no_grad():
        assert out == tuple(expected.shape[1:]) and torch.equal(layer.torch_module([tuple(shape)])(x), expected)


def test_a_pad_of_the_inputs_own_values_takes_no_fill_value():
    from cnnscope.layers import LAYER_TYPES

    layer = LAYER_TYPES["pad"].from_config({"before": 1, "after": 1, "mode": "replicate", "value": 2.0})
    with pytest.raises(SpecError, match='value fills a constant border; mode = "replicate"'):
        layer.infer([(1, 4, 4)])


def test_a_reshape_to_the_inputs_axes_follows_the_input_size():
    """``"axis K"`` is the size of axis K of the input (of the second input, where there are two): split
    attention's ``x.reshape(B, 2, C // 2, H, W)``, and tokens put back to another map's height and width."""
    import cnnscope
    from cnnscope.spec import parse

    text = """
name = "split"
input = [8, 6, 5]
layers = [
  {name = "split", type = "reshape", shape = [2, -1, "axis 1", "axis 2"]},
  {name = "sum", type = "reduce", op = "sum", axes = [0]},
  {name = "tokens", type = "reshape", shape = [4, -1]},
  {name = "back", type = "reshape", from = ["tokens", "in"], shape = [-1, "axis 1", "axis 2"]},
]
"""
    model = cnnscope.build(parse(text, path="split.toml")).eval()
    for size in ((8, 6, 5), (8, 11, 3)):
        analysis = analyze_text(text.replace("[8, 6, 5]", str(list(size))))
        h, w = size[1:]
        assert analysis.by_name["split"].output_shape == (2, 4, h, w) and analysis.output_shape == (4, h, w)
        x = torch.randn(2, *size)
        with torch.no_grad():  # the same computation written out in torch
            tokens = x.reshape(2, 2, 4, h, w).sum(dim=1).reshape(2, 4, -1)
            assert torch.equal(model(x), tokens.reshape(2, -1, h, w))
    with pytest.raises(SpecError, match='"axis 3" does not exist'):
        analyze_text(text.replace('"axis 2"]}', '"axis 3"]}'))


def test_a_reshape_to_scaled_axes_is_space_to_depth_at_any_size():
    """``"axis K / n"`` and ``"axis K * n"``: space-to-depth (TResNet's stem) written once for every size,
    checked against the same computation written out in torch."""
    import cnnscope
    from cnnscope.spec import parse

    text = """
name = "s2d"
input = [3, 8, 12]
layers = [
  {name = "blocks", type = "reshape", shape = ["axis 0", "axis 1 / 2", 2, "axis 2 / 2", 2]},
  {name = "moved", type = "permute", dims = [2, 4, 0, 1, 3]},
  {name = "stacked", type = "reshape", from = ["moved", "in"], shape = ["axis 0 * 4", "axis 1 / 2", "axis 2 / 2"]},
]
"""
    model = cnnscope.build(parse(text, path="s2d.toml")).eval()
    for c, h, w in ((3, 8, 12), (5, 6, 4)):
        analysis = analyze_text(text.replace("[3, 8, 12]", str([c, h, w])))
        assert analysis.output_shape == (4 * c, h // 2, w // 2)
        x = torch.randn(2, c, h, w)
        expected = x.view(2, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4).reshape(2, 4 * c, h // 2, w // 2)
        with torch.no_grad():
            assert torch.equal(model(x), expected)
    with pytest.raises(SpecError, match='"axis 1 / 16" is 0 for an input of shape 3x8x12'):
        analyze_text(text.replace('"axis 1 / 2", 2, "axis 2', '"axis 1 / 16", 2, "axis 2'))
    for wrong in ('"axis 1 / 0"', '"axis 1/2"', '"axis 1 + 2"'):
        with pytest.raises(SpecError, match="is no size"):
            analyze_text(text.replace('"axis 1 / 2", 2, "axis 2', f'{wrong}, 2, "axis 2'))


def test_a_norm_a_constant_and_a_division_by_hand():
    """The pieces of a global response norm on numbers worked out by hand: sqrt(3^2 + 4^2) = 5, and so on."""
    from cnnscope.layers import LAYER_TYPES

    norm = LAYER_TYPES["reduce"].from_config({"op": "l2", "axes": [1, 2], "keepdim": True})
    x = torch.tensor([[[[3.0, 0.0], [0.0, 4.0]], [[1.0, 1.0], [1.0, 1.0]]]])  # 2 channels of 2 x 2
    with torch.no_grad():
        assert norm.torch_module([(2, 2, 2)])(x).flatten().tolist() == [5.0, 2.0]
    assert norm.infer([(2, 2, 2)]) == (2, 1, 1) and norm.cost([(2, 2, 2)], (2, 1, 1)).flops == 2 * 8 + 2
    plus = LAYER_TYPES["add"].from_config({"by": 1.0})
    div = LAYER_TYPES["div"].from_config({})
    shapes = [(2, 2, 2), (2, 1, 1)]
    with torch.no_grad():
        denominator = plus.torch_module([(2, 1, 1)])(torch.tensor([[[[4.0]], [[1.0]]]]))
        assert denominator.flatten().tolist() == [5.0, 2.0]
        quotient = div.torch_module(shapes)(x, denominator).flatten()
        assert torch.equal(quotient, torch.tensor([3 / 5, 0, 0, 4 / 5, 1 / 2, 1 / 2, 1 / 2, 1 / 2]))
    assert div.infer(shapes) == (2, 2, 2) and div.cost(shapes, (2, 2, 2)).flops == 8
    assert plus.cost([(2, 1, 1)], (2, 1, 1)).flops == 2 and not plus.merges
    with pytest.raises(SpecError, match="div takes two inputs"):
        div.infer([(2, 2, 2)])


def standardized(x, weight, bias, eps, gain=None, gamma=1.0, **conv):
    """Weight standardisation by hand: each filter to mean 0 and (biased) variance 1, then, in the
    scaled form, times its gain and gamma / sqrt(fan-in); then the plain convolution."""
    filters = weight.reshape(weight.shape[0], -1)
    mean, var = filters.mean(dim=1), filters.var(dim=1, unbiased=False)
    shape = (-1,) + (1,) * (weight.ndim - 1)
    w = (weight - mean.view(shape)) / torch.sqrt(var.view(shape) + eps)
    if gain is not None:
        w = w * gain * gamma / math.sqrt(filters.shape[1])
    return {3: nn.functional.conv1d, 4: nn.functional.conv2d, 5: nn.functional.conv3d}[weight.ndim](x, w, bias, **conv)


@pytest.mark.parametrize(
    "keys",
    [
        {"standardize": True, "bias": False},
        {"standardize": True, "eps": 1e-8, "stride": 2, "padding": 1},
        {"standardize": True, "gain": True, "gamma": 1.7, "eps": 1e-5, "groups": 2},
        {"standardize": True, "gain": True, "stride": 2, "padding": "same"},  # TensorFlow's SAME, asymmetric
    ],
)
def test_a_standardised_conv_computes_what_the_hand_formula_says(keys):
    from cnnscope.layers import LAYER_TYPES

    layer = LAYER_TYPES["conv2d"].from_config({"out": 4, "kernel": 3} | keys)
    module = layer.torch_module([(6, 9, 8)]).eval()
    assert tuple(name for name, _ in module.named_parameters()) == (
        ("weight", *(("bias",) if layer.bias else ()), *(("gain",) if layer.gain else ()))
    )
    with torch.no_grad():
        if layer.gain:
            module.gain.uniform_(0.5, 2.0)
        x = torch.randn(2, 6, 9, 8)
        # SAME for 9 x 8 at stride 2: 5 x 4 outputs need 2 more rows (1 above, 1 below) and 1 more column (at the right)
        padded = nn.functional.pad(x, (0, 1, 1, 1)) if keys.get("padding") == "same" else x
        padding = 0 if keys.get("padding") == "same" else layer.padding
        expected = standardized(
            padded, module.weight, module.bias, layer.eps, module.gain if layer.gain else None, layer.gamma,
            stride=layer.stride, padding=padding, groups=layer.groups,
        )  # fmt: skip
        actual = module(x)
    assert tuple(actual.shape[1:]) == layer.infer([(6, 9, 8)])
    assert torch.allclose(actual, expected, atol=1e-5)
    assert sum(p.numel() for p in module.parameters()) == layer.cost([(6, 9, 8)], tuple(actual.shape[1:])).params


@pytest.mark.parametrize(
    ("keys", "fragment"),
    [("gain = true", "add standardize = true"), ("eps = 1e-5", "add standardize = true"), ("gamma = 2", "gain")],
)
def test_the_keys_of_standardisation_need_it(keys, fragment):
    with pytest.raises(SpecError, match=fragment):
        analyze_text(f"input = [3, 8, 8]\nlayers = [{{type = 'conv2d', out = 4, kernel = 3, {keys}}}]")


@pytest.mark.parametrize("ndim", [1, 3])
def test_standardisation_is_the_same_rule_in_one_and_three_dimensions(ndim):
    from cnnscope.layers import LAYER_TYPES

    layer = LAYER_TYPES[f"conv{ndim}d"].from_config({"out": 3, "kernel": 3, "standardize": True, "gain": True})
    shape = (2, *(7,) * ndim)
    module = layer.torch_module([shape])
    x = torch.randn(1, *shape)
    with torch.no_grad():
        assert torch.allclose(module(x), standardized(x, module.weight, module.bias, 1e-6, module.gain), atol=1e-5)
