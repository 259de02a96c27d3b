"""Pictures in the terminal: true-colour half blocks everywhere, real pixels where the
terminal speaks a graphics protocol (Kitty's or Sixel), through textual-image.

A picture is shown at its own size, one pixel to a half cell (or to a screen pixel): never
stretched to the pane nor smoothed; the pane scrolls instead (both ways), and never wraps.
Tiles are enlarged by whole numbers and separated by gaps (:func:`tile_grid`); a single map is
enlarged by the pane, by the largest whole number with which it fits the pane's width. Captions
wrap at the pane's width, their colour bar as wide as the line allows.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from PIL import Image
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import ScrollableContainer
from textual.widgets import Static

from cnnscope.vision.pictures import (
    DIVERGING,
    colorize,
    enlarged,
    half_blocks,
    normalize,
    normalize_each,
    terminal_colours,
    whole_factor,
)

if TYPE_CHECKING:
    from cnnscope.tui.terminal import GraphicsWidget

GAP = (48, 48, 48)  # between tiles: dark grey, distinct from every colour of the ramps' ends
MOST_TILE_ROWS = 64  # filters shown in the pane (the caption says so when there are more)
MOST_INPUTS = 16
MOST_MATRIX_SIDE = 512  # units and inputs of a linear layer's matrix shown (an image as wide as 9,720 inputs is not)
FIGURE_CELLS = 120
MOST_GROWTH = 8  # a single map's enlargement in half blocks: a 1x1 map is not a pane-wide square
GRAPHICS_MAP_PIXELS = 64  # a single map's width at least, in screen pixels (graphics protocols)
BAR_CELLS = 24  # the colour bar's width where the pane allows


class Bar(NamedTuple):
    """A caption's colour bar: what the colours of ``ramp`` mean, from ``low`` to ``high``."""

    ramp: np.ndarray
    low: str
    high: str


def tile_grid(tiles: list[np.ndarray], columns: int, scale: int, gap: int = 1) -> Image.Image:
    """RGB tiles of one size, each pixel a ``scale`` x ``scale`` square, ``gap`` pixels apart."""
    tiles = [tile.repeat(scale, axis=0).repeat(scale, axis=1) for tile in tiles]
    height, width = tiles[0].shape[:2]
    rows = math.ceil(len(tiles) / columns)
    canvas = np.empty((rows * (height + gap) - gap, columns * (width + gap) - gap, 3), dtype=np.uint8)
    canvas[:] = GAP
    for index, tile in enumerate(tiles):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        canvas[top : top + height, left : left + width] = tile
    return Image.fromarray(canvas)


def whole_scale(side: int, at_least: int = 6, at_most: int = 8) -> int:
    """The whole-number enlargement that makes a tile of ``side`` pixels about ``at_least`` wide."""
    return min(at_most, whole_factor(max(1, side), at_least))


