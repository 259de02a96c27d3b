"""ONNX in and out: `cnnscope import model.onnx` and `cnnscope export NAME --out net.onnx`.

The oracle is onnxruntime on the ONNX file: an imported spec, built with the weights read from
the file, gives the file's outputs; an exported file gives the spec-built model's outputs. The
graphs read here are written by hand with onnx.helper (as a converter other than torch's would
write them), by torch's TorchScript exporter from a torchvision model, and by `cnnscope export`.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cnnscope.analysis import analyze  # noqa: E402
from cnnscope.spec import load  # noqa: E402
from cnnscope.zoo import load_target  # noqa: E402

RNG = np.random.default_rng(0)


def _init(name: str, *shape: int, low: float = -0.5, high: float = 0.5) -> onnx.TensorProto:
    return numpy_helper.from_array(RNG.uniform(low, high, shape).astype(np.float32), name)


def hand_written(spatial: tuple[int | str, int | str] = (16, 16)) -> onnx.ModelProto:
    """A small CNN as a converter writes it: TorchScript-style node names, parameters named by module."""
    nodes = [
        helper.make_node(
            "Conv", ["image", "stem.conv.weight", "stem.conv.bias"], ["c1"], "/stem/conv/Conv", pads=[1] * 4
        ),
        helper.make_node(
            "BatchNormalization",
            ["c1", "stem.bn.weight", "stem.bn.bias", "stem.bn.running_mean", "stem.bn.running_var"],
            ["b1"],
            "/stem/bn/BatchNormalization",
            epsilon=1e-3,
        ),
        helper.make_node("Relu", ["b1"], ["r1"], "/stem/relu/Relu"),
        helper.make_node("MaxPool", ["r1"], ["p1"], "/pool/MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "block.conv.weight"], ["c2"], "/block/conv/Conv", pads=[1] * 4),
        helper.make_node("Add", ["c2", "p1"], ["a2"], "/block/Add"),
        helper.make_node("Sigmoid", ["a2"], ["g2"], "/block/act/Sigmoid"),
        helper.make_node("Mul", ["a2", "g2"], ["s2"], "/block/act/Mul"),
        helper.make_node("GlobalAveragePool", ["s2"], ["gap"], "/head/pool/GlobalAveragePool"),
        helper.make_node("Flatten", ["gap"], ["flat"], "/head/Flatten"),
        helper.make_node("Gemm", ["flat", "head.fc.weight", "head.fc.bias"], ["logits"], "/head/fc/Gemm", transB=1),
    ]
    initializers = [
        _init("stem.conv.weight", 8, 3, 3, 3),
        _init("stem.conv.bias", 8),
        _init("stem.bn.weight", 8, low=0.5, high=1.5),
        _init("stem.bn.bias", 8),
        _init("stem.bn.running_mean", 8),
        _init("stem.bn.running_var", 8, low=0.5, high=2.0),
        _init("block.conv.weight", 8, 8, 3, 3),
        _init("head.fc.weight", 10, 8),
        _init("head.fc.bias", 10),
    ]
    graph = helper.make_graph(
        nodes,
        "hand",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, *spatial])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def said(result) -> str:
    """The command's output as one line (rich wraps it at the test console's width)."""
    return " ".join(result.output.split())


@pytest.fixture
def written(tmp_path):
    def write(model: onnx.ModelProto, name: str = "hand.onnx") -> str:
        path = tmp_path / name
        onnx.save(model, str(path))
        return str(path)

    return write


# hand calculation: conv 8*3*3*3 + 8, batch norm 8 + 8, conv 8*8*3*3, linear 8*10 + 10
HAND_PARAMS = 224 + 16 + 576 + 90
HAND_MACS = 8 * 16 * 16 * 27 + 8 * 8 * 8 * 72 + 80


def test_a_hand_written_graph_imports_checked_against_onnxruntime(cli, written, tmp_path):
    pytest.importorskip("torch")
    destination = tmp_path / "net.toml"
    result = cli("import", written(hand_written()), "--out", str(destination))
    assert result.exit_code == 0, result.output
    assert "outputs equal to onnxruntime's on the file" in said(result)
    text = destination.read_text()
    assert "# Checked: with these weights its outputs equal onnxruntime's on the file" in text
    spec = load(str(destination))
    names = [(node.name, node.layer.type_name) for node in spec.nodes]
    assert names == [
        ("stem.conv", "conv2d"),
        ("stem.bn", "batchnorm"),
        ("stem.relu", "relu"),  # a module of its own (its node is not in stem.bn's module): a layer
        ("pool", "maxpool"),
        ("block.conv", "conv2d"),
        ("block.add", "add"),  # an operator of block's own forward
        ("block.act", "silu"),  # x * sigmoid(x), both nodes in one module
        ("head.pool", "global_avgpool"),
        ("head.flatten", "flatten"),
        ("head.fc", "linear"),
    ]
    assert spec.nodes[1].layer.eps == 1e-3  # float32's 0.001, written as people write it
    total = analyze(spec).total
    assert (total.params, total.macs) == (HAND_PARAMS, HAND_MACS)
    weights = tmp_path / "net.safetensors"
    result = cli("build", str(destination), "--weights", str(weights), "--device", "cpu")
    assert result.exit_code == 0, result.output


def test_the_check_names_the_layer_where_the_spec_parts_from_the_file(written, tmp_path):
    """A wrong weight read (here: planted) is found, and the first layer that differs is named."""
    pytest.importorskip("torch")
    from cnnscope.importer.onnx import from_onnx
    from cnnscope.runtime.onnx import compare_import

    path = written(hand_written())
    spec, reading = from_onnx(path)
    assert compare_import(tmp_path / "hand.onnx", spec, reading, 1e-4).parting is None
    reading.weights["block.conv.weight"] = reading.weights["block.conv.weight"] * 1.01
    comparison = compare_import(tmp_path / "hand.onnx", spec, reading, 1e-4)
    assert comparison.parting == "block.conv" and comparison.difference > 1e-4


def _const(name: str, value, dtype=np.int64) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value, dtype=dtype)))


def many_operators() -> onnx.ModelProto:
    """Operators in the forms other converters write them (TensorFlow's asymmetric SAME padding as a Pad,
    GELU before opset 20, a resize to another tensor's size through Shape, a bias added after a MatMul)."""
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["padded"], "/stem/pad/Pad"),
        helper.make_node("Conv", ["padded", "stem.conv.weight"], ["c"], "/stem/conv/Conv", strides=[2, 2]),
        helper.make_node("Clip", ["c", "zero", "six"], ["r6"], "/stem/act/Clip"),
        helper.make_node("Split", ["r6", "halves"], ["left", "right"], "/split/Split", axis=1),
        helper.make_node("PRelu", ["left", "left.act.weight"], ["pl"], "/left/act/PRelu"),
        helper.make_node("LeakyRelu", ["right"], ["lr"], "/right/act/LeakyRelu", alpha=0.2),
        helper.make_node(
            "AveragePool",
            ["lr"],
            ["ap"],
            "/right/pool/AveragePool",
            kernel_shape=[3, 3],
            pads=[1] * 4,
            count_include_pad=0,
        ),
        helper.make_node("Mul", ["ap", "right.scale"], ["sc"], "/right/scale/Mul"),
        helper.make_node("Concat", ["pl", "sc"], ["cat"], "/Concat", axis=1),
        helper.make_node("Pad", ["cat", "border"], ["bordered"], "/pad/Pad"),
        helper.make_node("MaxPool", ["bordered"], ["small"], "/down/MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Shape", ["cat"], ["size"], "/up/Shape"),
        _const("from2", [2]),
        _const("to4", [4]),
        helper.make_node("Slice", ["size", "from2", "to4"], ["hw"], "/up/Slice"),
        _const("nc", [1, 8]),
        helper.make_node("Concat", ["nc", "hw"], ["target"], "/up/Concat_1", axis=0),
        helper.make_node("Resize", ["small", "", "", "target"], ["up"], "/up/Resize", mode="linear"),
        helper.make_node("Add", ["up", "cat"], ["sum"], "/Add"),
        helper.make_node("ReduceMean", ["sum", "spatial"], ["pooled"], "/head/ReduceMean", keepdims=0),
        helper.make_node("Div", ["pooled", "sqrt2"], ["d"], "/head/gelu/Div"),
        helper.make_node("Erf", ["d"], ["e"], "/head/gelu/Erf"),
        helper.make_node("Add", ["e", "one"], ["e1"], "/head/gelu/Add"),
        helper.make_node("Mul", ["pooled", "e1"], ["m"], "/head/gelu/Mul"),
        helper.make_node("Mul", ["m", "half"], ["g"], "/head/gelu/Mul_1"),
        helper.make_node("MatMul", ["g", "head.fc.weight"], ["mm"], "/head/fc/MatMul"),
        helper.make_node("Add", ["mm", "head.fc.bias"], ["logits"], "/head/fc/Add"),
        helper.make_node("Mul", ["logits", "two"], ["scaled"], "/head/Mul"),
        helper.make_node("Softmax", ["scaled"], ["probabilities"], "/head/Softmax", axis=-1),
    ]
    values = {
        "pads": np.array([0, 0, 0, 0, 0, 0, 1, 1], dtype=np.int64),  # SAME at stride 2: the odd zero at the end
        "border": np.array([0, 0, 1, 0, 0, 0, 1, 2], dtype=np.int64),  # a pad layer: 8x8 -> 10x10
        "zero": np.array(0.0, dtype=np.float32),
        "six": np.array(6.0, dtype=np.float32),
        "halves": np.array([4, 4], dtype=np.int64),
        "spatial": np.array([2, 3], dtype=np.int64),
        "sqrt2": np.array(np.sqrt(2.0), dtype=np.float32),
        "one": np.array(1.0, dtype=np.float32),
        "half": np.array(0.5, dtype=np.float32),
        "two": np.array(2.0, dtype=np.float32),
    }
    initializers = [numpy_helper.from_array(v, k) for k, v in values.items()] + [
        _init("stem.conv.weight", 8, 3, 3, 3),
        _init("left.act.weight", 4, 1, 1),
        _init("right.scale", 1, 4, 1, 1),
        _init("head.fc.weight", 8, 5),
        _init("head.fc.bias", 5),
    ]
    graph = helper.make_graph(
        nodes,
        "many",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 5])],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_operators_in_other_converters_forms_import_with_onnxruntimes_outputs(written, tmp_path):
    pytest.importorskip("torch")
    from cnnscope.importer.onnx import from_onnx
    from cnnscope.runtime.onnx import compare_import

    path = written(many_operators(), "many.onnx")
    spec, reading = from_onnx(path)
    assert reading.batch == 1  # the file fixes it: the check runs on one sample
    layers = {node.name: (node.layer.type_name, node.inputs) for node in spec.nodes}
    assert layers == {
        "stem.conv": ("conv2d", ("input",)),  # the Pad joined it: padding "same"
        "stem.act": ("relu6", ("stem.conv",)),
        "split": ("slice", ("stem.act",)),  # the module's name, as a module's only call
        "split_1": ("slice", ("stem.act",)),
        "left.act": ("prelu", ("split",)),
        "right.act": ("leaky_relu", ("split_1",)),
        "right.pool": ("avgpool", ("right.act",)),
        "right.scale": ("scale", ("right.pool",)),
        "concat": ("concat", ("left.act", "right.scale")),
        "pad": ("pad", ("concat",)),
        "down": ("maxpool", ("pad",)),
        "up": ("upsample", ("down", "concat")),  # to the size of `cat`, at any input size
        "add": ("add", ("up", "concat")),
        "head.mean": ("mean", ("add",)),
        "head.gelu": ("gelu", ("head.mean",)),
        "head.fc": ("linear", ("head.gelu",)),
        "head.mul": ("mul", ("head.fc",)),  # with act = "softmax": an operator of head's own forward
    }
    assert spec.nodes[0].layer.padding == "same" and spec.nodes[6].layer.count_pad is False
    assert spec.nodes[-1].act is not None and spec.nodes[-1].act.type_name == "softmax"
    assert analyze(spec).total.params == 8 * 27 + 4 + 4 + 8 * 5 + 5
    assert compare_import(tmp_path / "many.onnx", spec, reading, 1e-4).parting is None
    bigger = spec.with_input((3, 32, 32))  # the resize follows `cat` at another size
    assert analyze(bigger).by_name["up"].output_shape == (8, 16, 16)  # 8x8 at 16x16


