"""Arrays as pictures: activation maps and filters as tiled PNG grids, and as terminal pixels.

numpy and Pillow only. Every picture says what it shows and what its colours mean: a
caption (how many channels of how many, which scale) and a colour bar with its range.
Tiles are enlarged by whole numbers with white gutters between them, so 5x5 kernels stay
crisp. Activations use viridis; signed weights a diverging map centred on zero. A map of
one pixel per channel (C x 1 x 1) is drawn on one shared scale (each on its own would make
every tile the same colour), a vector as labelled bars. The terminal rendering uses
true-colour half blocks (one character cell shows two pixels); a terminal of 16 or 256 colours
gets the pixels' lightness on a ramp of greys it can show, in order (:func:`terminal_colours`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from rich.color import Color
from rich.style import Style
from rich.text import Span, Text

# viridis, sampled at five points: perceptually even and readable for colour-blind viewers
VIRIDIS = np.array([(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)], dtype=np.float64)
# blue - white - red, for signed values: white is zero
DIVERGING = np.array(
    [(33, 102, 172), (146, 197, 222), (247, 247, 247), (244, 165, 130), (178, 24, 43)], dtype=np.float64
)
# inferno, sampled at five points: black through red to pale yellow, for heat over a grey picture
INFERNO = np.array([(0, 0, 4), (87, 16, 110), (188, 55, 84), (249, 142, 9), (252, 255, 164)], dtype=np.float64)
GREYS = np.array([(0, 0, 0), (255, 255, 255)], dtype=np.float64)  # each RGB channel, dark to bright
# Where a terminal has 16 or 256 colours, rich would round each true colour to the nearest entry
# of its palette, and viridis's dark half all lands on one ANSI colour ("bright black"). Every
# palette orders its greys, so there a pixel is drawn by its lightness on these, darkest first.
# (viridis and the grey ramp grow lighter with the value; 0-15 are black, bright black, white, bright white.)
TERMINAL_GREYS = {
    "standard": (0, 8, 7, 15),
    "windows": (0, 8, 7, 15),
    "256": (16, *range(232, 256), 231),  # black, the 24 greys of xterm's palette, white
}
NOT_FINITE = (128, 128, 128)  # the grey of NaN and infinite values: in none of the ramps above
MOST_TILES = 1024  # beyond this a grid says how many it shows of how many
MOST_BARS = 64
INK, PAPER = (30, 30, 30), (255, 255, 255)


@dataclass(frozen=True)
class Picture:
    """An image and the sentence that says what it shows (for captions, summaries and the TUI)."""

    image: Image.Image
    caption: str
    body: Image.Image | None = None  # the image without its caption and colour bar (a terminal preview)

    @property
    def unframed(self) -> Image.Image:
        return self.body if self.body is not None else self.image


def finite_range(values: np.ndarray) -> tuple[float, float]:
    """The lowest and highest finite value (0, 0 when there is none): NaN and infinities have no place on a scale."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)


def not_finite(values: np.ndarray) -> str:
    """ ", 3 of 16 values not finite (grey)" for captions, or "" when every value is finite."""
    values = np.asarray(values)
    bad = int(values.size - np.count_nonzero(np.isfinite(values)))
    return f", {bad:,} of {values.size:,} values not finite (grey)" if bad else ""


def normalize(values: np.ndarray) -> np.ndarray:
    """Scale the finite values to [0, 1] (a constant array becomes zeros); NaN and infinities become NaN."""
    return normalize_each(np.asarray(values)[None])[0]


def normalize_each(stack: np.ndarray) -> np.ndarray:
    """:func:`normalize` applied to each ``stack[i]`` on its own, in one pass over the whole stack."""
    values = np.asarray(stack, dtype=np.float64)
    axes = tuple(range(1, values.ndim))
    finite = np.isfinite(values)
    low = np.where(finite, values, np.inf).min(axis=axes, keepdims=True)
    high = np.where(finite, values, -np.inf).max(axis=axes, keepdims=True)
    spread = high > low  # False where an item is constant or has no finite value at all
    unit = np.where(spread, (values - np.where(spread, low, 0)) / np.where(spread, high - low, 1), 0.0)
    return np.where(finite, unit, np.nan)


