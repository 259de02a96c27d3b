"""``cnnscope draw``: figures whose every size is computed, checked from the layout and the SVG text.

No golden images: the tests read the SVG as XML and the layout's own coordinates, and compare
them with sizes written out from the lecture or worked out here from the analysis.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from itertools import pairwise
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from cnnscope.analysis import analyze
from cnnscope.cli import app
from cnnscope.draw import PNG_ZOOM, branches, draw
from cnnscope.draw.canvas import Canvas, Polygon, Rect, Text, overlaps
from cnnscope.draw.graph import layout as graph_layout
from cnnscope.draw.volumes import layout as volumes_layout
from cnnscope.report.documents import inspect_document
from cnnscope.spec.parse import parse
from cnnscope.zoo import load_target, zoo_names
from tests.test_outputs import TWO

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
    canvas, boxes = graph_layout(analysis, depth=None)
    groups = texts_by_group(canvas.to_svg())
    for key, box in boxes.items():
        texts = groups[("box", key.split(":", 1)[-1])]
        size = lecture_size(box.item.out)
        params = sum(r.cost.params for r in box.item.reports)
        assert any(text.startswith(size + " ") or text == size for text in texts), (key, texts)
        assert params == 0 or any(f"{params / 1e3:.2f}K" in t or f"{params / 1e6:.2f}M" in t for t in texts)
    assert ("box", "layer1.0.conv1") in groups  # first repetition drawn ...
    assert ("box", "layer1.1.conv1") not in groups  # ... once, the two being the same
    assert any("basic x 2" in text for text in groups[("frame", "layer1")])
    # the shortcut of layer1.0 runs beside the convolutions, not through them
    shortcut = next(g for g in canvas.groups if g.kind == "edge" and g.name == "layer:maxpool->layer:layer1.0.add")
    conv = boxes["layer:layer1.0.conv1"]
    for (x0, y0), (x1, y1) in pairwise(shortcut.elements[0].points):  # type: ignore[union-attr]
        if min(y0, y1) < conv.y + conv.h and max(y0, y1) > conv.y:  # beside the convolution
            assert min(x0, x1) > conv.x + conv.w


def test_depth_folds_blocks():
    analysis = analyze(load_target("resnet50"))
    _, folded = graph_layout(analysis, depth=0)
    _, unfolded = graph_layout(analysis, depth=1)
    assert {"block:layer1", "block:layer4"} <= set(folded)
    assert not any(key.startswith("layer:layer1.") for key in folded)
    assert folded["block:layer1"].item.kind == "3 bottleneck blocks"  # the first has a downsample
    assert folded["block:layer1"].item.params == sum(r.cost.params for r in analysis.layers if "layer1" in r.node.scope)
    assert "layer:layer1.0.conv1" in unfolded and len(unfolded) > len(folded)
    _, volumes = volumes_layout(analysis, depth=0)
    assert [v.item.key for v in volumes if v.item.frame] == [f"block:layer{i}" for i in (1, 2, 3, 4)]
    assert len(volumes_layout(analysis)[1]) > len(volumes) + 40  # unfolded: every convolution
    # the command's --depth counts as inspect's does: 1 folds every top-level block
    assert len(draw(analysis, "graph", 1).texts) < len(draw(analysis, "graph", 2).texts)
    assert len(draw(analysis, "graph", 2).texts) == len(draw(analysis, "graph", 2, fit="none").texts)


def test_googlenet_inception_blocks_have_four_parallel_paths():
    analysis = analyze(load_target("googlenet_tv"))
    _, boxes = graph_layout(analysis, depth=None)
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
    """No two texts overlap, and no text enters a box or volume other than its own (but a kernel's
    size, written on the map it slides over)."""
    texts = sorted(canvas.texts, key=lambda t: t.bbox[0])
    for i, a in enumerate(texts):
        for b in texts[i + 1 :]:
            if b.bbox[0] >= a.bbox[2]:
                break
            assert not overlaps(a.bbox, b.bbox), (a.text, b.text)
    shapes = [
        (group, e.bbox)
        for group in canvas.walk()
        if group.kind in ("box", "volume")
        for e in group.elements
        if isinstance(e, Rect | Polygon)
    ]
    for group in canvas.walk():
        for text in (e for e in group.elements if isinstance(e, Text) and e.role != "kernel"):
            for owner, box in shapes:
                assert owner is group or not overlaps(text.bbox, box), (text.text, owner.name)


def outermost_params(svg: str) -> int:
    """The ``data-params`` of the outermost elements that carry it, added up."""

    def walk(element: ET.Element) -> int:
        if "data-params" in element.attrib:
            return int(element.attrib["data-params"])
        return sum(walk(child) for child in element)

    return walk(ET.fromstring(svg))


def slide_text(svg: str) -> float:
    """The smallest font size of the SVG, in pixels, once it is scaled to fit 1920x1080 (never enlarged)."""
    root = ET.fromstring(svg)
    scale = min(1.0, 1920 / float(root.attrib["width"]), 1080 / float(root.attrib["height"]))
    return min(float(text.attrib["font-size"]) for text in root.iter(f"{SVG}text")) * scale


@pytest.mark.parametrize("name", zoo_names())
def test_every_zoo_figure_fits_a_slide_and_its_boxes_add_up(name):
    """Default figures, both styles: legible on a 1920x1080 slide, no label over another or over
    a box, and the boxes' data-params add up to inspect --json's total."""
    analysis = analyze(load_target(name))
    total = inspect_document(analysis)["total"]["params"]
    for style in ("volumes", "graph"):
        canvas = draw(analysis, style)
        svg = canvas.to_svg()
        assert outermost_params(svg) == total, (name, style)
        assert slide_text(svg) >= 9, (name, style, canvas.note)
        _no_label_overlaps(canvas)
        boxes = [e.bbox for g in canvas.walk() if g.kind == "box" for e in g.elements if isinstance(e, Rect)]
        for i, a in enumerate(boxes):
            assert not any(overlaps(a, b) for b in boxes[i + 1 :]), name


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


TEN_THOUSAND = (
    'name = "long"\ninput = [8, 16, 16]\nlayers = [{name = "s", block = "unit", repeat = 2500}]\n[blocks.unit]\n'
    'layers = [{name = "c", type = "conv2d", out = 8, kernel = 3, padding = 1}, {name = "r", type = "relu"},'
    ' {name = "a", type = "add", from = ["in", "r"]}, {name = "n", type = "batchnorm"}]\n'
)


@pytest.mark.parametrize(
    ("text", "says"),
    [(TEN_THOUSAND, "every top-level block one box"), (_chain(2_000), "stages")],
    ids=["10000-in-blocks", "2000-flat"],
)
def test_long_specs_draw_folded_in_seconds(text, says):
    """10,000 layers in one repeated block, and a flat chain of 2,000 (no blocks to fold: stages)."""
    analysis = analyze(parse(text, None, "long"))
    for style in ("graph", "volumes"):
        start = time.perf_counter()
        canvas = draw(analysis, style)
        svg = canvas.to_svg()
        assert time.perf_counter() - start < 10, style
        assert says in canvas.note or (style == "graph" and "x 2500" in svg)
        assert outermost_params(svg) == sum(r.cost.params for r in analysis.layers)
        assert slide_text(svg) >= 9


def test_resnet1001_unfolded_draws_every_volume():
    deep = analyze(load_target(str(ROOT / "benchmarks" / "resnet1001.toml")))
    canvas, volumes = volumes_layout(deep)  # unfolded, as --fit none draws it
    assert len(volumes) > 1000
    assert ET.fromstring(canvas.to_svg()).tag == f"{SVG}svg"


def _frame_texts(canvas: Canvas) -> list[str]:
    return [e.text for g in canvas.walk() if g.kind == "frame" for e in g.elements if isinstance(e, Text)]


def _box_texts(canvas: Canvas) -> list[list[str]]:
    return [[e.text for e in g.elements if isinstance(e, Text)] for g in canvas.walk() if g.kind == "box"]


def test_identical_instances_fold_with_x_n():
    """Three blocks that are the same (layers, settings, shapes, parameters) fold into one 'x 3'."""
    text = (
        'name = "same"\ninput = [8, 16, 16]\n'
        'layers = [{name = "stage", block = "unit", repeat = 3}, {name = "head", type = "conv2d", out = 4, kernel = 1}]\n'
        "[blocks.unit]\n"
        'layers = [{name = "conv", type = "conv2d", out = 8, kernel = 3, padding = 1, act = "relu"},'
        ' {name = "add", type = "add", from = ["in", "conv"]}]\n'
    )
    analysis = analyze(parse(text, None, "same"))
    unit = 8 * 8 * 9 + 8  # one conv: 8x8 3x3 weights and 8 biases
    canvas = draw(analysis, "graph", fit="none")
    assert _frame_texts(canvas) == ["stage: unit x 3"]
    frame = next(g for g in canvas.walk() if g.kind == "frame")
    assert frame.data == {"params": str(3 * unit), "layers": "6"}  # all three instances
    assert [g.name for g in frame.children] == ["stage.0.conv", "stage.0.add"]  # the first drawn
    folded = draw(analysis, "graph", depth=1)
    assert ["stage", "unit x 3", f"16x16x8 · {3 * unit / 1e3:.2f}K params"] in _box_texts(folded)


def test_different_instances_are_never_n_copies():
    """MobileNetV3's 15 bnecks differ: no 'x 15'; folded, one stage box says what it spans."""
    analysis = analyze(load_target("mobilenet_v3_large"))
    bnecks = [r for r in analysis.layers if r.node.scope[:1] == ("features",)]
    params = sum(r.cost.params for r in bnecks)
    for depth in (1, 2, 3):
        canvas = draw(analysis, "graph", depth=depth, fit="none")
        everything = " ".join(t.text for t in canvas.texts)
        assert "x 15" not in everything and "x15" not in everything
    stage = next(lines for lines in _box_texts(draw(analysis, "graph", depth=1)) if lines[0] == "features.1-15")
    assert stage == ["features.1-15", "15 bneck blocks", f"112x112x16 -> 7x7x160 · {params / 1e6:.2f}M params"]
    # unfolded, only runs of the same blocks share a frame: features.5-6 are the same, 4 and 5 are not
    frames = _frame_texts(draw(analysis, "graph", depth=2, fit="none"))
    assert "features.5-6: bneck x 2" in frames and "features.14-15: bneck x 2" in frames
    assert not any(text.startswith(("features.4-", "features.1-")) for text in frames)


