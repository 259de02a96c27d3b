"""The lecture's worked examples as small numpy functions (no torch): convolution step by
step, max and average pooling with their backward pass, Sobel edges, and the input that
maximally activates a unit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnscope.errors import CnnscopeError
from cnnscope.vision.examples import LECTURE_IMAGE, LECTURE_KERNEL, POOL_EXAMPLE

__all__ = ["LECTURE_IMAGE", "LECTURE_KERNEL", "POOL_EXAMPLE", "avg_pool", "convolve", "max_pool", "sobel"]

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
SOBEL_Y = SOBEL_X.T.copy()
MAX_SIDE = 64  # conv and pool print every value (and every step): larger matrices are no lecture demo


def parse_matrix(text: str, what: str) -> np.ndarray:
    """'1 2; 3 4' (rows by ';' or new lines, numbers by spaces or commas), or a file holding that."""
    path = Path(text)
    if "\n" not in text and ";" not in text and path.suffix in (".txt", ".csv") and path.exists():
        from cnnscope.files import read_text

        text = read_text(path, "a matrix")
    rows = [r for r in re.split(r"[;\n]", text) if r.strip()]
    if len(rows) > MAX_SIDE or any(len(r) > 64 * MAX_SIDE for r in rows):
        raise CnnscopeError(f"{what}: the demos show matrices of at most {MAX_SIDE}x{MAX_SIDE}")
    try:
        values = [[float(v) for v in re.split(r"[,\s]+", r.strip())] for r in rows]
    except ValueError:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise CnnscopeError(f"{what}: '{shown}' is not a matrix such as '1 2; 3 4'") from None
    if not values or len({len(r) for r in values}) != 1:
        raise CnnscopeError(f"{what}: every row needs the same number of values")
    if len(values[0]) > MAX_SIDE:
        raise CnnscopeError(f"{what}: the demos show matrices of at most {MAX_SIDE}x{MAX_SIDE}")
    if not np.isfinite(values).all():
        raise CnnscopeError(f"{what}: every value must be a finite number")
    return np.array(values)


def windows(matrix: np.ndarray, size: tuple[int, int], stride: int) -> np.ndarray:
    """(out_h, out_w, kh, kw) views of every window position."""
    view = np.lib.stride_tricks.sliding_window_view(matrix, size)
    return view[::stride, ::stride]


def _term(a: float, b: float) -> str:
    return f"{a:g}*{b:g}"


@dataclass(frozen=True)
class Convolution:
    padded: np.ndarray
    kernel: np.ndarray
    stride: int
    output: np.ndarray

    def steps(self) -> list[str]:
        """One line per output element: the products summed, as on the lecture's slide."""
        lines = []
        kh, kw = self.kernel.shape
        for i in range(self.output.shape[0]):
            for j in range(self.output.shape[1]):
                patch = self.padded[i * self.stride : i * self.stride + kh, j * self.stride : j * self.stride + kw]
                terms = " + ".join(_term(a, b) for a, b in zip(patch.ravel(), self.kernel.ravel()))
                lines.append(f"O[{i},{j}] = {terms} = {self.output[i, j]:g}")
        return lines


def convolve(image: np.ndarray, kernel: np.ndarray, stride: int = 1, padding: int = 0) -> Convolution:
    """Cross-correlation without kernel flipping ("valid" where padding is 0), as CNNs compute it."""
    if stride < 1 or padding < 0:
        raise CnnscopeError("stride must be at least 1 and padding at least 0")
    if padding > MAX_SIDE:
        raise CnnscopeError(f"padding {padding} is more than the demos show (at most {MAX_SIDE})")
    padded = np.pad(image, padding)
    if kernel.shape[0] > padded.shape[0] or kernel.shape[1] > padded.shape[1]:
        raise CnnscopeError(
            f"kernel {kernel.shape[0]}x{kernel.shape[1]} is larger than the padded image"
            f" {padded.shape[0]}x{padded.shape[1]}",
            hint="add --padding or use a smaller kernel",
        )
    output = np.einsum("ijkl,kl->ij", windows(padded, kernel.shape, stride), kernel)
    return Convolution(padded, kernel, stride, output)


@dataclass(frozen=True)
class Pooling:
    output: np.ndarray
    input_gradient: np.ndarray  # dL/dx given dL/dout


def max_pool(matrix: np.ndarray, size: int, stride: int, upstream: np.ndarray | None = None) -> Pooling:
    """Max pooling; backward: each window's gradient goes to its winner only (first one on ties)."""
    view = windows(matrix, (size, size), stride)
    output = view.max(axis=(2, 3))
    upstream = np.ones_like(output) if upstream is None else upstream
    gradient = np.zeros_like(matrix, dtype=np.float64)
    for i in range(output.shape[0]):
        for j in range(output.shape[1]):
            dy, dx = np.unravel_index(np.argmax(view[i, j]), (size, size))
            gradient[i * stride + dy, j * stride + dx] += upstream[i, j]
    return Pooling(output, gradient)


def avg_pool(matrix: np.ndarray, size: int, stride: int, upstream: np.ndarray | None = None) -> Pooling:
    """Average pooling; backward: each window spreads its gradient evenly, 1/(size*size) each."""
    view = windows(matrix, (size, size), stride)
    output = view.mean(axis=(2, 3))
    upstream = np.ones_like(output) if upstream is None else upstream
    gradient = np.zeros_like(matrix, dtype=np.float64)
    for i in range(output.shape[0]):
        for j in range(output.shape[1]):
            gradient[i * stride : i * stride + size, j * stride : j * stride + size] += upstream[i, j] / size**2
    return Pooling(output, gradient)


def check_pool_shapes(matrix: np.ndarray, size: int, stride: int, upstream: np.ndarray | None) -> None:
    if size < 1 or stride < 1:
        raise CnnscopeError("--size and --stride must be at least 1")
    if size > min(matrix.shape):
        raise CnnscopeError(f"window {size}x{size} is larger than the {matrix.shape[0]}x{matrix.shape[1]} matrix")
    out = tuple((n - size) // stride + 1 for n in matrix.shape)
    if upstream is not None and upstream.shape != out:
        raise CnnscopeError(
            f"--grad is {upstream.shape[0]}x{upstream.shape[1]} but the pooled output is {out[0]}x{out[1]}"
        )


@dataclass(frozen=True)
class Sobel:
    gx: np.ndarray
    gy: np.ndarray
    magnitude: np.ndarray


def sobel(gray: np.ndarray) -> Sobel:
    """Gx = Wx * X, Gy = Wy * X (valid cross-correlation), G = sqrt(Gx^2 + Gy^2)."""
    gx = convolve(gray, SOBEL_X).output
    gy = convolve(gray, SOBEL_Y).output
    return Sobel(gx, gy, np.sqrt(gx**2 + gy**2))


def maximizing_inputs(weight: np.ndarray) -> np.ndarray:
    """x = W_i / ||W_i|| for every unit i: the unit-norm input that activates unit i most."""
    flat = weight.reshape(weight.shape[0], -1).astype(np.float64)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    return (flat / np.where(norms == 0, 1, norms)).reshape(weight.shape)
