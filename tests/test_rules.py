"""Rule codes of `cnnscope check`: the defaults that let `--strict` stay on, --select/--ignore, pyproject."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnscope.rules import RULES
from tests.conftest import SPECS
from tests.test_check_ci import NO_FLATTEN, TWO_TYPOS

# a residual whose main path halves the map: the shortcut changes the shape
STRIDED_RESIDUAL = (
    "input = [8, 8, 8]\n"
    "layers = [\n"
    "  {name = 'conv', type = 'conv2d', out = 8, kernel = 3, stride = 2, padding = 1},\n"
    "  {name = 'sum', type = 'add', from = ['conv', 'in']},\n"
    "]\n"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with its specs one level down, as a repository holds them."""
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "no_flatten.toml").write_text(NO_FLATTEN)
    return tmp_path


def test_the_zoo_passes_strict(cli):
    result = cli("check", "--strict", str(SPECS))
    assert result.exit_code == 0, result.output
    assert "warn" not in result.stdout


def test_what_strict_still_fails(cli, project: Path):
    spec = project / "specs" / "no_flatten.toml"
    result = cli("check", "--strict", str(spec))
    assert result.exit_code == 1
    assert f"warn {spec}:4: CS101 layer 'fc': linear acts on the last axis only" in result.stdout
    residual = project / "residual.toml"
    residual.write_text(STRIDED_RESIDUAL)
    result = cli("check", "--strict", str(residual))
    assert result.exit_code == 2
    assert f"INVALID {residual}:4: CS005 layer 'sum': spatial mismatch: 'conv' is 8x4x4, 'in' is 8x8x8" in result.stderr


def test_ignore_on_the_command_line_and_in_pyproject(cli, project: Path):
    spec = str(project / "specs" / "no_flatten.toml")
    assert cli("check", "--strict", "--ignore", "CS101", spec).exit_code == 0
    assert cli("check", "--strict", "--ignore", "linear-on-map", spec).exit_code == 0  # the name works too
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.cnnscope]\nignore = ["CS101"]\n')
    result = cli("check", "--strict", spec)
    assert result.exit_code == 0 and "warn" not in result.stdout, result.output
    assert cli("check", "--strict", "--extend-select", "CS101", spec).exit_code == 1  # the command line comes last
    nearer = project / "specs" / "pyproject.toml"  # the nearest pyproject.toml with [tool.cnnscope] wins
    nearer.write_text('[tool.cnnscope]\nselect = ["CS101"]\n')
    assert cli("check", "--strict", spec).exit_code == 1
    nearer.write_text('[project]\nname = "y"\n')  # none there: the one above
    assert cli("check", "--strict", spec).exit_code == 0


def test_the_floor_rule_is_selectable(cli):
    result = cli("check", "--strict", "--extend-select", "CS102", "resnet18")
    assert result.exit_code == 1
    # conv1: 224 - 7 + 2*3 = 223 is odd, stride 2: the last pixel is never under a window
    assert (
        "CS102 layer 'conv1': height and width: 224 - 7 + 6 = 223 is not a multiple of stride 2, so the floor leaves"
        " the last 1 pixel(s)" in result.stdout
    )
    assert cli("check", "--strict", "--select", "ALL", "--ignore", "CS1", "resnet18").exit_code == 0


def test_json_and_annotations_carry_the_code(cli, project: Path):
    spec = str(project / "specs" / "no_flatten.toml")
    document = json.loads(cli("check", "--json", spec).stdout)
    (warning,) = document["files"][0]["warnings"]
    assert (warning["code"], warning["rule"], warning["layer"], warning["line"]) == ("CS101", "linear-on-map", "fc", 4)
    assert json.loads(cli("check", "--json", "--ignore", "CS101", spec).stdout)["files"][0]["warnings"] == []
    typos = project / "typos.toml"
    typos.write_text(TWO_TYPOS)
    errors = json.loads(cli("check", "--json", str(typos)).stdout)["files"][0]["errors"]
    assert [(e["code"], e["rule"], e["line"]) for e in errors] == [
        ("CS003", "invalid-spec", 3),
        ("CS003", "invalid-spec", 5),
    ]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("input = [1, 8, 8\n", "CS002"),
        (TWO_TYPOS, "CS003"),
        ("input = [1, 4, 4]\nlayers = [{type = 'conv2d', out = 2, kernel = 7}]\n", "CS004"),
        (STRIDED_RESIDUAL, "CS005"),
        ("input = [1, 8, 8]\nlayers = [{type = 'relu'}]\n[expect]\noutput = [1, 4, 4]\n", "CS006"),
    ],
)
def test_every_error_has_its_code(cli, tmp_path: Path, text: str, code: str):
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    result = cli("check", str(spec))
    lines = [line for line in result.output.splitlines() if line.startswith(("INVALID", "FAIL"))]
    assert lines and all(f": {code} " in line for line in lines), result.output
    assert RULES[code].error


def test_an_unreadable_target_has_its_code(cli):
    result = cli("check", "lenet")
    assert result.exit_code == 2 and "CS001 '" in result.stderr and "did you mean 'lenet5'?" in result.stderr


