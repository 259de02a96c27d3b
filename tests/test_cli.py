"""The commands as a user or a script calls them."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys

from tests.conftest import ROOT, inspect_json

ZOO = [
    "lenet5",
    "alexnet",
    "alexnet_tv",
    "vgg16",
    "vgg19",
    "googlenet",
    "googlenet_tv",
    "resnet18",
    "resnet50",
    "resnet152",
    "yolov1",
    "kim_cnn",
    "autoencoder",
    "chain_1x1",
    "chain_4x4",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "convnext_tiny",
    "shufflenet_v2_x1_0",
    "regnet_x_400mf",
    "densenet121",
    "unet",
    "dcgan_generator",
    "conv_autoencoder",
    "r3d_18",
    "r2plus1d_18",
]


def test_json_contract(cli):
    data = inspect_json(cli, "resnet50")
    assert {"name", "input_shape", "layers", "total", "schema", "output_shape", "warnings"} <= data.keys()
    assert data["name"] == "resnet50" and data["input_shape"] == [3, 224, 224]
    assert {"params", "trainable_params", "macs", "flops"} <= data["total"].keys()
    names = [layer["name"] for layer in data["layers"]]
    assert len(names) == len(set(names))
    seen = {"input"}
    for layer in data["layers"]:
        assert {"name", "type", "output_shape", "params", "macs"} <= layer.keys()
        assert set(layer["inputs"]) <= seen  # execution order
        seen.add(layer["name"])
    assert "layer2.0.downsample.0" in names
    assert sum(layer["params"] for layer in data["layers"]) == data["total"]["params"] == 25_557_032
    assert sum(layer["macs"] for layer in data["layers"]) == data["total"]["macs"]


def test_json_receptive_fields_and_warnings(cli):
    data = inspect_json(cli, "alexnet")
    conv1 = data["layers"][0]
    assert conv1["receptive_field"] == [11, 11] and conv1["jump"] == [4, 4]
    assert data["layers"][-1]["receptive_field"] == "all"
    assert inspect_json(cli, "resnet18")["warnings"][0]["layer"] == "conv1"


def test_input_override_changes_every_shape(cli):
    data = inspect_json(cli, "alexnet_tv", "--input", "448")
    shapes = {layer["name"]: layer["output_shape"] for layer in data["layers"]}
    assert data["input_shape"] == [3, 448, 448]
    assert shapes["features.0"] == [64, (448 - 11 + 2 * 2) // 4 + 1, (448 - 11 + 2 * 2) // 4 + 1]
    assert shapes["avgpool"] == [256, 6, 6]  # adaptive: same classifier at any size
    assert data["total"]["params"] == 61_100_840
    assert inspect_json(cli, "kim_cnn", "--input", "20")["layers"][0]["output_shape"] == [300, 20]


def test_csv_and_markdown(cli):
    result = cli("inspect", "alexnet", "--csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0]["layer"] == "conv1" and rows[0]["output"] == "96x55x55" and rows[0]["params"] == "34944"
    markdown = cli("inspect", "alexnet", "--markdown").stdout
    assert markdown.startswith("| layer | type |") and "**62,378,344**" in markdown


def test_depth_folds_blocks(cli):
    rows = list(csv.DictReader(io.StringIO(cli("inspect", "resnet50", "--csv", "--depth", "1").stdout)))
    assert [r["layer"] for r in rows] == [
        "conv1",
        "bn1",
        "relu",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
        "flatten",
        "fc",
    ]
    assert sum(int(r["params"]) for r in rows) == 25_557_032
    assert rows[4]["type"] == "bottleneck x3" and rows[4]["output"] == "256x56x56"
    deeper = list(csv.DictReader(io.StringIO(cli("inspect", "resnet50", "--csv", "--depth", "2").stdout)))
    assert [r["layer"] for r in deeper][4:7] == ["layer1.0", "layer1.1", "layer1.2"]


def test_table_for_people(cli):
    result = cli("inspect", "alexnet")
    assert result.exit_code == 0
    assert "conv1" in result.stdout and "96x55x55" in result.stdout and "62,378,344" in result.stdout


def test_explain_shows_the_arithmetic(cli):
    result = cli("inspect", "alexnet", "--explain", "conv1")
    assert result.exit_code == 0
    text = result.stdout
    assert "O = (227 - 11 + 2*0)/4 + 1 = 54 + 1 = 55" in text
    assert "params = 96 * (3*11*11) + 96 = 34,944" in text
    assert f"MACs = 96*55*55 outputs * 363 taps = {96 * 55 * 55 * 363:,}" in text
    floor = cli("inspect", "resnet50", "--explain", "layer2.0.conv2").stdout
    assert "O = floor((56 - 3 + 2*1)/2) + 1 = floor(27.5) + 1 = 28" in floor


def test_compare_prints_the_lecture_speedup(cli):
    result = cli("compare", "chain_4x4", "chain_1x1")
    assert result.exit_code == 0 and "3.76x" in result.stdout
    data = json.loads(cli("compare", "chain_4x4", "chain_1x1", "--json").stdout)
    assert round(data["metrics"]["macs"]["ratio"], 2) == 3.76


def test_list_names_the_zoo(cli):
    entries = json.loads(cli("list", "--json").stdout)
    assert sorted(e["name"] for e in entries) == sorted(ZOO)
    by_name = {e["name"]: e for e in entries}
    assert by_name["resnet152"]["params"] == 60_192_808 and by_name["yolov1"]["output_shape"] == [7, 7, 30]
    assert all(e["paper"] for e in entries)


def test_check_exit_codes(cli, tmp_path):
    assert cli("check").exit_code == 0
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(
        "input = [3, 8, 8]\nlayers = [{name = 'c', type = 'conv2d', out = 4, kernel = 3}]\n"
        "[expect]\nparams = 100\nshapes = {c = [4, 8, 8]}\n"
    )
    result = cli("check", str(wrong))
    assert result.exit_code == 1
    assert "params: expected 100, got 112" in result.stdout and "shape of c: expected 4x8x8, got 4x6x6" in result.stdout
    broken = tmp_path / "broken.toml"
    broken.write_text("input = [3, 8, 8]\nlayers = [{type = 'conv2d'}]\n")
    assert cli("check", str(wrong), str(broken), "alexnet").exit_code == 2


def test_readme_spec_example_holds(cli, tmp_path):
    example = re.search(r"```toml\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    spec = tmp_path / "tiny.toml"
    spec.write_text(example)
    result = cli("check", str(spec))
    assert result.exit_code == 0, result.output


def test_types_lists_every_layer_type(cli):
    text = cli("types").stdout
    for name in (
        "conv2d",
        "conv1d",
        "maxpool",
        "avgpool",
        "global_avgpool",
        "adaptive_avgpool",
        "relu",
        "tanh",
        "sigmoid",
        "leaky_relu",
        "softmax",
        "lrn",
        "batchnorm",
        "dropout",
        "flatten",
        "reshape",
        "linear",
        "embedding",
        "max_over_time",
        "concat",
        "add",
    ):
        assert f"\n{name}  " in "\n" + text


def test_static_analysis_never_imports_torch():
    code = (
        "import sys\n"
        "from cnnscope.cli import app\n"
        "from cnnscope.zoo import load_target\n"
        "from cnnscope.analysis import analyze\n"
        "analyze(load_target('resnet152'))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_python_dash_m_and_help():
    proc = subprocess.run([sys.executable, "-m", "cnnscope", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0
    for command in ("inspect", "list", "compare", "check", "types"):
        assert command in proc.stdout
