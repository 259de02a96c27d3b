"""`cnnscope check` as a CI step: folders, warnings, --strict, GitHub annotations, every error at once."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, SPECS

CONV = "{name = 'c', type = 'conv2d', out = 2, kernel = 3}"
NO_FLATTEN = f"input = [1, 8, 8]\nlayers = [\n  {CONV},\n  {{name = 'fc', type = 'linear', out = 3}},\n]\n"
TWO_TYPOS = (
    "input = [1, 8, 8]\n"
    "layers = [\n"
    "  {name = 'c1', type = 'conv2e', out = 2, kernel = 3},\n"
    "  {name = 'bn', type = 'batchnorm'},\n"
    "  {name = 'p', type = 'maxpol', kernel = 2},\n"
    "]\n"
)


def test_a_folder_is_checked_recursively(cli, tmp_path: Path):
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    shutil.copy(SPECS / "lenet5.toml", tmp_path / "lenet5.toml")
    shutil.copy(SPECS / "alexnet.toml", nested / "alexnet.toml")
    (nested / "notes.txt").write_text("not a spec")
    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "pyproject.toml").write_text("[project]\nname = 'x'\n")  # a package's, not a spec
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    result = cli("check", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert f"ok   {tmp_path / 'lenet5.toml'}" in result.stdout and f"ok   {nested / 'alexnet.toml'}" in result.stdout
    assert "notes.txt" not in result.output and ".venv" not in result.output and "pyproject" not in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("check", str(empty)).exit_code == 2


def test_the_whole_zoo_folder_holds(cli):
    result = cli("check", str(SPECS))
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\nok   ") + result.stdout.startswith("ok   ") == len(list(SPECS.glob("*.toml")))


def test_warnings_are_printed_and_strict_fails_on_them(cli, tmp_path: Path):
    spec = tmp_path / "no_flatten.toml"
    spec.write_text(NO_FLATTEN)
    result = cli("check", str(spec))
    assert result.exit_code == 0
    assert f"warn {spec}:4: CS101 layer 'fc': linear acts on the last axis only" in result.stdout
    assert "1 warning(s)" in result.stdout
    strict = cli("check", "--strict", str(spec))
    assert strict.exit_code == 1 and "FAIL" in strict.stdout
    clean = tmp_path / "clean.toml"
    clean.write_text(f"input = [1, 8, 8]\nlayers = [{CONV}]\n")
    assert cli("check", "--strict", str(clean)).exit_code == 0


def test_every_independent_error_of_a_file_is_reported(cli, tmp_path: Path):
    spec = tmp_path / "typos.toml"
    spec.write_text(TWO_TYPOS)
    result = cli("check", str(spec))
    assert result.exit_code == 2
    assert f"INVALID {spec}:3: CS003 layer 'c1': unknown layer type 'conv2e' (did you mean 'conv2d'?)" in result.stderr
    assert f"INVALID {spec}:5: CS003 layer 'p': unknown layer type 'maxpol' (did you mean 'maxpool'?)" in result.stderr
    assert result.stderr.count("INVALID") == 2  # bn reads c1's input instead: no error follows from c1's


def test_an_error_in_a_repeated_block_is_reported_once(cli, tmp_path: Path):
    spec = tmp_path / "block.toml"
    spec.write_text(
        "input = [1, 8, 8]\n"
        "layers = [{name = 'stage', block = 'b', repeat = 3}, {name = 'out', type = 'relu6x'}]\n"
        "[blocks.b]\n"
        "layers = [\n"
        "  {name = 'conv', type = 'conv2d', out = 2, kernel = 1, paddin = 0},\n"
        "]\n"
    )
    result = cli("check", str(spec))
    assert result.exit_code == 2
    assert result.stderr.count("no key 'paddin'") == 1  # once, not once per repetition
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and "relu6x" in lines[0] and ":5: CS003 layer 'stage.0.conv'" in lines[1]  # in line order


def test_library_parse_still_raises_the_first_error(tmp_path: Path):
    from cnnscope.errors import SpecError, SpecErrors
    from cnnscope.spec import load

    spec = tmp_path / "typos.toml"
    spec.write_text(TWO_TYPOS)
    try:
        load(spec)
    except SpecError as exc:
        assert not isinstance(exc, SpecErrors) and exc.line == 3
    try:
        load(spec, all_errors=True)
    except SpecErrors as exc:
        assert [e.line for e in exc.errors] == [3, 5] and str(exc).endswith("(and 1 more)")


def test_github_annotations(cli, tmp_path: Path):
    typos, warns = tmp_path / "typos.toml", tmp_path / "warns.toml"
    typos.write_text(TWO_TYPOS)
    warns.write_text(NO_FLATTEN)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(f"input = [1, 8, 8]\nlayers = [{CONV}]\n\n[expect]\nparams = 21\n")
    result = cli("check", "--output-format", "github", str(typos), str(warns), str(wrong))
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert (
        f"::error file={typos},line=3,title=cnnscope CS003 invalid-spec::layer 'c1': unknown layer type 'conv2e'"
        " (did you mean 'conv2d'?)" in lines
    )
    assert any(line.startswith(f"::error file={typos},line=5,") for line in lines)
    assert f"::warning file={warns},line=4,title=cnnscope CS101 linear-on-map::layer 'fc': linear acts" in result.stdout
    # on the line of the key that is wrong, not the [expect] header's
    assert f"::error file={wrong},line=5,title=cnnscope CS006 expect-mismatch::params: expected 21, got 20" in lines
    assert all(line.startswith("::") for line in lines)


def test_version():
    from cnnscope import __version__

    proc = subprocess.run([sys.executable, "-m", "cnnscope", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout == f"cnnscope {__version__}\n"
