"""``--weights torchvision``: torchvision's published weights through its weights API and torch's hub cache.

No test reaches the network: the cache is seeded with the file torchvision would download (random
weights of torchvision's own model, so every key and shape is torchvision's), under the name its URL
gives, and the network is cut where torch.hub opens it.
"""

from __future__ import annotations

import re
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
models = pytest.importorskip("torchvision.models")

from cnnscope.runtime.published import TORCHVISION_MODELS, cached_file  # noqa: E402
from cnnscope.zoo import load_target  # noqa: E402
from tests.twins import TWINS  # noqa: E402


@pytest.fixture
def offline(tmp_path, monkeypatch) -> Path:
    """An empty torch cache and no network: every download fails as it does on a machine without internet."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def no_network(*_args, **_kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr("torch.hub.urlopen", no_network)
    return tmp_path / "torch"


def seed_cache(spec_name: str, old_keys: bool = False, **kwargs) -> Path:
    """torchvision's model with random weights, saved where torch.hub caches its published file
    (``old_keys``: with DenseNet's module names of the published file, 'norm.1' for 'norm1')."""
    name = TORCHVISION_MODELS[spec_name]
    url = models.get_model_weights(name).DEFAULT.url
    path = cached_file(url)
    assert path.name == Path(url).name and path.parent.name == "checkpoints"
    torch.manual_seed(0)
    twin = models.get_model(name, weights=None, **kwargs).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    state = twin.state_dict()
    if old_keys:  # and, saved before torch 0.4.1, no batch-norm counters
        state = {
            re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", k): v
            for k, v in state.items()
            if not k.endswith("num_batches_tracked")
        }
        assert any(".norm.1.weight" in key for key in state)
    torch.save(state, path)
    return path


def test_every_twin_has_published_weights():
    assert set(TORCHVISION_MODELS) == set(TWINS)
    for name in TORCHVISION_MODELS.values():
        assert models.get_model_weights(name).DEFAULT.url.startswith("https://")


@pytest.mark.parametrize(
    ("spec_name", "kwargs"),
    [
        ("resnet18", {}),
        # torchvision's GoogLeNet file holds the auxiliary heads, which the spec (and the twin without them) lacks
        ("googlenet_tv", {"aux_logits": True, "init_weights": True}),
        ("densenet121", {"old_keys": True}),
    ],
)
def test_spec_model_equals_torchvision_with_the_same_file(offline, spec_name, kwargs):
    from cnnscope.runtime.opening import open_model

    path = seed_cache(spec_name, **kwargs)
    model, weights = open_model(load_target(spec_name), "torchvision")
    assert weights.source == "torchvision" and "torchvision's published ImageNet weights" in weights.note
    old_keys = kwargs.get("old_keys", False)
    options = {key: value for key, value in kwargs.items() if key != "old_keys"}
    reference = models.get_model(TORCHVISION_MODELS[spec_name], weights=None, **options).eval()
    state = torch.load(path, weights_only=True)
    if old_keys:  # as torchvision's densenet._load_state_dict renames them
        state = {re.sub(r"(denselayer\d+\.(?:norm|relu|conv))\.([12])\.", r"\1\2.", k): v for k, v in state.items()}
    if "aux_logits" in kwargs:
        reference = models.get_model("googlenet", weights=None, aux_logits=False, init_weights=True).eval()
        state = {k: v for k, v in state.items() if not k.startswith(("aux1.", "aux2."))}
    reference.load_state_dict(state)
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(1))  # the same file: any size tells
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))
    assert path.is_file()  # read from the cache, nothing downloaded


def test_no_cache_and_no_network_is_one_clear_line(offline, cli, tmp_path):
    image = tmp_path / "grey.png"
    Image.fromarray(np.full((64, 64, 3), 128, dtype=np.uint8)).save(image)
    for args in (("build", "resnet18"), ("run", "resnet18", "--image", str(image), "--no-preview")):
        result = cli(*args, "--weights", "torchvision")
        assert result.exit_code == 2, result.output
        message = result.stderr.strip()
        assert len(message.splitlines()) == 1, message
        url = models.ResNet18_Weights.DEFAULT.url
        assert "cannot download" in message and url in message and str(cached_file(url)) in message
    assert not any(offline.rglob("*.pth"))  # nothing half-written left in the cache


def test_cached_weights_serve_every_command(offline, cli, tmp_path):
    from cnnscope.runtime.weights import read_state_dict

    path = seed_cache("resnet18")
    result = cli("build", "resnet18", "--device", "cpu", "--weights", "torchvision")
    assert result.exit_code == 0, result.output
    verified = cli("verify", "resnet18", "--device", "cpu", "--weights", "torchvision")
    assert verified.exit_code == 0, verified.output
    image = tmp_path / "grey.png"
    Image.fromarray(np.full((64, 64, 3), 128, dtype=np.uint8)).save(image)
    ran = cli("run", "resnet18", "--image", str(image), "--device", "cpu", "--weights", "torchvision", "--no-preview")
    assert ran.exit_code == 0, ran.output
    assert "torchvision's published ImageNet weights of resnet18" in ran.stdout.replace("\n", "")
    exported = cli("export", "resnet18", "--weights", "torchvision", "--out", str(tmp_path / "r18.safetensors"))
    assert exported.exit_code == 0, exported.output
    published, written = torch.load(path, weights_only=True), read_state_dict(tmp_path / "r18.safetensors")
    assert published.keys() == written.keys() and all(torch.equal(published[k], written[k]) for k in published)


def test_a_spec_without_published_weights_says_which_have_them(offline, cli):
    result = cli("build", "lenet5", "--weights", "torchvision")
    assert result.exit_code == 2
    assert "'lenet5' has no torchvision weights" in result.stderr and "resnet50" in result.stderr


def test_without_torchvision_one_line_says_to_install_it(offline, monkeypatch):
    from cnnscope.errors import CheckpointError
    from cnnscope.runtime.published import published_state_dict

    monkeypatch.setitem(sys.modules, "torchvision.models", None)  # import fails as if not installed
    with pytest.raises(CheckpointError, match="needs torchvision") as raised:
        published_state_dict("resnet18")
    assert "pip install torchvision" in str(raised.value)
