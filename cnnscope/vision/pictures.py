"""Arrays as pictures: activation maps and filters as tiled PNG grids, and as terminal pixels.

numpy and Pillow only; the terminal rendering uses true-colour half blocks (one character
cell shows two pixels, top as foreground and bottom as background), which every modern
terminal draws.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image
from rich.color import Color
from rich.style import Style
from rich.text import Text

# viridis, sampled at five points: perceptually even and readable for colour-blind viewers
VIRIDIS = np.array([(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)], dtype=np.float64)


def normalize(values: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; a constant array becomes zeros."""
    values = np.asarray(values, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def colorize(unit: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> uint8 RGB through the viridis ramp."""
    position = np.clip(unit, 0, 1) * (len(VIRIDIS) - 1)
    low = np.floor(position).astype(int).clip(0, len(VIRIDIS) - 2)
    frac = (position - low)[..., None]
    return np.rint(VIRIDIS[low] * (1 - frac) + VIRIDIS[low + 1] * frac).astype(np.uint8)


def _tile_grid(tiles: list[np.ndarray], columns: int, pad: int = 2) -> Image.Image:
    height, width = tiles[0].shape[:2]
    rows = math.ceil(len(tiles) / columns)
    canvas = np.full((rows * (height + pad) + pad, columns * (width + pad) + pad, 3), 255, dtype=np.uint8)
    for index, tile in enumerate(tiles):
        top, left = pad + (index // columns) * (height + pad), pad + (index % columns) * (width + pad)
        canvas[top : top + height, left : left + width] = tile
    return Image.fromarray(canvas)


def _enlarge(tile: np.ndarray, minimum: int) -> np.ndarray:
    factor = max(1, math.ceil(minimum / max(tile.shape[:2])))
    return tile.repeat(factor, axis=0).repeat(factor, axis=1)


def as_maps(activation: np.ndarray) -> np.ndarray:
    """Any per-sample activation as a stack of 2-D maps: C x H x W, C x L as C strips, N as one strip."""
    if activation.ndim == 3:
        return activation
    if activation.ndim == 2:
        return activation[:, None, :]
    return activation.reshape(1, 1, -1)


def activation_grid(activation: np.ndarray, max_tiles: int = 64, tile_pixels: int = 48) -> Image.Image:
    """One tile per channel, each normalised on its own and coloured with viridis."""
    maps = as_maps(activation)[:max_tiles]
    tiles = [_enlarge(colorize(normalize(m)), tile_pixels) for m in maps]
    return _tile_grid(tiles, columns=max(1, math.ceil(math.sqrt(len(tiles)))))


def filter_grid(weight: np.ndarray, max_filters: int = 64, max_inputs: int = 16, tile_pixels: int = 24) -> Image.Image:
    """Conv filters (out, in, kh, kw): RGB tiles for a first layer on 3 channels, else one
    grey tile per (filter, input channel), filters down the rows."""
    weight = np.asarray(weight, dtype=np.float64)
    if weight.ndim == 3:  # conv1d: (out, in, k) as 1 x k strips
        weight = weight[:, :, None, :]
    if weight.ndim == 2:  # linear: each row as a strip
        weight = weight[:, None, None, :]
    weight = weight[:max_filters]
    if weight.shape[1] == 3:
        tiles = [_enlarge((255 * normalize(f.transpose(1, 2, 0))).astype(np.uint8), tile_pixels) for f in weight]
        return _tile_grid(tiles, columns=max(1, math.ceil(math.sqrt(len(tiles)))))
    inputs = min(weight.shape[1], max_inputs)
    tiles = [
        _enlarge(np.repeat((255 * normalize(f[i])).astype(np.uint8)[..., None], 3, axis=2), tile_pixels)
        for f in weight
        for i in range(inputs)
    ]
    return _tile_grid(tiles, columns=inputs if inputs > 1 else max(1, math.ceil(math.sqrt(len(tiles)))))


def filter_layout(shape: tuple[int, ...]) -> str:
    """How :func:`filter_grid` lays out weights of this shape, for captions."""
    if len(shape) == 4 and shape[1] == 3:
        return "RGB, a tile per filter"
    if len(shape) < 2 or shape[1] == 1 or len(shape) == 2:
        return "a tile per filter"
    return "a row per filter, a column per input channel"


def half_blocks(image: Image.Image, width: int = 64) -> Text:
    """An image as rich Text of '▀' cells: two pixel rows per line, true colour."""
    image = image.convert("RGB")
    scale = min(1.0, width / image.size[0])
    size = (max(1, round(image.size[0] * scale)), max(2, round(image.size[1] * scale)))
    pixels = np.asarray(image.resize(size, Image.Resampling.BOX if scale < 1 else Image.Resampling.NEAREST))
    if pixels.shape[0] % 2:
        pixels = np.vstack([pixels, np.zeros((1, *pixels.shape[1:]), dtype=np.uint8)])
    text = Text()
    for row in range(0, pixels.shape[0], 2):
        for top, bottom in zip(pixels[row], pixels[row + 1]):
            text.append("▀", Style(color=Color.from_rgb(*top), bgcolor=Color.from_rgb(*bottom)))
        text.append("\n")
    return text