def strided_gather(offsets: np.ndarray) -> onnx.ModelProto:
    """A ReLU of a 4x2x3 map, then the view that torch's dynamo exporter writes for an ``as_strided`` under a
    dynamic batch: the batch flattened into one axis, and a Gather of ``b * 24 + offsets`` computed from the
    batch size (timm's ConvNeXt head)."""
    c = lambda name, value: numpy_helper.from_array(np.asarray(value, dtype=np.int64), name)  # noqa: E731
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], "/act/Relu"),
        helper.make_node("Reshape", ["r", "flat"], ["f"], "/view/Reshape"),
        helper.make_node("Shape", ["x"], ["n1"], "/view/Shape", start=0, end=1),
        helper.make_node("Squeeze", ["n1"], ["n"], "/view/Squeeze"),
        helper.make_node("Range", ["zero", "n", "one"], ["b"], "/view/Range"),
        helper.make_node("Mul", ["b", "stride"], ["bs"], "/view/Mul"),
        helper.make_node("Unsqueeze", ["bs", "axes"], ["b4"], "/view/Unsqueeze"),
        helper.make_node("Add", ["b4", "offsets"], ["index"], "/view/Add"),
        helper.make_node("Gather", ["f", "index"], ["y"], "/view/Gather", axis=0),
    ]
    constants = [c("flat", [-1]), c("zero", 0), c("one", 1), c("stride", 24), c("axes", [1, 2, 3])]
    constants.append(c("offsets", offsets[None]))
    graph = helper.make_graph(
        nodes,
        "view",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=constants,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(
    ("offsets", "line"),
    [
        (np.arange(24).reshape(4, 2, 3), None),  # the same view: nothing to compute
        (np.arange(24).reshape(4, 2, 3).transpose(1, 2, 0), '{name = "view", type = "permute", dims = [1, 2, 0]}'),
        (np.arange(24).reshape(4, 6, 1), '{name = "view", type = "reshape", shape = [4, 6, 1]}'),
    ],
)
def test_index_arithmetic_over_the_batch_is_read_as_the_view_it_makes(cli, written, tmp_path, offsets, line):
    pytest.importorskip("torch")
    destination = tmp_path / "view.toml"
    result = cli("import", written(strided_gather(offsets)), "--out", str(destination))
    assert result.exit_code == 0 and "outputs equal to onnxruntime's on the file" in said(result), result.output
    layers = [n.name for n in load(str(destination)).nodes]
    assert layers == (["act"] if line is None else ["act", "view"])
    assert line is None or line in destination.read_text()


def test_index_arithmetic_that_is_no_view_of_a_sample_is_one_line(cli, written, tmp_path):
    shuffled = np.random.default_rng(0).permutation(24).reshape(4, 2, 3)  # no reshape, no permutation of axes
    result = cli("import", written(strided_gather(shuffled)), "--out", str(tmp_path / "no.toml"))
    assert result.exit_code == 2 and "\n" not in result.output.strip()
    assert "Reshape that changes the batch axis (to [23999592]) has no spec form x1 (node '/view/Reshape')" in said(
        result
    )
    assert "Add making a constant of more than 16,777,216 elements has no spec form x1 (node '/view/Add')" in said(
        result
    )
    assert not (tmp_path / "no.toml").exists()


def test_dynamic_spatial_sizes_need_input(cli, written, tmp_path):
    path = written(hand_written(("height", "width")))
    destination = tmp_path / "net.toml"
    result = cli("import", path, "--out", str(destination))
    assert result.exit_code == 2
    assert "input 'image' has sizes 3x?x? per sample, not all fixed in the file" in result.output
    assert not destination.exists()
    result = cli("import", path, "--out", str(destination), "--input", "32x32")  # the spatial sizes alone
    assert result.exit_code == 0, result.output
    assert load(str(destination)).input.shape == (3, 32, 32)


def _with(model: onnx.ModelProto, change) -> onnx.ModelProto:
    changed = onnx.ModelProto()
    changed.CopyFrom(model)
    change(changed)
    return changed


def _op(name: str, op: str, **attributes):
    def change(model: onnx.ModelProto) -> None:
        node = next(n for n in model.graph.node if n.name == name)
        node.op_type = op
        node.attribute.extend(helper.make_attribute(k, v) for k, v in attributes.items())

    return change


def _cycle(model: onnx.ModelProto) -> None:
    model.graph.node[4].input[0] = "a2"  # block.conv reads the add that reads it


def _missing(model: onnx.ModelProto) -> None:
    del model.graph.initializer[6]  # block.conv.weight


def _two_inputs(model: onnx.ModelProto) -> None:
    model.graph.input.append(helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", 1, 16, 16]))


def _outside(model: onnx.ModelProto) -> None:
    tensor = model.graph.initializer[6]
    tensor.data_location = TensorProto.EXTERNAL
    tensor.ClearField("float_data")
    tensor.ClearField("raw_data")
    tensor.external_data.add(key="location", value="../../etc/passwd")


def _huge(model: onnx.ModelProto) -> None:
    model.graph.initializer.append(numpy_helper.from_array(np.array([100_000, 100_000], dtype=np.int64), "huge"))
    model.graph.node.append(helper.make_node("ConstantOfShape", ["huge"], ["zeros"], "/bomb/ConstantOfShape"))


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (_op("/stem/relu/Relu", "Elu"), "node '/stem/relu/Relu': Elu has no layer type"),
        (_op("/pool/MaxPool", "MaxPool", dilations=[2, 2]), "node '/pool/MaxPool': MaxPool with dilations [2, 2]"),
        (_cycle, "the graph has a cycle through node '/block/conv/Conv' (Conv)"),
        (_missing, "reads 'block.conv.weight', which no initializer, input or node provides (a missing initializer?)"),
        (_two_inputs, "the graph takes 2 inputs ('image', 'mask'): a spec takes one tensor"),
        (_outside, "points at external data outside the model's folder ('../../etc/passwd')"),
        (_huge, "node '/bomb/ConstantOfShape': ConstantOfShape making a constant of more than 16,777,216 elements"),
    ],
)
def test_what_no_spec_can_say_is_one_line_exit_2_nothing_written(cli, written, tmp_path, change, fragment):
    destination = tmp_path / "net.toml"
    result = cli("import", written(_with(hand_written(), change)), "--out", str(destination))
    assert result.exit_code == 2
    assert fragment in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not destination.exists() and not (tmp_path / "net.safetensors").exists()


