"""The Filters tab: the weights of the selected layer as a picture.

What is known without torch (the layer, its type, parameters and output) shows at once; the
picture follows once the model is built (the screen builds it when asked with
:class:`FiltersPane.ModelWanted`) and the grid is drawn, in a thread of the pane's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import TabPane
from textual.worker import get_current_worker

from cnnscope.analysis import LayerReport
from cnnscope.layers import fmt_shape
from cnnscope.report.numbers import count
from cnnscope.tui.widgets.picture import Bar, filter_image, new_picture

if TYPE_CHECKING:
    from PIL import Image

    from cnnscope.tui.opened import OpenedModel
    from cnnscope.tui.terminal import GraphicsWidget


class FiltersPane(TabPane):
    class ModelWanted(Message):
        """A layer with weights is shown and there is no model yet: the screen builds one."""

    def __init__(self, graphics: GraphicsWidget | None, id: str | None = None) -> None:
        super().__init__("Filters", id=id)
        self.picture = new_picture(graphics, id="filter-picture")
        self.layer_name: str | None = None  # the layer last asked for: a picture drawn for another is dropped

    def compose(self) -> ComposeResult:
        yield self.picture

    def show(self, report: LayerReport | None, opened: OpenedModel | None) -> None:
        self.layer_name = report.name if report else None
        if report is None or not report.node.layer.has_units:
            self.picture.show(None, "filters: pick a conv or linear layer")
            return
        static = (
            f"{report.name}: {report.type}, {count(report.cost.params)} params, output {fmt_shape(report.output_shape)}"
        )
        if opened is None:
            self.picture.show(None, f"{static}\nbuilding the model (importing torch) ...")
            self.post_message(self.ModelWanted())
            return
        self.picture.show(None, f"{static}\ndrawing ...")  # not the last layer's picture under this caption
        self.draw(opened, report.name)

    @work(thread=True, exclusive=True, group="filters")
    def draw(self, opened: OpenedModel, name: str) -> None:
        """Draws in a thread: a large layer's grid takes a while, and keys must not wait for it."""
        weight = opened.model.weight(name).detach().float().numpy()
        image, what, ramp, low, high = filter_image(weight)
        caption = f"{name}: {'x'.join(map(str, weight.shape))} ({what})\n{opened.note}"
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._drawn, name, image, caption, Bar(ramp, low, high))

    def _drawn(self, name: str, image: Image.Image, caption: str, bar: Bar) -> None:
        if name == self.layer_name:
            self.picture.show(image, caption, bar)
