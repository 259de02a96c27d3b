"""The spec language's newer parts: repeat indices, instance names, in_channels, names
with '-', block arguments that name an activation, functional layers; and the bugs
found while writing the modern zoo. Expected figures are worked out by hand."""

from __future__ import annotations

from fractions import Fraction

import pytest

from cnnscope.analysis import Field, analyze
from cnnscope.errors import SpecError, did_you_mean_type
from cnnscope.layers import LAYER_TYPES
from cnnscope.spec import parse
from tests.conftest import analyze_text

DEPTHWISE = """
input = [8, 16, 16]
layers = [
  {name = "stem", type = "conv2d", out = 12, kernel = 1},
  {name = "stage", block = "dw", repeat = 3, instance = "block1-{index + 1}", args = {act = "relu6"}},
]
[blocks.dw]
args = {act = "relu", rate = 0.1}
layers = [
  {name = "conv{index}", type = "conv2d", out = "in_channels", kernel = 3, padding = 1, groups = "in_channels", bias = false},
  {name = "a", type = "act"},
  {name = "sd", type = "stochastic_depth", p = "rate * index"},
]
"""


def test_index_instance_names_and_in_channels():
    analysis = analyze_text(DEPTHWISE)
    names = [r.name for r in analysis.layers]
    assert names[1:4] == ["stage.block1-1.conv0", "stage.block1-1.a", "stage.block1-1.sd"]
    assert names[-3] == "stage.block1-3.conv2"
    conv = analysis.by_name["stage.block1-2.conv1"]
    assert conv.node.layer.groups == 12 and conv.node.layer.out == 12
    assert conv.cost.params == 12 * 1 * 3 * 3  # depthwise: one 3x3 filter per channel, no bias
    assert analysis.by_name["stage.block1-2.a"].type == "relu6"  # the block argument names the type
    assert [analysis.by_name[f"stage.block1-{i}.sd"].node.layer.p for i in (1, 2, 3)] == [0.0, 0.1, 0.2]


def test_in_channels_follows_a_new_input_size():
    spec = parse(DEPTHWISE, path="t.toml").with_input((5, 16, 16))
    analysis = analyze(spec)
    assert analysis.by_name["stage.block1-1.conv0"].node.layer.groups == 12  # the stem's output still
    other = parse(DEPTHWISE.replace('"stem", type = "conv2d", out = 12, kernel = 1', '"stem", type = "relu"'))
    assert analyze(other.with_input((5, 16, 16))).by_name["stage.block1-1.conv0"].node.layer.groups == 5


def test_in_channels_names_the_layer_that_breaks_before_it():
    text = """
    input = [3, 4, 4]
    layers = [
      {name = "big", type = "conv2d", out = 8, kernel = 9},
      {name = "dw", type = "conv2d", out = "in_channels", kernel = 1, groups = "in_channels"},
    ]
    """
    with pytest.raises(SpecError, match=r"in_channels is unknown: layer 'big' before it fails"):
        parse(text, path="t.toml")


def test_functional_marks_the_node_and_must_be_boolean():
    spec = parse('input = [4, 8, 8]\nlayers = [{type = "global_avgpool", functional = true}]')
    assert spec.nodes[0].functional
    with pytest.raises(SpecError, match="'functional' must be true or false"):
        parse('input = [4, 8, 8]\nlayers = [{type = "relu", functional = "yes"}]')


def test_instance_needs_a_repeat():
    text = """
    input = [4, 8, 8]
    layers = [{name = "x", block = "b", instance = "a{index}"}]
    [blocks.b]
    layers = [{type = "relu"}]
    """
    with pytest.raises(SpecError, match="'instance' names the repetitions"):
        parse(text)


def test_same_layer_twice_in_from_builds_and_runs():
    torch = pytest.importorskip("torch")
    import cnnscope

    spec = parse('input = [2, 4, 4]\nlayers = [{name = "a", type = "relu"}, {type = "concat", from = ["a", "a"]}]')
    model = cnnscope.build(spec)
    x = torch.randn(1, 2, 4, 4)
    assert torch.equal(model(x), torch.cat([x.relu(), x.relu()], 1))


