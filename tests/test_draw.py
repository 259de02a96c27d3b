"""``cnnscope draw``: figures whose every size is computed, checked from the layout and the SVG text.

No golden images: the tests read the SVG as XML and the layout's own coordinates, and compare
them with sizes written out from the lecture or worked out here from the analysis.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import xml.etree.ElementTree as ET
from itertools import pairwise
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from cnnscope.analysis import analyze
from cnnscope.cli import app
from cnnscope.draw import PNG_ZOOM, branches, draw
from cnnscope.draw.canvas import Canvas, overlaps
from cnnscope.draw.graph import layout as graph_layout
from cnnscope.draw.volumes import layout as volumes_layout
from cnnscope.spec.parse import parse
from cnnscope.zoo import load_target, zoo_names

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"
runner = CliRunner()

# The sizes of AlexNet's figure in the lecture, in its order (height x width x channels)
ALEXNET_LECTURE = [
    "227x227x3",
    "55x55x96",
    "27x27x96",
    "27x27x256",
    "13x13x256",
    "13x13x384",
    "13x13x384",
    "13x13x256",
    "6x6x256",
    "4096",
    "4096",
    "1000",
]


def lecture_size(shape: tuple[int, ...]) -> str:
    """C x H x W written as the lecture does, H x W x C; a vector is its length."""
    return str(shape[0]) if len(shape) == 1 else "x".join(map(str, (*shape[1:], shape[0])))


def texts_by_group(svg: str) -> dict[tuple[str, str], list[str]]:
    """Text of each ``<g class=... data-name=...>`` of the SVG, which must parse as XML."""
    root = ET.fromstring(svg)
    found: dict[tuple[str, str], list[str]] = {}
    for group in root.iter(f"{SVG}g"):
        if "class" in group.attrib:
            key = (group.attrib["class"], group.attrib.get("data-name", ""))
            found.setdefault(key, []).extend(t.text or "" for t in group.iter(f"{SVG}text"))
    return found


def test_draw_never_imports_torch(tmp_path):
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cnnscope.cli import app\n"
        f"for name, out in (('alexnet', 'a.svg'), ('googlenet_tv', 'g.png')):\n"
        f"    result = CliRunner().invoke(app, ['draw', name, '--out', {str(tmp_path)!r} + '/' + out])\n"
        "    assert result.exit_code == 0, result.output\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    assert (tmp_path / "a.svg").stat().st_size and (tmp_path / "g.png").stat().st_size


def test_alexnet_volumes_carry_the_lectures_sizes_in_order(tmp_path):
    out = tmp_path / "alexnet.svg"
    result = runner.invoke(app, ["draw", "alexnet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    groups = texts_by_group(out.read_text())
    volumes = [texts for (kind, _), texts in groups.items() if kind == "volume"]
    assert [texts[1] for texts in volumes] == ALEXNET_LECTURE  # name above, size below
    kernels = {name: texts for (kind, name), texts in groups.items() if kind == "kernel"}
    assert kernels["conv1"] == ["11x11 /4"] and kernels["conv2"] == ["5x5"] and kernels["pool1"] == ["3x3 /2"]
    assert {"convolution", "pooling", "fully connected"} <= set(groups[("legend", "")])


def test_a_video_map_is_drawn_as_one_frame_and_labelled_with_every_axis():
    spec = parse(
        """
