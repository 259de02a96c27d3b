"""A lean install (`pip install cnnscope`, no torch extra): static commands work, torch ones say what to add."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# as if torch, torchvision, safetensors and scikit-learn were not installed: importing them fails
WITHOUT_TORCH = (
    "import sys\n"
    "for name in ('torch', 'torchvision', 'safetensors', 'sklearn'):\n"
    "    sys.modules[name] = None\n"
    "from cnnscope.cli import main\n"
    "sys.argv = ['cnnscope', *sys.argv[1:]]\n"
    "main()\n"
)


def lean(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_TORCH, *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


@pytest.mark.parametrize(
    "args",
    [
        ("inspect", "alexnet", "--json"),
        ("check", "specs"),
        ("types",),
        ("list",),
        ("compare", "chain_4x4", "chain_1x1"),
        ("inspect", "resnet18", "--count-as", "fvcore"),
        ("pool",),
    ],
)
def test_static_commands_need_no_torch(args):
    result = lean(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("build", "lenet5"),
        ("verify", "lenet5"),
        ("run", "lenet5", "--image", "IMAGE"),
        ("export", "lenet5", "--out", "never.safetensors"),
        ("export", "lenet5", "--out", "never.onnx"),
        ("train", "lenet5", "--steps", "1"),
        ("maximize", "lenet5"),
    ],
)
def test_torch_commands_name_the_extra(args, tmp_path):
    from PIL import Image

    Image.new("L", (28, 28)).save(tmp_path / "digit.png")
    result = lean(*(str(tmp_path / "digit.png") if arg == "IMAGE" else arg for arg in args))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f'error: `cnnscope {args[0]}` needs torch, which this install lacks (pip install "{ROOT}[torch]" adds it)'
    ]
    assert not (ROOT / "never.safetensors").exists() and not (ROOT / "never.onnx").exists()


def test_missing_files_are_reported_before_torch_loads():
    result = lean("run", "lenet5", "--image", "no/such/picture.png")  # torch is not even there
    assert result.returncode == 2 and "no/such/picture.png" in result.stderr and "torch" not in result.stderr
    for command in ("build", "verify"):
        result = lean(command, "lenet5", "--weights", "no/such/weights.pth")
        assert result.returncode == 2 and "no/such/weights.pth" in result.stderr and "torch" not in result.stderr


# the lean install plus the onnx extra: torch, torchvision and scikit-learn missing, safetensors there
WITHOUT_TORCH_WITH_ONNX = WITHOUT_TORCH.replace("'safetensors', ", "")


def test_the_onnx_extra_alone_imports_and_inspects_an_onnx_file(tmp_path):
    """`cnnscope import model.onnx` reads the graph and writes the spec and weights without torch; the
    spec says it was not checked, and the static commands read it."""
    pytest.importorskip("onnx")
    from tests.test_onnx import HAND_PARAMS, hand_written

    path = tmp_path / "hand.onnx"
    path.write_bytes(hand_written().SerializeToString())
    spec = tmp_path / "hand.toml"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", WITHOUT_TORCH_WITH_ONNX, *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )

    result = run("import", str(path), "--out", str(spec))
    assert result.returncode == 0, result.stderr
    assert "not checked (torch is not installed)" in " ".join(result.stdout.split())
    assert "# Not checked: torch is not installed" in spec.read_text()
    assert (tmp_path / "hand.safetensors").is_file()
    result = run("inspect", str(spec), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total"]["params"] == HAND_PARAMS
    for command in ("check", "draw"):
        extra = ["--out", str(tmp_path / "hand.svg")] if command == "draw" else []
        assert run(command, str(spec), *extra).returncode == 0