def test_batchnorm_rejects_what_torch_cannot_run():
    text = (
        'input = [2, 4, 4]\nlayers = [{type = "reshape", shape = [2, 2, 2, 2, 2]}, {name = "bn", type = "batchnorm"}]'
    )
    with pytest.raises(SpecError, match=r"layer 'bn': batchnorm needs .* got a tensor of shape 2x2x2x2x2"):
        analyze_text(text)


def test_batchnorm_on_five_axes_per_sample_runs_as_torch_does():
    torch = pytest.importorskip("torch")
    import cnnscope

    text = 'input = [2, 4, 4]\nlayers = [{type = "reshape", shape = [2, 2, 2, 4]}, {name = "bn", type = "batchnorm"}]'
    model = cnnscope.build(parse(text)).eval()
    assert model(torch.randn(3, 2, 4, 4)).shape == (3, 2, 2, 2, 4)


def test_receptive_field_is_all_after_global_pooling():
    analysis = analyze_text(
        'input = [3, 8, 8]\nlayers = [{type = "conv2d", out = 4, kernel = 3}, {name = "g", type = "global_avgpool"}]'
    )
    assert analysis.by_name["g"].receptive is not None and not isinstance(analysis.by_name["g"].receptive, Field)


def test_receptive_field_through_upsampling_and_transposed_convolution():
    text = """
    input = [1, 32, 32]
    layers = [
      {name = "down", type = "conv2d", out = 1, kernel = 3, stride = 2},
      {name = "up", type = "conv_transpose2d", out = 1, kernel = 4, stride = 2},
      {name = "near", type = "upsample", scale = 2},
      {name = "smooth", type = "conv2d", out = 1, kernel = 3},
    ]
    """
    analysis = analyze_text(text)
    by_name = analysis.by_name
    # by hand: down r = 3, j = 2; up: j = 2/2 = 1, then r = 3 + (4-1)*1 = 6; nearest x2: r = 6,
    # j = 1/2; smooth 3x3: r = 6 + (3-1)*(1/2) = 7
    assert by_name["down"].receptive == Field((Fraction(3),) * 2, (Fraction(2),) * 2, (1, 2))
    assert by_name["up"].receptive.size == (6, 6) and by_name["up"].receptive.jump == (1, 1)
    assert by_name["near"].receptive.jump == (Fraction(1, 2),) * 2
    assert by_name["smooth"].receptive.size == (7, 7)
    torch = pytest.importorskip("torch")
    import cnnscope

    # and by brute force: the widest set of input rows any output's gradient reaches (a bound, here tight)
    model = cnnscope.build(parse(text)).eval()
    for parameter in model.parameters():
        torch.nn.init.ones_(parameter) if parameter.dim() > 1 else torch.nn.init.zeros_(parameter)
    x = torch.ones(1, 1, 32, 32, requires_grad=True)
    out = model(x)
    widest = 0
    for row in range(4, out.shape[2] - 4):
        (grad,) = torch.autograd.grad(out[0, 0, row, out.shape[3] // 2], x, retain_graph=True)
        rows = grad[0, 0].abs().sum(dim=1).nonzero()
        widest = max(widest, int(rows.max() - rows.min() + 1))
    assert widest == by_name["smooth"].receptive.size[0]


def test_crop_takes_the_field_of_the_map_it_cuts():
    text = """
    input = [1, 16, 16]
    layers = [
      {name = "skip", type = "conv2d", out = 1, kernel = 3},
      {name = "deep", type = "conv2d", out = 1, kernel = 7, from = "skip"},
      {name = "c", type = "crop", from = ["skip", "deep"]},
    ]
    """
    assert analyze_text(text).by_name["c"].receptive.size == (3, 3)


def test_permute_moves_the_spatial_axes_so_linear_on_channels_keeps_the_field():
    text = """
    input = [4, 8, 8]
    layers = [
      {name = "dw", type = "conv2d", out = 4, kernel = 7, padding = 3, groups = 4},
      {name = "last", type = "permute", dims = [1, 2, 0]},
      {name = "norm", type = "layernorm"},
      {name = "mlp", type = "linear", out = 16},
      {name = "first", type = "permute", dims = [2, 0, 1]},
    ]
    """
    analysis = analyze_text(text)
    assert analysis.by_name["mlp"].output_shape == (8, 8, 16)
    assert analysis.by_name["first"].receptive == Field((Fraction(7),) * 2, (Fraction(1),) * 2, (1, 2))
    assert not analysis.warnings  # a linear over the channels is not a forgotten flatten


def test_mul_broadcasts_and_names_both_shapes_when_it_cannot():
    ok = analyze_text(
        'input = [4, 8, 8]\nlayers = [{name = "g", type = "global_avgpool"}, {type = "mul", from = ["in", "g"]}]'
    )
    assert ok.output_shape == (4, 8, 8)
    with pytest.raises(SpecError, match=r"cannot multiply 'in' \(4x8x8\) by 'g' \(3x1x1\)"):
        analyze_text(
            'input = [4, 8, 8]\nlayers = [{name = "g", type = "conv2d", out = 3, kernel = 8}, {type = "mul", from = ["in", "g"]}]'
        )


@pytest.mark.parametrize(
    ("keys", "fragment"),
    [
        (
            "out = 2, kernel = 3, stride = 2, output_padding = 2",
            "output padding must be smaller than either stride or dilation",
        ),
        ("out = 2, kernel = 1, padding = 3", "output size .* is too small"),
        ("out = 3, kernel = 2, groups = 2", "groups = 2 must divide"),
    ],
)
def test_transposed_convolution_rejects_what_torch_rejects(keys, fragment):
    with pytest.raises(SpecError, match=fragment):
        analyze_text(f'input = [4, 5, 5]\nlayers = [{{type = "conv_transpose2d", {keys}}}]')


def test_transposed_convolution_formula_by_hand():
    # O = (I - 1)*S - 2P + D*(K - 1) + output_padding + 1 = (5 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1 = 10
    analysis = analyze_text(
        'input = [4, 5, 5]\nlayers = [{name = "t", type = "conv_transpose2d", out = 6, kernel = 3, stride = 2, padding = 1, output_padding = 1}]'
    )
    report = analysis.by_name["t"]
    assert report.output_shape == (6, 10, 10)
    assert report.cost.params == 4 * 6 * 9 + 6
    assert report.cost.macs == 4 * 5 * 5 * 6 * 9  # every input element meets out x K x K weights
    assert "(5 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1 = 10" in "\n".join(report.node.layer.explain([(4, 5, 5)], (6, 10, 10)))


def test_upsample_needs_one_of_scale_and_size():
    with pytest.raises(SpecError, match="exactly one of 'scale' and 'size'"):
        analyze_text('input = [4, 5, 5]\nlayers = [{type = "upsample", scale = 2, size = 10}]')
    with pytest.raises(SpecError, match="align_corners only applies"):
        analyze_text('input = [4, 5, 5]\nlayers = [{type = "upsample", scale = 2, align_corners = true}]')
    assert analyze_text('input = [4, 5, 5]\nlayers = [{type = "upsample", scale = 1.5}]').output_shape == (4, 7, 7)


def test_crop_to_a_second_input_and_refuses_a_larger_one():
    text = """
    input = [2, 12, 12]
    layers = [
      {name = "small", type = "maxpool", kernel = 2},
      {name = "c", type = "crop", from = ["in", "small"]},
    ]
    """
    assert analyze_text(text).output_shape == (2, 6, 6)
    with pytest.raises(SpecError, match="cannot crop 'small'"):
        analyze_text(text.replace('from = ["in", "small"]', 'from = ["small", "in"]'))


def test_names_may_hold_dashes():
    spec = parse('input = [2, 4, 4]\nlayers = [{name = "block1-0", type = "relu"}]')
    assert spec.nodes[0].name == "block1-0"


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [("relu6x", "relu6"), ("hardsigmod", "hardsigmoid"), ("ReLU", "relu"), ("maxpool2d", "maxpool"), ("rleu", "relu")],
)
def test_did_you_mean_suggests_misspellings(typed, suggested):
    assert did_you_mean_type(typed, LAYER_TYPES) == f"did you mean '{suggested}'?"


@pytest.mark.parametrize("typed", ["relu7", "selu", "softmin", "conv4d", "hardtanh", "swish", "elu"])
def test_did_you_mean_never_suggests_another_function(typed):
    assert did_you_mean_type(typed, LAYER_TYPES) is None


def test_when_reads_in_channels_and_from_fills_in_templates():
    text = """
    input = [4, 8, 8]
    layers = [
      {name = "enc1", type = "conv2d", out = 4, kernel = 1},
      {name = "enc2", type = "conv2d", out = 8, kernel = 1},
      {name = "step", block = "skip", repeat = 2, args = {level = 1}},
    ]
    [blocks.skip]
    args = {level = 1}
    layers = [
      {name = "conv", type = "conv2d", out = 4, kernel = 1},
      {name = "join", type = "add", from = ["conv", "enc{level + index}"], when = "in_channels == 4 and index == 0"},
      {name = "join", type = "concat", from = ["conv", "enc{level + index}"], when = "index == 1"},
    ]
    """
    analysis = analyze_text(text)
    assert analysis.by_name["step.0.join"].node.inputs == ("step.0.conv", "enc1")
    assert analysis.by_name["step.1.join"].node.inputs == ("step.1.conv", "enc2")
    assert analysis.output_shape == (12, 8, 8)
    assert analysis.spec.groups["step"] == "skip x2"


def test_a_linear_on_a_map_is_per_position_along_the_other_axes():
    text = """
    input = [1, 28, 28]
    layers = [
      {name = "conv", type = "conv2d", out = 4, kernel = 3},
      {name = "pool", type = "maxpool", kernel = 2},
      {name = "fc", type = "linear", out = 10},
      {name = "norm", type = "layernorm", from = "pool"},
    ]
    """
    by_name = analyze_text(text).by_name
    # by hand: conv r = 3, j = 1; pool 2/2: r = 3 + 1*1 = 4, j = 2. The linear turns the width into
    # features: each output is one row of the map, whose field along the height is still 4.
    assert by_name["fc"].receptive == Field((Fraction(4),), (Fraction(2),), (1,))
    # a layer norm over the width keeps it spatial and sees all 13 positions: 4 + (13 - 1) * 2 = 28
    assert by_name["norm"].receptive.size == (4, 28)


def test_upsample_to_a_second_input_says_what_is_wrong():
    base = 'input = [4, 8, 8]\nlayers = [{name = "small", type = "maxpool", kernel = 2}, '
    with pytest.raises(SpecError, match="not two of them"):
        analyze_text(base + '{type = "upsample", from = ["small", "in"], scale = 2}]')
    with pytest.raises(SpecError, match=r"cannot resize 4x4x4 to the size of 256"):
        analyze_text(base + '{name = "f", type = "flatten", from = "in"}, {type = "upsample", from = ["small", "f"]}]')
    with pytest.raises(SpecError, match="or a second input to take the size from"):
        analyze_text(base + '{type = "upsample"}]')
    analysis = analyze_text(base + '{name = "up", type = "upsample", from = ["small", "in"], mode = "bilinear"}]')
    up = analysis.by_name["up"]
    assert up.output_shape == (4, 8, 8)
    assert up.receptive == analysis.by_name["small"].receptive.through(up.node.layer.window(list(up.input_shapes)))
    assert up.node.layer.explain(list(up.input_shapes), up.output_shape) == [
        "output size 8x8 taken from the second input (4x8x8), at any input size"
    ]
