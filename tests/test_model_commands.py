"""build / verify / export as a user runs them, and their bad input."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
models = pytest.importorskip("torchvision.models")

import cnnscope  # noqa: E402
from cnnscope.runtime.build import build  # noqa: E402
from cnnscope.runtime.device import resolve_device  # noqa: E402
from cnnscope.runtime.verify import verify  # noqa: E402
from cnnscope.zoo import zoo_names  # noqa: E402


@pytest.mark.parametrize("name", zoo_names())
def test_verify_every_zoo_spec(name):
    result = verify(build(name, init=False).eval(), torch.device("cpu"))  # as `cnnscope verify` builds it
    assert result.ok, (result.shape_mismatches, result.torch_params, result.counted_macs)
    assert result.layers_checked == len(result.analysis.layers)


def test_verify_command(cli):
    result = cli("verify", "lenet5")
    assert result.exit_code == 0
    assert "shapes  8/8 layers match" in result.stdout and "params  static 61,706 = torch 61,706" in result.stdout


def test_build_command_reports_the_runtime_check(cli):
    result = cli("build", "resnet18", "--device", "cpu", "--batch", "2")
    assert result.exit_code == 0, result.output
    assert "resnet18 on cpu (float32, batch 2)" in result.stdout
    assert "params  11,689,512  ok" in result.stdout and "output  1000 per sample  ok" in result.stdout


def test_auto_device_falls_back_to_what_exists():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type in (expected, "mps")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["build", "lenet5", "--device", "tpu"], "unknown device 'tpu'"),
        (["build", "lenet5", "--dtype", "float64"], "unknown dtype 'float64'"),
        (["verify", "lenet5", "--weights", "missing.pth"], "no such checkpoint file"),
        (["export", "lenet5", "--out", "model.h5"], "unknown format '.h5'"),  # .onnx is a format (test_onnx.py)
        (["build", "lenet5", "--device", "cpu", "--autocast"], "--autocast is CUDA's mixed precision"),
    ],
)
def test_bad_options(cli, args, fragment):
    result = cli(*args)
    assert result.exit_code == 2
    assert fragment in result.output.replace("\n", "")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_asked_for_without_a_gpu(cli):
    result = cli("build", "lenet5", "--device", "cuda")
    assert result.exit_code == 2 and "torch sees no CUDA device" in result.output


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_build_and_verify(cli):
    assert cli("verify", "resnet18", "--device", "cuda").exit_code == 0
    assert cli("build", "resnet50", "--device", "cuda", "--dtype", "float16", "--batch", "8").exit_code == 0
    assert cli("build", "resnet50", "--device", "cuda", "--autocast", "--batch", "8").exit_code == 0


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_export_round_trip(cli, tmp_path, suffix):
    source = tmp_path / "tv.pth"
    torch.save(models.resnet18(weights=None).state_dict(), source)
    target = tmp_path / f"resnet18{suffix}"
    result = cli("export", "resnet18", "--weights", str(source), "--out", str(target))
    assert result.exit_code == 0, result.output
    assert "11,689,512 parameters" in result.stdout
    model = cnnscope.load_weights(cnnscope.build("resnet18"), target)
    assert torch.equal(model.state_dict()["fc.weight"], torch.load(source, weights_only=True)["fc.weight"])
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_export_refuses_a_wrong_checkpoint_and_writes_nothing(cli, tmp_path):
    source = tmp_path / "alexnet.pth"
    torch.save(models.alexnet(weights=None).state_dict(), source)
    target = tmp_path / "out.safetensors"
    result = cli("export", "resnet18", "--weights", str(source), "--out", str(target))
    assert result.exit_code == 2 and "checkpoint does not fit the model" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alexnet.pth"]


def test_corrupt_safetensors(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(cnnscope.CheckpointError, match="not a readable safetensors file"):
        cnnscope.load_weights(cnnscope.build("lenet5"), path)


def test_spec_maps_checkpoint_keys(tmp_path):
    """A spec with its own layer names loads torchvision's alexnet through [checkpoint] keys."""
    names = {
        "features.0": "conv1",
        "features.3": "conv2",
        "features.6": "conv3",
        "features.8": "conv4",
        "features.10": "conv5",
        "classifier.1": "fc1",
        "classifier.4": "fc2",
        "classifier.6": "fc3",
    }
    text = (
        (cnnscope.zoo.zoo_dir() / "alexnet_tv.toml")
        .read_text()
        .replace(
            "[expect]",
            "[checkpoint]\nkeys = {" + ", ".join(f'"{k}" = "{v}"' for k, v in names.items()) + "}\n\n[expect]",
        )
    )
    for old, new in names.items():
        text = text.replace(f'name = "{old}"', f'name = "{new}"')
    spec_path = tmp_path / "my_alexnet.toml"
    spec_path.write_text(text)
    reference = models.alexnet(weights=None).eval()
    checkpoint = tmp_path / "alexnet.pth"
    torch.save(reference.state_dict(), checkpoint)
    model = cnnscope.load_weights(cnnscope.build(str(spec_path)).eval(), checkpoint)
    assert isinstance(model.get_submodule("conv1"), torch.nn.Conv2d)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), atol=1e-5, rtol=0)


def test_not_a_state_dict(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(2), torch.ones(2)], path)
    with pytest.raises(cnnscope.CheckpointError, match="not a state_dict"):
        cnnscope.load_weights(cnnscope.build("lenet5"), path)


def test_a_dtype_the_device_cannot_run_is_one_clear_error():
    from cnnscope.runtime.verify import run_forward

    class HalfUnsupported(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("\"slow_conv2d_cpu\" not implemented for 'Half'\nlong C++ trace ...")

    with pytest.raises(cnnscope.DeviceError, match=r"cannot run on cpu in torch\.float16: \"slow_conv2d_cpu\" not"):
        run_forward(HalfUnsupported(), torch.zeros(1, dtype=torch.float16))
