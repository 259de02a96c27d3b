"""`cnnscope run --image cat.jpg` without a model: resnet50 with torchvision's published weights, never random."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torchvision")

from cnnscope.runtime.published import DEFAULT_CLASSIFIER
from tests.test_published import offline, seed_cache  # noqa: F401 (offline: the fixture)


@pytest.fixture
def cat(tmp_path: Path) -> Path:
    path = tmp_path / "cat.png"
    Image.fromarray((np.random.default_rng(0).random((60, 80, 3)) * 255).astype(np.uint8)).save(path)
    return path


def test_the_default_model_gives_a_top_5(cli, offline: Path, cat: Path):  # noqa: F811
    import torch
    from torchvision.models import get_model

    seed_cache(DEFAULT_CLASSIFIER)  # torchvision's resnet50, seeded weights, in the file torchvision would fetch
    result = cli("run", "--image", str(cat), "--json", "--device", "cpu")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["name"] == "resnet50" and document["weights"] == "torchvision"
    predictions = document["predictions"]
    assert len(predictions) == 5
    # torchvision's own model with the same weights (seed_cache's seed), on the same input, ranks the same classes
    torch.manual_seed(0)
    twin = get_model("resnet50", weights=None).eval()
    from cnnscope.vision.images import open_image, prepare
    from cnnscope.zoo import load_target

    array = prepare(open_image(cat), load_target(DEFAULT_CLASSIFIER)).array
    with torch.no_grad():
        top = torch.softmax(twin(torch.from_numpy(array).unsqueeze(0)), 1)[0].topk(5)
    assert {p["index"] for p in predictions} == set(top.indices.tolist())
    assert [p["probability"] for p in predictions] == pytest.approx(top.values.tolist(), abs=1e-5)


def test_without_network_or_cache_one_line_and_exit_2(cli, offline: Path, cat: Path):  # noqa: F811
    result = cli("run", "--image", str(cat))
    assert result.exit_code == 2
    assert result.stdout == "" and result.stderr.count("\n") == 1
    assert "run without a model uses resnet50 with torchvision's weights: cannot download" in result.stderr
    assert "copy it to" in result.stderr