def _matrix_image(weight: np.ndarray) -> tuple[Image.Image, str, np.ndarray, str, str]:
    """A linear layer's weights: pixel (row i, column j) is unit i's weight on input j, on one
    diverging scale centred on zero; at most :data:`MOST_MATRIX_SIDE` of each, the caption says which."""
    units, inputs = weight.shape
    shown = weight[:MOST_MATRIX_SIDE, :MOST_MATRIX_SIDE]
    bound = float(np.abs(shown).max()) or 1.0
    parts = [f"units 1-{len(shown)} of {units}" if len(shown) < units else f"{units} units"]
    parts.append(f"inputs 1-{shown.shape[1]} of {inputs}" if shown.shape[1] < inputs else f"{inputs} inputs")
    scale = max(1, min(8, 96 // max(shown.shape)))
    return (
        tile_grid([colorize((shown / bound + 1) / 2, DIVERGING)], 1, scale),
        f"the weight matrix, a row per unit and a column per input ({', '.join(parts)}), one scale, white = 0",
        DIVERGING,
        f"{-bound:.3g}",
        f"{bound:.3g}",
    )


def filter_image(weight: np.ndarray) -> tuple[Image.Image, str, np.ndarray, str, str]:
    """Filters for the pane: the image, what it shows, and its colour bar (ramp, low, high).

    RGB tiles for a layer on 3 input channels (each stretched to its own range), else a row per
    filter and a column per input channel on one diverging scale centred on zero; a linear layer's
    matrix as it is, a row per unit and a column per input.
    """
    weight = np.asarray(weight, dtype=np.float64)
    if weight.ndim == 2:
        return _matrix_image(weight)
    if weight.ndim == 3:  # conv1d: (out, in, k) as 1 x k strips
        weight = weight[:, :, None, :]
    total, inputs = weight.shape[0], weight.shape[1]
    shown = weight[:MOST_TILE_ROWS]
    more = f" (the first {len(shown)} of {total})" if total > len(shown) else ""
    scale = whole_scale(max(weight.shape[2:]))
    if inputs == 3:
        tiles = list((255 * normalize_each(shown.transpose(0, 2, 3, 1))).astype(np.uint8))
        columns = max(1, math.ceil(math.sqrt(len(tiles))))
        grey = np.array([(0, 0, 0), (255, 255, 255)], dtype=np.float64)
        return (
            tile_grid(tiles, columns, scale),
            f"{total} filters{more}, RGB, each on its own range",
            grey,
            "low",
            "high",
        )
    used = min(inputs, MOST_INPUTS)
    bound = float(np.abs(shown[:, :used]).max()) or 1.0
    tiles = [colorize((f[i] / bound + 1) / 2, DIVERGING) for f in shown for i in range(used)]
    columns = used if used > 1 else max(1, math.ceil(math.sqrt(len(tiles))))
    layout = f"a row per filter{more}, a column per input channel" if used > 1 else f"{total} filters{more}"
    if used < inputs:
        layout += f" (inputs 1-{used} of {inputs})"
    return (
        tile_grid(tiles, columns, scale),
        f"{layout}, one scale, white = 0",
        DIVERGING,
        f"{-bound:.3g}",
        f"{bound:.3g}",
    )


def map_image(values: np.ndarray, low: float | None = None, high: float | None = None) -> Image.Image:
    """One activation map, a pixel per value (the picture widget enlarges it): on its own scale, or
    from ``low`` to ``high``."""
    if low is None or high is None:
        unit = normalize(values)
    else:
        unit = (np.asarray(values, dtype=np.float64) - low) / (high - low) if high > low else np.zeros(values.shape)
    return Image.fromarray(colorize(unit))


def colour_bar(
    ramp: np.ndarray, low: str, high: str, width: int = BAR_CELLS, color_system: str | None = "truecolor"
) -> Text:
    """What the colours mean, in one line: ``low ████ high`` (in the colours ``color_system`` shows)."""
    bar = Text(f"{low} ")
    for colour in terminal_colours(colorize(np.linspace(0, 1, width), ramp), color_system):
        bar.append("█", Style(color=colour))
    bar.append(f" {high}")
    return bar


def breakable_paths(text: str, cells: int) -> str:
    """``text`` with a line break after a ``/`` of each path too long for ``cells`` columns: wrapped
    by the terminal, a path breaks between its folders, never inside a name (``lenet5.safetenso`` /
    ``rs``). Words that fit, and all text when ``cells`` is not known yet (0), are left as they are."""

    def fold(match: re.Match[str]) -> str:
        word = match.group(0)
        if cells <= 0 or len(word) <= cells or "/" not in word:
            return word
        lines = [""]
        for part in re.findall(r"[^/]*/|[^/]+$", word):
            if lines[-1] and len(lines[-1]) + len(part) > cells:
                lines.append("")
            lines[-1] += part
        return "\n".join(lines)

    return re.sub(r"\S+", fold, text)


def with_bar(caption: str | Text, bar: Bar | None, cells: int, color_system: str | None) -> Text:
    """``caption`` over its colour bar, the bar narrowed so that the line fits in ``cells`` (the
    caption wraps, paths between their folders; a bar broken over two lines would no longer read as
    one scale)."""
    text = caption.copy() if isinstance(caption, Text) else Text(breakable_paths(caption, cells))
    if bar is None:
        return text
    room = cells - len(bar.low) - len(bar.high) - 2 if cells > 0 else BAR_CELLS
    return Text.assemble(text, "\n", colour_bar(*bar, width=max(6, min(BAR_CELLS, room)), color_system=color_system))


class Picture(ScrollableContainer):
    """Shows ``image`` at its own size as half blocks, between a caption and notes; scrolls, never
    wraps (the text wraps at the pane's width)."""

    DEFAULT_CSS = """
    Picture { height: 1fr; overflow: auto auto; }
    Picture > .image { width: auto; height: auto; text-wrap: nowrap; }
    Picture > .caption, Picture > .notes { width: 100%; height: auto; }
    """

    def __init__(self, fit: bool = False, **kwargs: Any) -> None:
        """``fit``: shrink a picture wider than the pane to its width (a figure, not tiles to count)."""
        super().__init__(**kwargs)
        self.fit = fit
        self.zoom = 1  # a fitted picture is this many pane widths wide (at most its own width)
        self.drawn_width = 0  # the picture's width in cells, as last drawn
        self.image: Image.Image | None = None  # as given (a ``grow`` picture is drawn enlarged)
        self.caption = ""  # all the text shown (caption, bar and notes), plain
        self.shown_text = Text()  # what is drawn, as text (tests read it)
        self.shown: tuple[str | Text, Bar | None, str | Text, bool] = ("", None, "", False)

    def compose(self) -> ComposeResult:  # the caption first: it stays in view however tall the picture
        yield Static(classes="caption")
        yield Static(classes="image")
        yield Static(classes="notes")

    def show(
        self,
        image: Image.Image | None,
        caption: str | Text = "",
        bar: Bar | None = None,
        notes: str | Text = "",
        grow: bool = False,
    ) -> None:
        """``image`` under ``caption`` and its colour ``bar``, over ``notes`` (what can wait for a
        scroll). ``grow`` (a single map): enlarged by the largest whole number, at most
        :data:`MOST_GROWTH`, with which it fits the pane's width, again when the pane is resized."""
        self.image, self.shown = image, (caption, bar, notes, grow)
        self._draw()

    def _draw(self) -> None:
        caption, bar, notes, grow = self.shown
        # the pane's columns, less the vertical scrollbar's: reserved, or its coming and going would
        # change the enlargement that decides whether it comes
        room = max(0, self.size.width - self.styles.scrollbar_size_vertical)
        text = with_bar(caption, bar, room, self.app.console.color_system)
        picture = Text(no_wrap=True, overflow="ignore")
        image = self.image
        if image is not None and grow and room:
            image = enlarged(image, max(1, min(MOST_GROWTH, room // image.size[0])))
        if image is not None:
            # a figure fits the pane (120 cells while the pane has no size yet: a 2,000-pixel-wide PNG
            # drawn one pixel to a cell would be a million styled cells)
            width = min(image.size[0], max(8, room or FIGURE_CELLS) * self.zoom) if self.fit else image.size[0]
            # unless fitted: one pixel per cell; ordered greys on a terminal of 16 or 256 colours
            picture = half_blocks(image, width=width, color_system=self.app.console.color_system)
            self.drawn_width = width
            picture.no_wrap, picture.overflow = True, "ignore"
        self.query_one(".caption", Static).update(text)
        self.query_one(".image", Static).update(picture)
        self.query_one(".image", Static).display = image is not None
        self.query_one(".notes", Static).update(Text(notes) if isinstance(notes, str) else notes)  # not markup
        self.query_one(".notes", Static).display = bool(notes)
        self.shown_text = Text.assemble(text, "\n", picture, notes)
        self.caption = "\n".join(part for part in (text.plain, str(notes)) if part)

    def on_resize(self) -> None:
        _, bar, _, grow = self.shown
        if bar is not None or (self.image is not None and (self.fit or grow)):
            self._draw()


class GraphicsPicture(ScrollableContainer):
    """The same interface as :class:`Picture`, drawn with a terminal graphics protocol: the
    widget is sized in cells to hold the image exactly, so the terminal neither scales nor smooths it."""

    DEFAULT_CSS = """
    GraphicsPicture { height: 1fr; overflow: auto auto; }
    GraphicsPicture > .caption, GraphicsPicture > .notes { width: 100%; height: auto; }
    """

    def __init__(self, image_widget: GraphicsWidget, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.image_widget = image_widget
        self.image: Image.Image | None = None
        self.caption = ""
        self.shown: tuple[str | Text, Bar | None, str | Text] = ("", None, "")

    def compose(self) -> ComposeResult:
        yield Static(classes="caption")
        yield self.image_widget(classes="image")
        yield Static(classes="notes")

    def show(
        self,
        image: Image.Image | None,
        caption: str | Text = "",
        bar: Bar | None = None,
        notes: str | Text = "",
        grow: bool = False,
    ) -> None:
        """As :meth:`Picture.show`, but ``grow`` enlarges a single map by a whole number to about
        :data:`GRAPHICS_MAP_PIXELS` screen pixels, whatever the pane's width."""
        self.image, self.shown = image, (caption, bar, notes)
        shown = self.query_one(".image", self.image_widget)
        if image is not None:
            if grow:
                image = enlarged(image, whole_scale(max(image.size), GRAPHICS_MAP_PIXELS, GRAPHICS_MAP_PIXELS))
            image, (columns, rows) = _fit_cells(image)
            shown.styles.width, shown.styles.height = columns, rows
        shown.image = image
        shown.display = image is not None
        self.query_one(".notes", Static).update(Text(notes) if isinstance(notes, str) else notes)  # not markup
        self.query_one(".notes", Static).display = bool(notes)
        self._draw_caption()

    def _draw_caption(self) -> None:
        caption, bar, notes = self.shown
        room = max(0, self.size.width - self.styles.scrollbar_size_vertical)
        text = with_bar(caption, bar, room, self.app.console.color_system)
        self.query_one(".caption", Static).update(text)
        self.caption = "\n".join(part for part in (text.plain, str(notes)) if part)

    def on_resize(self) -> None:
        if self.shown[1] is not None:
            self._draw_caption()


def new_picture(graphics: GraphicsWidget | None, fit: bool = False, **kwargs: Any) -> Picture | GraphicsPicture:
    """Real pixels where the terminal shows them (``graphics``: textual-image's widget class), else
    half blocks; ``fit`` (half blocks only) shrinks a picture wider than the pane to its width."""
    return GraphicsPicture(graphics, **kwargs) if graphics else Picture(fit=fit, **kwargs)


def _fit_cells(image: Image.Image) -> tuple[Image.Image, tuple[int, int]]:
    """``image`` padded to whole cells, and its size in cells."""
    try:
        from textual_image._terminal import get_cell_size

        cell = get_cell_size()
        width, height = cell.width, cell.height
    except Exception:
        width, height = 10, 20
    columns, rows = math.ceil(image.size[0] / width), math.ceil(image.size[1] / height)
    padded = Image.new("RGB", (columns * width, rows * height), GAP)
    padded.paste(image.convert("RGB"), (0, 0))
    return padded, (columns, rows)