def test_resnet_first_block_of_a_stage_is_not_drawn_as_the_second():
    canvas = draw(analyze(load_target("resnet18")), "graph", fit="none")
    frames = _frame_texts(canvas)
    assert "layer1: basic x 2" in frames  # no downsample in either: the same
    for stage in ("layer2", "layer3", "layer4"):
        assert f"{stage}.0: basic" in frames and f"{stage}.1: basic" in frames
        assert not any(text.startswith(f"{stage}: basic x") for text in frames)
        names = {g.name for g in canvas.walk() if g.kind == "box"}
        assert f"{stage}.0.downsample.0" in names and f"{stage}.1.downsample.0" not in names


@pytest.mark.parametrize("depth", [1, 2, 3, None])
def test_data_params_add_up_at_every_depth(depth):
    analysis = analyze(load_target("resnet50"))
    total = inspect_document(analysis)["total"]["params"]
    for style in ("graph", "volumes"):
        svg = draw(analysis, style, depth, fit="none").to_svg()
        assert outermost_params(svg) == total
        root = ET.fromstring(svg)
        for group in root.iter(f"{SVG}g"):
            if group.attrib.get("class") in ("box", "volume", "frame"):
                title = group.find(f"{SVG}title")
                assert title is not None and f"{int(group.attrib['data-params']):,} parameters" in (title.text or "")


