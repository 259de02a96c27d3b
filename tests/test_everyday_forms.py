"""The smaller forms people type first: each says what is wrong in the user's own terms."""

from __future__ import annotations

from pathlib import Path

import cnnscope
from cnnscope.analysis import analyze
from cnnscope.zoo import load_target
from tests.conftest import ROOT, SPECS


def test_an_unknown_variable_is_named(cli, tmp_path: Path):
    spec = tmp_path / "vars.toml"
    spec.write_text('input = [1, 8, 8]\nvars = {w = 32}\nlayers = [{type = "conv2d", out = "width", kernel = 3}]\n')
    result = cli("check", str(spec))
    assert result.exit_code == 2
    assert (
        "out = \"width\": expected a whole number, and there is no variable 'width'"
        " (the names an expression can use here: w, in_channels)" in result.stderr
    )
    spec.write_text('input = [1, 8, 8]\nvars = {width = 32}\nlayers = [{type = "conv2d", out = "widht", kernel = 3}]\n')
    assert "there is no variable 'widht' (did you mean 'width'?)" in cli("check", str(spec)).stderr
    spec.write_text('input = [1, 8, 8]\nlayers = [{type = "conv2d", out = 4, kernel = 3, padding = "sme"}]\n')
    assert (
        'padding = "sme": expected a number, one number per axis, "same" or "valid"' in cli("check", str(spec)).stderr
    )


def test_a_letter_typed_twice_gets_a_did_you_mean(cli, tmp_path: Path):
    spec = tmp_path / "act.toml"
    spec.write_text('input = [1, 8, 8]\nlayers = [{type = "conv2d", out = 4, kernel = 3, act = "rellu"}]\n')
    assert "unknown activation 'rellu' (did you mean 'relu'?)" in cli("check", str(spec)).stderr
    spec.write_text('input = [1, 8, 8]\nlayers = [{type = "maxpooll", kernel = 2}]\n')
    assert "unknown layer type 'maxpooll' (did you mean 'maxpool'?)" in cli("check", str(spec)).stderr


def test_an_installed_zoo_spec_is_named_as_explain_names_it(cli, monkeypatch):
    """In a wheel the zoo lies in site-packages: errors say zoo:alexnet, as --explain does."""
    monkeypatch.setattr("cnnscope.errors.INSTALLED_ZOO", SPECS)
    monkeypatch.setattr("cnnscope.zoo.INSTALLED_ZOO", SPECS)
    result = cli("inspect", "alexnet", "--input", "10")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: zoo:alexnet:") and str(SPECS) not in result.stderr
    assert "(line 10 of zoo:alexnet)" in cli("inspect", "alexnet", "--explain", "conv1").stdout


def test_inspect_takes_one_output_format(cli):
    for flags in (("--json", "--csv"), ("--csv", "--markdown"), ("--json", "--markdown")):
        result = cli("inspect", "lenet5", *flags)
        assert result.exit_code == 2 and result.stdout == ""
        assert f"{flags[0]} and {flags[1]} each print the whole output: choose one" in result.stderr


def test_the_torch_hint_works_from_a_checkout():
    from cnnscope.errors import torch_extra_hint

    assert torch_extra_hint() == f'pip install "{ROOT}[torch]" adds it'  # not "cnnscope[torch]": no index has it


def test_the_readme_names_the_cheaper_chain():
    readme = (ROOT / "README.md").read_text()
    assert "(`chain_1x1`, the cheaper)" in readme and '"about 3.7x\nslower"' in readme
    cheap, dear = (analyze(load_target(name)).total.macs for name in ("chain_1x1", "chain_4x4"))
    assert dear / cheap > 3.7 and cnnscope.load("chain_4x4").title.startswith("4x4 convolution straight")
