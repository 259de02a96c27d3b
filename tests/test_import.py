"""`cnnscope import`: torch models -> specs that compute the same function with the same state_dict.

The oracle is always the original model: its state_dict (with random normalisation
statistics) loads into the built spec and both give the same outputs; parameter counts
come from torch; the peers are run on the original model.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
models = pytest.importorskip("torchvision.models")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import cnnscope  # noqa: E402
from cnnscope.analysis import analyze  # noqa: E402
from cnnscope.importer import ImportFailure, check_import, from_module, read_module  # noqa: E402
from cnnscope.peers import count_as  # noqa: E402
from cnnscope.runtime.build import build  # noqa: E402
from cnnscope.runtime.verify import verify  # noqa: E402
from tests.test_peers import run_ptflops, run_thop  # noqa: E402
from tests.test_runtime import randomise_normalisation  # noqa: E402

# every torchvision CNN classification family, each at one small size it accepts
FAMILIES = {
    "alexnet": (3, 64, 64),
    "vgg11_bn": (3, 32, 32),
    "resnet18": (3, 64, 64),
    "resnext50_32x4d": (3, 32, 32),
    "wide_resnet50_2": (3, 32, 32),
    "squeezenet1_1": (3, 64, 64),
    "densenet121": (3, 32, 32),
    "googlenet": (3, 64, 64),
    "inception_v3": (3, 75, 75),
    "mobilenet_v2": (3, 64, 64),
    "mobilenet_v3_large": (3, 64, 64),
    "mnasnet0_5": (3, 64, 64),
    "shufflenet_v2_x1_0": (3, 64, 64),
    "efficientnet_b0": (3, 64, 64),
    "efficientnet_v2_s": (3, 64, 64),
    "regnet_y_400mf": (3, 64, 64),
    "convnext_tiny": (3, 64, 64),
}


def torchvision_model(name: str) -> nn.Module:
    extra = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
    torch.manual_seed(0)
    model = getattr(models, name)(weights=None, **extra).eval()
    with torch.no_grad():
        randomise_normalisation(model)
    return model


def same_function(original: nn.Module, spec: cnnscope.Spec) -> None:
    built = build(spec, init=False).eval()  # every weight is loaded next
    built.load_state_dict(original.state_dict(), strict=True)
    x = torch.randn(2, *spec.input.shape)
    with torch.no_grad():
        expected, actual = original(x), built(x)
    assert torch.allclose(actual, expected, atol=1e-4 * expected.abs().max().item(), rtol=0)


@pytest.mark.parametrize("name", FAMILIES)
def test_every_torchvision_family_imports_as_the_same_function(name):
    original = torchvision_model(name)
    spec = from_module(original, FAMILIES[name], name=name)
    same_function(original, spec)
    analysis = analyze(spec)
    assert analysis.total.params == sum(p.numel() for p in original.parameters())
    result = verify(build(spec, init=False).eval(), torch.device("cpu"))  # as `cnnscope verify` builds it
    assert result.ok, (result.shape_mismatches, result.torch_params, result.counted_macs)


def test_resnet50_reads_like_a_written_spec():
    spec = from_module(models.resnet50(weights=None), (3, 224, 224), name="resnet50")
    text = spec.source
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(lines) < 60  # specs/resnet50.toml: about as long
    assert text.count("[blocks.") == 1 and '{name = "layer3", block = "bottleneck", repeat = 6' in text
    assert "torchvision.models.resnet.ResNet on inputs of 3x224x224" in text  # where it came from
    assert analyze(spec).total.params == analyze(cnnscope.load("specs/resnet50.toml")).total.params


class Shuffled(nn.Module):
    """A custom block written with the functional calls people use in forward."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.left = nn.Conv2d(channels // 2, channels // 2, 3, padding=1)
        self.right = nn.Conv2d(channels // 2, channels // 2, 1)
        self.gate = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        y = torch.cat([F.relu(self.left(a)), self.right(b) + b], 1)
        n, c, h, w = y.size()  # channel shuffle, as ShuffleNet writes it
        y = y.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
        weights = torch.sigmoid(self.gate(y.mean([2, 3])))
        return y * weights.view(n, c, 1, 1)


class FunctionalNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.Sequential(Shuffled(8), Shuffled(8))
        self.head = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.stem(x)), 2)
        x = self.blocks(x)
        x = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
        return self.head(torch.flatten(x, 1))


