"""The architecture figure of the open model (``cnnscope draw``), as a picture in the terminal.

Real pixels where the terminal speaks a graphics protocol, true-colour half blocks elsewhere
(the same picture widgets as filters and activations). The PNG is rendered in a worker thread.
"""

from __future__ import annotations

import io

from PIL import Image
from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from cnnscope.analysis import Analysis
from cnnscope.errors import CnnscopeError
from cnnscope.tui.widgets.picture import GraphicsPicture, Picture


class FigureScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,g", "dismiss", "close"),
        Binding("s", "switch_style", "volumes / graph"),
    ]
    DEFAULT_CSS = """
    FigureScreen { align: center middle; }
    FigureScreen > #figure { width: 95%; height: 95%; border: round $accent; background: $surface; }
    """

    def __init__(self, analysis: Analysis) -> None:
        super().__init__()
        self.analysis = analysis
        self.style_name: str | None = None  # None: the command's default for this net

    def compose(self) -> ComposeResult:
        graphics = getattr(self.app, "graphics", None)
        with VerticalScroll(id="figure"):
            yield Static(id="figure-title")
            yield GraphicsPicture(graphics, id="figure-picture") if graphics else Picture(fit=True, id="figure-picture")

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
        self.query_one("#figure-picture").loading = True
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
        picture = self.query_one("#figure-picture")
        assert isinstance(picture, Picture | GraphicsPicture)
        picture.loading = False
        picture.show(image)

    def action_switch_style(self) -> None:
        from cnnscope.draw import default_style

        current = self.style_name or default_style(self.analysis)
        self.style_name = "graph" if current == "volumes" else "volumes"
        self.show_figure()
