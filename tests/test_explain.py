"""Gradient ascent on the input: the picture it finds excites its channel more than real digits do."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402

import cnnscope  # noqa: E402
from cnnscope.errors import CnnscopeError  # noqa: E402
from cnnscope.vision.explain import maximize_channel, spatial_layer  # noqa: E402
from cnnscope.vision.train import load_digits  # noqa: E402


def test_gradient_ascent_beats_every_real_digit(trained_lenet):
    model, data = trained_lenet
    found = maximize_channel(model, "c3", 5, steps=40, seed=1)
    assert found.image.shape == (1, 32, 32)
    assert found.activations[-1] > found.activations[0]
    digits = data.test_x[:200]
    with torch.no_grad():
        real = model.activations(digits)["c3"][:, 5].mean(dim=(1, 2))
    assert found.activations[-1] > float(real.max())
    first, again = (maximize_channel(model, "c3", 5, steps=3, seed=1) for _ in range(2))
    assert (again.image == first.image).all()  # seeded: the same picture twice


def test_layers_and_channels_are_checked():
    model = cnnscope.build("lenet5")
    assert spatial_layer(model.spec, None) == "c3"  # the last convolution whose output is still a map
    with pytest.raises(CnnscopeError, match="'c3' has channels 0-15, not 16"):
        maximize_channel(model, "c3", 16, steps=1)
    with pytest.raises(CnnscopeError, match="'f6' outputs 84, not channels x height x width"):
        spatial_layer(model.spec, "f6")


def test_the_command_finds_and_saves_a_channels_input(cli, tmp_path):
    result = cli("maximize", "lenet5", "--layer", "c3", "--channel", "1", "--steps", "5", "--save", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "lenet5.c3, channel 1: mean activation" in result.stdout and "in 5 steps (seed 0)" in result.stdout
    assert (tmp_path / "channel_1.png").is_file()
    wrong = cli("maximize", "lenet5", "--layer", "f6")
    assert wrong.exit_code == 2 and "'f6' outputs 84, not channels x height x width" in wrong.output


# --- class-activation heat-maps ----------------------------------------------------------------

TINY = """
name = "tiny"
input = [1, 4, 4]
layers = [
  {name = "conv", type = "conv2d", out = 2, kernel = 3, padding = 1, act = "tanh"},
  {name = "pool", type = "global_avgpool"},
  {name = "flatten", type = "flatten"},
  {name = "fc", type = "linear", out = 3},
]
"""


def test_heat_maps_of_a_pooled_linear_head_by_hand(tmp_path):
    """After global average pooling and one linear layer, the class score's gradient at channel k is
    W[c, k] / (H W) everywhere: Grad-CAM is then CAM (Zhou et al. 2016), and the difference method is
    the same sum over the change from the blank picture's activations, computed here with numpy."""
    from cnnscope.vision.explain import class_heat_map

    (tmp_path / "tiny.toml").write_text(TINY)
    torch.manual_seed(3)
    model = cnnscope.build(str(tmp_path / "tiny.toml")).eval()
    image = np.random.default_rng(0).normal(size=(1, 4, 4)).astype(np.float32)
    image[0, 0, :] = image[0, -1, :] = image[0, :, 0] = image[0, :, -1] = 0.25  # a border of one colour
    conv, fc = model.get_submodule("conv"), model.get_submodule("fc")

    def maps(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.tanh(conv(torch.from_numpy(x)[None])[0].numpy())

    weights = fc.weight.detach().numpy()[2] / 16  # class 2, a 4x4 map
    found = class_heat_map(model, image, 2, method="gradcam")
    assert found.layer == "conv"  # the last layer whose output is a map
    expected = np.maximum(np.tensordot(weights, maps(image), axes=1), 0)
    np.testing.assert_allclose(found.heat, expected, rtol=1e-5, atol=1e-7)
    blank = np.full_like(image, 0.25)
    expected = np.maximum(np.tensordot(weights, maps(image) - maps(blank), axes=1), 0)
    np.testing.assert_allclose(
        class_heat_map(model, image, 2, method="difference").heat, expected, rtol=1e-5, atol=1e-7
    )
    assert found.heat.shape == (4, 4) and (found.heat >= 0).all()


@pytest.fixture(scope="module")
def trained_lenet():
    """The zoo's LeNet-5 (tanh) trained for 3 epochs (two seconds), and the digits."""
    from cnnscope.vision.train import train

    data = load_digits((32, 32))
    torch.manual_seed(0)
    model = cnnscope.build("lenet5")
    assert train(model, data, epochs=3) > 0.85
    return model.eval(), data


def _on_strokes(heat: np.ndarray, digit: np.ndarray) -> float:
    """How much more often than chance the hottest 15% of pixels lie on the digit's strokes."""
    strokes = digit[0].ravel() > 0  # bright strokes on a background of -1
    hottest = np.argsort(-heat.ravel(), kind="stable")[: round(0.15 * heat.size)]
    return float(strokes[hottest].mean() / strokes.mean())


def test_heat_maps_of_the_trained_lenet_fall_on_the_strokes(trained_lenet):
    """Measured over held-out digits: the difference from the blank background puts the hottest pixels
    on the strokes, and hiding them takes the class away, where hiding as many at random does not.
    Grad-CAM's weighted sum treats a zero activation as "nothing here", and LeNet-5's features are not
    zero on the empty background (tanh of a background of -1): its map falls beside the strokes, and
    the check says so (the same held for ReLU variants and other seeds when this was written)."""
    from cnnscope.vision.explain import class_heat_map, heat_check

    model, data = trained_lenet
    digits = [(data.test_x[i].numpy(), int(data.test_y[i])) for i in range(30)]

    def measured(layer, method):
        maps = [class_heat_map(model, x, label, layer, method) for x, label in digits]
        strokes = np.median([_on_strokes(m.heat, x) for m, (x, _) in zip(maps, digits)])
        fall = np.median([m.probability - m.hottest_hidden for m in maps])
        chance = np.median([m.probability - m.random_hidden for m in maps])
        flagged = np.mean(["barely depends" in " ".join(heat_check(m)) for m in maps])
        return strokes, fall, chance, flagged

    strokes, fall, chance, flagged = measured("c1", "difference")  # a random pixel is on a stroke at 1.0
    assert strokes >= 1.8 and fall > 0.5 and chance < 0.05 and flagged <= 0.1, (strokes, fall, chance, flagged)
    strokes, fall, chance, flagged = measured("c3", "difference")  # 10x10 positions: a coarser map
    assert strokes >= 1.2 and fall > 0.5 and chance < 0.05, (strokes, fall, chance)
    gradcam = measured("c3", "gradcam")
    assert gradcam[0] < 1.0 and gradcam[1] < fall / 4 and gradcam[3] > 2 * flagged, (gradcam, fall, flagged)


def test_the_check_hides_the_hottest_pixels_as_it_says(trained_lenet):
    """The check's probabilities, recomputed here: the hottest 15% of pixels set to the background (-1)."""
    from cnnscope.vision.explain import class_heat_map

    tanh, data = trained_lenet
    digit, label = data.test_x[7].numpy(), int(data.test_y[7])
    found = class_heat_map(tanh, digit, label, "c3", "difference")
    hidden = digit.copy().reshape(-1)
    hidden[np.argsort(-found.heat.ravel(), kind="stable")[:154]] = -1.0  # 15% of 1,024 pixels
    with torch.no_grad():
        probabilities = tanh(torch.from_numpy(np.stack([digit, hidden.reshape(digit.shape)]))).softmax(dim=1)
    assert found.probability == pytest.approx(float(probabilities[0, label]), abs=1e-6)
    assert found.hottest_hidden == pytest.approx(float(probabilities[1, label]), abs=1e-6)


def test_run_draws_and_saves_the_heat_map(cli, tmp_path, monkeypatch):
    from test_vision import digit_png

    monkeypatch.setenv("CNNSCOPE_HOME", str(tmp_path / "home"))
    image, save = tmp_path / "digit.png", tmp_path / "out"
    digit_png(image)
    torch.manual_seed(0)  # random weights (no checkpoint in this CNNSCOPE_HOME), the same each time
    ran = cli("run", "lenet5", "--image", str(image), "--cam", "--cam-class", "3", "--preview", "--save", str(save))
    assert ran.exit_code == 0, ran.output
    assert "Where the picture made '3'" in ran.stdout and "Grad-CAM at s4" in ran.stdout and "▀" in ran.stdout
    assert "Heat-map check: with the hottest 15% of pixels hidden" in ran.stdout
    assert "P('3')" in cli("run", "lenet5", "--image", str(image), "--cam-class", " 3 ").stdout
    assert np.load(save / "cam.npy").shape == (32, 32)
    from PIL import Image

    assert Image.open(save / "cam.png").size[0] >= 2 * 192  # the input beside it under its heat
    assert Image.open(save / "input.png").size == (192, 192)  # 32x32, each pixel a 6x6 square
    assert "each pixel drawn 6x6" in (save / "summary.md").read_text()
    assert (
        "## Heat-map" in (save / "summary.md").read_text()
        and "![heat-map](cam.png)" in (save / "summary.md").read_text()
    )
    for wrong, message in (
        (["--cam-class", "12"], "lenet5 has classes 0-9, not 12"),
        (["--cam-class", "seven"], "no class named 'seven'"),
        (["--cam-method", "saliency"], "no heat-map method 'saliency'"),
        (["--cam-layer", "f6"], "'f6' outputs 84, not channels x height x width"),
        (["--cam-layer", "c5"], "'c5' outputs 120x1x1: one position, nowhere for a heat-map to point"),
        (["--cam-layer", "C1"], "did you mean 'c1'?"),
        (["--cam-class", "-1"], "lenet5 has classes 0-9, not -1"),
    ):
        refused = cli("run", "lenet5", "--image", str(image), *wrong)  # each --cam-* option implies --cam
        assert refused.exit_code == 2 and message in refused.output, refused.output