def test_a_model_with_functional_calls_and_a_custom_block():
    original = FunctionalNet().eval()
    spec = from_module(original, (3, 16, 16))
    same_function(original, spec)
    types = {node.layer.type_name for node in spec.nodes}
    assert {"slice", "concat", "add", "channel_shuffle", "mean", "mul", "upsample", "flatten"} <= types
    assert "[blocks.shuffled]" in spec.source and 'block = "shuffled", repeat = 2' in spec.source
    pool = next(node for node in spec.nodes if node.layer.type_name == "maxpool")
    assert pool.functional  # F.max_pool2d: counted as a function by the peers
    # so that --count-as matches the peers run on the original model
    analysis = analyze(spec)
    x = torch.randn(1, 3, 16, 16)
    for peer, run in (("ptflops", run_ptflops), ("thop", run_thop)):
        assert count_as(analysis, peer).total == int(run(original, x)), peer


class XceptionBlock(nn.Module):
    """Xception's block: how many separable convolutions, and whether a projection, vary by stage."""

    def __init__(self, cin: int, cout: int, reps: int, stride: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(reps):
            layers += [nn.ReLU(), nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1), nn.BatchNorm2d(cout)]
        if stride != 1:
            layers.append(nn.MaxPool2d(3, stride, 1))
        self.rep = nn.Sequential(*layers)
        self.skip = nn.Conv2d(cin, cout, 1, stride) if (cin, stride) != (cout, 1) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rep(x) + (x if self.skip is None else self.skip(x))


