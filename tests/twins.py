"""torchvision's own models for the zoo's torchvision-layout specs, to compare against.

Test-only (it needs torchvision, the ``test`` extra): used by the tests and benchmarks
that prove a spec is the architecture it claims to be.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

TWINS = (
    "alexnet_tv",
    "vgg16",
    "vgg19",
    "googlenet_tv",
    "resnet18",
    "resnet50",
    "resnet152",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "convnext_tiny",
    "shufflenet_v2_x1_0",
    "regnet_x_400mf",
    "densenet121",
)
# torchvision's video models (torchvision.models.video): no ImageNet weights, so apart from TWINS
VIDEO_TWINS = ("r3d_18", "r2plus1d_18")
# The size the tests run each twin at, where they compare functions or counts rather than published
# outputs: an image twin at 224x224 is up to 15.5 GMACs (vgg16), a video twin 40 GMACs a clip. Every
# twin takes these (adaptive pooling before its classifier).
SMALL_INPUTS = {**{name: (3, 96, 96) for name in TWINS}, **{name: (3, 4, 32, 32) for name in VIDEO_TWINS}}


def torchvision_twin(name: str) -> nn.Module:
    """torchvision's model (random weights, eval mode) that the zoo spec ``name`` reproduces."""
    from torchvision import models
    from torchvision.models import video

    builders = {
        "alexnet_tv": lambda: models.alexnet(weights=None),
        "vgg16": lambda: models.vgg16(weights=None),
        "vgg19": lambda: models.vgg19(weights=None),
        "googlenet_tv": lambda: models.googlenet(weights=None, aux_logits=False, init_weights=True),
        "resnet18": lambda: models.resnet18(weights=None),
        "resnet50": lambda: models.resnet50(weights=None),
        "resnet152": lambda: models.resnet152(weights=None),
        "mobilenet_v2": lambda: models.mobilenet_v2(weights=None),
        "mobilenet_v3_large": lambda: models.mobilenet_v3_large(weights=None),
        "efficientnet_b0": lambda: models.efficientnet_b0(weights=None),
        "convnext_tiny": lambda: models.convnext_tiny(weights=None),
        "shufflenet_v2_x1_0": lambda: models.shufflenet_v2_x1_0(weights=None),
        "regnet_x_400mf": lambda: _built_on_cpu(models.regnet_x_400mf),
        "densenet121": lambda: models.densenet121(weights=None),
        "r3d_18": lambda: video.r3d_18(weights=None),
        "r2plus1d_18": lambda: video.r2plus1d_18(weights=None),
    }
    return builders[name]().eval()


def empty_twin(name: str) -> nn.Module:
    """:func:`torchvision_twin` with its memory left as it comes (made on the meta device, then given memory):
    drawing vgg16's 138 M initial weights takes seconds that a count, or weights drawn or loaded next, need not."""
    with torch.device("meta"):
        model = torchvision_twin(name)
    return model.to_empty(device="cpu")


def _built_on_cpu(builder: Callable[..., nn.Module]) -> nn.Module:
    """RegNet computes its widths with tensors and ``.tolist()``, which a meta device cannot;
    build it on the CPU, then move it where the caller builds (meta, for shape checks)."""
    device = torch.get_default_device()
    with torch.device("cpu"):
        model = builder(weights=None)
    return model.to(device)
