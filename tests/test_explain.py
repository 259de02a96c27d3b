"""Gradient ascent on the input: the picture it finds excites its channel more than real digits do."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import cnnscope  # noqa: E402
from cnnscope.errors import CnnscopeError  # noqa: E402
from cnnscope.vision.explain import maximize_channel, spatial_layer  # noqa: E402
from cnnscope.vision.train import load_digits  # noqa: E402


def test_gradient_ascent_beats_every_real_digit():
    torch.manual_seed(0)
    model = cnnscope.build("lenet5").eval()
    found = maximize_channel(model, "c3", 5, steps=40, seed=1)
    assert found.image.shape == (1, 32, 32)
    assert found.activations[-1] > found.activations[0]
    digits = load_digits((32, 32)).test_x[:200]
    with torch.no_grad():
        real = model.activations(digits)["c3"][:, 5].mean(dim=(1, 2))
    assert found.activations[-1] > float(real.max())
    first, again = (maximize_channel(model, "c3", 5, steps=3, seed=1) for _ in range(2))
    assert (again.image == first.image).all()  # seeded: the same picture twice


def test_layers_and_channels_are_checked():
    model = cnnscope.build("lenet5")
    assert spatial_layer(model, None) == "c3"  # the last convolution whose output is still a map
    with pytest.raises(CnnscopeError, match="'c3' has channels 0-15, not 16"):
        maximize_channel(model, "c3", 16, steps=1)
    with pytest.raises(CnnscopeError, match="'f6' outputs 84, not channels x height x width"):
        spatial_layer(model, "f6")


def test_the_command_finds_and_saves_a_channels_input(cli, tmp_path):
    result = cli("maximize", "lenet5", "--layer", "c3", "--channel", "1", "--steps", "5", "--save", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "lenet5.c3, channel 1: mean activation" in result.stdout and "in 5 steps (seed 0)" in result.stdout
    assert (tmp_path / "channel_1.png").is_file()
    wrong = cli("maximize", "lenet5", "--layer", "f6")
    assert wrong.exit_code == 2 and "'f6' outputs 84, not channels x height x width" in wrong.output