def test_edges_into_one_box_arrive_apart_and_never_share_a_lane():
    """U-Net's decoder: the up-conv's edge to cat and the skip into crop run down different lanes."""
    canvas, _ = graph_layout(analyze(load_target("unet")), depth=None)
    edges = [g for g in canvas.groups if g.kind == "edge"]
    runs = []  # vertical stretches: (x, top, bottom, edge)
    for edge in edges:
        points = edge.elements[0].points  # type: ignore[union-attr]
        runs += [(a[0], min(a[1], b[1]), max(a[1], b[1]), edge.name) for a, b in pairwise(points) if a[0] == b[0]]
    for i, (x, top, bottom, name) in enumerate(runs):
        for x2, top2, bottom2, name2 in runs[i + 1 :]:
            same_source = name.split("->")[0] == name2.split("->")[0]  # a fan-out starts as one line
            if abs(x - x2) < 1 and not same_source:
                assert bottom <= top2 or bottom2 <= top, (name, name2)
    for level in (1, 2, 3, 4):
        for box in (f"dec{level}.crop", f"dec{level}.cat"):
            ends = [g.elements[0].points[-1][0] for g in edges if g.name.endswith("->layer:" + box)]  # type: ignore[union-attr]
            assert len(ends) == 2 and abs(ends[0] - ends[1]) > 20, box


