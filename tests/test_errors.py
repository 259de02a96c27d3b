"""Bad input gets one clear line (file, line, layer, fix) and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cnnscope.errors import SpecError
from tests.conftest import ROOT, analyze_text

CONV = '{name = "c1", type = "conv2d", out = 8, kernel = 3}'

# (case, spec text, fragments the message must contain)
CASES = [
    (
        "unknown key",
        'input = [3, 32, 32]\nlayers = [\n  {name = "c1", type = "conv2d", out = 8, kernal = 3},\n]',
        ["test.toml:3", "layer 'c1'", "no key 'kernal'", "did you mean 'kernel'?"],
    ),
    (
        "unknown type",
        'input = [3, 32, 32]\nlayers = [\n  {name = "c1", type = "conv2", out = 8, kernel = 3},\n]',
        ["test.toml:3", "unknown layer type 'conv2'", "did you mean 'conv2d'?"],
    ),
    (
        "wrong type",
        'input = [3, 32, 32]\nlayers = [\n  {name = "c1", type = "conv2d", out = "eight", kernel = 3},\n]',
        ["layer 'c1'", 'out = "eight"', "whole number"],
    ),
    (
        "negative size",
        'input = [3, 32, 32]\nlayers = [{name = "c1", type = "conv2d", out = -8, kernel = 3}]',
        ["out = -8", "at least 1"],
    ),
    (
        "zero kernel",
        'input = [3, 32, 32]\nlayers = [{name = "c1", type = "conv2d", out = 8, kernel = 0}]',
        ["kernel = 0", "at least 1"],
    ),
    ("zero input", "input = [3, 0, 32]\nlayers = [{type = 'relu'}]", ["input must be a list of positive"]),
    (
        "missing key",
        'input = [3, 32, 32]\nlayers = [{name = "c1", type = "conv2d", kernel = 3}]',
        ["layer 'c1'", "needs 'out'"],
    ),
    (
        "kernel larger than padded input",
        'input = [3, 8, 8]\nlayers = [\n  {name = "c1", type = "conv2d", out = 8, kernel = 11},\n]',
        ["test.toml:3", "layer 'c1'", "kernel 11 is larger than the padded input 8"],
    ),
    (
        "pool kernel too large",
        'input = [3, 2, 2]\nlayers = [{name = "p", type = "maxpool", kernel = 3}]',
        ["layer 'p'", "kernel 3 is larger than the padded input 2"],
    ),
    (
        "pool padding over half",
        'input = [3, 8, 8]\nlayers = [{name = "p", type = "maxpool", kernel = 2, padding = 2}]',
        ["layer 'p'", "at most half the kernel"],
    ),
    (
        "channel mismatch at concat",
        'input = [3, 32, 32]\nlayers = [\n  {name = "a", type = "conv2d", out = 8, kernel = 3},\n'
        '  {name = "b", type = "conv2d", out = 8, kernel = 1, from = "in"},\n  {name = "c", type = "concat", from = ["a", "b"]},\n]',
        ["test.toml:5", "layer 'c'", "cannot concat 'b' (8x32x32) with 'a' (8x30x30)"],
    ),
    (
        "channel mismatch at add",
        'input = [3, 32, 32]\nlayers = [\n  {name = "a", type = "conv2d", out = 8, kernel = 3, padding = 1},\n'
        '  {name = "s", type = "add", from = ["a", "in"]},\n]',
        ["test.toml:4", "layer 's'", "channel mismatch", "8 channels", "has 3", "1x1 conv2d (out = 8)"],
    ),
    (
        "spatial mismatch at add",
        'input = [3, 32, 32]\nlayers = [\n  {name = "a", type = "conv2d", out = 3, kernel = 3, stride = 2, padding = 1},\n'
        '  {name = "s", type = "add", from = ["a", "in"]},\n]',
        ["layer 's'", "spatial mismatch", "3x16x16", "3x32x32"],
    ),
    (
        "unknown reference",
        'input = [3, 32, 32]\nlayers = [\n  {name = "a", type = "relu"},\n  {name = "b", type = "relu", from = "aa"},\n]',
        ["test.toml:4", "layer 'b'", "unknown layer 'aa'", "did you mean 'a'?"],
    ),
    (
        "cyclic reference",
        'input = [3, 32, 32]\nlayers = [\n  {name = "a", type = "relu", from = "b"},\n  {name = "b", type = "relu", from = "a"},\n]',
        ["test.toml:3", "layer 'a'", "comes after it", "cycle"],
    ),
    (
        "self reference",
        'input = [3, 32, 32]\nlayers = [{name = "a", type = "relu", from = "a"}]',
        ["layer 'a'", "cycle"],
    ),
    ("empty spec", "", ["the spec is empty"]),
    ("no layers", "input = [3, 32, 32]\nlayers = []", ["no layers"]),
    ("no input", 'layers = [{type = "relu"}]', ["no 'input'"]),
    (
        "unknown top-level key",
        'input = [3, 32, 32]\nlayer = [{type = "relu"}]',
        ["unknown key 'layer'", "did you mean 'layers'?"],
    ),
    ("not TOML", "input = [3, 32, 32\nlayers = []", ["test.toml:2", "not valid TOML"]),
    (
        "misspelt expression name",
        'input = [3, 8, 8]\nlayers = [{name = "r", block = "res"}]\n[blocks.res]\nargs = {planes = 4}\n'
        'layers = [{name = "c", type = "conv2d", out = "plnaes * 2", kernel = 1}]',
        ["test.toml:5", "layer 'r.c'", "unknown name 'plnaes'", "did you mean 'planes'?"],
    ),
    (
        "unknown block",
        'input = [3, 8, 8]\nlayers = [{name = "r", block = "resid"}]\n[blocks.res]\nlayers = [{type = "relu"}]',
        ["layer 'r'", "unknown block 'resid'", "did you mean 'res'?"],
    ),
    (
        "unknown block argument",
        'input = [3, 8, 8]\nlayers = [{name = "r", block = "res", args = {plane = 2}}]\n[blocks.res]\nargs = {planes = 4}\nlayers = [{type = "relu"}]',
        ["no argument 'plane'", "did you mean 'planes'?"],
    ),
    (
        "duplicate name",
        'input = [3, 8, 8]\nlayers = [{name = "a", type = "relu"}, {name = "a", type = "relu"}]',
        ["'a' is used twice"],
    ),
    (
        "merge with one input",
        'input = [3, 8, 8]\nlayers = [{name = "a", type = "add"}]',
        ["add takes two or more inputs"],
    ),
    (
        "attention with two inputs",
        'input = [3, 8, 8]\nlayers = [{name = "a", type = "attention", from = ["in", "in"]}]',
        ["attention takes three inputs, got 2"],
    ),
    (
        "unknown activation",
        'input = [3, 8, 8]\nlayers = [{name = "a", type = "conv2d", out = 2, kernel = 1, act = "rleu"}]',
        ["unknown activation 'rleu'", "did you mean 'relu'?"],
    ),
    (
        "groups do not divide",
        'input = [3, 8, 8]\nlayers = [{name = "g", type = "conv2d", out = 4, kernel = 1, groups = 2}]',
        ["groups = 2 must divide"],
    ),
    (
        "bad reshape",
        'input = [3, 8, 8]\nlayers = [{name = "r", type = "reshape", shape = [5, 5]}]',
        ["cannot reshape 3x8x8 (192 elements) to 5x5"],
    ),
    (
        "conv on a vector",
        'input = [100]\nlayers = [{name = "c", type = "conv2d", out = 4, kernel = 3}]',
        ["conv2d needs a channels x height x width input"],
    ),
]


@pytest.mark.parametrize(("case", "text", "fragments"), CASES, ids=[c[0] for c in CASES])
def test_bad_spec_message(case, text, fragments):
    with pytest.raises(SpecError) as caught:
        analyze_text(text)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("case", "text", "fragments"), CASES[:3] + CASES[10:15], ids=[c[0] for c in CASES[:3] + CASES[10:15]]
)
def test_cli_reports_one_line_and_exit_2(cli, tmp_path, case, text, fragments):
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    result = cli("inspect", str(spec))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert str(spec) in result.output
    assert fragments[-1] in result.output.replace("\n", "")


def test_real_process_has_no_traceback(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text(CASES[0][1])
    proc = subprocess.run(
        [sys.executable, "-m", "cnnscope", "inspect", str(spec)], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "did you mean 'kernel'?" in proc.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["inspect", "alexnt"], "did you mean 'alexnet'?"),
        (["inspect", "missing.toml"], "no such spec file"),
        (["inspect", "alexnet", "--input", "abc"], "input size 'abc' is not a size"),
        (["inspect", "alexnet", "--input", "3x10x10"], "kernel 11 is larger than the padded input 10"),
        (["inspect", "alexnet", "--explain", "conv9"], "did you mean 'conv5'?"),
        (["compare", "alexnet", "vgg1"], "did you mean"),
    ],
)
def test_bad_arguments(cli, args, fragment):
    result = cli(*args)
    assert result.exit_code == 2
    assert fragment in result.output.replace("\n", "")


def test_directory_is_not_a_spec(cli, tmp_path):
    result = cli("inspect", str(tmp_path))
    assert result.exit_code == 2 and "is a directory" in result.output
