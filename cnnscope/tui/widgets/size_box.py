"""The input-size field: it resizes the spec itself and tells the screen with a message."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input

from cnnscope.errors import CnnscopeError
from cnnscope.spec import Spec
from cnnscope.spec.sizes import resize


def size_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


class SizeBox(Input):
    """Enter applies a size (``448``, ``3x227x227``) to the spec as written; escape puts back the
    size in force and leaves the field. Posts :class:`InputSizeChanged`, :class:`InputSizeRefused`
    and :class:`Left`; the screen shows the new spec, the error, or gives the focus back."""

    BINDINGS = [Binding("escape", "leave", "leave the field", show=False)]

    class InputSizeChanged(Message):
        """A size applies: ``spec`` is the model at that size (it may still break at a layer)."""

        def __init__(self, spec: Spec) -> None:
            super().__init__()
            self.spec = spec

    class InputSizeRefused(Message):
        """The text is no size (``error`` says why): the size in force stays."""

        def __init__(self, error: CnnscopeError) -> None:
            super().__init__()
            self.error = error

    class Left(Message):
        """Escape: the field shows the size in force again and gives up the focus."""

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id, compact=True, tooltip="e.g. 3x227x227 or 448; enter applies, escape leaves")
        self.base: Spec | None = None  # the spec as written: every size applies to it
        self.in_force: str | None = None  # the size of the spec shown, as the field writes it

    def start(self, base: Spec) -> None:
        """Sizes from now on apply to ``base``, whose own size the field shows."""
        self.base = base
        self.value = self.in_force = size_text(base.input.shape)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # answered here: the screen hears what the size did
        if self.base is None:  # the spec could not be read: there is nothing to resize
            return
        try:
            spec = resize(self.base, event.value)
        except CnnscopeError as exc:
            self.post_message(self.InputSizeRefused(exc))
            return
        self.value = self.in_force = size_text(spec.input.shape)  # '64' applied reads 1x64x64: what it means
        self.post_message(self.InputSizeChanged(spec))

    def action_leave(self) -> None:
        if self.in_force is not None:
            self.value = self.in_force
        self.post_message(self.Left())