name = "clip"
input = [3, 8, 64, 32]
layers = [
  {name = "stem", type = "conv3d", out = 16, kernel = [3, 7, 5], stride = [1, 2, 2], padding = [1, 3, 2]},
  {name = "pool", type = "maxpool3d", kernel = 2},
]
""",
        path="clip.toml",
    )
    canvas, volumes = volumes_layout(analyze(spec))
    groups = texts_by_group(canvas.to_svg())
    clip, stem, pool = volumes
    assert "8x64x32x3" in groups[("volume", "input")] and "8x32x16x16" in groups[("volume", "stem")]
    assert groups[("kernel", "stem")] == ["3x7x5 /1x2x2"] and groups[("kernel", "pool")] == ["2x2x2 /2"]
    # height and width are the frame's (64 > 32, then 32 > 16), never the 8 frames
    assert clip.h > clip.d and clip.h > stem.h and stem.h > stem.d and stem.h > pool.h


@pytest.mark.parametrize("name", ["alexnet", "vgg16", "lenet5", "yolov1", "kim_cnn"])
def test_volumes_follow_the_shapes(name):
    analysis = analyze(load_target(name))
    canvas, volumes = volumes_layout(analysis)
    groups = texts_by_group(canvas.to_svg())
    for volume in volumes:
        assert lecture_size(volume.item.out) in groups[("volume", volume.item.key.split(":", 1)[-1])]
    # each dimension on its own: a larger size is drawn larger, an equal one equally
    maps = [v for v in volumes if len(v.item.out) == 3]
    bars = [v for v in volumes if len(v.item.out) == 1]
    for axis, drawn in ((0, "w"), (1, "h"), (2, "d")):
        for a in maps:
            for b in maps:
                assert _order(a.item.out[axis], b.item.out[axis]) == _order(getattr(a, drawn), getattr(b, drawn))
    for a in bars:
        for b in bars:
            assert _order(a.item.out[0], b.item.out[0]) == _order(a.h, b.h)
    assert len({bar.w for bar in bars}) <= 1  # vectors are bars of one thickness, their length drawn
    if name != "yolov1":  # ends in a 7x7x30 grid
        assert bars


def _order(a: float, b: float) -> int:
    return (a > b) - (a < b)


def test_graph_boxes_hold_type_shape_and_params():
    analysis = analyze(load_target("resnet18"))
    canvas, boxes = graph_layout(analysis)
    groups = texts_by_group(canvas.to_svg())
    for key, box in boxes.items():
        texts = groups[("box", key.split(":", 1)[-1])]
        size = lecture_size(box.item.out)
        params = sum(r.cost.params for r in box.item.reports)
        assert any(text.startswith(size + " ") or text == size for text in texts), (key, texts)
        assert params == 0 or any(f"{params / 1e3:.2f}K" in t or f"{params / 1e6:.2f}M" in t for t in texts)
    assert ("box", "layer1.0.conv1") in groups  # first repetition drawn ...
    assert ("box", "layer1.1.conv1") not in groups  # ... once
    assert any("x 2" in text for text in groups[("frame", "layer1")])
    # the shortcut of layer1.0 runs beside the convolutions, not through them
    shortcut = next(g for g in canvas.groups if g.kind == "edge" and g.name == "layer:maxpool->layer:layer1.0.add")
    xs = {round(x) for x, _ in shortcut.elements[0].points[1:-1]}  # type: ignore[union-attr]
    conv = boxes["layer:layer1.0.conv1"]
    assert all(x > conv.x + conv.w for x in xs)


def test_depth_folds_blocks():
    analysis = analyze(load_target("resnet50"))
    _, folded = graph_layout(analysis, depth=0)
    _, unfolded = graph_layout(analysis, depth=1)
    assert {"block:layer1", "block:layer4"} <= set(folded)
    assert not any(key.startswith("layer:layer1.") for key in folded)
    assert folded["block:layer1"].item.kind == "bottleneck x3"
    assert folded["block:layer1"].item.params == sum(r.cost.params for r in analysis.layers if "layer1" in r.node.scope)
    assert "layer:layer1.0.conv1" in unfolded and len(unfolded) > len(folded)
    _, volumes = volumes_layout(analysis, depth=0)
    assert [v.item.key for v in volumes if v.item.frame] == [f"block:layer{i}" for i in (1, 2, 3, 4)]
    assert len(volumes_layout(analysis)[1]) > len(volumes) + 40  # unfolded: every convolution
    # the command's --depth counts as inspect's does: 1 folds every top-level block
    assert len(draw(analysis, "graph", 1).texts) < len(draw(analysis, "graph", 2).texts)


def test_googlenet_inception_blocks_have_four_parallel_paths():
    analysis = analyze(load_target("googlenet_tv"))
    _, boxes = graph_layout(analysis)
    inceptions = [name for name, kind in analysis.spec.groups.items() if kind == "inception"]
    assert len(inceptions) == 9
    for block in inceptions:
        paths: dict[str, list] = {}
        for key, box in boxes.items():
            name = key.split(":", 1)[-1]
            if name.startswith(block + ".branch"):
                paths.setdefault(name[len(block) + 1 :].split(".")[0], []).append(box)
        assert sorted(paths) == ["branch1", "branch2", "branch3", "branch4"]
        centres = [{round(box.centre, 3) for box in path} for path in paths.values()]
        assert all(len(c) == 1 for c in centres), "each path is one column"
        assert len({c.pop() for c in centres}) == 4, "the four paths stand side by side"
        concat = boxes[f"layer:{block}.output"]
        first_rows = [min(box.row for box in path) for path in paths.values()]
        assert len(set(first_rows)) == 1, "the paths start on one row"
        assert all(box.row < concat.row for path in paths.values() for box in path)


def test_png_has_the_expected_size(tmp_path):
    svg, png = tmp_path / "alexnet.svg", tmp_path / "alexnet.png"
    for out in (svg, png):
        assert runner.invoke(app, ["draw", "alexnet", "--out", str(out)]).exit_code == 0
    root = ET.fromstring(svg.read_text())
    with Image.open(png) as image:
        assert image.format == "PNG"
        assert image.size == (int(root.attrib["width"]) * PNG_ZOOM, int(root.attrib["height"]) * PNG_ZOOM)


def _no_label_overlaps(canvas: Canvas) -> None:
    texts = sorted(canvas.texts, key=lambda t: t.bbox[0])
    for i, a in enumerate(texts):
        for b in texts[i + 1 :]:
            if b.bbox[0] >= a.bbox[2]:
                break
            assert not overlaps(a.bbox, b.bbox), (a.text, b.text)


@pytest.mark.parametrize("name", zoo_names())
def test_every_zoo_spec_draws_without_overlaps(name):
    analysis = analyze(load_target(name))
    for style in ("volumes", "graph"):
        canvas = draw(analysis, style)
        ET.fromstring(canvas.to_svg())
        _no_label_overlaps(canvas)
    _, boxes = graph_layout(analysis)
    placed = sorted(boxes.values(), key=lambda b: (b.row, b.x))
    for a, b in pairwise(placed):
        if a.row == b.row:
            assert a.x + a.w < b.x, (a.item.key, b.item.key)


def test_default_style_follows_branching():
    assert not branches(analyze(load_target("alexnet")))
    for name in ("googlenet_tv", "resnet18", "unet"):
        assert branches(analyze(load_target(name)))
    assert any(g.kind == "volume" for g in draw(analyze(load_target("vgg16"))).groups)
    assert any(g.kind == "box" for g in draw(analyze(load_target("unet"))).groups)


def _chain(layers: int) -> str:
    """A spec of ``layers`` layers with a residual shortcut every three, written out without blocks."""
    lines = ['name = "long"', "input = [8, 16, 16]", "layers = ["]
    for i in range(0, layers - 1, 3):
        lines.append(f'  {{name = "c{i}", type = "conv2d", out = 8, kernel = 3, padding = 1}},')
        lines.append(f'  {{name = "r{i}", type = "relu"}},')
        previous = f"a{i - 3}" if i else "in"
        lines.append(f'  {{name = "a{i}", type = "add", from = ["r{i}", "{previous}"]}},')
    lines.append("]")
    return "\n".join(lines)


def test_a_thousand_layers_draw():
    spec = parse(_chain(1000), None, "long")
    assert len(spec.nodes) >= 999
    analysis = analyze(spec)
    canvas, boxes = graph_layout(analysis, depth=None)
    assert len(boxes) > 600  # relu joins its convolution's box
    ET.fromstring(canvas.to_svg())
    deep = analyze(load_target(str(ROOT / "benchmarks" / "resnet1001.toml")))
    canvas, volumes = volumes_layout(deep)
    assert len(volumes) > 1000
    assert ET.fromstring(canvas.to_svg()).tag == f"{SVG}svg"


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("figure.pdf", "must end in .svg or .png"),
        ("missing/figure.svg", "the folder does not exist"),
        (".", "must end in .svg or .png"),
    ],
)
def test_bad_destinations_are_one_line_errors(tmp_path, out, message):
    result = runner.invoke(app, ["draw", "alexnet", "--out", str(tmp_path / out)])
    assert result.exit_code == 2
    assert message in result.output and result.output.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


def test_a_directory_named_svg_is_refused(tmp_path):
    (tmp_path / "figure.svg").mkdir()
    result = runner.invoke(app, ["draw", "alexnet", "--out", str(tmp_path / "figure.svg")])
    assert result.exit_code == 2 and "directory" in result.output


def test_unknown_style_and_too_large_png(tmp_path):
    result = runner.invoke(app, ["draw", "alexnet", "--style", "cubes", "--out", str(tmp_path / "a.svg")])
    assert result.exit_code == 2 and "unknown style 'cubes'" in result.output
    big = str(ROOT / "benchmarks" / "resnet1001.toml")
    result = runner.invoke(app, ["draw", big, "--style", "volumes", "--out", str(tmp_path / "big.png")])
    assert result.exit_code == 2 and "too large for a PNG" in result.output
    assert list(tmp_path.iterdir()) == []


def test_readme_figures_are_what_the_command_draws_now(tmp_path):
    """docs/figures/make.py regenerates them; the SVG text is compared (a PNG's pixels depend on the fonts)."""
    loader = importlib.util.spec_from_file_location("make_figures", ROOT / "docs" / "figures" / "make.py")
    assert loader is not None and loader.loader is not None
    make = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(make)
    for stem, arguments in make.FIGURES:
        assert (ROOT / "docs" / "figures" / f"{stem}.png").exists()
        out = tmp_path / f"{stem}.svg"
        result = runner.invoke(app, ["draw", *arguments, "--out", str(out)])
        assert result.exit_code == 0, result.output
        committed = (ROOT / "docs" / "figures" / f"{stem}.svg").read_text()
        assert committed == out.read_text(), f"{stem} drifted: run python docs/figures/make.py"


async def test_the_tui_shows_the_figure_of_the_open_model():
    from textual.widgets import Static

    from cnnscope.tui.app import CnnscopeApp
    from cnnscope.tui.screens.figure import FigureScreen
    from cnnscope.tui.widgets.picture import Picture

    app = CnnscopeApp("alexnet")
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("g")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, FigureScreen)
        picture = app.screen.query_one("#figure-picture", Picture)
        assert picture.image is not None
        width, height = draw(analyze(load_target("alexnet")), "volumes").size()
        assert picture.image.size == (width * PNG_ZOOM, height * PNG_ZOOM)
        title = str(app.screen.query_one("#figure-title", Static).content)
        assert "alexnet" in title and "as volumes" in title
        await pilot.press("s")  # the other style
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert picture.image.size == tuple(
            side * PNG_ZOOM for side in draw(analyze(load_target("alexnet")), "graph").size()
        )
        await pilot.press("escape")
        assert not isinstance(app.screen, FigureScreen)