def colorize(unit: np.ndarray, ramp: np.ndarray = VIRIDIS) -> np.ndarray:
    """Values in [0, 1] -> uint8 RGB through a colour ramp (viridis unless told); NaN and infinities grey."""
    unit = np.asarray(unit, dtype=np.float64)
    finite = np.isfinite(unit)
    position = np.clip(np.where(finite, unit, 0), 0, 1) * (len(ramp) - 1)
    low = np.floor(position).astype(int).clip(0, len(ramp) - 2)
    frac = (position - low)[..., None]
    colours = np.rint(ramp[low] * (1 - frac) + ramp[low + 1] * frac).astype(np.uint8)
    colours[~finite] = NOT_FINITE
    return colours


def _font(size: int = 11) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _tile_grid(tiles: list[np.ndarray], columns: int, pad: int = 2, numbers: list[int] | None = None) -> Image.Image:
    """Tiles of one size in rows, white gutters between them; optional channel numbers in a corner."""
    height, width = tiles[0].shape[:2]
    rows = math.ceil(len(tiles) / columns)
    canvas = np.full((rows * (height + pad) + pad, columns * (width + pad) + pad, 3), 255, dtype=np.uint8)
    for index, tile in enumerate(tiles):
        top, left = pad + (index // columns) * (height + pad), pad + (index % columns) * (width + pad)
        canvas[top : top + height, left : left + width] = tile
    image = Image.fromarray(canvas)
    if numbers and min(height, width) >= 28:
        for index, number in enumerate(numbers):
            top, left = pad + (index // columns) * (height + pad), pad + (index % columns) * (width + pad)
            (stroke, fill), (x, y) = _label(str(number))
            box = (left + 2 + x, top + 1 + y)
            image.paste(INK, box, stroke)
            image.paste(PAPER, box, fill)
    return image


@functools.lru_cache(maxsize=1024)
def _label(text: str) -> tuple[tuple[Image.Image, Image.Image], tuple[int, int]]:
    """A tile's number as two masks, its outline and its fill, and where they go from the point it is
    written at. Drawn once per number (resnet18's pictures hold 30,000 numbers, 1 to 512): pasting INK
    through the first and PAPER through the second gives the pixels of ``draw.text(...,
    stroke_width=1, stroke_fill=INK)``, which draws the same two masks in the same way."""
    margin, font = 4, _font(10)
    left, top, right, bottom = font.getbbox(text, stroke_width=1)
    size = (math.ceil(right) - math.floor(left) + 2 * margin, math.ceil(bottom) - math.floor(top) + 2 * margin)
    origin = (margin - math.floor(left), margin - math.floor(top))
    stroke, fill = Image.new("L", size), Image.new("L", size)
    ImageDraw.Draw(stroke).text(origin, text, fill=255, font=font, stroke_width=1, stroke_fill=255)
    ImageDraw.Draw(fill).text(origin, text, fill=255, font=font)
    box = stroke.getbbox() or (0, 0, 1, 1)  # the fill lies inside the outline
    return (stroke.crop(box), fill.crop(box)), (box[0] - origin[0], box[1] - origin[1])


def whole_factor(side: int, minimum: int) -> int:
    """The least whole number that makes ``side`` pixels at least ``minimum`` (1 if they are already)."""
    return max(1, math.ceil(minimum / side))


def _enlarge(tile: np.ndarray, minimum: int) -> np.ndarray:
    """Whole-number enlargement (each value a square of pixels), never smoothing."""
    factor = whole_factor(max(tile.shape[:2]), minimum)
    return tile.repeat(factor, axis=0).repeat(factor, axis=1)


def _enlarge_each(tiles: np.ndarray, minimum: int) -> list[np.ndarray]:
    """:func:`_enlarge` of each of a stack of tiles of one size (N x H x W x 3), in one pass."""
    factor = whole_factor(max(tiles.shape[1:3]), minimum)
    return list(tiles.repeat(factor, axis=1).repeat(factor, axis=2))


def enlarged(image: Image.Image, scale: int) -> Image.Image:
    """``image`` with each pixel a ``scale`` x ``scale`` square (never smoothed)."""
    if scale == 1:
        return image
    return image.resize((image.size[0] * scale, image.size[1] * scale), Image.Resampling.NEAREST)


def _number(value: float) -> str:
    return f"{value:.3g}"


def _framed(grid: Image.Image, caption: str, ramp: np.ndarray, low: str, high: str) -> Image.Image:
    """The grid under its caption, over a colour bar from ``low`` to ``high``."""
    font = _font(12)
    width = max(grid.size[0], 360)
    lines = _wrap(caption, font, width - 8)
    band = 6 + 16 * len(lines)
    bar_height, label_height = 10, 16
    canvas = Image.new("RGB", (width, band + grid.size[1] + bar_height + label_height + 10), PAPER)
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(lines):
        draw.text((4, 4 + 16 * i), line, fill=INK, font=font)
    canvas.paste(grid, (0, band))
    top = band + grid.size[1] + 4
    strip = colorize(np.linspace(0, 1, width - 8)[None, :].repeat(bar_height, axis=0), ramp)
    canvas.paste(Image.fromarray(strip), (4, top))
    draw.text((4, top + bar_height + 1), low, fill=INK, font=font)
    draw.text((width - 4, top + bar_height + 1), high, fill=INK, font=font, anchor="ra")
    return canvas


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and font.getlength(candidate) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return [*lines, line] if line else lines


def as_maps(activation: np.ndarray) -> np.ndarray:
    """Any per-sample activation as a stack of 2-D maps: C x H x W, C x L as C strips, N as one strip."""
    if activation.ndim == 3:
        return activation
    if activation.ndim == 2:
        return activation[:, None, :]
    return activation.reshape(1, 1, -1)


def _shown(total: int, most: int, what: str) -> str:
    return f"{total:,} {what}" if total <= most else f"{most:,} of {total:,} {what} shown (1-{most:,})"


def activation_picture(
    activation: np.ndarray,
    max_tiles: int = MOST_TILES,
    tile_pixels: int = 48,
    bars: list[tuple[str, float]] | None = None,
    shared: bool = False,
) -> Picture:
    """A layer's output as a picture: one numbered tile per channel (each on its own scale, or with
    ``shared`` all on one, whose bar gives the real lowest and highest value), one shared scale where
    each channel is a single value, labelled bars for a vector (``bars``: the output layer's classes
    and probabilities)."""
    values = np.asarray(activation, dtype=np.float64)
    if bars is not None:
        return _bar_chart(bars, "probability", f"the {len(bars)} most likely classes")
    if values.ndim == 1 and values.size <= MOST_BARS:
        return _bar_chart([(str(i), float(v)) for i, v in enumerate(values)], "value", f"{values.size} values")
    if values.ndim == 1:
        return _shared_grid(values, tile_pixels, "values")
    if values.ndim == 3 and values.shape[1] * values.shape[2] == 1:
        return _shared_grid(values.reshape(-1), tile_pixels, "channels of 1x1")
    maps = as_maps(values)
    shown = maps[:max_tiles]
    tiles = _enlarge_each(colorize(normalize(shown) if shared else normalize_each(shown)), tile_pixels)
    grid = _tile_grid(tiles, max(1, math.ceil(math.sqrt(len(tiles)))), numbers=list(range(1, len(tiles) + 1)))
    what = "channels" if values.ndim == 3 else "rows"
    low, high = tuple(map(_number, finite_range(shown))) if shared else ("its lowest", "its highest")
    scale = f"all on one scale, {low} to {high}" if shared else "each on its own scale"
    caption = f"{_shown(len(maps), max_tiles, what)}, each {'x'.join(map(str, maps.shape[1:]))}, {scale}"
    caption += not_finite(shown)
    return Picture(_framed(grid, caption, VIRIDIS, low, high), caption, grid)


def _shared_grid(values: np.ndarray, tile_pixels: int, what: str) -> Picture:
    """One coloured square per value, all on one scale: C x 1 x 1 maps and long vectors."""
    count = min(values.size, MOST_TILES * 4)
    shown = values[:count]
    low, high = finite_range(shown)
    unit = normalize(shown)
    side = max(1, math.ceil(math.sqrt(count)))
    square = max(4, min(tile_pixels, 512 // side))
    tiles = [np.full((square, square, 3), colour, dtype=np.uint8) for colour in colorize(unit)]
    grid = _tile_grid(tiles, side, pad=1)
    caption = f"{_shown(values.size, count, what)}, one square each, row by row, all on one scale{not_finite(shown)}"
    return Picture(_framed(grid, caption, VIRIDIS, _number(low), _number(high)), caption, grid)


def _bar_chart(bars: list[tuple[str, float]], what: str, title: str) -> Picture:
    """Horizontal bars with their labels and values (probabilities as percentages)."""
    font = _font(12)
    label_width = int(max(font.getlength(label) for label, _ in bars)) + 12
    bar_width, row = 260, 18
    low, high = finite_range(np.array([v for _, v in bars]))
    low, high = min(0.0, low), max(0.0, high)
    if what == "probability":  # on the whole 0-100 % scale: a flat 0.1 % must not look like a sure answer
        low, high = 0.0, 1.0
    span = (high - low) or 1.0
    zero = label_width + int(bar_width * (0 - low) / span)
    image = Image.new("RGB", (label_width + bar_width + 70, row * len(bars) + 30), PAPER)
    draw = ImageDraw.Draw(image)
    caption = f"{title}, {what} per bar"
    draw.text((4, 4), caption, fill=INK, font=font)
    for i, (label, value) in enumerate(bars):
        top = 24 + row * i
        draw.text((label_width - 6, top + 2), label, fill=INK, font=font, anchor="ra")
        if not math.isfinite(value):  # no bar: NaN and infinities have no length
            draw.text((label_width + bar_width + 4, top + 2), "not finite", fill=INK, font=font)
            continue
        end = label_width + int(bar_width * (value - low) / span)
        colour = tuple(int(c) for c in (VIRIDIS[1] if value >= 0 else DIVERGING[0]))
        draw.rectangle((min(zero, end), top + 2, max(zero, end), top + row - 3), fill=colour)
        text = f"{value:.1%}" if what == "probability" else _number(value)
        draw.text((label_width + bar_width + 4, top + 2), text, fill=INK, font=font)
    return Picture(image, caption)


def heat_overlay(seen: Image.Image, heat: np.ndarray) -> Image.Image:
    """The picture the model received, dimmed to grey, under its heat-map (inferno from 0 to the
    map's highest), one pixel per input pixel: where there is no heat the picture shows through."""
    grey = np.asarray(seen.convert("L"), dtype=np.float64)[..., None].repeat(3, axis=-1)
    high = finite_range(heat)[1]
    unit = np.where(np.isfinite(heat), np.clip(heat / high, 0, 1), 0) if high > 0 else np.zeros_like(heat)
    weight = 0.75 * unit[..., None]
    return Image.fromarray(np.rint(0.6 * grey * (1 - weight) + colorize(unit, INFERNO) * weight).astype(np.uint8))


def heat_picture(seen: Image.Image, heat: np.ndarray, caption: str, minimum: int = 192) -> Picture:
    """The picture the model received beside its :func:`heat_overlay`, both enlarged by a whole
    number to at least ``minimum`` pixels, under ``caption`` and over the heat's colour bar."""
    tiles = [
        _enlarge(np.asarray(seen.convert("RGB")), minimum),
        _enlarge(np.asarray(heat_overlay(seen, heat)), minimum),
    ]
    grid = _tile_grid(tiles, 2, pad=4)
    return Picture(_framed(grid, caption, INFERNO, "0", _number(finite_range(heat)[1])), caption, grid)


def filter_picture(
    weight: np.ndarray, max_filters: int | None = None, max_inputs: int = 16, tile_pixels: int = 24
) -> Picture:
    """Conv filters (out, in, kh, kw): RGB tiles for a first layer on 3 channels (each filter
    stretched to its own range, as the lecture's AlexNet picture), else one tile per (filter,
    input channel), filters down the rows, on one diverging scale centred on zero."""
    weight = np.asarray(weight, dtype=np.float64)
    if weight.ndim == 3:  # conv1d: (out, in, k) as 1 x k strips
        weight = weight[:, :, None, :]
    if weight.ndim == 2:  # linear: each row as a strip
        weight = weight[:, None, None, :]
    total = weight.shape[0]
    if max_filters is None:  # a first layer's RGB filters are small pictures; a row of 16 inputs is not
        max_filters = 256 if weight.shape[1] == 3 else 64
    weight = weight[:max_filters]
    numbers = list(range(1, len(weight) + 1))
    if weight.shape[1] == 3:
        tiles = _enlarge_each(_rgb(normalize_each(weight.transpose(0, 2, 3, 1))), tile_pixels)
        grid = _tile_grid(tiles, max(1, math.ceil(math.sqrt(len(tiles)))), numbers=numbers)
        caption = f"{_shown(total, max_filters, 'filters')}, RGB, each stretched to its own range{not_finite(weight)}"
        return Picture(_framed(grid, caption, GREYS, "its lowest", "its highest"), caption, grid)
    inputs = min(weight.shape[1], max_inputs)
    bound = max(np.abs(finite_range(weight[:, :inputs]))) or 1.0
    kernels = weight[:, :inputs].reshape(-1, *weight.shape[2:])  # filter by filter, input by input
    tiles = _enlarge_each(colorize((kernels / bound + 1) / 2, DIVERGING), tile_pixels)
    columns = inputs if inputs > 1 else max(1, math.ceil(math.sqrt(len(tiles))))
    grid = _tile_grid(tiles, columns)
    channels = f", inputs 1-{inputs} of {weight.shape[1]}" if weight.shape[1] > inputs else ""
    layout = "a row per filter, a column per input channel, " if inputs > 1 else ""
    caption = f"{_shown(total, max_filters, 'filters')}{channels}, {layout}one scale centred on zero (white)"
    caption += not_finite(weight[:, :inputs])
    return Picture(_framed(grid, caption, DIVERGING, _number(-bound), _number(bound)), caption, grid)


def _rgb(unit: np.ndarray) -> np.ndarray:
    """Values in [0, 1], three per pixel, as uint8 RGB; a pixel with a value not finite is grey."""
    pixels = np.rint(255 * np.nan_to_num(unit, nan=0.0)).astype(np.uint8)
    pixels[~np.isfinite(unit).all(axis=-1)] = NOT_FINITE
    return pixels


def filter_layout(shape: tuple[int, ...]) -> str:
    """How :func:`filter_picture` lays out weights of this shape, for captions."""
    if len(shape) == 4 and shape[1] == 3:
        return "RGB, a tile per filter"
    if len(shape) < 2 or shape[1] == 1 or len(shape) == 2:
        return "a tile per filter"
    return "a row per filter, a column per input channel"


def terminal_colours(pixels: np.ndarray, color_system: str | None = "truecolor") -> list[Color]:
    """RGB pixels (N x 3) as the colours a terminal of ``color_system`` (rich's name) shows in order:
    themselves in true colour, else their lightness on :data:`TERMINAL_GREYS`."""
    pixels = np.asarray(pixels, dtype=np.float64).reshape(-1, 3)
    greys = TERMINAL_GREYS.get(color_system or "truecolor")
    if greys is None:
        return [Color.from_rgb(*pixel) for pixel in pixels]
    lightness = pixels @ np.array([0.299, 0.587, 0.114]) / 255  # Rec. 601 luma
    levels = np.rint(lightness * (len(greys) - 1)).astype(int).clip(0, len(greys) - 1)
    return [Color.from_ansi(greys[level]) for level in levels]


def half_blocks(image: Image.Image, width: int = 64, color_system: str | None = "truecolor") -> Text:
    """An image as rich Text of '▀' cells: two pixel rows per line, in true colour, or ordered
    greys where ``color_system`` (a rich console's) has 16 or 256 colours.

    A filter picture drawn one pixel to a cell is hundreds of thousands of cells: each pair of
    colours gets one Style, and a run of equal cells on a line one span.
    """
    image = image.convert("RGB")
    scale = min(1.0, width / image.size[0])
    size = (max(1, round(image.size[0] * scale)), max(2, round(image.size[1] * scale)))
    pixels = np.asarray(image.resize(size, Image.Resampling.BOX if scale < 1 else Image.Resampling.NEAREST))
    packed = (pixels.astype(np.int64) << np.array([16, 8, 0])).sum(axis=-1)  # one number per pixel
    tops = packed[0::2]
    # an odd last row has no pixel below it: the terminal's own background there (-1), not black
    bottoms = np.vstack([packed[1::2], np.full((len(tops) - len(packed[1::2]), packed.shape[1]), -1)])
    pairs, cells = np.unique(tops * (1 << 25) + bottoms + 1, return_inverse=True)
    cells = cells.reshape(tops.shape)
    top_of, bottom_of = pairs >> 25, (pairs & ((1 << 25) - 1)) - 1
    shown = np.unique(np.concatenate([top_of, bottom_of[bottom_of >= 0]]))
    colour = dict(zip(shown.tolist(), terminal_colours((shown[:, None] >> [16, 8, 0]) & 255, color_system)))
    styles = [
        Style(color=colour[top], bgcolor=colour[bottom] if bottom >= 0 else None)
        for top, bottom in zip(top_of.tolist(), bottom_of.tolist())
    ]
    lines, columns = cells.shape
    spans = []
    for line in range(lines):  # runs of one style on a line: where a cell differs from the one before it
        row = cells[line]
        starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]]).tolist()
        offset = line * (columns + 1)
        for begin, end in zip(starts, [*starts[1:], columns]):
            spans.append(Span(offset + begin, offset + end, styles[row[begin]]))
    return Text(("▀" * columns + "\n") * lines, spans=spans)