def test_the_spec_and_its_weights_never_share_a_name(cli, written, tmp_path):
    result = cli("import", written(hand_written()), "--out", str(tmp_path / "net.safetensors"))
    assert result.exit_code == 2 and "--out names the spec, a .toml file" in result.output
    assert list(tmp_path.iterdir()) == [tmp_path / "hand.onnx"]


def test_every_gap_of_a_graph_is_named_in_one_run(cli, written):
    """A node no reader knows stands in with the shape the file declares for its output (exporters
    declare them), so that the nodes after it are read too."""
    model = _with(hand_written(), _op("/stem/relu/Relu", "Elu"))
    model = _with(model, _op("/block/act/Sigmoid", "Erf"))
    model.graph.value_info.append(helper.make_tensor_value_info("r1", TensorProto.FLOAT, ["batch", 8, 16, 16]))
    result = cli("import", written(model))
    assert result.exit_code == 2
    assert "2 nodes in 2 kinds have no spec form: " in result.output
    assert "Elu has no layer type x1 (node '/stem/relu/Relu')" in result.output
    assert "Erf has no layer type x1 (node '/block/act/Sigmoid')" in result.output


@pytest.mark.parametrize("kind", ["text", "truncated", "empty", "oversized"])
def test_files_that_are_no_onnx_model(cli, tmp_path, kind):
    path = tmp_path / "model.onnx"
    data = hand_written().SerializeToString()
    if kind == "text":
        path.write_text("name = 'resnet'\nlayers = []\n")
    elif kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        with open(path, "wb") as handle:  # sparse: 2 GiB of nothing, refused by its size before it is read
            handle.truncate(2048 << 20)
    result = cli("import", str(path), "--out", str(tmp_path / "net.toml"))
    assert result.exit_code == 2, result.output
    expected = "is more than the" if kind == "oversized" else "not an ONNX model"
    assert expected in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "net.toml").exists()


