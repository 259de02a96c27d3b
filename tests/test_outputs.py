"""Models with several outputs (``outputs``): the language, the static engine, check/expect, the JSON
documents, the built torch model (a tuple or a dict, as torchvision's segmentation models return),
the commands that need one output, and the TUI."""

from __future__ import annotations

import json
import re

import pytest

from cnnscope.analysis import analyze, unmet_expectations
from cnnscope.errors import SpecError
from cnnscope.spec import parse
from tests.test_json_contract import valid

# A small encoder with an auxiliary head, as GoogLeNet's and segmentation models' are.
# Shapes and parameters by hand:
#   conv1 3->8, 3x3, pad 1: 8x16x16, 8*3*3*3 + 8 = 224 params
#   pool1 max 2x2: 8x8x8
#   conv2 8->16, 3x3, pad 1: 16x8x8, 16*8*3*3 + 16 = 1,168
#   pool2 (global average) then flat: 16; head 16 -> 10: 16*10 + 10 = 170
#   aux: global average of pool1 (8x8x8) -> 8, then aux_fc 8 -> 4: 8*4 + 4 = 36
# total 224 + 1,168 + 170 + 36 = 1,598 params
TWO = """
name = "aux_encoder"
input = [3, 16, 16]
outputs = {out = "head", aux = "aux_fc"}
layers = [
  {name = "conv1", type = "conv2d", out = 8, kernel = 3, padding = 1, act = "relu"},
  {name = "pool1", type = "maxpool", kernel = 2},
  {name = "conv2", type = "conv2d", out = 16, kernel = 3, padding = 1, act = "relu"},
  {name = "pool2", type = "mean"},
  {name = "head", type = "linear", out = 10},
  {name = "aux_pool", type = "mean", from = "pool1"},
  {name = "aux_fc", type = "linear", out = 4},
]
"""


def two(extra: str = "", outputs: str = '{out = "head", aux = "aux_fc"}') -> str:
    return TWO.replace('{out = "head", aux = "aux_fc"}', outputs) + extra


def write(tmp_path, text: str, name: str = "spec.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# --- the language and the static engine ---------------------------------------------------------


def test_a_dict_of_outputs_by_hand():
    analysis = analyze(parse(TWO))
    assert [(o.key, o.layer, o.shape) for o in analysis.outputs] == [("out", "head", (10,)), ("aux", "aux_fc", (4,))]
    assert analysis.output_shape == (10,)  # the first output: what one-output readers see
    assert analysis.total.params == 224 + 1_168 + 170 + 36
    assert analysis.spec.returns.kind == "dict" and analysis.spec.returns.several


def test_without_outputs_the_last_layer_is_the_output():
    spec = parse(TWO.replace('outputs = {out = "head", aux = "aux_fc"}\n', ""))
    assert spec.outputs is None and spec.returns.kind == "tensor" and spec.returns.layers == ("aux_fc",)
    assert [(o.key, o.layer) for o in analyze(spec).outputs] == [(None, "aux_fc")]


def test_a_tuple_a_tensor_and_a_block_named_as_an_output():
    spec = parse(two(outputs='["aux_fc", "head", "head"]'))
    assert spec.returns.kind == "tuple" and spec.returns.items() == [(0, "aux_fc"), (1, "head"), (2, "head")]
    assert parse(two(outputs='"head"')).returns.items() == [(None, "head")]  # one tensor, not the last layer
    blocks = parse(
        'input = [4, 8, 8]\noutputs = ["stage1", "stage2"]\n'
        'layers = [{name = "stage1", block = "b"}, {name = "stage2", block = "b"}]\n'
        '[blocks.b]\nlayers = [{name = "conv", type = "conv2d", out = 4, kernel = 3, padding = 1}, {type = "relu"}]\n'
    )
    assert blocks.returns.layers == ("stage1.1", "stage2.1")  # a block's output is its last layer's


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ('["head", "haed"]', "outputs[1] names 'haed', which is not a layer (did you mean 'head'?)"),
        ("[]", "outputs must be a layer name, a list of them"),
        ("{}", "outputs must be a layer name, a list of them"),
        ("[1]", "outputs[0] must be a layer name"),
        ('["in"]', "names 'in', which is not a layer"),
        ('{"a\\u0007b" = "head"}', "not a usable output key"),
        ('{"a\\nb" = "head"}', "not a usable output key"),
        ('{"" = "head"}', "not a usable output key"),
    ],
)
def test_outputs_that_cannot_be(outputs, message):
    with pytest.raises(SpecError) as caught:
        parse(two(outputs=outputs), path="m.toml")
    assert message in str(caught.value) and caught.value.line == 4


