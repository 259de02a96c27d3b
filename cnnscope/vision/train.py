"""Train a digit classifier on scikit-learn's 8x8 handwritten digits (1,797 images, shipped
inside scikit-learn, so no download): upsampled to the spec's input size, 80/20 split
stratified by class, Adam, cross-entropy, random shifts of up to 2 pixels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnnscope.errors import CnnscopeError
from cnnscope.spec import Spec

if TYPE_CHECKING:  # torch is imported by the functions that train: importing this module stays torch-free
    import torch

    from cnnscope.runtime.build import SpecModel


DIGITS = 1797  # images in scikit-learn's set
TEST_FRACTION = 0.2  # held out, stratified by class
BATCH = 32


@dataclass(frozen=True)
class Digits:
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def check_digit_spec(spec: Spec) -> None:
    from cnnscope.analysis import analyze

    shape = spec.input.shape
    if spec.returns.several:  # which output the loss is on, and what the others learn, no flag could say
        raise CnnscopeError(
            f"{spec.name} returns {len(spec.returns.layers)} outputs: train fits one output to the digits",
            hint="train a spec with one output (no 'outputs' key)",
        )
    if spec.input.is_tokens or len(shape) != 3 or shape[0] != 1 or analyze(spec).output_shape != (10,):
        raise CnnscopeError(
            f"{spec.name} cannot learn the digits: it needs a 1 x H x W input and 10 outputs",
            hint="train lenet5, or a spec of that shape",
        )


def load_digits(size: tuple[int, int], seed: int = 0, test_fraction: float = TEST_FRACTION) -> Digits:
    """Bright strokes on black scaled to [-1, 1], as the spec's [preprocess] makes photos."""
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    digits = sklearn_digits()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16.0)[:, None]
    images = F.interpolate(images, size=size, mode="bilinear", align_corners=False)
    images = (images - 0.5) / 0.5
    labels = torch.from_numpy(digits.target.astype(np.int64))
    train, test = train_test_split(
        np.arange(len(labels)), test_size=test_fraction, random_state=seed, stratify=digits.target
    )
    return Digits(images[train], labels[train], images[test], labels[test])


def accuracy(model: SpecModel, x: torch.Tensor, y: torch.Tensor) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def train(
    model: SpecModel,
    data: Digits,
    epochs: int,
    batch: int = BATCH,
    lr: float = 2e-3,
    seed: int = 0,
    max_steps: int | None = None,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> float:
    """Train in place; return the held-out accuracy. ``on_epoch(epoch, loss, test_accuracy)``.

    On the CPU, as many threads as the model's size calls for (one for LeNet-5), not one per core.
    """
    import torch

    from cnnscope.analysis import analyze
    from cnnscope.runtime.device import training_threads

    previous = torch.get_num_threads()
    on_cpu = all(p.device.type == "cpu" for p in model.parameters())
    if on_cpu:
        torch.set_num_threads(training_threads(analyze(model.spec).total.macs, batch))
    try:
        return _train(model, data, epochs, batch, lr, seed, max_steps, on_epoch)
    finally:
        torch.set_num_threads(previous)


def _train(
    model: SpecModel,
    data: Digits,
    epochs: int,
    batch: int,
    lr: float,
    seed: int,
    max_steps: int | None,
    on_epoch: Callable[[int, float, float], None] | None,
) -> float:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = 0
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(data.train_y))
        total = 0.0
        for start in range(0, len(order), batch):
            chosen = order[start : start + batch]
            # shift the batch by up to 2 pixels: the borders are background, so rolling is safe
            dy, dx = (int(v) for v in torch.randint(-2, 3, (2,)))
            images = torch.roll(data.train_x[chosen], shifts=(dy, dx), dims=(2, 3))
            loss = F.cross_entropy(model(images), data.train_y[chosen])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(chosen)
            steps += 1
            if max_steps is not None and steps >= max_steps:
                break
        test_accuracy = accuracy(model, data.test_x, data.test_y)
        if on_epoch:
            on_epoch(epoch + 1, total / len(order), test_accuracy)
        if max_steps is not None and steps >= max_steps:
            return test_accuracy
    return accuracy(model, data.test_x, data.test_y)
