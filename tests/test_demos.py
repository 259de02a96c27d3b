"""The lecture's demos, checked against independent computations (torch, scipy)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnscope.vision import demos

torch = pytest.importorskip("torch")


def test_lecture_convolution():
    result = demos.convolve(demos.parse_matrix(demos.LECTURE_IMAGE, "i"), demos.parse_matrix(demos.LECTURE_KERNEL, "k"))
    assert result.output.tolist() == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    assert result.steps()[0] == "O[0,0] = 1*1 + 1*0 + 1*1 + 0*0 + 1*1 + 1*0 + 0*1 + 0*0 + 1*1 = 4"


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(3, 9),
    w=st.integers(3, 9),
    k=st.integers(1, 3),
    stride=st.integers(1, 3),
    padding=st.integers(0, 2),
    seed=st.integers(0, 999),
)
def test_convolution_matches_torch(h, w, k, stride, padding, seed):
    rng = np.random.default_rng(seed)
    image, kernel = rng.integers(-3, 4, (h, w)).astype(float), rng.integers(-2, 3, (k, k)).astype(float)
    ours = demos.convolve(image, kernel, stride, padding).output
    theirs = torch.nn.functional.conv2d(
        torch.tensor(image)[None, None], torch.tensor(kernel)[None, None], stride=stride, padding=padding
    )[0, 0].numpy()
    assert np.allclose(ours, theirs)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 8), size=st.integers(1, 3), stride=st.integers(1, 3), seed=st.integers(0, 999))
def test_pooling_backward_matches_autograd(n, size, stride, seed):
    if size > n:
        return
    rng = np.random.default_rng(seed)
    matrix = rng.permutation(n * n).reshape(n, n).astype(float)  # distinct values: no ties
    out_size = (n - size) // stride + 1
    upstream = rng.normal(size=(out_size, out_size))
    for ours, pool in (
        (demos.max_pool, torch.nn.functional.max_pool2d),
        (demos.avg_pool, torch.nn.functional.avg_pool2d),
    ):
        x = torch.tensor(matrix, requires_grad=True)
        y = pool(x[None, None], size, stride)[0, 0]
        y.backward(torch.tensor(upstream))
        result = ours(matrix, size, stride, upstream)
        assert np.allclose(result.output, y.detach().numpy())
        assert np.allclose(result.input_gradient, x.grad.numpy())


def test_sobel_matches_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    datasets = pytest.importorskip("sklearn.datasets")
    gray = datasets.load_sample_image("china.jpg").mean(axis=2)[:120, :160]
    result = demos.sobel(gray)
    gx = ndimage.correlate(gray, demos.SOBEL_X, mode="constant")[1:-1, 1:-1]
    gy = ndimage.correlate(gray, demos.SOBEL_Y, mode="constant")[1:-1, 1:-1]
    assert np.allclose(result.gx, gx) and np.allclose(result.gy, gy)
    assert np.allclose(result.magnitude, np.hypot(gx, gy))
    assert result.magnitude.shape == (118, 158)


def test_maximizing_input_beats_any_other_unit_input():
    weight = np.random.default_rng(0).normal(size=(6, 1, 5, 5))
    best = demos.maximizing_inputs(weight)
    assert np.allclose(np.linalg.norm(best.reshape(6, -1), axis=1), 1)
    others = np.random.default_rng(1).normal(size=(200, 25))
    others /= np.linalg.norm(others, axis=1, keepdims=True)
    for unit in range(6):
        w = weight[unit].ravel()
        assert w @ best[unit].ravel() >= (others @ w).max()


def test_demo_commands(cli, tmp_path):
    conv = cli("conv")
    assert conv.exit_code == 0 and "= 4" in conv.stdout and "O = (5 - 3 + 2*0)/1 + 1 = 2 + 1 = 3" in conv.stdout
    pool = cli("pool", "--matrix", "1 2; 3 4", "--kernel", "2")
    assert pool.exit_code == 0 and "only the winners" in pool.stdout
    assert cli("conv", "--image", "1 2; 3", "--kernel", "1").exit_code == 2
    assert (
        "larger than the padded image" in cli("conv", "--image", "1 2; 3 4", "--kernel", "1 1 1; 1 1 1; 1 1 1").output
    )
    assert "pooled output is 1x1" in cli("pool", "--matrix", "1 2; 3 4", "--grad", "1 2; 3 4").output.replace("\n", " ")
    datasets = pytest.importorskip("sklearn.datasets")
    from pathlib import Path

    photo = Path(datasets.__file__).parent / "images" / "flower.jpg"
    sobel = cli("sobel", str(photo), "--save", str(tmp_path / "edges"), "--width", "64")
    assert sobel.exit_code == 0, sobel.output
    assert {p.name for p in (tmp_path / "edges").iterdir()} == {"gx.png", "gy.png", "g.png", "sobel.npz"}
    assert cli("sobel", str(tmp_path / "missing.jpg")).exit_code == 2
    maximize = cli("maximize", "autoencoder", "--save", str(tmp_path / "maximize"))
    assert maximize.exit_code == 0 and "50 units" in maximize.stdout and (tmp_path / "maximize" / "units.png").exists()
