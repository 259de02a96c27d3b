"""The encoder-decoder specs (U-Net, DCGAN generator, convolutional autoencoder) against
torch models written here from the papers, with the spec's layer names as module names.

Each reference is built independently (nn.Conv2d, nn.ConvTranspose2d, torch.cat and
torchvision's center crop), its weights are loaded into the built spec, and both must give
the same output; the static shapes and parameter counts must equal the reference's. The
transposed-convolution sizes and U-Net's crops are also derived by hand below.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
tv_functional = pytest.importorskip("torchvision.transforms.functional")

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import cnnscope  # noqa: E402
from cnnscope.analysis import analyze  # noqa: E402
from cnnscope.spec import Spec  # noqa: E402
from cnnscope.zoo import load_target  # noqa: E402
from tests.conftest import record_output_shapes  # noqa: E402

# ---------------------------------------------------------------- references


class DoubleConv(nn.Module):
    """Two unpadded 3x3 convolutions with ReLU (U-Net's blue arrows)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(F.relu(self.conv1(x))))


class Encoder(nn.Module):
    """One contracting level: 2x2 max pooling (not on the first level), then a double conv."""

    def __init__(self, in_channels: int, out_channels: int, pool: bool) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2, 2) if pool else None
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x) if self.pool is not None else x)


class Decoder(nn.Module):
    """One expansive level: 2x2 up-convolution halving the channels, the cropped skip in front, a double conv."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, 2, stride=2)
        self.conv = DoubleConv(in_channels, in_channels // 2)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = self.up(x)
        skip = tv_functional.center_crop(skip, list(up.shape[-2:]))
        return self.conv(torch.cat([skip, up], dim=1))


class UNetReference(nn.Module):
    """Fig. 1 of Ronneberger et al.: 64-128-256-512-1024 channels, 2 classes."""

    def __init__(self) -> None:
        super().__init__()
        widths = [1, 64, 128, 256, 512, 1024]
        for level in range(1, 6):
            self.add_module(f"enc{level}", Encoder(widths[level - 1], widths[level], pool=level > 1))
        for level in range(4, 0, -1):
            self.add_module(f"dec{level}", Decoder(widths[level + 1]))
        self.head = nn.Conv2d(64, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level in range(1, 6):
            x = self.get_submodule(f"enc{level}")(x)
            skips.append(x)
        x = skips.pop()
        for level in range(4, 0, -1):
            x = self.get_submodule(f"dec{level}")(x, skips.pop())
        return self.head(x)


class GeneratorStep(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, padding: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, 4, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class DCGANGeneratorReference(nn.Module):
    """The PyTorch DCGAN tutorial's generator (nz = 100, ngf = 64, nc = 3), one module per step."""

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3) -> None:
        super().__init__()
        widths = [nz, ngf * 8, ngf * 4, ngf * 2, ngf]
        self.up = nn.ModuleList(
            GeneratorStep(widths[i], widths[i + 1], stride=1 if i == 0 else 2, padding=0 if i == 0 else 1)
            for i in range(4)
        )
        self.image = nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False)
        self.tanh = nn.Tanh()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        for step in self.up:
            z = step(z)
        return self.tanh(self.image(z))


