"""cnnscope run / train: real images in, predictions and pictures out, and every bad image named."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
sklearn_datasets = pytest.importorskip("sklearn.datasets")

import cnnscope  # noqa: E402
from cnnscope.vision.images import open_image, prepare  # noqa: E402
from cnnscope.vision.pictures import activation_picture, colorize, filter_picture, half_blocks  # noqa: E402
from cnnscope.zoo import load_target  # noqa: E402

CHINA = Path(sklearn_datasets.__file__).parent / "images" / "china.jpg"  # a real photo shipped by scikit-learn


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNSCOPE_HOME", str(tmp_path / "home"))


def digit_png(path: Path, index: int = 0, ink_on_paper: bool = True) -> int:
    """Write sklearn digit ``index`` as a photo would show it (dark ink on white), or white on black;
    return its label."""
    digits = sklearn_datasets.load_digits()
    ink = digits.images[index] / 16.0
    pixels = 1 - ink if ink_on_paper else ink
    Image.fromarray(np.uint8(255 * pixels)).resize((64, 64), Image.Resampling.BILINEAR).save(path)
    return int(digits.target[index])


def test_run_on_a_real_photo_saves_everything(cli, tmp_path):
    save = tmp_path / "out"
    result = cli("run", "resnet18", "--image", str(CHINA), "--save", str(save), "--device", "cpu", "--preview")
    assert result.exit_code == 0, result.output
    assert "weights: random" in result.stdout and "mean nothing" in result.stdout
    assert "top-5" in result.stdout and "▀" in result.stdout
    files = {p.name for p in save.iterdir()}
    assert {"input.png", "summary.md", "activations.npz", "000_conv1.png", "filters_000_conv1.png"} <= files
    assert Image.open(save / "input.png").size == (224, 224)  # large enough: drawn as it is
    with np.load(save / "activations.npz") as saved:
        assert saved["conv1"].shape == (64, 112, 112) and saved["fc"].shape == (1000,)
    summary = (save / "summary.md").read_text()
    for line in summary.splitlines():
        if line.startswith("!["):
            assert (save / line.split("(")[1].rstrip(")")).exists()
    assert Image.open(save / "filters_000_conv1.png").mode == "RGB"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_preprocessing_by_hand(tmp_path):
    red = tmp_path / "red.png"
    Image.new("RGB", (300, 200), (255, 0, 0)).save(red)
    prepared = prepare(open_image(red), load_target("resnet18"))
    seen, array = prepared.seen, prepared.array
    assert seen.size == (224, 224) and array.shape == (3, 224, 224)
    expected = [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (0 - 0.406) / 0.225]
    assert np.allclose(array[:, 100, 100], expected, atol=1e-5)
    white = tmp_path / "white.png"
    Image.new("L", (40, 40), 255).save(white)
    paper = prepare(open_image(white), load_target("lenet5"))  # a light background: inverted, then (x - 0.5) / 0.5
    assert paper.array.shape == (1, 32, 32) and np.allclose(paper.array, -1.0)
    assert "light background: inverted" in paper.note and np.asarray(paper.seen).max() == 0  # shown as received
    black = tmp_path / "black.png"
    Image.new("L", (40, 40), 0).save(black)
    night = prepare(open_image(black), load_target("lenet5"))  # a dark background: used as it is
    assert np.allclose(night.array, -1.0) and "dark background" in night.note


@pytest.mark.parametrize("mode", ["RGBA", "P", "CMYK", "L", "I;16", "LA", "1"])
def test_every_pillow_mode_becomes_the_spec_mode(tmp_path, mode):
    image = Image.open(CHINA).convert("RGB").resize((64, 48))
    converted = image.convert(mode) if mode not in ("I;16",) else image.convert("L").convert("I;16")
    path = tmp_path / ("img.tiff" if mode in ("CMYK", "I;16") else "img.png")
    converted.save(path)
    for spec, channels in (("resnet18", 3), ("lenet5", 1)):
        array = prepare(open_image(path), load_target(spec)).array
        assert array.shape[0] == channels and np.isfinite(array).all()


def test_formats_exif_and_first_gif_frame(tmp_path):
    base = Image.open(CHINA).convert("RGB").resize((80, 40))
    for suffix in (".jpg", ".webp", ".bmp"):
        base.save(tmp_path / f"img{suffix}")
        assert open_image(tmp_path / f"img{suffix}").size == (80, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    base.save(tmp_path / "rotated.jpg", exif=exif)
    assert open_image(tmp_path / "rotated.jpg").size == (40, 80)
    frames = [Image.new("RGB", (20, 20), (255, 0, 0)), Image.new("RGB", (20, 20), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    assert open_image(tmp_path / "anim.gif").convert("RGB").getpixel((5, 5))[0] > 200


def _truncated(path: Path) -> None:
    buffer = io.BytesIO()
    Image.open(CHINA).save(buffer, format="JPEG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 3])


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda p: None, "no such image file"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_text("hello, not pixels"), "not an image Pillow can read"),
        (_truncated, "damaged or truncated"),
        (lambda p: Image.new("RGB", (1, 1)).save(p, format="PNG"), "1x1 pixels is too small"),
        (lambda p: Image.new("1", (10_000, 10_000)).save(p, format="PNG"), "decompression bomb"),
    ],
)
def test_bad_images(cli, tmp_path, make, fragment):
    path = tmp_path / "bad.png"
    make(path)
    save = tmp_path / "out"
    result = cli("run", "lenet5", "--image", str(path), "--save", str(save))
    assert result.exit_code == 2, result.output
    assert fragment in result.output.replace("\n", "") and "Traceback" not in result.output
    assert not save.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


@pytest.mark.parametrize(
    ("spec", "fragment"), [("kim_cnn", "takes tokens, not an image"), ("chain_1x1", "takes 256x28x28, not an image")]
)
def test_specs_that_take_no_images(cli, spec, fragment):
    result = cli("run", spec, "--image", str(CHINA))
    assert result.exit_code == 2 and fragment in result.output


def test_weights_for_another_model(cli, tmp_path):
    wrong = tmp_path / "alexnet.pth"
    torch.save(torch.nn.Linear(2, 2).state_dict(), wrong)
    result = cli("run", "lenet5", "--image", str(CHINA), "--weights", str(wrong), "--save", str(tmp_path / "out"))
    assert result.exit_code == 2 and "checkpoint does not fit the model" in result.output
    assert not (tmp_path / "out").exists()


def test_train_a_few_steps_then_run_uses_the_checkpoint(cli, tmp_path):
    result = cli("train", "lenet5", "--steps", "3", "--epochs", "1")
    assert result.exit_code == 0, result.output
    checkpoint = Path(os.environ["CNNSCOPE_HOME"]) / "lenet5.safetensors"
    assert checkpoint.exists() and "held-out accuracy" in result.stdout
    from safetensors import safe_open

    with safe_open(checkpoint, "pt") as f:
        assert f.metadata()["spec"] == "lenet5" and f.metadata()["test_images"] == "360"
    digit = tmp_path / "digit.png"
    digit_png(digit)
    ran = cli("run", "lenet5", "--image", str(digit), "--top", "3")
    assert ran.exit_code == 0, ran.output
    assert f"weights: {checkpoint}" in ran.stdout.replace("\n", "")


def test_trained_lenet_reads_digits(tmp_path):
    """A short real training run: the held-out accuracy is well above chance, and photos of
    digits rendered as ink on paper are read through the same preprocessing."""
    from cnnscope.vision.run import run_image
    from cnnscope.vision.train import load_digits, train

    torch.manual_seed(0)
    model = cnnscope.build("lenet5")
    accuracy = train(model, load_digits((32, 32)), epochs=3)
    assert accuracy > 0.85
    for ink_on_paper in (True, False):  # both polarities: the background decides whether to invert
        right = 0
        for index in range(1000, 1020):
            label = digit_png(tmp_path / "d.png", index, ink_on_paper)
            result = run_image(model.eval(), tmp_path / "d.png", torch.device("cpu"), 1, [str(d) for d in range(10)])
            right += result.predictions[0].index == label
        assert right >= 15, ("ink on paper" if ink_on_paper else "white on black", right)


def test_train_refuses_models_that_cannot_learn_digits(cli):
    result = cli("train", "resnet18")
    assert result.exit_code == 2 and "needs a 1 x H x W input and 10 outputs" in result.output


def test_pictures():
    maps = np.random.default_rng(0).normal(size=(10, 7, 5))
    picture = activation_picture(maps, tile_pixels=14)
    # 10 tiles in ceil(sqrt(10)) = 4 columns and 3 rows; 7x5 maps doubled to 14x10; 2-pixel gutters;
    # framed under a caption and over a colour bar, at least 360 pixels wide
    assert picture.caption == "10 channels, each 7x5, each on its own scale"
    assert picture.image.size[0] == 360 and picture.image.size[1] > 3 * (14 + 2) + 2
    assert filter_picture(np.random.default_rng(0).normal(size=(8, 3, 5, 5))).image.mode == "RGB"
    wide, narrow = filter_picture(np.ones((4, 60, 3, 3))).image, filter_picture(np.ones((4, 2, 3, 3))).image
    assert wide.size[0] > narrow.size[0]
    text = half_blocks(Image.new("RGB", (10, 7), (255, 0, 0)), width=10)
    assert text.plain.count("\n") == 4 and text.plain.count("▀") == 40
    last = text.spans[-1].style  # 7 rows: the last cell's lower half is the terminal's, not black
    assert last.color.triplet == (255, 0, 0) and last.bgcolor is None


def test_pictures_say_what_they_leave_out_and_share_a_scale_where_they_must():
    many = activation_picture(np.zeros((2000, 3, 3)), tile_pixels=8)
    assert many.caption.startswith("1,024 of 2,000 channels shown")
    assert activation_picture(np.zeros((96, 55, 55)), tile_pixels=8).caption.startswith("96 channels")
    assert filter_picture(np.zeros((128, 32, 3, 3))).caption.startswith(
        "64 of 128 filters shown (1-64), inputs 1-16 of 32"
    )
    # 1x1 maps on one shared scale: different values get different colours (each on its own would be one colour)
    pixels = activation_picture(np.arange(4.0).reshape(4, 1, 1), tile_pixels=20)
    assert "all on one scale" in pixels.caption
    colours = {tuple(c) for c in np.asarray(pixels.image).reshape(-1, 3)}
    assert {tuple(colorize(np.array(v))) for v in (0.0, 1.0)} <= colours
    bars = activation_picture(np.zeros(10), bars=[("seven", 0.9), ("one", 0.1)])
    assert bars.caption == "the 2 most likely classes, probability per bar"


def _foreground_codes(text, color_system: str) -> list[str]:
    """The SGR foreground code of each half block, as a rich console of ``color_system`` writes it."""
    import re

    from rich.console import Console

    console = Console(file=io.StringIO(), color_system=color_system, force_terminal=True, width=200)
    console.print(text, end="")
    codes = re.findall(r"\x1b\[([0-9;]*)m▀", console.file.getvalue())
    tokens = [code.split(";") for code in codes]  # 30-37/90-97, 38;5;N or 38;2;R;G;B, then the background
    return [";".join(t[: 3 if t[1] == "5" else 5]) if t[0] == "38" else t[0] for t in tokens]


def test_a_terminal_of_16_or_256_colours_keeps_the_order_of_values():
    ramp = Image.fromarray(np.repeat(colorize(np.linspace(0, 1, 12))[None], 2, axis=0))  # low to high, left to right
    # what rich makes of true colour on 16 colours: viridis's dark half is one ANSI colour (the bug this fixes)
    from rich.color import Color, ColorSystem

    downgraded = [Color.from_rgb(*c).downgrade(ColorSystem.STANDARD).number for c in colorize(np.linspace(0, 1, 12))]
    assert len(set(downgraded[:5])) == 1
    standard = {"30": 0, "90": 1, "37": 2, "97": 3}  # black, bright black, white, bright white
    levels = [standard[code] for code in _foreground_codes(half_blocks(ramp, 12, "standard"), "standard")]
    assert levels == sorted(levels) and set(levels) == {0, 1, 2, 3}
    greys = {16: 0, **{n: n - 231 for n in range(232, 256)}, 231: 25}  # black, xterm's 24 greys, white
    codes = _foreground_codes(half_blocks(ramp, 12, "256"), "256")
    levels = [greys[int(code.split(";")[-1])] for code in codes]
    assert levels == sorted(levels) and len(set(levels)) == 12  # twelve values, twelve greys, in order
    assert half_blocks(ramp, 12).spans[0].style.color.triplet == tuple(colorize(np.array(0.0)))  # true colour: as is


def test_a_shared_scale_across_tiles_shows_the_real_range(cli, tmp_path):
    maps = np.array([[[0.0, 1.0]], [[0.0, 10.0]]])  # two 1x2 channels, the second ten times the first

    def pixels_of(picture, value: float) -> int:  # a tile's value is a 24x24 square; the colour bar has few
        return int((np.asarray(picture.image) == colorize(np.array(value))).all(axis=-1).sum())

    own, shared = activation_picture(maps, tile_pixels=48), activation_picture(maps, tile_pixels=48, shared=True)
    assert own.caption.endswith("each on its own scale") and shared.caption.endswith("all on one scale, 0 to 10")
    assert pixels_of(own, 1.0) >= 2 * 24 * 24 and pixels_of(own, 0.1) < 24 * 24  # each channel's top is the top
    assert pixels_of(shared, 1.0) < 2 * 24 * 24 <= 2 * pixels_of(shared, 0.1)  # the first reaches a tenth only
    assert not np.array_equal(np.asarray(own.image), np.asarray(shared.image))
    image, save = tmp_path / "digit.png", tmp_path / "out"
    digit_png(image)
    ran = cli("run", "lenet5", "--image", str(image), "--shared-scale", "--preview", "--save", str(save))
    assert ran.exit_code == 0, ran.output
    assert "all on one scale" in ran.stdout and "all on one scale" in (save / "summary.md").read_text()


def test_signed_weights_are_centred_on_zero():
    grid = np.asarray(filter_picture(np.array([[[[-1.0, 0.0, 1.0]]], [[[0.0, 0.0, 0.5]]]]), tile_pixels=3).image)
    colours = {tuple(c) for c in grid.reshape(-1, 3)}
    assert (247, 247, 247) in colours  # zero is white, whatever the range


def test_labels_file_names_the_classes(cli, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text(
        "\n".join(
            f"digit {word}" for word in ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
        )
    )
    digit = tmp_path / "digit.png"
    digit_png(digit)
    result = cli("run", "lenet5", "--image", str(digit), "--labels", str(labels), "--top", "10")
    assert result.exit_code == 0, result.output
    assert all(f"digit {word}" in result.stdout for word in ("zero", "five", "nine"))
    missing = cli("run", "lenet5", "--image", str(digit), "--labels", str(tmp_path / "nope.txt"))
    assert missing.exit_code == 2 and "no such labels file" in missing.output
