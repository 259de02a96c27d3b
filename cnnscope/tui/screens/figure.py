"""The architecture figure of the open model (``cnnscope draw``), as a picture in the terminal.

Real pixels where the terminal speaks a graphics protocol, true-colour half blocks elsewhere
(the same picture widgets as filters and activations). The PNG is rendered in a worker thread.
The arrows, PageUp/PageDown and Home/End scroll it wherever the focus is; ``+`` and ``-`` zoom.
Where its labels come out too few pixels tall to read, the view says so and ``o`` shows the
figure as text: each box and frame on a line, in the network's order.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from PIL import Image
from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Static

from cnnscope.analysis import Analysis
from cnnscope.draw import PNG_ZOOM, default_style, draw, outline, to_png
from cnnscope.draw.canvas import Canvas
from cnnscope.errors import CnnscopeError
from cnnscope.tui.widgets.picture import Picture, new_picture

if TYPE_CHECKING:
    from cnnscope.tui.terminal import GraphicsWidget

ZOOMS = (1, 2, 4, 8)  # the picture's width, in pane widths (half blocks) or half-PNG widths (pixels)
READABLE = 10  # pixels a label needs to be read: fewer and the view says so

SCROLLS = [
    Binding(key, f"scroll('{how}')", show=False)
    for key, how in (
        ("up", "up"),
        ("down", "down"),
        ("left", "left"),
        ("right", "right"),
        ("pageup", "page_up"),
        ("pagedown", "page_down"),
        ("home", "home"),
        ("end", "end"),
    )
]


class FigureScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,g", "dismiss", "close"),
        Binding("s", "switch_style", "volumes / graph"),
        Binding("plus,equals_sign", "zoom(1)", "zoom in"),
        Binding("minus", "zoom(-1)", "zoom out"),
        Binding("o", "outline", "as text"),
        *SCROLLS,
    ]
    DEFAULT_CSS = """
    FigureScreen { align: center middle; }
    FigureScreen > #figure { width: 95%; height: 95%; border: round $accent; background: $surface; }
    FigureScreen #figure-title, FigureScreen #figure-note { height: auto; }
    FigureScreen #figure-outline { height: 1fr; display: none; }
    """

    def __init__(self, analysis: Analysis, graphics: GraphicsWidget | None = None) -> None:
        """``graphics``: textual-image's widget class where the terminal shows real pixels."""
        super().__init__()
        self.analysis = analysis
        self.style_name: str | None = None  # None: the command's default for this net
        self.picture = new_picture(graphics, fit=True, id="figure-picture")
        self.zoom = 0  # an index into ZOOMS
        self.canvas: Canvas | None = None
        self.png: Image.Image | None = None  # as rendered, before any zoom
        self.note = ""  # that the labels cannot be read, where they cannot

    def compose(self) -> ComposeResult:
        with Vertical(id="figure"):
            yield Static(id="figure-title")
            yield Static(id="figure-note")
            yield self.picture
            with VerticalScroll(id="figure-outline"):
                yield Static(id="figure-outline-text")

    def on_mount(self) -> None:
        self.show_figure()

    def show_figure(self) -> None:
        style = self.style_name or default_style(self.analysis)
        name = escape(self.analysis.spec.name)
        self.query_one("#figure-title", Static).update(
            f"[b]{name}[/b] as {style}  [dim]arrows, PgUp/PgDn scroll · + / - zoom · o as text ·"
            " s volumes / graph · escape closes[/dim]"
        )
        self.picture.loading = True
        self.run_worker(lambda: self._draw_in_thread(style), thread=True, exclusive=True, group="figure")

    def _draw_in_thread(self, style: str) -> None:
        try:
            canvas = draw(self.analysis, style)
            image = Image.open(io.BytesIO(to_png(canvas))).convert("RGB")
        except CnnscopeError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.app.call_from_thread(self._show, canvas, image)

    def _show(self, canvas: Canvas, image: Image.Image) -> None:
        self.canvas, self.png = canvas, image
        self.picture.loading = False
        said = [canvas.note, ""] if canvas.note else []  # what was folded: the text shows the same boxes
        self.query_one("#figure-outline-text", Static).update(Text("\n".join([*said, *outline(canvas)])))
        self._zoomed()

    def _zoomed(self) -> None:
        """Show the picture at the current zoom and say whether its labels can be read."""
        if self.png is None or self.canvas is None:
            return
        factor = ZOOMS[self.zoom]
        if isinstance(self.picture, Picture):
            self.picture.zoom = factor
            self.picture.show(self.png)
        else:
            shown = factor / 2
            size = (max(1, round(self.png.size[0] * shown)), max(1, round(self.png.size[1] * shown)))
            self.picture.show(self.png.resize(size, Image.Resampling.LANCZOS) if shown != 1 else self.png)
        self.call_after_refresh(self._say)

    def _say(self) -> None:
        """Whether the labels can be read at the size the picture is drawn."""
        if self.png is None or self.canvas is None:
            return
        if isinstance(self.picture, Picture):
            shown = self.picture.drawn_width / self.png.size[0]  # half blocks per PNG pixel
        else:
            shown = ZOOMS[self.zoom] / 2
        tall = min(t.size for t in self.canvas.texts) * PNG_ZOOM * shown
        note = ""
        if tall < READABLE:
            unit = "half blocks" if isinstance(self.picture, Picture) else "pixels"
            more = " + zooms in;" if self.zoom < len(ZOOMS) - 1 else ""
            note = f"Labels are {tall:.1f} {unit} tall here, too few to read:{more} o shows the figure as text."
        self.note = note
        self.query_one("#figure-note", Static).update(Text(note, style="italic"))
        self.query_one("#figure-note", Static).display = bool(note) and bool(self.picture.display)

    def on_resize(self) -> None:
        self.call_after_refresh(self._say)  # the picture redraws itself at the pane's new width

    def action_zoom(self, step: int) -> None:
        zoom = min(len(ZOOMS) - 1, max(0, self.zoom + step))
        if zoom != self.zoom:
            self.zoom = zoom
            self._zoomed()

    def action_outline(self) -> None:
        outline = self.query_one("#figure-outline")
        outline.display = not outline.display
        self.picture.display = not outline.display
        self.query_one("#figure-note", Static).display = bool(self.note) and not outline.display

    def action_scroll(self, how: str) -> None:
        """Scroll what is shown, the picture or the text, wherever the focus is."""
        shown: Widget = self.picture if self.picture.display else self.query_one("#figure-outline")
        getattr(shown, f"scroll_{how}")(animate=False)

    def action_switch_style(self) -> None:
        current = self.style_name or default_style(self.analysis)
        self.style_name = "graph" if current == "volumes" else "volumes"
        self.show_figure()
