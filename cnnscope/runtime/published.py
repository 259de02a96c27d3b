"""torchvision's published ImageNet weights for the zoo's torchvision-layout specs (``--weights torchvision``).

The file comes through torchvision's weights API (its URL and hash), into torch's hub cache
(``$TORCH_HOME/hub/checkpoints/``, the file torchvision itself would use): downloaded once with a
progress bar and checked against the hash in its name, then read from the cache, offline. It is read
like any other checkpoint (``torch.load(weights_only=True)``, never arbitrary pickled code).
torchvision is optional: without it, or without network and cache, one line says how to get the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from cnnscope.errors import CheckpointError

if TYPE_CHECKING:
    import torch

TORCHVISION = "torchvision"  # the --weights value that asks for these weights
# `cnnscope run --image cat.jpg` without a model: ResNet-50 with torchvision's published ImageNet weights
# (IMAGENET1K_V2, 80.9% top-1, a 98 MB file), the classifier most courses show; never random weights
DEFAULT_CLASSIFIER = "resnet50"

# zoo spec -> torchvision's model name (torchvision.models.get_model_weights), the one map of them
TORCHVISION_MODELS = {
    "alexnet_tv": "alexnet",
    "vgg16": "vgg16",
    "vgg19": "vgg19",
    "googlenet_tv": "googlenet",
    "resnet18": "resnet18",
    "resnet50": "resnet50",
    "resnet152": "resnet152",
    "mobilenet_v2": "mobilenet_v2",
    "mobilenet_v3_large": "mobilenet_v3_large",
    "efficientnet_b0": "efficientnet_b0",
    "convnext_tiny": "convnext_tiny",
    "shufflenet_v2_x1_0": "shufflenet_v2_x1_0",
    "regnet_x_400mf": "regnet_x_400mf",
    "densenet121": "densenet121",
}

# heads torchvision trains with and removes once loaded (GoogLeNet's auxiliary classifiers), which the spec lacks
DROPPED = {"googlenet": ("aux1.", "aux2.")}
# DenseNet's published files predate torchvision's module names ('norm.1.weight' for 'norm1.weight');
# torchvision renames them on loading with this pattern (densenet._load_state_dict), and so does cnnscope
OLD_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)
HASH_IN_NAME = re.compile(r"-([a-f0-9]*)\.")  # torch.hub's convention: name-<sha256 prefix>.pth


def torchvision_model(spec_name: str) -> str:
    """torchvision's name for the zoo spec ``spec_name``; a spec without published weights is one clear error."""
    if spec_name not in TORCHVISION_MODELS:
        raise CheckpointError(
            f"'{spec_name}' has no torchvision weights",
            hint=f"--weights torchvision works for {', '.join(TORCHVISION_MODELS)}",
        )
    return TORCHVISION_MODELS[spec_name]


def describe(spec_name: str) -> str:
    """The note beside every picture and prediction (no torch, no torchvision needed)."""
    return f"weights: torchvision's published ImageNet weights of {torchvision_model(spec_name)}"


def cached_file(url: str) -> Path:
    """Where torch.hub keeps the file of ``url``: its basename under ``<hub dir>/checkpoints``."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def published_state_dict(spec_name: str, progress: bool = True) -> dict[str, torch.Tensor]:
    """The published weights of ``spec_name``'s torchvision twin, from the cache or downloaded into it."""
    name = torchvision_model(spec_name)
    try:
        from torchvision.models import get_model_weights
    except ImportError:
        raise CheckpointError(
            "--weights torchvision needs torchvision, which is not installed", hint="pip install torchvision"
        ) from None
    url = get_model_weights(name).DEFAULT.url  # type: ignore[attr-defined]
    path = cached_file(url)
    if not path.is_file():
        _download(url, path, progress)
    from cnnscope.runtime.weights import read_state_dict

    state = read_state_dict(path)
    dropped = DROPPED.get(name, ())
    state = {key: tensor for key, tensor in state.items() if not key.startswith(dropped)}
    if name.startswith("densenet"):
        state = {OLD_DENSENET_KEY.sub(r"\1\2", key): tensor for key, tensor in state.items()}
    return state


def _download(url: str, path: Path, progress: bool) -> None:
    """Fetch ``url`` to ``path`` as torch.hub does (a progress bar on stderr, the hash in the name checked)."""
    import torch.hub

    found = HASH_IN_NAME.search(path.name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(path), found.group(1) if found else None, progress=progress)
    except Exception as exc:  # no network (URLError), a refused folder (OSError), a bad hash (RuntimeError)
        reason = str(getattr(exc, "reason", None) or exc).strip().splitlines()
        raise CheckpointError(
            f"cannot download torchvision's weights ({reason[0] if reason else type(exc).__name__})"
            f" and {path} is not in the cache",
            hint=f"on a machine with internet, download {url} and copy it to {path} ($TORCH_HOME moves the cache)",
        ) from None
