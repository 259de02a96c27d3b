"""Spec-built torch models: torchvision's weights load as they are and give the same outputs."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
models = pytest.importorskip("torchvision.models")

import cnnscope  # noqa: E402
from cnnscope.analysis import analyze  # noqa: E402
from cnnscope.runtime.build import build  # noqa: E402
from cnnscope.zoo import load_target, zoo_names  # noqa: E402
from tests.conftest import record_output_shapes  # noqa: E402
from tests.twins import SMALL_INPUTS, TWINS, VIDEO_TWINS, empty_twin  # noqa: E402

# every torchvision twin but the two largest, whose smaller siblings prove the same layers
EQUIVALENT = (*(name for name in TWINS if name not in ("vgg19", "resnet152")), *VIDEO_TWINS)


def randomise_normalisation(model: torch.nn.Module) -> None:
    """Random running statistics and affine parameters, so that a wrong eps or momentum shows."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
        normalisation = (torch.nn.modules.batchnorm._BatchNorm, torch.nn.LayerNorm, torch.nn.GroupNorm)
        if isinstance(module, normalisation) and module.weight is not None:
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    for name, parameter in model.named_parameters():
        if name.endswith("layer_scale"):  # ConvNeXt's 1e-6 would hide its branch
            parameter.data.uniform_(0.5, 1.5)


def drawn_twin(name: str) -> torch.nn.Module:
    """torchvision's twin with every weight drawn in one uniform pass (He's bounds), instead of by its own
    initialisers, which take seconds for vgg16's 138 M: the test compares two models holding the same
    weights, whatever they are."""
    model = empty_twin(name)
    with torch.no_grad():
        for parameter in model.parameters():
            fan_in = parameter[0].numel() if parameter.dim() > 1 else parameter.numel()
            parameter.uniform_(-1, 1).mul_(math.sqrt(6 / fan_in) if parameter.dim() > 1 else 1 / math.sqrt(fan_in))
        for buffer in model.buffers():
            buffer.zero_()
        randomise_normalisation(model)
    return model


@pytest.mark.parametrize("name", EQUIVALENT)
def test_torchvision_checkpoint_gives_the_same_outputs(name, tmp_path):
    torch.manual_seed(0)
    reference = drawn_twin(name)
    checkpoint = tmp_path / f"{name}.pth"
    torch.save(reference.state_dict(), checkpoint)
    spec = load_target(name).with_input(SMALL_INPUTS[name])
    built = build(spec, init=False)  # every weight is loaded next
    model = cnnscope.load_weights(built, checkpoint).eval()  # strict: every key, every shape
    x = torch.randn(2, *spec.input.shape)
    with torch.no_grad():
        expected, actual = reference(x), model(x)
    assert torch.allclose(actual, expected, atol=1e-4 * expected.abs().max().item(), rtol=0)


@pytest.mark.parametrize("name", zoo_names())
def test_runtime_shapes_equal_static_shapes(name):
    analysis = analyze(load_target(name))
    with torch.device("meta"):
        model = cnnscope.build(name).eval()
    recorded = record_output_shapes(model, [report.name for report in analysis.layers])
    spec_input = analysis.spec.input
    if spec_input.is_tokens:
        x = torch.zeros(1, *spec_input.shape, dtype=torch.long, device="meta")
    else:
        x = torch.zeros(1, *spec_input.shape, device="meta")
    with torch.no_grad():
        out = model(x)
    assert tuple(out.shape) == (1, *analysis.output_shape)
    assert recorded == {r.name: (1, *r.output_shape) for r in analysis.layers}
    assert sum(p.numel() for p in model.parameters()) == analysis.total.params
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == analysis.total.trainable_params


def test_module_names_follow_the_spec():
    model = cnnscope.build("resnet50")
    assert isinstance(model.get_submodule("layer2.0.downsample.0"), torch.nn.Conv2d)
    assert "layer4.2.bn3.running_var" in model.state_dict()


def test_kim_cnn_runs_on_token_ids():
    model = cnnscope.build("kim_cnn").eval()
    probabilities = model(torch.randint(0, 18765, (3, 56)))
    assert probabilities.shape == (3, 2)
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(3))


def test_load_weights_round_trip_and_reports(tmp_path):
    reference = models.resnet18(weights=None).eval()
    good = tmp_path / "resnet18.pth"
    torch.save({"state_dict": reference.state_dict()}, good)
    model = cnnscope.load_weights(cnnscope.build("resnet18"), good)
    assert torch.equal(model.state_dict()["fc.weight"], reference.state_dict()["fc.weight"])

    wrong = tmp_path / "alexnet.pth"
    torch.save(models.alexnet(weights=None).state_dict(), wrong)
    with pytest.raises(cnnscope.CheckpointError, match=r"missing keys \(conv1.weight, bn1.weight, bn1.bias, \.\.\."):
        cnnscope.load_weights(cnnscope.build("resnet18"), wrong)

    head = reference.state_dict()
    head["fc.weight"] = torch.zeros(10, 512)
    resized = tmp_path / "ten_classes.pth"
    torch.save(head, resized)
    with pytest.raises(cnnscope.CheckpointError, match=r"fc\.weight: model 1000x512, checkpoint 10x512"):
        cnnscope.load_weights(cnnscope.build("resnet18"), resized)


class Payload:
    def __reduce__(self):
        return (print, ("this would run",))


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"not a checkpoint at all", "not a readable torch checkpoint"),
        (None, "refused"),
    ],
)
def test_unsafe_or_corrupt_checkpoints_are_refused(tmp_path, content, fragment):
    path = tmp_path / "bad.pth"
    if content is None:
        torch.save({"weight": torch.zeros(1), "payload": Payload()}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(cnnscope.CheckpointError, match=fragment):
        cnnscope.load_weights(cnnscope.build("lenet5"), path)
