"""The typer-free start-up path (cnnscope/cli/fast.py) prints what the typer app prints, byte for byte.

Each case runs through ``cnnscope.cli.entry.run`` twice: once as the console script does (the fast
path first) and once with the fast path switched off, so that the typer app answers; stdout, stderr
and the exit code must be the same, and the fast path must have answered every form it claims.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import cnnscope.cli.entry as entry
import cnnscope.cli.fast as fast
from cnnscope.zoo import zoo_names
from tests.conftest import ROOT


def run_both(args: list[str], capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> bool:
    """Compare the two paths on ``args``; True when the fast path answered without the typer app."""
    typer_ran: list[bool] = []
    run_typer = entry._run_typer

    def spy(typer_args: list[str] | None) -> int:
        typer_ran.append(True)
        return run_typer(typer_args)

    previous = signal.getsignal(signal.SIGTERM)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(entry, "_run_typer", spy)
            fast_code = entry.run(list(args))
        fast_out, fast_err = capfd.readouterr()
        with monkeypatch.context() as patch:
            patch.setattr(fast, "serve", lambda _args: None)
            typer_code = entry.run(list(args))
        typer_out, typer_err = capfd.readouterr()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert (fast_code, fast_err) == (typer_code, typer_err), args
    assert fast_out == typer_out, args
    return not typer_ran


@pytest.mark.parametrize("name", zoo_names())
def test_inspect_json_of_every_zoo_spec_is_the_typer_paths(name, capfd, monkeypatch):
    assert run_both(["inspect", name, "--json"], capfd, monkeypatch)


@pytest.mark.parametrize(
    "args",
    [
        ["inspect", "--json", "resnet18"],  # the option before the target
        ["inspect", "resnet18", "--json", "--input", "448"],
        ["inspect", "resnet18", "--json", "-i", "3x100x100"],
        ["inspect", "unet", "--input=3x256x256", "--json"],
        ["inspect", "resnet18", "--json", "--input", ""],
        ["list", "--json"],
    ],
)
def test_the_forms_it_serves(args, capfd, monkeypatch):
    assert run_both(args, capfd, monkeypatch)


@pytest.mark.parametrize(
    "args",
    [
        ["inspect", "no_such_model", "--json"],  # CnnscopeError: one line, exit 2
        ["inspect", "resnet18", "--json", "--input", "3x0x7"],  # an invalid size
        ["inspect", "resnet18", "--json", "--input"],  # click: the option needs a value
        ["inspect", "--json"],  # click: the target is missing
        ["inspect", "resnet18", "--json", "--bogus"],
        ["inspect", "resnet18", "resnet50", "--json"],
        ["inspect", "resnet18", "--json", "--json"],
        ["inspect", "resnet18", "--json", "--help"],
        ["inspect", "resnet18", "--json", "--input", "-5"],
        ["inspect", "resnet18", "--json", "--count-as", "fvcore"],
        ["inspect", "resnet18"],
        ["list"],
        ["list", "--json", "--json"],
        ["--version"],
    ],
)
def test_what_it_leaves_to_typer_is_answered_the_same(args, capfd, monkeypatch):
    run_both(args, capfd, monkeypatch)


def test_an_invalid_spec_file_is_the_same_error(tmp_path: Path, capfd, monkeypatch):
    bad = tmp_path / "bad.toml"
    bad.write_text('input = [3, 32, 32]\nlayers = [{type = "conv2d", out = 8, kernel = 99}]\n')
    missing_key = tmp_path / "missing.toml"
    missing_key.write_text('layers = [{type = "conv2d"}]\n')
    for path in (bad, missing_key, tmp_path / "absent.toml", tmp_path):
        assert not run_both(["inspect", str(path), "--json"], capfd, monkeypatch)


def test_the_console_script_starts_without_typer():
    """Whole processes: `python -m cnnscope` and the installed script; typer is imported for other forms only."""
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write(f'typer={\"typer\" in sys.modules}\\n'))\n"
        "sys.argv = ['cnnscope', *sys.argv[1:]]\n"
        "import runpy\nrunpy.run_module('cnnscope', run_name='__main__')\n"
    )
    served = subprocess.run(
        [sys.executable, "-c", code, "inspect", "lenet5", "--json"], capture_output=True, text=True, cwd=ROOT
    )
    assert served.returncode == 0 and served.stderr == "typer=False\n", served.stderr
    helped = subprocess.run([sys.executable, "-c", code, "inspect", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert helped.returncode == 0 and helped.stderr == "typer=True\n" and "--json" in helped.stdout
    script = Path(sys.executable).with_name("cnnscope")
    if script.exists():  # the installed package: its zoo may lie elsewhere than this checkout's specs/
        installed = subprocess.run([str(script), "inspect", "lenet5", "--json"], capture_output=True, text=True)
        assert installed.returncode == 0
        assert {**json.loads(installed.stdout), "source": None} == {**json.loads(served.stdout), "source": None}
