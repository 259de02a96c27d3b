"""How a model is opened for pictures: the one policy of ``run``, ``maximize``, the demos and the TUI.

Which weights: those asked for (``--weights FILE``, or ``--weights torchvision``: torchvision's
published ImageNet weights for a torchvision-layout zoo spec), else the checkpoint ``cnnscope train``
saved for this spec, else random initial weights, and the note says which, plainly, for every output to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cnnscope.runtime.home import trained_checkpoint
from cnnscope.runtime.published import TORCHVISION, TORCHVISION_MODELS, describe

if TYPE_CHECKING:
    from torch import nn

    from cnnscope.runtime.build import SpecModel
    from cnnscope.spec import Spec

RANDOM_SEED = 0  # random weights are the same every run: a picture or a bug report can be made again


@dataclass(frozen=True)
class Weights:
    source: str | None  # the checkpoint to load; None: random initial weights
    note: str  # what to print beside every picture and prediction
    failed: str = ""  # why the checkpoint chosen did not load (random weights instead)

    @property
    def random(self) -> bool:
        return self.source is None


def choose_weights(spec: Spec, asked: str | None) -> Weights:
    """Asked-for, else trained, else random (no torch needed: it only looks for files).

    ``asked == "torchvision"`` for a spec without published weights raises its CheckpointError.
    """
    if asked == TORCHVISION:
        return Weights(TORCHVISION, describe(spec.name))
    if asked:
        return Weights(asked, f"weights: {asked}")
    trained = trained_checkpoint(spec.name)
    if trained.exists():
        return Weights(str(trained), f"weights: {_short_path(trained)} (saved by cnnscope train)")
    return Weights(None, random_note(spec))


def _short_path(path: Path) -> str:
    """``~/...`` for a path under the home folder (``~/.cache/cnnscope/lenet5.safetensors``): shorter
    beside every picture, and a shell reads it as it is."""
    try:
        return f"~/{path.relative_to(Path.home())}"
    except ValueError:
        return str(path)


def random_note(spec: Spec) -> str:
    """The note of random weights, naming the ways to real ones that this spec has."""
    ways = ["cnnscope train"] if spec.preprocess.labels == "digits" else []  # a digit model learns offline
    ways += ["--weights torchvision"] if spec.name in TORCHVISION_MODELS else []
    ways.append("--weights FILE")
    ways_out = ", or ".join(ways)
    return f"weights: random (seed {RANDOM_SEED}), not trained ({ways_out}): outputs and predictions mean nothing"


def load_source(model: nn.Module, spec_name: str, source: str, progress: bool = True) -> None:
    """Load ``source`` (a checkpoint file, or ``"torchvision"``) into ``model``, whole or not at all.

    ``progress``: a download of torchvision's weights draws its bar on stderr (not under a TUI).
    """
    from cnnscope.runtime.weights import load_state, load_weights

    if source == TORCHVISION:
        from cnnscope.runtime.published import published_state_dict

        load_state(model, published_state_dict(spec_name, progress), f"torchvision's weights of {spec_name}")
    else:
        load_weights(model, source)


def open_model(
    spec: Spec, asked: str | None = None, random_if_unloadable: bool = False, progress: bool = True
) -> tuple[SpecModel, Weights]:
    """``spec`` built as a torch model in eval mode, with the weights :func:`choose_weights` picks.

    A checkpoint that does not load raises its :class:`~cnnscope.errors.CheckpointError`, unless
    ``random_if_unloadable`` (the TUI: it shows the reason and goes on with random weights).
    """
    from cnnscope.errors import CnnscopeError
    from cnnscope.runtime.build import build

    try:
        weights = choose_weights(spec, asked)
    except CnnscopeError as exc:
        if not random_if_unloadable:
            raise
        return _random(spec), Weights(None, f"weights: random ({exc})", failed=str(exc))
    if weights.source is None:
        return _random(spec), weights
    model = build(spec, init=False).eval()  # every weight is loaded next: none drawn at random first
    try:
        load_source(model, spec.name, weights.source, progress)
    except CnnscopeError as exc:
        if not random_if_unloadable:
            raise
        why = f"{weights.source} did not load: {exc.message}"
        return _random(spec), Weights(None, f"weights: random ({why})", failed=why)  # nothing half-loaded
    return model, weights


def _random(spec: Spec) -> SpecModel:
    """``spec`` with torch's initial weights drawn from :data:`RANDOM_SEED`, the caller's random state untouched."""
    import torch

    from cnnscope.runtime.build import build

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        return build(spec).eval()
