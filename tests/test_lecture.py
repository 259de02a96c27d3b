"""The lecture's own figures, reproduced by the engine.

Expected values are typed in from the lecture (../shared/seeds) or derived by hand
from O = (I - K + 2P)/S + 1 and params = filters * (in * K * K) + filters.
"""

from __future__ import annotations

import pytest

from cnnscope.analysis import analyze
from cnnscope.zoo import load_target
from tests.conftest import analyze_text

# The lecture's "AlexNet: Overview" table: layer, filters/neurons, filter size,
# stride, padding, feature map (H x W x C as the slide writes it), activation.
ALEXNET_TABLE = [
    ("conv1", 96, (11, 11), 4, 0, (55, 55, 96), "relu"),
    ("pool1", None, (3, 3), 2, 0, (27, 27, 96), None),
    ("conv2", 256, (5, 5), 1, 2, (27, 27, 256), "relu"),
    ("pool2", None, (3, 3), 2, 0, (13, 13, 256), None),
    ("conv3", 384, (3, 3), 1, 1, (13, 13, 384), "relu"),
    ("conv4", 384, (3, 3), 1, 1, (13, 13, 384), "relu"),
    ("conv5", 256, (3, 3), 1, 1, (13, 13, 256), "relu"),
    ("pool3", None, (3, 3), 2, 0, (6, 6, 256), None),
    ("dropout1", None, None, None, None, (6, 6, 256), None),
    ("fc1", 4096, None, None, None, (4096,), "relu"),
    ("dropout2", None, None, None, None, (4096,), None),
    ("fc2", 4096, None, None, None, (4096,), "relu"),
    ("fc3", 1000, None, None, None, (1000,), "softmax"),
]


@pytest.fixture(scope="module")
def alexnet():
    return analyze(load_target("alexnet"))


@pytest.mark.parametrize("row", ALEXNET_TABLE, ids=lambda row: row[0])
def test_alexnet_table_row(alexnet, row):
    name, units, size, stride, padding, feature_map, activation = row
    report = alexnet.by_name[name]
    layer, cells = report.node.layer, report.node.layer.cells()
    hwc = feature_map if len(feature_map) == 1 else (*report.output_shape[1:], report.output_shape[0])
    assert hwc == feature_map
    if units is not None:
        assert cells.units == str(units)
    if size is not None:
        assert layer.kernel == size
        assert cells.stride == str(stride)
        assert cells.padding == str(padding)
    assert (report.node.act.type_name if report.node.act else None) == activation


def test_alexnet_parameters_by_hand(alexnet):
    convs = [(96, 3, 11), (256, 96, 5), (384, 256, 3), (384, 384, 3), (256, 384, 3)]
    fcs = [(256 * 6 * 6, 4096), (4096, 4096), (4096, 1000)]
    by_hand = sum(f * c * k * k + f for f, c, k in convs) + sum(i * o + o for i, o in fcs)
    assert by_hand == 62_378_344  # "62.3 million"
    assert alexnet.total.params == by_hand
    assert alexnet.by_name["conv1"].cost.params == 96 * (3 * 11 * 11) + 96 == 34_944


def test_alexnet_receptive_fields_by_hand(alexnet):
    # r_out = r_in + (k - 1) * jump_in ; jump_out = jump_in * stride
    expected, r, j = {}, 1, 1
    for name, k, s in [
        ("conv1", 11, 4),
        ("pool1", 3, 2),
        ("conv2", 5, 1),
        ("pool2", 3, 2),
        ("conv3", 3, 1),
        ("conv4", 3, 1),
        ("conv5", 3, 1),
        ("pool3", 3, 2),
    ]:
        r, j = r + (k - 1) * j, j * s
        expected[name] = (r, j)
    for name, (size, jump) in expected.items():
        field = alexnet.by_name[name].receptive
        assert field.size == (size, size) and field.jump == (jump, jump)
    assert expected["pool3"] == (195, 32)


def test_dimension_example():
    # "O = (6 - 4 + 2*2)/2 + 1 = 3 + 1 = 4"
    analysis = analyze_text(
        "input = [1, 6, 6]\nlayers = [{type = 'conv2d', out = 1, kernel = 4, stride = 2, padding = 2}]"
    )
    assert analysis.output_shape == (1, 4, 4)
    lines = analysis.layers[0].node.layer.explain([(1, 6, 6)], (1, 4, 4))
    assert "O = (6 - 4 + 2*2)/2 + 1 = 3 + 1 = 4" in lines[0]


def test_one_by_one_speedup():
    # per output position: 4x4x256x256 against 1x1x256x64 + 4x4x64x256
    by_hand = (4 * 4 * 256 * 256) / (256 * 64 + 4 * 4 * 64 * 256)
    chain_4x4, chain_1x1 = analyze(load_target("chain_4x4")), analyze(load_target("chain_1x1"))
    assert chain_4x4.total.macs / chain_1x1.total.macs == pytest.approx(by_hand)
    assert round(by_hand, 2) == 3.76  # the lecture's "~3.7x slower"