def test_unknown_codes_and_a_malformed_table_are_one_line(cli, project: Path):
    spec = str(project / "specs" / "no_flatten.toml")
    result = cli("check", "--ignore", "CS1O1", spec)
    assert result.exit_code == 2
    assert (
        result.stderr.count("\n") == 1 and "unknown rule 'CS1O1' in --ignore (did you mean 'CS101'?)" in result.stderr
    )
    result = cli("check", "--ignore", "CS003", spec)  # an error cannot be switched off
    assert result.exit_code == 2 and "CS003 (invalid-spec) in --ignore is an error" in result.stderr
    pyproject = project / "pyproject.toml"
    pyproject.write_text('[tool.cnnscope]\nignore = ["linear-on-mpa"]\n')
    result = cli("check", spec)
    assert result.exit_code == 2
    assert f"unknown rule 'linear-on-mpa' in {pyproject} [tool.cnnscope] ignore" in result.stderr
    assert "did you mean 'linear-on-map'?" in result.stderr
    pyproject.write_text('[tool.cnnscope]\nignroe = ["CS101"]\n')
    result = cli("check", spec)
    assert result.exit_code == 2 and f"{pyproject}: [tool.cnnscope] has no key 'ignroe'" in result.stderr
    pyproject.write_text('[tool.cnnscope]\nignore = "CS101"\n')
    result = cli("check", spec)
    assert result.exit_code == 2 and f"{pyproject}: [tool.cnnscope] ignore must be a list" in result.stderr


def test_list_rules(cli):
    result = cli("check", "--list-rules")
    assert result.exit_code == 0
    for rule in RULES.values():
        assert rule.code in result.stdout and rule.name in result.stdout


def test_the_pre_commit_hook_runs_its_entry_on_specs(tmp_path: Path):
    """What pre-commit does with the hook: run its entry with its args on the staged files its patterns match."""
    import re
    import subprocess
    import sys
    import tomllib

    import yaml

    from cnnscope.cli.static import TOOL_CONFIGS
    from tests.conftest import ROOT

    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "cnnscope-check" and hook["language"] == "python"
    command = hook["entry"].split()
    assert command[0] in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for config in TOOL_CONFIGS:  # the same files `check FOLDER` skips are never handed to the hook
        assert re.search(hook["exclude"], f"sub/{config}") and re.search(hook["exclude"], config)
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text((SPECS / "lenet5.toml").read_text())
    bad.write_text(NO_FLATTEN)
    assert all(re.search(hook["files"], str(p)) and not re.search(hook["exclude"], str(p)) for p in (good, bad))

    def run(*files: Path) -> subprocess.CompletedProcess[str]:
        args = [sys.executable, "-m", "cnnscope", *command[1:], "--strict", *map(str, files)]
        return subprocess.run(args, capture_output=True, text=True, cwd=tmp_path)

    assert run(good).returncode == 0
    failed = run(good, bad)
    assert failed.returncode == 1 and "CS101" in failed.stdout


def test_an_expectation_is_annotated_on_its_own_key(cli, tmp_path: Path):
    spec = tmp_path / "expect.toml"
    spec.write_text(
        "input = [1, 8, 8]\nlayers = [{name = 'c', type = 'conv2d', out = 2, kernel = 3}]\n\n"
        "[expect]\nparams = 20\noutput = [2, 5, 5]\n\n[expect.shapes]\nc = [2, 7, 7]\n"
    )
    lines = cli("check", "--output-format", "github", str(spec)).stdout.splitlines()
    assert lines == [
        f"::error file={spec},line=6,title=cnnscope CS006 expect-mismatch::output: expected 2x5x5, got 2x6x6",
        f"::error file={spec},line=9,title=cnnscope CS006 expect-mismatch::shape of c: expected 2x7x7, got 2x6x6",
    ]


def test_inspect_counts_the_notes_of_rules_off_by_default(cli):
    """resnet18's stride-2 layers on even sizes: conv1 (223), maxpool (111), and in layers 2-4 the first conv
    and the downsample conv (55, 27, 13): 8 layers whose floor drops a pixel, none of them a default rule."""
    result = cli("inspect", "resnet18")
    assert "8 floor-drops-pixels note(s) (CS102, a rule off by default)" in result.stdout
    assert "the floor leaves" not in result.stdout
    assert "CS102" in cli("inspect", "resnet18", "--explain", "conv1").stdout  # the layer's own arithmetic says it


def test_a_malformed_expectation_is_annotated_on_its_key(cli, tmp_path: Path):
    spec = tmp_path / "expect.toml"
    spec.write_text('input = [1, 8, 8]\nlayers = [{type = "relu"}]\n\n[expect]\noutput = [1, 8, 8]\nparams = "many"\n')
    lines = cli("check", "--output-format", "github", str(spec)).stdout.splitlines()
    assert lines == [
        f"::error file={spec},line=6,title=cnnscope CS003 invalid-spec::expect.params must be a whole number"
    ]