def test_markup_and_characters_xml_cannot_hold_stay_text(tmp_path):
    text = (
        'name = "n"\ntitle = "<script>alert(1)</script> & ok"\ninput = [1, 8, 8]\n'
        'layers = [{name = "c1", type = "conv2d", out = 2, kernel = 3}]\n'
    )
    analysis = analyze(parse(text, None, "n"))
    canvas = draw(analysis, "graph")
    # a spec's title holds no control character (parse refuses it); the canvas drops any that reach it
    canvas.title = canvas.title.replace("& ok", "& \u0001\u000b\ufffe ok")
    canvas.groups[-1].elements.append(Text(0, 0, "<b>bold</b>\x00\x1f\ud800 & more"))
    root = ET.fromstring(canvas.to_svg())  # parses: nothing illegal, no element smuggled in
    assert root.find(f"{SVG}title").text == "<script>alert(1)</script> &  ok"  # type: ignore[union-attr]
    assert not list(root.iter(f"{SVG}script")) and not list(root.iter(f"{SVG}b"))
    assert "<b>bold</b> & more" in [t.text for t in root.iter(f"{SVG}text")]


def test_the_command_says_what_it_folded(tmp_path):
    out = tmp_path / "mv3.svg"
    result = runner.invoke(app, ["draw", "mobilenet_v3_large", "--out", str(out)])
    assert result.exit_code == 0, result.output
    said = [line for line in result.output.splitlines() if "slide" in line]
    assert len(said) == 1 and "1920x1080" in said[0] and "--depth" in said[0]
    assert slide_text(out.read_text()) >= 9
    full = tmp_path / "full.svg"
    result = runner.invoke(app, ["draw", "mobilenet_v3_large", "--fit", "none", "--out", str(full)])
    assert result.exit_code == 0 and "slide" not in result.output
    assert slide_text(full.read_text()) < 9  # everything, at full size
    alexnet = runner.invoke(app, ["draw", "alexnet", "--out", str(tmp_path / "a.svg")])
    assert alexnet.output.strip() == f"wrote {tmp_path / 'a.svg'}"  # nothing folded, nothing said


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
    result = runner.invoke(app, ["draw", big, "-s", "volumes", "--fit", "none", "--out", str(tmp_path / "big.png")])
    assert result.exit_code == 2 and "too large for a PNG" in result.output
    result = runner.invoke(app, ["draw", "alexnet", "--fit", "page", "--out", str(tmp_path / "a.svg")])
    assert result.exit_code == 2 and "unknown --fit 'page'" in result.output
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


async def test_the_figure_view_scrolls_zooms_and_says_when_labels_cannot_be_read():
    from textual.widgets import Static

    from cnnscope.tui.app import CnnscopeApp
    from cnnscope.tui.screens.figure import FigureScreen
    from cnnscope.tui.screens.help import HelpScreen

    app = CnnscopeApp("resnet18")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("g")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, FigureScreen)
        title = str(screen.query_one("#figure-title", Static).content)
        assert "PgUp/PgDn scroll" in title and "+ / - zoom" in title
        width = screen.picture.drawn_width
        assert 8 <= width <= 80
        # a 1616-unit-wide figure, 11 px labels, in 80 columns of half blocks: under one half block tall
        note = str(screen.query_one("#figure-note", Static).content)
        assert "too few to read" in note and "o shows the figure as text" in note
        await pilot.press("plus")
        await pilot.pause()
        assert screen.picture.drawn_width == 2 * width
        await pilot.press("pagedown", "right")  # the focus need not move first
        await pilot.pause()
        assert screen.picture.scroll_y > 0 and screen.picture.scroll_x > 0
        await pilot.press("minus")
        await pilot.pause()
        assert screen.picture.drawn_width == width
        await pilot.press("o")
        await pilot.pause()
        text = str(screen.query_one("#figure-outline-text", Static).content)
        assert "layer1: basic x 2" in text and "layer2.0: basic" in text and "layer2.1: basic" in text
        assert "  downsample.0 · conv2d 1x1 /2 + batchnorm · 28x28x128 · 8.45K params" in text
        assert not screen.picture.display
        await pilot.press("escape")
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        shown = str(app.screen.query_one("Static").content)
        assert "+/- zoom, o as text, arrows/PgUp/PgDn scroll" in shown


