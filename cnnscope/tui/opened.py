"""The torch model behind the TUI's pictures, opened by the one policy of :mod:`cnnscope.runtime.opening`.

Not a widget: the model screen builds it in a worker thread and hands it to the panes that draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cnnscope.errors import missing_extra

if TYPE_CHECKING:
    from cnnscope.runtime.build import SpecModel
    from cnnscope.runtime.opening import Weights
    from cnnscope.spec import Spec


@dataclass(frozen=True)
class OpenedModel:
    model: SpecModel  # in eval mode; ``model.spec`` is the spec (and input size) it was built for
    weights: Weights  # which weights it holds: ``weights.note`` goes beside every picture

    @property
    def note(self) -> str:
        return self.weights.note


def open_for_pictures(spec: Spec, asked: str | None) -> OpenedModel:
    """``spec`` as a torch model with the weights asked for, else trained, else random.

    Unlike the commands, a checkpoint that does not load gives random weights (``weights.failed``
    says why, for the screen to show), and a download draws no progress bar under the TUI.
    Slow (imports torch): call it from a worker thread.
    """
    from cnnscope.runtime.opening import open_model

    try:
        model, weights = open_model(spec, asked, random_if_unloadable=True, progress=False)
    except ImportError as exc:  # a lean install: static browsing works, pictures need the torch extra
        raise missing_extra(exc, "filters and activations") or exc from None
    return OpenedModel(model, weights)