class XceptionLike(nn.Module):
    """An entry block, four identical middle blocks and an exit block, held as attributes (not a list)."""

    def __init__(self) -> None:
        super().__init__()
        self.block1 = XceptionBlock(3, 8, 1, 2)
        self.block2, self.block3, self.block4, self.block5 = (XceptionBlock(8, 8, 3, 1) for _ in range(4))
        self.block6 = XceptionBlock(8, 16, 2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in (self.block1, self.block2, self.block3, self.block4, self.block5, self.block6):
            x = block(x)
        return x


def test_identical_instances_fold_where_their_class_as_a_whole_does_not():
    original = XceptionLike().eval()
    spec = from_module(original, (3, 16, 16))
    same_function(original, spec)
    text = spec.source
    middle = [line for line in text.splitlines() if 'block = "xception_block' in line]
    assert [line.split('"')[1] for line in middle] == ["block2", "block3", "block4", "block5"]
    assert len({line.split('block = "')[1].split('"')[0] for line in middle}) == 1  # calls of one block
    assert text.count("[blocks.") == 1  # the entry and exit blocks differ from it and from each other: written out


def test_importing_a_spec_built_model_gives_back_the_same_spec():
    written = cnnscope.load("specs/resnet50.toml")
    spec = from_module(cnnscope.build(written), written.input.shape)
    before, after = analyze(written), analyze(spec)
    assert [(r.name, r.type, r.output_shape) for r in after.layers] == [
        (r.name, r.type, r.output_shape) for r in before.layers
    ]
    assert after.total == before.total


class DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y if y.sum() > 0 else -y


class Padded(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(self.conv(x), (-1, 1, 1, 1))  # a negative amount: a crop


class Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.conv(x))


class Failing(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")


class HoldsFailing(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.block = Failing()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.conv(x))


class FixedFilter(nn.Module):
    """timm's BlurPool2d: a binomial filter kept in a buffer that the state_dict leaves out."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("filt", torch.ones(3, 1, 3, 3) / 9, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.filt, stride=2, groups=3)


class Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 3, 3, padding=1)
        self.b = nn.Conv2d(3, 3, 3, padding=1)
        self.b.weight = self.a.weight  # one tensor in two layers: a spec would count it twice

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x))


@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        (DataDependent(), r"branches on the values of a tensor \(at test_import.py:\d+\)"),
        (Padded(), "the model's forward: F.pad: a negative amount"),
        (Shared(), "conv: the module is called twice with the same weights"),
        (Tied(), "b: shares a weight with a"),
        (
            FixedFilter(),
            "torch.conv2d of filt, a buffer outside the state_dict \\(a fixed filter, not the binomial\\), has no spec",
        ),
        (
            HoldsFailing(),
            r"forward raised RuntimeError while torch.fx traced it \(in block, at test_import.py:\d+\): boom",
        ),
    ],
)
def test_what_no_spec_can_say_is_one_clear_error(model, fragment):
    with pytest.raises(ImportFailure, match=fragment):
        from_module(model, (3, 8, 8))


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_is_paused_while_reading_and_left_as_it_was(enabled):
    import gc

    states = []

    class Watched(nn.Module):  # notes the collector's state while the import runs it
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            states.append(gc.isenabled())
            return self.conv(x)

    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        spec, run = read_module(Watched(), (3, 8, 8))
        check_import(Watched(), spec, against=run)
        assert gc.isenabled() is enabled
        with pytest.raises(ImportFailure):
            from_module(DataDependent(), (3, 8, 8))
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
    assert states and not any(states)  # the trace and the run of the model, both paused


MODEL_FILE = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 2)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.conv(x)), 1))


def needs_arguments(width):
    return nn.Conv2d(3, width, 1)


not_a_model = 42


def makes_a_list():
    return [nn.Conv2d(3, 4, 1)]
"""


def test_the_command_writes_a_spec_that_checks(cli, tmp_path):
    source = tmp_path / "net.py"
    source.write_text(MODEL_FILE)
    destination = tmp_path / "net.toml"
    result = cli("import", f"{source}:Net", "--input", "3x8x8", "--out", str(destination))
    assert result.exit_code == 0, result.output
    assert "outputs equal to the original's" in result.stdout.replace("\n", "")  # wrapped at 80 columns
    text = destination.read_text()
    assert text.startswith(f"# Imported by `cnnscope import` from {source}:Net on inputs of 3x8x8.")
    assert cli("check", str(destination)).exit_code == 0
    printed = cli("import", f"{source}:Net", "--input", "3x8x8")
    assert printed.exit_code == 0 and printed.stdout.startswith("# Imported by")


def test_a_model_file_imports_its_neighbours(cli, tmp_path):
    """A model split across files (``from cnnscope_blocks_x import Block``) reads as ``python net.py`` would run it."""
    (tmp_path / "cnnscope_blocks_x.py").write_text("from torch import nn\nBlock = lambda: nn.Conv2d(3, 4, 3)\n")
    (tmp_path / "split.py").write_text(
        "from torch import nn\nfrom cnnscope_blocks_x import Block\n\n\n"
        "class Net(nn.Sequential):\n    def __init__(self):\n        super().__init__(Block(), nn.ReLU())\n"
    )
    result = cli("import", f"{tmp_path / 'split.py'}:Net", "--input", "3x8x8")
    assert result.exit_code == 0, result.output
    assert 'type = "conv2d", out = 4' in result.stdout


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("no_such_package_xyz:Net", "cannot import 'no_such_package_xyz'"),
        ("{file}:Missing", "has no 'Missing'"),
        ("{file}:needs_arguments", "cannot be called without arguments"),
        ("{file}:not_a_model", "is not a class or a function"),
        ("{file}:makes_a_list", "gave a list, not a torch.nn.Module"),
        ("{file}", "is not MODULE:NAME"),
        ("missing.py:Net", "no such file"),
        ("{file}:Net --out {file}.json", "--out names the spec, a .toml file"),
    ],
)
def test_bad_targets_are_one_line_and_exit_2(cli, tmp_path, target, fragment):
    source = tmp_path / "net.py"
    source.write_text(MODEL_FILE)
    destination = tmp_path / "out.toml"
    args = target.format(file=source).split()
    result = cli("import", *args, *(() if "--out" in args else ("--out", str(destination))))
    assert result.exit_code == 2
    assert fragment in result.output and "Traceback" not in result.output
    assert not destination.exists()


def test_one_number_is_every_spatial_side_as_for_inspect(cli, tmp_path):
    source = tmp_path / "net.py"
    source.write_text(MODEL_FILE)
    result = cli("import", f"{source}:Net", "--input", "8")
    assert result.exit_code == 0 and "on inputs of 3x8x8." in result.stdout


def test_an_input_the_model_cannot_take_is_named(cli, tmp_path):
    source = tmp_path / "net.py"
    source.write_text(MODEL_FILE)
    result = cli("import", f"{source}:Net", "--input", "3x16x16")
    assert result.exit_code == 2 and "does not run on an input of 3x16x16" in result.output
