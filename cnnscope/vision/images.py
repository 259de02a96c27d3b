"""Real images in, model input out: Pillow decoding with every failure named.

Pure numpy (no torch), so the TUI and the demos share it. The steps follow the usual
ImageNet evaluation: EXIF orientation, the spec's colour mode, shorter side resized to
``resize`` (default input / 0.875), center crop, scale to [0, 1], inversion where the
spec asks for it (``invert = "auto"``: only a light background), then ``(x - mean) / std``
per channel.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cnnscope.errors import CnnscopeError
from cnnscope.files import regular_file
from cnnscope.spec import Spec

MAX_PIXELS = 64_000_000  # larger images are refused as possible decompression bombs
MIN_SIDE = 8  # smaller images carry too little to resize into a model input


class ImageError(CnnscopeError):
    """An image that cannot be read or cannot feed this model."""


def open_image(path: str | Path) -> Image.Image:
    """Decode a JPEG/PNG/WebP/BMP/GIF (first frame) fully, upright, or raise ImageError."""
    path = Path(path)
    where = str(path)
    regular_file(path, "an image", ImageError)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ImageError(
                        f"refused: {width}x{height} pixels is more than {MAX_PIXELS:,} (a decompression bomb?)",
                        path=where,
                    )
                image.seek(0)  # GIF and other animations: the first frame
                image.load()
                upright = ImageOps.exif_transpose(image)
    except UnidentifiedImageError:
        raise ImageError("not an image Pillow can read", path=where, hint="use JPEG, PNG, WebP, BMP or GIF") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError("refused: too many pixels (a decompression bomb?)", path=where) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"the image is damaged or truncated ({exc})", path=where) from None
    if min(upright.size) < MIN_SIDE:
        raise ImageError(
            f"{upright.size[0]}x{upright.size[1]} pixels is too small to use",
            path=where,
            hint=f"give an image of at least {MIN_SIDE} pixels a side",
        )
    return upright


def to_mode(image: Image.Image, channels: int) -> Image.Image:
    """Grayscale for 1 channel, RGB for 3; transparency is composited over white."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        image = Image.fromarray(np.uint8(255 * (values - low) / ((high - low) or 1)))
    if image.mode == "LAB":  # L is the lightness; Pillow has no LAB -> RGB without a colour profile
        if channels == 1:
            return image.getchannel("L")
        raise ImageError("colour mode LAB cannot be converted to RGB", hint="save it as RGB or grayscale")
    if "A" in image.getbands() or image.mode == "P":
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    try:
        return image.convert("L" if channels == 1 else "RGB")
    except ValueError:  # LAB, CMYK with odd profiles, ...: modes Pillow cannot turn into L or RGB
        raise ImageError(f"colour mode {image.mode} cannot be converted", hint="save it as RGB or grayscale") from None


def fit(image: Image.Image, size: tuple[int, int], resize: int) -> Image.Image:
    """Shorter side to ``resize``, then a center crop of ``size`` (height, width)."""
    height, width = size
    scale = resize / min(image.size)
    full = (max(width, round(image.size[0] * scale)), max(height, round(image.size[1] * scale)))
    left, top = (full[0] - width) // 2, (full[1] - height) // 2
    if full[0] * full[1] > MAX_PIXELS:
        # resize only the source region under the crop: an 8x1,000,000 strip would otherwise grow to 256x32,000,000
        sx, sy = image.size[0] / full[0], image.size[1] / full[1]
        box = (left * sx, top * sy, (left + width) * sx, (top + height) * sy)
        return image.resize((width, height), Image.Resampling.BILINEAR, box=box)
    resized = image.resize(full, Image.Resampling.BILINEAR)
    return resized.crop((left, top, left + width, top + height))


@dataclass(frozen=True)
class Prepared:
    """An image made into a model's input."""

    seen: Image.Image  # what the model receives, in pixels: resized, cropped and inverted where it was
    array: np.ndarray  # the input itself, channels first, float32, normalised
    note: str  # how it got there, said where the picture is shown ("" when nothing needs saying)


def prepare(image: Image.Image, spec: Spec) -> Prepared:
    """The picture the model receives and its input array: see the module's docstring for the steps."""
    shape = spec.input.shape
    if spec.input.is_tokens or len(shape) != 3 or shape[0] not in (1, 3):
        raise ImageError(
            f"{spec.name} takes {'tokens' if spec.input.is_tokens else 'x'.join(map(str, shape))}, not an image",
            hint="pick a spec whose input is 1 or 3 channels x height x width",
        )
    channels, height, width = shape
    if height * width > MAX_PIXELS:
        raise ImageError(
            f"{spec.name} takes {height}x{width} pixels, more than the {MAX_PIXELS:,} an image may have",
            hint="use a smaller input size",
        )
    pre = spec.preprocess
    resize = pre.resize or round(min(height, width) / 0.875)
    seen = fit(to_mode(image, channels), (height, width), max(resize, height, width))
    pixels = np.asarray(seen, dtype=np.float32) / 255.0
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    invert, note = _inversion(pixels, pre.invert)
    if invert:
        pixels = 1.0 - pixels
        seen = Image.fromarray(np.rint(255 * pixels[:, :, 0] if channels == 1 else 255 * pixels).astype(np.uint8))
    mean = np.asarray(pre.mean or (0.0,) * channels, dtype=np.float32)
    std = np.asarray(pre.std or (1.0,) * channels, dtype=np.float32)
    return Prepared(seen, ((pixels - mean) / std).transpose(2, 0, 1).copy(), note)


def _inversion(pixels: np.ndarray, setting: bool | str) -> tuple[bool, str]:
    """Whether to invert, and what to tell the user. "auto" looks at the border of the picture:
    where most of it is light, the image is ink on paper and is inverted to bright strokes on dark."""
    if setting != "auto":
        return bool(setting), "inverted, as the spec's [preprocess] says" if setting else ""
    border = np.concatenate([pixels[0].ravel(), pixels[-1].ravel(), pixels[:, 0].ravel(), pixels[:, -1].ravel()])
    if float(np.median(border)) > 0.5:
        return True, "light background: inverted to bright strokes on dark, as the model was trained"
    return False, "dark background: used as it is (bright strokes on dark, as the model was trained)"