def test_expect_output_follows_the_form_of_outputs():
    holds = parse(two("[expect]\noutput = {out = [10], aux = [4]}\n"))
    assert unmet_expectations(analyze(holds)) == []
    wrong = parse(two("[expect]\noutput = {aux = [5]}\n"))  # a table may vouch for some of the outputs
    assert [(m.what, m.expected, m.actual) for m in unmet_expectations(analyze(wrong))] == [("output 'aux'", "5", "4")]
    as_tuple = parse(two("[expect]\noutput = [[4], [10]]\n", outputs='["aux_fc", "head"]'))
    assert unmet_expectations(analyze(as_tuple)) == []
    for extra, outputs, message in [
        ("output = [10]", None, "returns a dict of 2 outputs: expect.output must be a table of shapes"),
        (
            "output = {ouf = [10]}",
            None,
            "expect.output has the key 'ouf', which 'outputs' does not (did you mean 'out'?)",
        ),
        ("output = [[4]]", '["aux_fc", "head"]', "a tuple of 2 outputs, expect.output lists 1"),
        ("output = {out = [10]}", '"head"', "the model returns one tensor: expect.output must be one shape"),
    ]:
        with pytest.raises(SpecError, match=re.escape(message)):
            parse(two(f"[expect]\n{extra}\n", **({"outputs": outputs} if outputs else {})))


def test_check_reports_an_output_that_is_not_as_expected(cli, tmp_path):
    path = write(tmp_path, two("[expect]\nparams = 1598\noutput = {out = [10], aux = [5]}\n"))
    result = cli("check", path)
    assert result.exit_code == 1 and "output 'aux': expected 5, got 4" in result.output
    data = json.loads(cli("check", path, "--json").stdout)
    valid("check", data)
    assert data["files"][0]["expectations"]["mismatches"] == [
        {"code": "CS006", "what": "output 'aux'", "expected": "5", "actual": "4"}
    ]


def test_inspect_marks_the_outputs_and_keeps_the_totals(cli, tmp_path):
    path = write(tmp_path, TWO)
    result = cli("inspect", path)
    assert result.exit_code == 0
    text = result.output
    assert "head → 'out'" in text and "aux_fc → 'aux'" in text and "2 outputs" in text
    assert "returns a dict of 2: 'out' = head (10), 'aux' = aux_fc (4)" in text and "1,598" in text
    data = json.loads(cli("inspect", path, "--json").stdout)
    valid("inspect", data)
    assert data["returns"] == "dict" and data["output_shape"] == [10]
    assert data["outputs"] == [
        {"key": "out", "layer": "head", "shape": [10]},
        {"key": "aux", "layer": "aux_fc", "shape": [4]},
    ]
    explained = cli("inspect", path, "--explain", "aux_fc")
    assert "the model returns it: output 'aux' of 2" in explained.output
    compared = cli("compare", path, "lenet5")
    assert "'out' 10, 'aux' 4" in compared.output


def test_a_one_output_spec_keeps_its_table_and_says_its_output_in_json(cli):
    data = json.loads(cli("inspect", "lenet5", "--json").stdout)
    assert data["returns"] == "tensor" and data["outputs"] == [{"key": None, "layer": "output", "shape": [10]}]
    assert "→" not in cli("inspect", "lenet5").output and "returns" not in cli("inspect", "lenet5").output


# --- the torch model -----------------------------------------------------------------------------

torch = pytest.importorskip("torch")
nn = torch.nn

from cnnscope.runtime.build import build  # noqa: E402


