"""One policy opens a model for pictures: asked-for weights, else the trained checkpoint, else random."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnscope.runtime.opening import choose_weights
from cnnscope.zoo import load_target

torch = pytest.importorskip("torch")


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("CNNSCOPE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def save_trained(home: Path) -> Path:
    """A stand-in for ``cnnscope train lenet5``: a LeNet-5 checkpoint where train saves it."""
    from cnnscope.runtime.build import build
    from cnnscope.runtime.weights import save_weights
    from cnnscope.zoo import load_target

    home.mkdir(parents=True, exist_ok=True)
    model = build(load_target("lenet5"))
    with torch.no_grad():
        model.weight("c1").fill_(0.25)  # recognisable: every c1 weight 0.25
    return save_weights(model, home / "lenet5.safetensors")


def test_asked_for_else_trained_else_random(home, tmp_path):
    lenet5 = load_target("lenet5")
    random = choose_weights(lenet5, None)
    assert random.source is None and "random (seed 0), not trained (cnnscope train, or --weights FILE)" in random.note
    # the ways to real weights that a spec has: train only a digit model, torchvision's where published
    assert "(--weights torchvision, or --weights FILE)" in choose_weights(load_target("resnet18"), None).note
    assert "(--weights FILE)" in choose_weights(load_target("unet"), None).note
    trained = save_trained(home)
    chosen = choose_weights(lenet5, None)
    assert chosen.source == str(trained) and chosen.note == f"weights: {trained} (saved by cnnscope train)"
    asked = tmp_path / "mine.safetensors"
    assert choose_weights(lenet5, str(asked)).source == str(asked)  # asked for wins over trained


def test_a_checkpoint_under_the_home_folder_is_named_from_it(home, tmp_path, monkeypatch):
    save_trained(home)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert (
        choose_weights(load_target("lenet5"), None).note
        == "weights: ~/home/lenet5.safetensors (saved by cnnscope train)"
    )


def test_run_maximize_and_the_tui_open_the_same_weights(home, tmp_path, cli):
    from cnnscope.runtime.opening import open_model
    from cnnscope.zoo import load_target

    trained = save_trained(home)
    model, weights = open_model(load_target("lenet5"))
    assert (model.weight("c1") == 0.25).all() and not model.training and weights.source == str(trained)
    image = tmp_path / "digit.png"
    Image.fromarray(np.full((32, 32), 255, dtype=np.uint8)).save(image)
    ran = cli("run", "lenet5", "--image", str(image), "--no-preview")
    assert ran.exit_code == 0, ran.output
    assert weights.note in ran.stdout.replace("\n", "")
    maximized = cli("maximize", "lenet5")
    assert maximized.exit_code == 0, maximized.output
    assert weights.note in maximized.stdout.replace("\n", "")


def test_a_checkpoint_that_does_not_load_is_said_and_random_weights_shown(home):
    from cnnscope.errors import CnnscopeError
    from cnnscope.runtime.opening import open_model
    from cnnscope.zoo import load_target

    home.mkdir(parents=True)
    (home / "lenet5.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CnnscopeError):
        open_model(load_target("lenet5"))  # run and maximize stop with the reason
    _, weights = open_model(load_target("lenet5"), random_if_unloadable=True)  # the TUI goes on
    assert weights.random and weights.failed and weights.note.startswith("weights: random (")
