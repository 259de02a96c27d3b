"""The architecture figure of the open model (``cnnscope draw``), as a picture in the terminal.

Real pixels where the terminal speaks a graphics protocol, true-colour half blocks elsewhere
(the same picture widgets as filters and activations). The PNG is rendered in a worker thread.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from PIL import Image
from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from cnnscope.analysis import Analysis
from cnnscope.errors import CnnscopeError
from cnnscope.tui.widgets.picture import new_picture

if TYPE_CHECKING:
    from cnnscope.tui.terminal import GraphicsWidget


class FigureScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,g", "dismiss", "close"),
        Binding("s", "switch_style", "volumes / graph"),
    ]
    DEFAULT_CSS = """
    FigureScreen { align: center middle; }
    FigureScreen > #figure { width: 95%; height: 95%; border: round $accent; background: $surface; }
    """

    def __init__(self, analysis: Analysis, graphics: GraphicsWidget | None = None) -> None:
        """``graphics``: textual-image's widget class where the terminal shows real pixels."""
        super().__init__()
        self.analysis = analysis
        self.style_name: str | None = None  # None: the command's default for this net
        self.picture = new_picture(graphics, fit=True, id="figure-picture")

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="figure"):
            yield Static(id="figure-title")
            yield self.picture

    def on_mount(self) -> None:
        self.show_figure()

    def show_figure(self) -> None:
        from cnnscope.draw import default_style

        style = self.style_name or default_style(self.analysis)
        name = escape(self.analysis.spec.name)
        self.query_one("#figure-title", Static).update(
            f"[b]{name}[/b] as {style}  [dim]s switches volumes / graph; cnnscope draw {name} --out FILE.svg"
            " writes it; escape closes[/dim]"
        )
        self.picture.loading = True
        self.run_worker(lambda: self._draw_in_thread(style), thread=True, exclusive=True, group="figure")

    def _draw_in_thread(self, style: str) -> None:
        from cnnscope.draw import draw, to_png

        try:
            image = Image.open(io.BytesIO(to_png(draw(self.analysis, style)))).convert("RGB")
        except CnnscopeError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.app.call_from_thread(self._show, image)

    def _show(self, image: Image.Image) -> None:
        self.picture.loading = False
        self.picture.show(image)

    def action_switch_style(self) -> None:
        from cnnscope.draw import default_style

        current = self.style_name or default_style(self.analysis)
        self.style_name = "graph" if current == "volumes" else "volumes"
        self.show_figure()