class TwoHeads(nn.Module):
    """A segmentation-style model in plain torch: a dict of the main and the auxiliary head."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU()
        )
        self.classifier = nn.Conv2d(16, 5, 1)
        self.aux_classifier = nn.Conv2d(8, 5, 1)

    def forward(self, x):
        early = self.backbone[1](self.backbone[0](x))
        late = self.backbone[3](self.backbone[2](early))
        return {"out": self.classifier(late), "aux": self.aux_classifier(early)}


TWO_HEADS = """
input = [3, 16, 16]
outputs = {out = "classifier", aux = "aux_classifier"}
layers = [
  {name = "backbone.0", type = "conv2d", out = 8, kernel = 3, padding = 1},
  {name = "backbone.1", type = "relu"},
  {name = "backbone.2", type = "conv2d", out = 16, kernel = 3, stride = 2, padding = 1},
  {name = "backbone.3", type = "relu"},
  {name = "classifier", type = "conv2d", out = 5, kernel = 1},
  {name = "aux_classifier", type = "conv2d", out = 5, kernel = 1, from = "backbone.1"},
]
"""


def test_a_spec_equals_a_torch_model_that_returns_a_dict():
    torch.manual_seed(0)
    reference = TwoHeads().eval()
    model = build(parse(TWO_HEADS)).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        expected, generated, looped = reference(x), model(x), model.forward_steps(x)
    assert list(generated) == list(looped) == ["out", "aux"]
    for key in expected:
        assert torch.equal(generated[key], expected[key]) and torch.equal(looped[key], expected[key])
    assert generated["out"].shape == (2, 5, 8, 8) and generated["aux"].shape == (2, 5, 16, 16)


def test_an_output_read_by_one_later_layer_is_not_overwritten_in_place():
    # 'conv' is a fresh tensor that only the relu layer reads: without outputs the relu may overwrite it
    # (as torchvision's ReLU(inplace=True)); returned, it must keep its negative values
    spec = parse(
        'input = [2, 6, 6]\noutputs = ["conv", "relu"]\n'
        'layers = [{name = "conv", type = "conv2d", out = 3, kernel = 3}, {name = "relu", type = "relu"}]\n'
    )
    torch.manual_seed(0)
    model = build(spec).eval()
    x = torch.randn(1, 2, 6, 6)
    with torch.no_grad():
        conv, relu = model(x)
        expected = model.get_submodule("conv")(x)
    assert torch.equal(conv, expected) and (conv < 0).any() and torch.equal(relu, expected.clamp_min(0))
    assert "return (x, x1)" in model.forward_source or "return (x1, x)" in model.forward_source


def test_dict_keys_never_reach_the_compiled_code():
    hostile = "__import__('os').system('echo owned')"
    spec = parse(two(outputs=f'{{"{hostile}" = "head", aux = "aux_fc"}}'))
    model = build(spec).eval()
    assert "__import__" not in model._generated.code and "__import__" not in model.forward_source
    with torch.no_grad():
        returned = model(torch.randn(1, 3, 16, 16))
    assert list(returned) == [hostile, "aux"]


def test_build_and_verify_check_every_output(cli, tmp_path):
    path = write(tmp_path, TWO)
    built = cli("build", path, "--device", "cpu")
    assert built.exit_code == 0, built.output
    assert (
        "output 'out' (head) 10 per sample  ok" in built.output
        and "output 'aux' (aux_fc) 4 per sample  ok" in built.output
    )
    data = json.loads(cli("build", path, "--device", "cpu", "--json").stdout)
    valid("build", data)
    assert data["ok"] and [(o["key"], o["runtime"], o["ok"]) for o in data["outputs"]] == [
        ("out", [10], True),
        ("aux", [4], True),
    ]
    verified = cli("verify", path, "--device", "cpu")
    assert verified.exit_code == 0 and "outputs 2 returned ('out' 10, 'aux' 4), as the spec says" in verified.output
    data = json.loads(cli("verify", path, "--device", "cpu", "--json").stdout)
    valid("verify", data)
    assert data["ok"] and [o["runtime"] for o in data["outputs"]] == [[10], [4]]


def test_output_tensors_refuses_a_return_value_of_another_form():
    from cnnscope.runtime.build import output_tensors

    spec = parse(TWO)
    tensor = torch.zeros(1)
    assert output_tensors(spec, {"out": tensor, "aux": tensor}) == [tensor, tensor]
    with pytest.raises(ValueError, match=r"returned a tuple of 2, the spec says a dict with keys \['out', 'aux'\]"):
        output_tensors(spec, (tensor, tensor))


def test_run_reads_the_first_output_and_train_refuses(cli, tmp_path):
    from PIL import Image

    path = write(tmp_path, TWO)
    image = tmp_path / "x.png"
    Image.new("RGB", (16, 16), (200, 30, 30)).save(image)
    result = cli("run", path, "--image", str(image), "--device", "cpu", "--no-preview")
    assert result.exit_code == 0, result.output
    assert "2 outputs: run reads the first, 'out' (head)" in result.output
    data = json.loads(cli("run", path, "--image", str(image), "--device", "cpu", "--json").stdout)
    valid("run", data)
    assert data["output"] == {"key": "out", "layer": "head"} and len(data["predictions"]) == 5
    assert data["output_shape"] == [10]
    trained = cli("train", path, "--steps", "1")
    assert trained.exit_code == 2 and "returns 2 outputs: train fits one output to the digits" in trained.output


# --- the TUI -------------------------------------------------------------------------------------


async def test_the_tui_shows_every_output(tmp_path):
    from cnnscope.tui.app import CnnscopeApp
    from cnnscope.tui.widgets.layer_table import LayerTable
    from cnnscope.tui.widgets.outline import GraphOutline

    app = CnnscopeApp(write(tmp_path, TWO))
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.pause()
        title = str(app.screen.query_one("#title").content)
        assert "-> 2 outputs | params 1,598 |" in title and title.endswith("| outputs 'out' 10, 'aux' 4")
        table = app.screen.query_one(LayerTable)
        assert str(table.get_row("head")[0]) == "head → 'out'" and str(table.get_row("conv1")[0]) == "conv1"
        outline = app.screen.query_one(GraphOutline)
        labels = [str(node.label) for node in outline.root.children]
        assert any("aux_fc" in label and "→ 'aux'" in label for label in labels)
