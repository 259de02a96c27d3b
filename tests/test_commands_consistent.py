"""The commands agree with each other: help on every option, TARGET in usage, one --device default."""

from __future__ import annotations

import csv
import io
import re

import typer

from cnnscope.cli import app
from tests.conftest import inspect_json


def commands() -> dict:
    """Command name -> the click command typer builds (typer 0.2x vendors click: duck-typed here)."""
    return dict(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def options(command) -> dict:
    return {param.name: param for param in command.params if param.param_type_name == "option"}


def test_every_option_and_argument_has_help_and_usage_shows_names(cli):
    for name, command in commands().items():
        for param in command.params:
            assert getattr(param, "help", None), f"{name} {param.opts[0]} has no help text"
        usage = next(line for line in cli(name, "--help").stdout.splitlines() if "Usage:" in line)
        assert "{" not in usage, usage


def test_one_device_default_and_dtype_wherever_a_model_runs():
    defaults = {}
    for name, command in commands().items():
        given = options(command)
        if "device" in given:
            defaults[name] = given["device"].default
            assert "dtype" in given, f"{name} runs a model on --device but has no --dtype"
    assert {"build", "verify", "run"} <= defaults.keys()
    assert set(defaults.values()) == {"auto"}


def test_every_save_takes_a_folder():
    for name, command in commands().items():
        for param in options(command).values():
            if "--save" in param.opts:
                assert "folder" in (param.help or "").lower(), f"{name} --save: {param.help}"


def test_pool_demo_names_its_window_as_the_layers_do(cli):
    assert cli("pool", "--kernel", "2").exit_code == 0
    assert cli("pool", "--size", "2").exit_code == 2


def test_explain_a_block_row_of_depth(cli):
    layers = inspect_json(cli, "resnet18")["layers"]
    inside = [layer for layer in layers if layer["name"].startswith("layer1.")]
    result = cli("inspect", "resnet18", "--explain", "layer1")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert f"layer1: basic x2, {len(inside)} layers" in text
    assert f"= {sum(layer['params'] for layer in inside):,}\n" in text
    assert f"MACs = sum over its layers = {sum(layer['macs'] for layer in inside):,}" in text
    assert "input 64x56x56 -> output 64x56x56" in text
    row = next(
        r
        for r in csv.DictReader(io.StringIO(cli("inspect", "resnet18", "--csv", "--depth", "1").stdout))
        if r["layer"] == "layer1"
    )
    assert f"= {int(row['params']):,}\n" in text  # the same totals as the --depth row
    one = cli("inspect", "resnet18", "--explain", "layer2.0").stdout
    assert "input 64x56x56 -> output 128x28x28" in one
    missing = cli("inspect", "resnet18", "--explain", "layr1")
    assert missing.exit_code == 2 and "did you mean 'layer1'?" in missing.output


def test_a_new_input_size_that_changes_params_says_so(cli):
    # LeNet-5 at 224: c5 (5x5) leaves 120 x 49 x 49 (224 -> 220 -> 110 -> 106 -> 53 -> 49), flattened into f6
    fc_in = 120 * 49 * 49
    params = 61_706 - (120 * 84 + 84) + (fc_in * 84 + 84)
    text = cli("inspect", "lenet5", "--input", "224").stdout.replace("\n", " ")
    assert f"params change from 61,706 to {params:,}" in text and "(channels kept)" in text and "f6" in text
    assert "note:" not in cli("inspect", "alexnet_tv", "--input", "448").stdout  # adaptive pooling: same params


def test_load_takes_zoo_names_as_build_does(tmp_path, monkeypatch):
    import cnnscope
    from tests.conftest import SPECS

    monkeypatch.chdir(tmp_path)  # outside a checkout: no specs/ folder here
    by_name, by_path = cnnscope.load("resnet50"), cnnscope.load(SPECS / "resnet50.toml")
    assert by_name.name == "resnet50" and [n.name for n in by_name.nodes] == [n.name for n in by_path.nodes]


def test_train_without_a_terminal_prints_plain_progress_lines(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNSCOPE_HOME", str(tmp_path))
    result = cli("train", "lenet5", "--epochs", "1", "--steps", "2")
    assert result.exit_code == 0, result.output
    assert re.search(r"^epoch 1: loss \d+\.\d{4}, held-out accuracy \d+\.\d\d%$", result.stderr, re.M)


def test_run_without_a_terminal_skips_the_half_block_preview(cli, tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setenv("CNNSCOPE_HOME", str(tmp_path))
    Image.new("L", (28, 28)).save(tmp_path / "digit.png")
    plain = cli("run", "lenet5", "--image", str(tmp_path / "digit.png"), "--device", "cpu")
    assert plain.exit_code == 0 and "top-5" in plain.stdout and "▀" not in plain.stdout
    drawn = cli("run", "lenet5", "--image", str(tmp_path / "digit.png"), "--device", "cpu", "--preview")
    assert drawn.exit_code == 0 and "▀" in drawn.stdout