class ConvAutoencoderReference(nn.Module):
    """1x28x28 -> 16x14x14 -> 32x7x7 -> 64x1x1 code -> 32x7x7 -> 16x14x14 -> 1x28x28."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.ModuleDict(
            {
                "conv1": nn.Conv2d(1, 16, 3, stride=2, padding=1),
                "conv2": nn.Conv2d(16, 32, 3, stride=2, padding=1),
                "code": nn.Conv2d(32, 64, 7),
            }
        )
        self.decoder = nn.ModuleDict(
            {
                "conv1": nn.ConvTranspose2d(64, 32, 7),
                "conv2": nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1),
                "conv3": nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1),
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        encoder, decoder = self.encoder, self.decoder
        code = encoder["code"](F.relu(encoder["conv2"](F.relu(encoder["conv1"](x)))))
        return torch.sigmoid(decoder["conv3"](F.relu(decoder["conv2"](F.relu(decoder["conv1"](code))))))


REFERENCES = {
    "unet": UNetReference,
    "dcgan_generator": DCGANGeneratorReference,
    "conv_autoencoder": ConvAutoencoderReference,
}
# U-Net's 572x572 tile is heavy on a CPU: the forward passes use the smallest input whose
# poolings all see even sizes, 188 = 572 - 24*16, which gives a 4x4 map.
RUNTIME_INPUT = {"unet": (1, 188, 188)}


def randomise(model: nn.Module) -> None:
    """He-normal convolutions (the U-Net paper's init, keeping activations alive through 23 layers),
    random biases and batch-norm statistics, so that a wrong wiring or a skipped layer shows."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.uniform_(module.bias, -0.1, 0.1)
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.uniform_(module.bias, -0.5, 0.5)


def runtime_spec(name: str) -> Spec:
    spec = load_target(name)
    return spec.with_input(RUNTIME_INPUT[name]) if name in RUNTIME_INPUT else spec


# ---------------------------------------------------------------- the spec equals the reference


@pytest.mark.parametrize("name", REFERENCES)
def test_spec_gives_the_reference_output(name, tmp_path):
    torch.manual_seed(0)
    reference = REFERENCES[name]()
    with torch.no_grad():
        randomise(reference)
    checkpoint = tmp_path / f"{name}.pth"
    torch.save(reference.state_dict(), checkpoint)
    spec = runtime_spec(name)
    model = cnnscope.load_weights(cnnscope.build(spec), checkpoint)  # strict: every key, every shape
    batch = 1 if name == "unet" else 2
    x = torch.randn(batch, *spec.input.shape)
    modes = ("eval", "train") if name == "dcgan_generator" else ("eval",)  # batch norm both ways
    for mode in modes:
        reference.train(mode == "train")
        model.train(mode == "train")
        with torch.no_grad():
            expected, actual = reference(x), model(x)
        assert actual.shape == expected.shape == (batch, *analyze(spec).output_shape)
        assert expected.std() > 1e-3  # the test would notice a difference
        assert torch.allclose(actual, expected, rtol=1e-4, atol=1e-5 * expected.abs().max().item()), mode


@pytest.mark.parametrize("name", REFERENCES)
def test_static_shapes_and_params_equal_the_reference(name):
    """At the spec's own input (U-Net's 572x572 tile), on the meta device: no memory, no compute."""
    analysis = analyze(load_target(name))
    with torch.device("meta"):
        reference = REFERENCES[name]()
    assert analysis.total.params == sum(p.numel() for p in reference.parameters())

    modules = dict(reference.named_modules())
    shared = [report for report in analysis.layers if report.name in modules]
    assert [r.name for r in analysis.layers if r.cost.params and r.name not in modules] == []
    for report in shared:
        own = sum(p.numel() for p in modules[report.name].parameters(recurse=False))
        assert report.cost.params == own, report.name
    recorded = record_output_shapes(reference, [report.name for report in shared])
    with torch.no_grad():
        out = reference(torch.empty(1, *analysis.spec.input.shape, device="meta"))
    assert tuple(out.shape) == (1, *analysis.output_shape)
    for report in shared:
        assert recorded[report.name] == (1, *report.output_shape), report.name


# ---------------------------------------------------------------- by hand


def transposed_size(size: int, kernel: int, stride: int, padding: int, output_padding: int = 0) -> int:
    """O = (I - 1)*S - 2P + D*(K - 1) + output_padding + 1, with D = 1."""
    return (size - 1) * stride - 2 * padding + (kernel - 1) + output_padding + 1


# (spec, layer, I, K, S, P, output_padding, O worked out on paper)
TRANSPOSED = [
    ("dcgan_generator", "up.0.conv", 1, 4, 1, 0, 0, 4),  # 0*1 - 0 + 3 + 0 + 1
    ("dcgan_generator", "up.1.conv", 4, 4, 2, 1, 0, 8),  # 3*2 - 2 + 3 + 0 + 1
    ("dcgan_generator", "up.2.conv", 8, 4, 2, 1, 0, 16),  # 7*2 - 2 + 3 + 0 + 1
    ("dcgan_generator", "up.3.conv", 16, 4, 2, 1, 0, 32),  # 15*2 - 2 + 3 + 0 + 1
    ("dcgan_generator", "image", 32, 4, 2, 1, 0, 64),  # 31*2 - 2 + 3 + 0 + 1
    ("conv_autoencoder", "decoder.conv1", 1, 7, 1, 0, 0, 7),  # 0 - 0 + 6 + 0 + 1
    ("conv_autoencoder", "decoder.conv2", 7, 3, 2, 1, 1, 14),  # 6*2 - 2 + 2 + 1 + 1 (13 without output_padding)
    ("conv_autoencoder", "decoder.conv3", 14, 3, 2, 1, 1, 28),  # 13*2 - 2 + 2 + 1 + 1
    ("unet", "dec4.up", 28, 2, 2, 0, 0, 56),  # 27*2 + 1 + 1: exactly twice the size
    ("unet", "dec3.up", 52, 2, 2, 0, 0, 104),
    ("unet", "dec2.up", 100, 2, 2, 0, 0, 200),
    ("unet", "dec1.up", 196, 2, 2, 0, 0, 392),
]


@pytest.mark.parametrize(("name", "layer", "size", "kernel", "stride", "padding", "extra", "by_hand"), TRANSPOSED)
def test_transposed_convolution_sizes_by_hand(name, layer, size, kernel, stride, padding, extra, by_hand):
    assert transposed_size(size, kernel, stride, padding, extra) == by_hand
    report = analyze(load_target(name)).by_name[layer]
    spec_layer = report.node.layer
    assert (spec_layer.kernel, spec_layer.stride, spec_layer.padding, spec_layer.output_padding) == (
        (kernel, kernel),
        (stride, stride),
        (padding, padding),
        (extra, extra),
    )
    assert report.input_shapes[0][1:] == (size, size)
    assert report.output_shape[1:] == (by_hand, by_hand)
    channels = report.input_shapes[0][0]
    weight = torch.empty(channels, report.output_shape[0], kernel, kernel, device="meta")
    out = F.conv_transpose2d(
        torch.empty(1, channels, size, size, device="meta"), weight, None, stride, padding, extra
    )  # torch agrees with the formula
    assert tuple(out.shape[2:]) == (by_hand, by_hand)


# U-Net at 572x572 (Fig. 1): (crop layer, the encoder map it cuts, channels, from, to)
UNET_CROPS = [
    ("dec4.crop", "enc4.conv.conv2", 512, 64, 56),  # 4 pixels off each side
    ("dec3.crop", "enc3.conv.conv2", 256, 136, 104),  # 16
    ("dec2.crop", "enc2.conv.conv2", 128, 280, 200),  # 40
    ("dec1.crop", "enc1.conv.conv2", 64, 568, 392),  # 88
]


@pytest.mark.parametrize(("layer", "skip", "channels", "size", "cropped"), UNET_CROPS)
def test_unet_crops_by_hand(layer, skip, channels, size, cropped):
    analysis = analyze(load_target("unet"))
    report = analysis.by_name[layer]
    up = layer.replace("crop", "up")
    assert report.node.inputs == (skip, up)
    assert report.input_shapes == ((channels, size, size), (channels, cropped, cropped))
    assert report.output_shape == (channels, cropped, cropped)
    assert (size - cropped) % 2 == 0  # an even margin: the center crop is unambiguous
    assert analysis.by_name[layer.replace("crop", "cat")].output_shape == (2 * channels, cropped, cropped)


def test_unet_sizes_by_hand():
    """Fig. 1's sizes: each double conv loses 4 pixels, pooling halves, up-convolution doubles."""
    by_name = analyze(load_target("unet")).by_name
    size, encoder = 572, {}
    for level in range(1, 6):
        size = (size if level == 1 else size // 2) - 4
        encoder[level] = size
        assert by_name[f"enc{level}.conv.conv2"].output_shape[1:] == (size, size)
    assert encoder == {1: 568, 2: 280, 3: 136, 4: 64, 5: 28}
    for level in range(4, 0, -1):
        size = 2 * size - 4
        assert by_name[f"dec{level}.conv.conv2"].output_shape[1:] == (size, size)
    assert by_name["head"].output_shape == (2, 388, 388) and size == 388