def imported_from_torchscript_export(cli, tmp_path, model, size: int):
    """``model`` as torch's TorchScript exporter writes it (dynamic batch, 3 x size x size), imported with
    `cnnscope import` (checked against onnxruntime), and the model's parameter count minus its batch
    norms' channels: that exporter folds each batch norm into the conv before it (its scale into the conv's
    weights, its shift into a new bias), so the file holds C parameters fewer per batch norm of C channels."""
    import warnings

    import torch

    path, destination = tmp_path / "model.onnx", tmp_path / "model.toml"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.randn(1, 3, size, size),),
            str(path),
            dynamo=False,
            input_names=["input"],
            dynamic_axes={"input": {0: "batch"}},
        )
    result = cli("import", str(path), "--out", str(destination))
    assert result.exit_code == 0 and "outputs equal to onnxruntime's on the file" in said(result), result.output
    folded = sum(m.num_features for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    return load(str(destination)), sum(p.numel() for p in model.parameters()) - folded


def test_a_torchvision_model_with_functional_calls_imports_with_onnxruntimes_outputs(cli, tmp_path):
    """ShuffleNet's forward calls torch.cat, x.chunk and a view/transpose/view channel shuffle: torch's
    TorchScript exporter writes them as Split, Concat and Reshape/Transpose/Reshape around shape arithmetic."""
    torch = pytest.importorskip("torch")
    models = pytest.importorskip("torchvision.models")
    torch.manual_seed(0)
    spec, params = imported_from_torchscript_export(cli, tmp_path, models.shufflenet_v2_x0_5().eval(), 32)
    kinds = {node.layer.type_name for node in spec.nodes}
    assert {"channel_shuffle", "slice", "concat", "mean"} <= kinds
    assert '{name = "stage3", block = "stage_2", repeat = 7, instance = "{index + 1}"}' in spec.source  # folded
    assert '{name = "mean", type = "mean"}' in spec.source  # x.mean([2, 3]) in the model's own forward
    assert analyze(spec).total.params == params


def test_a_timm_model_exported_by_torch_imports_with_onnxruntimes_outputs(cli, tmp_path):
    """timm's MobileNetV3 (BatchNormAct2d, squeeze-and-excitation gates, hard-swish): every operator read."""
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    model = timm.create_model("mobilenetv3_small_050", pretrained=False).eval()
    spec, params = imported_from_torchscript_export(cli, tmp_path, model, 64)
    assert {"hardswish", "hardsigmoid", "mul", "global_avgpool", "linear"} <= {n.layer.type_name for n in spec.nodes}
    assert analyze(spec).total.params == params


TOUR = """
name = "tour"
input = [3, 16, 16]
layers = [
  {name = "stem", type = "conv2d", out = 8, kernel = 3, padding = 1, bias = false},
  {name = "bn", type = "batchnorm", act = "relu"},
  {name = "pool", type = "maxpool", kernel = 2},
  {name = "stage", block = "res", repeat = 2},
  {name = "se.pool", type = "global_avgpool"},
  {name = "se.fc", type = "conv2d", out = 8, kernel = 1, act = "hardsigmoid"},
  {name = "se.mul", type = "mul", from = ["stage.1.add", "se.fc"]},
  {name = "up", type = "upsample", scale = 2, mode = "bilinear"},
  {name = "deconv", type = "conv_transpose2d", out = 8, kernel = 2, stride = 2, from = "se.mul"},
  {name = "cat", type = "concat", from = ["up", "deconv"]},
  {name = "shuffle", type = "channel_shuffle", groups = 2},
  {name = "first", type = "slice", stop = 8},
  {name = "act", type = "hardswish"},
  {name = "head.pool", type = "global_avgpool"},
  {name = "head.flatten", type = "flatten"},
  {name = "head.fc", type = "linear", out = 16, act = "silu"},
  {name = "head.drop", type = "dropout", p = 0.2},
  {name = "head.out", type = "linear", out = 5},
  {name = "head.softmax", type = "softmax"},
]

[blocks.res]
layers = [
  {name = "conv1", type = "conv2d", out = 8, kernel = 3, padding = 1, act = "relu6"},
  {name = "conv2", type = "conv2d", out = 8, kernel = 3, padding = 1, groups = 2},
  {name = "add", type = "add", from = ["conv2", "in"]},
  {name = "relu", type = "leaky_relu", slope = 0.1},
]
"""


IDENTITY_AT_INFERENCE = ("dropout", "stochastic_depth")  # an exporter leaves no node for them


def layer_table(spec) -> dict[str, tuple]:
    """What a round trip must keep: each layer's type and keys (as what they compute), act, inputs, shape,
    params, MACs and receptive field, by name; but for the layers that are the identity at inference."""
    reports = analyze(spec).layers
    passed = {r.name: r.node.inputs[0] for r in reports if r.type in IDENTITY_AT_INFERENCE}
    return {
        r.name: (
            _computed(r.node.layer),
            r.node.act,
            tuple(passed.get(source, source) for source in r.node.inputs),
            r.output_shape,
            r.cost,
            r.receptive,
        )
        for r in reports
        if r.type not in IDENTITY_AT_INFERENCE
    }


def _computed(layer) -> tuple:
    """A layer's keys as what they compute: a pool's stride equal to its kernel is the same, given or not."""
    values = {key.name: getattr(layer, key.name) for key in layer.keys}
    if "stride" in values and values["stride"] is None:
        values["stride"] = layer.steps
    return type(layer).__name__, values


@pytest.mark.xdist_group("torch-onnx-exporter")  # one worker warms the exporter (about 10 s) for all
def test_export_then_import_gives_back_the_same_layers(cli, tmp_path):
    """`cnnscope export` (torch's dynamo exporter, checked with onnxruntime at two batch sizes), then
    `cnnscope import` of that file (checked against onnxruntime again): the same layers, keys, shapes and totals."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    source = tmp_path / "tour.toml"
    source.write_text(TOUR)
    exported = tmp_path / "tour.onnx"
    result = cli("export", str(source), "--out", str(exported))
    assert result.exit_code == 0, result.output
    assert "any batch size; outputs equal to onnxruntime's" in said(result)
    model = onnx.load(str(exported))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # the batch axis is dynamic
    names = {node.name for node in model.graph.node}
    assert {"stem", "bn/Relu", "stage.0.conv1", "stage.1.add", "se.mul", "shuffle", "head.out"} <= names
    assert not any(p.key.endswith("stack_trace") for node in model.graph.node for p in node.metadata_props)
    back = tmp_path / "back.toml"
    result = cli("import", str(exported), "--out", str(back))
    assert result.exit_code == 0, result.output
    original, imported = load(str(source)), load(str(back))
    assert layer_table(imported) == layer_table(original)
    totals = [analyze(spec).total for spec in (imported, original)]
    assert [(t.params, t.macs, t.flops) for t in totals] == [(2557, 182_544, 397_415)] * 2
    assert json.loads(cli("inspect", str(back), "--json").stdout)["total"]["params"] == 2557


# zoo specs and a small input each takes: torch's exporter costs by the operator, not by the pixel
ROUND_TRIPS = {
    "resnet18": (3, 64, 64),
    "mobilenet_v3_large": (3, 64, 64),
    "efficientnet_b0": (3, 64, 64),
    "googlenet_tv": (3, 64, 64),
    "unet": (1, 188, 188),
}


@pytest.mark.xdist_group("torch-onnx-exporter")
@pytest.mark.parametrize("name", ROUND_TRIPS)
def test_zoo_specs_go_to_onnx_and_come_back_the_same(cli, tmp_path, name):
    """A zoo spec exported (checked with onnxruntime) and imported back (checked again): the same layers,
    keys, shapes, costs and receptive fields as the spec it came from; and at the zoo spec's own input
    size too, so nothing of the size it was exported at is frozen in (U-Net's crops follow their partner).
    With a static batch, which torch exports in about two thirds of the time (the tour above has a dynamic one)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    size = ROUND_TRIPS[name]
    exported, back = tmp_path / f"{name}.onnx", tmp_path / f"{name}.toml"
    result = cli("export", name, "--input", "x".join(map(str, size)), "--out", str(exported), "--static-batch")
    assert result.exit_code == 0 and "batch 1; outputs equal to onnxruntime's" in said(result), result.output
    dims = onnx.load(str(exported)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [1, *size]  # the batch and the sizes of --input, fixed
    result = cli("import", str(exported), "--out", str(back))
    assert result.exit_code == 0 and "outputs equal to onnxruntime's on the file" in said(result), result.output
    zoo, imported = load_target(name), load(str(back))
    assert imported.input.shape == size
    assert layer_table(imported) == layer_table(zoo.with_input(size))
    ours, theirs = (analyze(spec).total for spec in (imported, zoo.with_input(size)))
    assert (ours.params, ours.macs, ours.flops) == (theirs.params, theirs.macs, theirs.flops)
    assert layer_table(imported.with_input(zoo.input.shape)) == layer_table(zoo)


def test_export_mistakes_are_one_line_before_anything_is_exported(cli, tmp_path):
    """(A static batch itself is exported by the zoo round trips above.)"""
    pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    result = cli("export", "lenet5", "--out", str(tmp_path / "w.safetensors"), "--static-batch")
    assert result.exit_code == 2 and "--static-batch applies to an ONNX file" in result.output
    result = cli("export", "lenet5", "--out", str(tmp_path / "no" / "such" / "x.onnx"))
    assert result.exit_code == 2 and "the folder does not exist" in result.output
    assert not os.path.exists(tmp_path / "w.safetensors")


IMAGE_TO_IMAGE = """
name = "image_to_image"
input = [3, 16, 16]
layers = [
  {name = "pad", type = "pad", before = 2, after = 1, mode = "reflect"},
  {name = "conv", type = "conv2d", out = 4, kernel = 3},
  {name = "norm", type = "instancenorm", act = "relu"},
  {name = "edge", type = "pad", before = 1, after = 1, mode = "replicate"},
  {name = "conv2", type = "conv2d", out = 4, kernel = 3},
  {name = "norm2", type = "instancenorm", affine = true},
  {name = "diff", type = "sub", from = ["norm2", "norm"]},
  {name = "shift", type = "sub", by = 0.5},
  {name = "drop", type = "dropout", p = 0.1, channels = true},
  {name = "probs", type = "log_softmax"},
]
"""


def exported_and_back(cli, tmp_path, text: str):
    """The spec ``text``, and what `cnnscope import` reads from its `cnnscope export` (each step checked with
    onnxruntime)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    source, exported, back = tmp_path / "net.toml", tmp_path / "net.onnx", tmp_path / "back.toml"
    source.write_text(text)
    result = cli("export", str(source), "--out", str(exported), "--static-batch")
    assert result.exit_code == 0 and "outputs equal to onnxruntime's" in said(result), result.output
    result = cli("import", str(exported), "--out", str(back))
    assert result.exit_code == 0 and "outputs equal to onnxruntime's on the file" in said(result), result.output
    return load(str(source)), load(str(back))


@pytest.mark.xdist_group("torch-onnx-exporter")
def test_this_stops_layer_forms_go_to_onnx_and_come_back(cli, tmp_path):
    """Pads of the input's own values, instance norm with and without a scale and shift, subtraction,
    channel dropout and log-softmax: exported (checked with onnxruntime), imported back (checked again)."""
    source, back = exported_and_back(cli, tmp_path, IMAGE_TO_IMAGE)
    imported, original = layer_table(back), layer_table(source)
    # a scale of ones and a shift of zeros (norm2's, as initialised) compute no scale and shift: ONNX always
    # holds both, so they are read by their values, as affine = false
    assert imported.pop("norm2")[0] == ("InstanceNorm", {"affine": False, "eps": 1e-5})
    assert original.pop("norm2")[0] == ("InstanceNorm", {"affine": True, "eps": 1e-5})
    assert imported == original


PRODUCTS = """
name = "products"
input = [4, 6, 5]
layers = [
  {name = "logits", type = "conv2d", out = 1, kernel = 1},
  {name = "flat", type = "reshape", shape = [1, -1]},
  {name = "weights", type = "softmax", axis = 1},
  {name = "column", type = "reshape", shape = ["axis 0", "axis 1", 1]},
  {name = "rows", type = "reshape", from = "in", shape = [1, "axis 0", -1]},
  {name = "pooled", type = "matmul", from = ["rows", "column"]},
  {name = "tokens", type = "reshape", from = "in", shape = [2, 2, -1]},
  {name = "seq", type = "permute", dims = [0, 2, 1]},
  {name = "att", type = "attention", from = ["seq", "seq", "seq"]},
]
outputs = ["pooled", "att"]
"""


@pytest.mark.xdist_group("torch-onnx-exporter")
def test_products_of_two_tensors_go_to_onnx_and_come_back(cli, tmp_path):
    """A matrix product of two tensors is ONNX's MatMul of two tensors, read back as `matmul`; attention goes out
    as its parts (MatMul, Mul, Softmax, MatMul) and comes back as them, checked with onnxruntime both ways."""
    source, back = exported_and_back(cli, tmp_path, PRODUCTS)
    types = [node.layer.type_name for node in back.nodes]
    assert types.count("matmul") == 3 and "softmax" in types
    assert analyze(back).total.macs == analyze(source).total.macs