# A tiny encoder with two heads, its numbers worked out by hand in tests/test_outputs.py (1,598 params)
TWO_HEADS = TWO


def _links(svg: str) -> list[str]:
    """Every line drawn between boxes or volumes, by the layers' names ("pool2->head" in a graph)."""
    root = ET.fromstring(svg)
    names = [g.attrib["data-name"] for g in root.iter(f"{SVG}g") if g.attrib.get("class") in ("edge", "link", "kernel")]
    return ["->".join(end.split(":", 1)[-1] for end in name.split("->")) for name in names]


@pytest.mark.parametrize("style", ["volumes", "graph"])
def test_every_output_of_two_heads_is_drawn_and_tagged(style):
    figure = draw(analyze(parse(TWO_HEADS)), style)
    svg = figure.to_svg()
    boxes = texts_by_group(svg)  # parses
    # a box each in both: on separate branches, the heads are drawn as a graph, never as a chain of volumes
    assert "output 'out' · 10" in boxes[("box", "head")] and "output 'aux' · 4" in boxes[("box", "aux_fc")]
    assert outermost_params(svg) == 224 + 1_168 + 170 + 36
    links = _links(svg)
    assert "pool2->head" in links and "aux_pool->aux_fc" in links
    assert not [link for link in links if {"head", "aux_fc"} <= set(link.split("->"))]
    assert not [link for link in links if link.startswith("head->")]  # nothing reads the head
    if style == "volumes":
        assert figure.note.startswith("drawn as a graph: outputs 'out' and 'aux' are on separate branches")
    else:
        assert not figure.note


def test_outputs_on_one_chain_stay_volumes_each_tagged_under_its_size():
    lines = TWO_HEADS.replace('aux = "aux_fc"', 'feat = "pool2"').splitlines()
    spec = "\n".join(line for line in lines if "aux" not in line)  # conv1 ... pool2 -> head: one chain
    figure = draw(analyze(parse(spec)), "volumes")
    boxes = texts_by_group(figure.to_svg())
    assert not figure.note  # pool2 feeds head: the chain is true
    assert boxes[("volume", "pool2")] == ["pool2", "16", "output 'feat' · 16"]
    assert boxes[("volume", "head")] == ["head", "10", "output 'out' · 10"]
    one = spec.replace('{out = "head", feat = "pool2"}', '"pool2"')  # one tensor, not the last layer's
    boxes = texts_by_group(draw(analyze(parse(one)), "volumes").to_svg())
    assert boxes[("volume", "pool2")] == ["pool2", "16", "output · 16"] and boxes[("volume", "head")] == ["head", "10"]


def test_a_folded_block_says_which_of_its_layers_is_an_output(tmp_path):
    text = (ROOT / "specs" / "resnet18.toml").read_text().split("[expect]")[0]
    spec = tmp_path / "resnet18_c3.toml"
    spec.write_text('outputs = {c3 = "layer3", logits = "fc"}\n' + text)
    figure = draw(analyze(load_target(str(spec))), "graph", depth=1)
    svg = figure.to_svg()
    boxes = texts_by_group(svg)
    # torchvision's layer3 ends at 256 x 14 x 14 on a 224 x 224 image; block "layer3" ends with its relu2
    assert "output 'c3' (layer3.1.relu2) · 14x14x256" in boxes[("box", "layer3")]
    assert "output 'logits' · 1000" in boxes[("box", "fc")]
    assert outermost_params(svg) == 11_689_512  # torchvision's resnet18
    result = runner.invoke(app, ["draw", str(spec), "--style", "volumes", "--out", str(tmp_path / "r.svg")])
    assert result.exit_code == 0, result.output  # layer3 feeds fc: one chain, drawn as volumes
    assert "drawn as a graph" not in result.output
    assert "output 'c3' · 14x14x256" in texts_by_group((tmp_path / "r.svg").read_text())[("volume", "layer3.1.add")]


def test_the_command_says_in_one_line_that_separate_heads_are_drawn_as_a_graph(tmp_path):
    spec = tmp_path / "two.toml"
    spec.write_text(TWO_HEADS)
    result = runner.invoke(app, ["draw", str(spec), "--style", "volumes", "--out", str(tmp_path / "two.png")])
    assert result.exit_code == 0, result.output
    said = result.output.strip().splitlines()
    assert len(said) == 2 and said[0].startswith("drawn as a graph") and said[1].startswith("wrote")