def test_yolo_output():
    yolo = analyze(load_target("yolov1"))
    s, b, c = 7, 2, 20
    assert yolo.output_shape == (s, s, b * 5 + c) == (7, 7, 30)
    assert yolo.by_name["fc2"].output_shape == (1470,)


def test_kim_cnn_by_hand():
    kim = analyze(load_target("kim_cnn"))
    vocab, dim, maps = 18765, 300, 100
    embeddings = 2 * vocab * dim
    convs = sum(maps * (2 * dim * h) + maps for h in (3, 4, 5))
    dense = 3 * maps * 2 + 2
    assert kim.total.params == embeddings + convs + dense
    assert kim.total.frozen_params == vocab * dim  # the static channel
    assert kim.output_shape == (2,)
    assert kim.by_name["features"].output_shape == (3 * maps,)


def test_autoencoder_and_lenet_by_hand():
    assert analyze(load_target("autoencoder")).total.params == (100 * 50 + 50) + (50 * 100 + 100)
    lenet = analyze(load_target("lenet5"))
    assert lenet.total.params == (6 * 25 + 6) + (16 * 6 * 25 + 16) + (120 * 16 * 25 + 120) + (120 * 84 + 84) + 850


# The lecture's "Parameters in GoogleLeNet" table: name, input depth, output size,
# #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj, params (K), ops (M).
GOOGLENET_TABLE = [
    ("inception3a", 192, 28, 64, 96, 128, 16, 32, 32, 159, 128),
    ("inception3b", 256, 28, 128, 128, 192, 32, 96, 64, 380, 304),
    ("inception4a", 480, 14, 192, 96, 208, 16, 48, 64, 364, 73),
    ("inception4b", 512, 14, 160, 112, 224, 24, 64, 64, 437, 88),
    ("inception4c", 512, 14, 128, 128, 256, 24, 64, 64, 463, 100),
    ("inception4d", 512, 14, 112, 144, 288, 32, 64, 64, 580, 119),
    ("inception4e", 528, 14, 256, 160, 320, 32, 128, 128, 840, 170),
    ("inception5a", 832, 7, 256, 160, 320, 32, 128, 128, 1072, 54),
    ("inception5b", 832, 7, 384, 192, 384, 48, 128, 128, 1388, 71),
]
# Rows where the table contradicts its own rule (weights without biases, K = 1024,
# ops = weights x output positions) by more than 2 %: see docs/conventions.md.
GOOGLENET_DISAGREES = {
    ("conv1", "params"),
    ("conv1", "ops"),
    ("inception4c", "params"),
    ("inception5a", "params"),
    ("inception5a", "ops"),
}


def _group_weights(analysis, prefix):
    return sum(r.cost.weights for r in analysis.layers if r.name == prefix or r.name.startswith(prefix + "."))


def _agrees(table_value, computed):
    """Within 2 %, or within the rounding of a figure printed as a whole number."""
    return abs(table_value - computed) <= max(0.02 * computed, 0.5)


@pytest.fixture(scope="module")
def googlenet():
    return analyze(load_target("googlenet"))


@pytest.mark.parametrize("row", GOOGLENET_TABLE, ids=lambda row: row[0])
def test_googlenet_inception_rows(googlenet, row):
    name, depth, size, c1, c3r, c3, c5r, c5, pp, params_k, ops_m = row
    by_hand = depth * c1 + depth * c3r + c3r * 9 * c3 + depth * c5r + c5r * 25 * c5 + depth * pp
    assert _group_weights(googlenet, name) == by_hand
    assert googlenet.output_of(name) == (c1 + c3 + c5 + pp, size, size)
    for column, table_value, computed in (
        ("params", params_k, by_hand / 1024),
        ("ops", ops_m, by_hand * size * size / 1e6),
    ):
        assert _agrees(table_value, computed) != ((name, column) in GOOGLENET_DISAGREES), (column, computed)


def test_googlenet_stem_and_classifier_rows(googlenet):
    conv1 = 7 * 7 * 3 * 64
    conv2 = 64 * 64 + 64 * 9 * 192  # "depth 2": the 1x1 reduction and the 3x3
    assert _group_weights(googlenet, "conv1") == conv1
    assert googlenet.by_name["conv2_reduce"].cost.weights + googlenet.by_name["conv2"].cost.weights == conv2
    assert googlenet.by_name["fc"].cost.weights == 1024 * 1000
    assert _agrees(112, conv2 / 1024) and _agrees(360, conv2 * 56 * 56 / 1e6)
    assert _agrees(1000, 1024 * 1000 / 1024) and _agrees(1, 1024 * 1000 / 1e6)
    # the table's first row: 2.7K / 34M, where 7*7*3*64 = 9,408 weights (9.2K, 118M)
    assert not _agrees(2.7, conv1 / 1024) and not _agrees(34, conv1 * 112 * 112 / 1e6)
