"""The --json contract: every document validates against the JSON Schema shipped in the package."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from cnnscope.peers import PEERS
from cnnscope.report.documents import SCHEMA, schema_of
from tests.conftest import ROOT

SCHEMAS = sorted(path.stem for path in (ROOT / "cnnscope" / "schemas").glob("*.json"))


def valid(document: str, data: object) -> None:
    schema = schema_of(document)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)


def json_of(cli, *args: str, code: int = 0) -> object:
    result = cli(*args, "--json")
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def test_every_schema_is_a_valid_schema_and_documented():
    assert {"inspect", "peer_count", "list", "compare", "check", "types", "verify", "build", "run"} <= set(SCHEMAS)
    docs = (ROOT / "docs" / "json.md").read_text()
    for name in SCHEMAS:
        jsonschema.Draft202012Validator.check_schema(schema_of(name))
        assert f"cnnscope/schemas/{name}.json" in docs


@pytest.mark.parametrize("model", ["alexnet", "resnet50", "unet", "kim_cnn", "dcgan_generator"])
def test_inspect(cli, model):
    data = json_of(cli, "inspect", model)
    valid("inspect", data)
    assert data["schema"] == SCHEMA


def test_peer_counts_list_compare_types(cli):
    for peer in PEERS:
        valid("peer_count", json_of(cli, "inspect", "alexnet", "--count-as", peer))
    valid("list", json_of(cli, "list"))
    valid("compare", json_of(cli, "compare", "chain_4x4", "chain_1x1"))
    types = json_of(cli, "types")
    valid("types", types)
    assert {"conv2d", "linear", "add"} <= {t["name"] for t in types["types"]}


def test_a_schema_rejects_what_it_does_not_describe(cli):
    data = json_of(cli, "compare", "chain_4x4", "chain_1x1")
    data["metrics"]["macs"]["ratio"] = "3.76"
    with pytest.raises(jsonschema.ValidationError):
        valid("compare", data)


def test_check(cli, tmp_path: Path):
    (tmp_path / "ok.toml").write_text(
        "input = [1, 8, 8]\nlayers = [{name = 'c', type = 'conv2d', out = 2, kernel = 3}]\n[expect]\nparams = 20\n"
    )
    (tmp_path / "wrong.toml").write_text(
        "input = [1, 8, 8]\nlayers = [{name = 'c', type = 'conv2d', out = 2, kernel = 3}]\n[expect]\nparams = 21\n"
    )
    (tmp_path / "warns.toml").write_text(
        "input = [1, 8, 8]\nlayers = [{name = 'c', type = 'conv2d', out = 2, kernel = 3}, {name = 'fc', type = 'linear', out = 3}]\n"
    )
    (tmp_path / "broken.toml").write_text("input = [1, 8, 8]\nlayers = [{type = 'conv2e'}]\n")
    data = json_of(cli, "check", str(tmp_path), code=2)
    valid("check", data)
    by_name = {Path(entry["path"]).name: entry for entry in data["files"]}
    assert by_name["ok.toml"]["valid"] and by_name["ok.toml"]["expectations"] == {
        "checked": True,
        "hold": True,
        "mismatches": [],
    }  # 2 * 1*3*3 + 2 = 20, by hand
    assert by_name["wrong.toml"]["expectations"]["mismatches"] == [
        {"code": "CS006", "what": "params", "expected": "21", "actual": "20"}
    ]
    assert by_name["warns.toml"]["warnings"][0]["layer"] == "fc" and by_name["warns.toml"]["warnings"][0]["line"] == 2
    assert not by_name["broken.toml"]["valid"] and "conv2e" in by_name["broken.toml"]["errors"][0]["message"]
    assert data["exit_code"] == 2


def test_verify_build_run(cli, tmp_path: Path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setenv("CNNSCOPE_HOME", str(tmp_path / "home"))  # no trained checkpoint: random weights
    from PIL import Image

    verified = json_of(cli, "verify", "lenet5", "--device", "cpu")
    valid("verify", verified)
    assert verified["ok"] and [layer["name"] for layer in verified["layers"]][-1] == "output"
    assert verified["params"]["static"] == verified["params"]["runtime"] == 61_706
    built = json_of(cli, "build", "lenet5", "--device", "cpu")
    valid("build", built)
    assert built["output_shape"]["runtime"] == [10] and built["ok"]
    image = tmp_path / "digit.png"
    Image.new("L", (28, 28), 0).save(image)
    ran = json_of(cli, "run", "lenet5", "--image", str(image), "--top", "3", "--device", "cpu")
    valid("run", ran)
    assert len(ran["predictions"]) == 3 and ran["weights"] is None and ran["cam"] is None
    mapped = json_of(cli, "run", "lenet5", "--image", str(image), "--cam", "--cam-class", "4", "--cam-layer", "c3")
    valid("run", mapped)
    assert mapped["cam"]["class"] == {"index": 4, "label": "4"} and mapped["cam"]["layer"] == "c3"
    assert mapped["cam"]["method"] == "gradcam" and mapped["cam"]["hidden_share"] == 0.15
    hottest, probability = mapped["cam"]["hottest_hidden"], mapped["cam"]["probability"]
    assert mapped["cam"]["flagged"] == (hottest > 0.75 * probability)
    assert sum(p["probability"] for p in ran["predictions"]) <= 1 + 1e-6
