"""The TUI, driven with Textual's pilot as a user would: keys in, what the widgets show out."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

from cnnscope.tui.app import CnnscopeApp
from cnnscope.tui.screens.help import HelpScreen
from cnnscope.tui.screens.model import ModelScreen
from cnnscope.tui.widgets.activations_pane import ActivationsPane
from cnnscope.tui.widgets.layer_table import LayerTable
from cnnscope.tui.widgets.outline import GraphOutline
from cnnscope.tui.widgets.picture import Picture
from cnnscope.vision.explain import class_heat_map
from cnnscope.vision.pictures import DIVERGING, VIRIDIS, colorize, heat_overlay


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNSCOPE_HOME", str(tmp_path / "home"))


def row(app, name):
    table = app.screen.query_one(LayerTable)
    return dict(zip(("layer", "output", "params", "macs", "type"), table.get_row(name), strict=False))


def text_of(widget) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(getattr(widget, "shown_text", None) or widget.content)  # a Picture keeps what it drew
    return console.export_text()


async def submit_size(app, pilot, text):
    box = app.screen.query_one("#input-size")
    box.focus()
    await pilot.pause()
    box.value = text
    await pilot.press("enter")
    await pilot.pause()


async def settle(app, pilot):
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def until(pilot, condition, most: int = 200) -> bool:
    """Let the app run until ``condition()`` holds (a layout done, a widget mounted), at most ``most`` pauses:
    on a busy machine one pause is not always enough. Returns whether it holds."""
    for _ in range(most):
        if condition():
            return True
        await pilot.pause()
    return condition()


async def test_change_the_input_size_and_every_shape_follows():
    app = CnnscopeApp("alexnet_tv")
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        assert row(app, "features.0")["output"] == "64x55x55"
        await pilot.press("i")
        assert app.focused.id == "input-size"
        await submit_size(app, pilot, "448")
        side = (448 - 11 + 2 * 2) // 4 + 1  # 111
        assert row(app, "features.0")["output"] == f"64x{side}x{side}"
        assert row(app, "features.0")["macs"] == "286.24M"  # 64*111*111 * 3*11*11
        assert row(app, "avgpool")["output"] == "256x6x6"


async def test_a_size_that_breaks_the_model_is_shown_on_its_layer():
    app = CnnscopeApp("alexnet")
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await submit_size(app, pilot, "3x10x10")
        error = app.screen.query_one("#error")
        assert error.display and "kernel 11 is larger than the padded input 10" in text_of(error)
        assert app.screen.query_one(LayerTable).get_row("__error__")[0].plain == "conv1"
        assert "This layer breaks the model" in text_of(app.screen.query_one("#detail"))
        title = text_of(app.screen.query_one("#title"))
        assert "breaks at layer 'conv1': no totals" in title and "params" not in title
        await submit_size(app, pilot, "227")
        assert "params 62,378,344" in text_of(app.screen.query_one("#title"))
        assert not app.screen.query_one("#error").display and row(app, "pool3")["output"] == "256x6x6"


async def test_details_follow_the_selected_layer():
    app = CnnscopeApp("alexnet")
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        text = text_of(app.screen.query_one("#detail"))
        assert "O = (227 - 11 + 2*0)/4 + 1 = 54 + 1 = 55" in text and "params = 96 * (3*11*11) + 96 = 34,944" in text
        await pilot.press("down", "down")
        await pilot.pause()
        assert "conv2: conv2d" in text_of(app.screen.query_one("#detail"))


async def test_picker_searches_as_you_type():
    app = CnnscopeApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press(*"resnet1")
        options = app.screen.query_one("#models")
        assert {options.get_option_at_index(i).id for i in range(options.option_count)} == {"resnet18", "resnet152"}
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ModelScreen) and app.screen.spec.name in ("resnet18", "resnet152")


async def test_a_spec_that_fails_to_parse_opens_with_the_error(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text('input = [3, 8, 8]\nlayers = [{name = "c", type = "conv2d", out = 4, kernal = 3}]\n')
    app = CnnscopeApp(str(broken))
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        error = text_of(app.screen.query_one("#error"))
        assert "did you mean 'kernel'?" in error and app.is_running


async def test_help_screen_and_back():
    app = CnnscopeApp("lenet5")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ModelScreen)


def digit_image(path: Path) -> Path:
    datasets = pytest.importorskip("sklearn.datasets")
    ink = datasets.load_digits().images[0] / 16.0
    Image.fromarray(np.uint8(255 * (1 - ink))).resize((64, 64)).save(path)
    return path


async def test_load_an_image_and_browse_activation_tiles(tmp_path):
    pytest.importorskip("torch")
    image = digit_image(tmp_path / "digit.png")
    app = CnnscopeApp("lenet5")
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("o")
        await pilot.pause()
        app.screen.query_one("#image-path").value = str(image)
        await pilot.press("enter")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ModelScreen) and screen.query_one("#tabs").active == "activations"
        predictions = text_of(screen.query_one("#predictions"))
        assert "digit.png" in predictions and "1. " in predictions and "weights: random" in predictions
        picture = screen.query_one("#activation-picture", Picture)
        assert "▀" in text_of(picture) and "c1: channel 1/6 (28x28)" in picture.caption
        await pilot.press("right_square_bracket")
        assert "channel 2/6" in picture.caption
        await pilot.press("left_square_bracket", "left_square_bracket")  # before the first: the last
        assert "c1: channel 6/6" in picture.caption
        await pilot.press("right_square_bracket")
        assert "c1: channel 1/6" in picture.caption
        await pilot.press("down", "down")
        await pilot.pause()
        assert "c3: channel" in picture.caption
        own = np.asarray(picture.image)
        await pilot.press("s")  # every channel on the layer's scale, the bar at its real range
        pane = screen.query_one(ActivationsPane)
        maps = pane.result.activations["c3"]
        assert "every channel on one scale" in picture.caption
        assert f"{float(maps.min()):.3g}" in picture.caption and f"{float(maps.max()):.3g}" in picture.caption
        channel = maps[pane.channel]  # on the layer's range: the channel's top is the top only if it is the layer's
        unit = (channel - maps.min()) / (maps.max() - maps.min())
        colours = {tuple(c) for c in np.asarray(picture.image).reshape(-1, 3)}
        assert colours == {tuple(c) for c in colorize(unit).reshape(-1, 3)}
        await pilot.press("s")
        assert "each channel on its own scale" in picture.caption and np.array_equal(np.asarray(picture.image), own)
        top = pane.result.predictions[0].label
        await pilot.press("h")  # where the image made its top class, at the selected layer (c3, a 10x10 map)
        await settle(app, pilot)
        assert f"Where the picture made '{top}'" in picture.caption and "Grad-CAM at c3" in picture.caption
        assert "Heat-map check: with the hottest 15% of pixels hidden" in picture.caption
        # the input dimmed under its heat, a pixel per input pixel, enlarged to the pane: not the saved
        # figure (its title, two tiles and colour bar) drawn as giant pixels
        heat = class_heat_map(pane.opened.model, pane.result.input, pane.result.predictions[0].index, "c3")
        assert np.array_equal(np.asarray(picture.image), np.asarray(heat_overlay(pane.result.seen, heat.heat)))
        assert picture.image.size == pane.result.seen.size == (32, 32)
        assert f"0 {'█' * 6}" in picture.caption and f"█ {float(heat.heat.max()):.3g}" in picture.caption  # its bar
        assert picture.max_scroll_x == 0  # all of it in view, the caption wrapped
        await pilot.press("h")
        await settle(app, pilot)
        assert "gradient x difference from the blank background at c3" in picture.caption
        await pilot.press("down", "down")  # c5 is 120x1x1, no map: the last layer with one (s4)
        await settle(app, pilot)
        assert "at s4" in picture.caption
        await pilot.press("h")
        assert "c5: channel" in picture.caption  # back to the activations


def picture_room(picture) -> int:
    """The columns a pane has for a picture: its own, less the vertical scrollbar's."""
    return picture.content_region.width - picture.styles.scrollbar_size_vertical


def drawn_lines(picture) -> list[str]:
    return [line for line in text_of(picture.query_one(".image")).splitlines() if line.strip()]


def drawn_pixels(picture) -> np.ndarray:
    """The pixels the pane draws, read back from its half blocks (top: the colour, bottom: the background)."""
    rows = []
    for line in picture.query_one(".image").content.split("\n"):
        runs = sorted(line.spans, key=lambda span: span.start)  # a span per run of equal cells
        if runs:
            rows.append([span.style.color.triplet for span in runs for _ in range(span.end - span.start)])
            rows.append([span.style.bgcolor.triplet for span in runs for _ in range(span.end - span.start)])
    return np.array(rows, dtype=np.uint8)


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 50)])
async def test_a_single_map_is_enlarged_by_the_largest_whole_number_that_fits_the_pane(tmp_path, size, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setattr("textual.constants.COLOR_SYSTEM", "truecolor")  # pixels drawn as they are, to compare
    image = digit_image(tmp_path / "digit.png")
    app = CnnscopeApp("lenet5", image=str(image))
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        picture = app.screen.query_one("#activation-picture", Picture)
        table = app.screen.query_one(LayerTable)
        for layer, side in (("c1", 28), ("s2", 14), ("c3", 10), ("s4", 5)):
            table.move_cursor(row=table.get_row_index(layer))
            await pilot.pause()
            lines = drawn_lines(picture)  # a pixel per column, two per row
            scale, rest = divmod(len(lines[0]), side)
            room = picture_room(picture)
            assert rest == 0 and {len(line) for line in lines} == {side * scale}
            assert len(lines) == math.ceil(side * scale / 2)
            assert scale >= 1 and side * scale <= room, (layer, scale, room)
            assert scale == 8 or side * (scale + 1) > room, (layer, scale, room)  # the largest that fits
            assert picture.image.size == (side, side)  # a pixel per value, enlarged by the pane
            pixels = np.asarray(picture.image).repeat(scale, axis=0).repeat(scale, axis=1)
            assert np.array_equal(drawn_pixels(picture)[: side * scale], pixels)  # squares, never smoothed
            assert picture.max_scroll_x == 0  # the map and its caption (wrapped) in view: nothing cut at the edge
        await pilot.press("s")  # the shared scale's bar ends are numbers: still on one line, whole
        bar = next(line for line in text_of(picture.query_one(".caption")).splitlines() if "█" in line)
        assert bar.startswith(f"{float(app.screen.query_one(ActivationsPane).result.activations['s4'].min()):.3g} ")


async def test_a_map_follows_the_pane_when_the_terminal_is_resized_and_a_wide_one_scrolls(tmp_path):
    pytest.importorskip("torch")
    image = digit_image(tmp_path / "digit.png")
    app = CnnscopeApp("lenet5", image=str(image))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        picture = app.screen.query_one("#activation-picture", Picture)
        table = app.screen.query_one(LayerTable)
        table.move_cursor(row=table.get_row_index("c3"))  # 10x10
        await pilot.pause()
        before = len(drawn_lines(picture)[0]) // 10
        await pilot.resize_terminal(200, 50)
        await pilot.pause()
        await pilot.pause()
        room, scale = picture_room(picture), len(drawn_lines(picture)[0]) // 10
        assert scale != before and 10 * scale <= room < 10 * (scale + 1)
        await submit_size(app, pilot, "100")  # c1 is 96x96: wider than the pane, at its own size it scrolls
        app.screen.run_image(str(image))
        for _ in range(2):
            await settle(app, pilot)
        table.move_cursor(row=table.get_row_index("c1"))
        await pilot.pause()
        assert picture.image.size == (96, 96) and {len(line) for line in drawn_lines(picture)} == {96}
        assert picture.max_scroll_x > 0


def test_a_colour_bar_narrows_to_the_line_and_keeps_its_ends():
    from cnnscope.tui.widgets.picture import Bar, with_bar

    bar = Bar(VIRIDIS, "its lowest", "its highest")
    narrow = with_bar("caption", bar, 30, "truecolor").plain.splitlines()
    assert narrow[0] == "caption" and len(narrow[1]) <= 30
    assert narrow[1] == f"its lowest {'█' * (30 - 23)} its highest"
    assert with_bar("caption", bar, 200, "truecolor").plain.splitlines()[1].count("█") == 24  # at most 24


async def test_a_new_input_size_runs_the_open_image_again(tmp_path):
    """The predictions, activations and heat-maps of a 32x32 run do not belong to the model at 64: they are
    dropped, and the image stays open, run again through the model of the new size (at 80x24 too)."""
    pytest.importorskip("torch")
    image = digit_image(tmp_path / "digit.png")
    app = CnnscopeApp("lenet5", image=str(image))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        pane = app.screen.query_one(ActivationsPane)
        picture = app.screen.query_one("#activation-picture", Picture)
        assert "1. " in text_of(app.screen.query_one("#predictions")) and picture.image is not None
        await submit_size(app, pilot, "64")
        assert pane.result is None or pane.result.input.shape == (1, 64, 64)  # never the 32x32 run's
        for _ in range(3):
            await settle(app, pilot)
        assert pane.result.input.shape == (1, 64, 64) and pane.image == str(image)
        assert "digit.png" in text_of(app.screen.query_one("#predictions"))
        assert "1. " in text_of(app.screen.query_one("#predictions")) and picture.image is not None


async def test_an_image_running_when_the_size_changes_runs_again_at_the_new_size(tmp_path, monkeypatch):
    import threading

    from cnnscope.vision import run

    pytest.importorskip("torch")
    release, sizes, run_image = threading.Event(), [], run.run_image

    def held(model, *args, **kwargs):
        sizes.append(model.spec.input.shape)
        if len(sizes) == 1:
            release.wait(timeout=60)
        return run_image(model, *args, **kwargs)

    monkeypatch.setattr(run, "run_image", held)
    image = digit_image(tmp_path / "digit.png")
    app = CnnscopeApp("lenet5", image=str(image))
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(600):  # until the run at 32x32 has started (the model built first)
            await pilot.pause(0.05)
            if sizes:
                break
        await submit_size(app, pilot, "64")
        for _ in range(600):  # the new model built and the image run through it
            await pilot.pause(0.05)
            if len(sizes) == 2:
                break
        release.set()  # the run at 32x32 ends last: it is not the one shown
        for _ in range(3):
            await settle(app, pilot)
        assert sizes == [(1, 32, 32), (1, 64, 64)]
        pane = app.screen.query_one(ActivationsPane)
        assert pane.result.input.shape == (1, 64, 64) and "1. " in text_of(app.screen.query_one("#predictions"))
        assert not app.screen.query_one("#activation-picture", Picture).loading


async def test_missing_image_is_a_notification_and_the_app_stays_usable(tmp_path):
    app = CnnscopeApp("lenet5", image=str(tmp_path / "missing.png"))
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        assert any("no such image" in n.message for n in app._notifications)
        await pilot.press("down")
        await pilot.pause()
        assert isinstance(app.screen, ModelScreen)


async def test_filters_show_the_trained_lenet_by_default(cli):
    pytest.importorskip("torch")
    assert cli("train", "lenet5", "--steps", "2", "--epochs", "1").exit_code == 0
    app = CnnscopeApp("lenet5")
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("f")
        await settle(app, pilot)
        picture = app.screen.query_one("#filter-picture", Picture)
        assert "c1: 6x1x5x5" in picture.caption and "lenet5.safetensors" in picture.caption
        assert "▀" in text_of(picture)


async def test_a_16_colour_terminal_draws_pictures_in_ordered_greys(monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setattr("textual.constants.COLOR_SYSTEM", "standard")  # what TEXTUAL_COLOR_SYSTEM=standard sets
    app = CnnscopeApp("lenet5")
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("f")
        await settle(app, pilot)
        assert app.console.color_system == "standard"
        picture = app.screen.query_one("#filter-picture", Picture)
        colours = {
            colour.number
            for span in picture.shown_text.spans
            if not isinstance(span.style, str)
            for colour in (span.style.color, span.style.bgcolor)
            if colour is not None
        }
        assert colours and colours <= {0, 8, 7, 15}  # black, bright black, white, bright white: no rounded hues


SNAPSHOT_SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


@pytest.mark.parametrize("size", SNAPSHOT_SIZES)
def test_snapshot_model_screen(snap_compare, size):
    assert snap_compare(CnnscopeApp("googlenet"), terminal_size=size, press=["down", "down"])


@pytest.mark.parametrize("size", SNAPSHOT_SIZES)
def test_snapshot_picker(snap_compare, size):
    assert snap_compare(CnnscopeApp(folder=Path("/nonexistent")), terminal_size=size)


@pytest.mark.parametrize("size", SNAPSHOT_SIZES)
def test_snapshot_help(snap_compare, size):
    assert snap_compare(CnnscopeApp("resnet18"), terminal_size=size, press=["question_mark"])


@pytest.mark.parametrize("size", SNAPSHOT_SIZES)
def test_snapshot_open_image(snap_compare, size, tmp_path, monkeypatch):
    folder = tmp_path / "pictures"
    (folder / "digits").mkdir(parents=True)
    (folder / "cat.jpg").write_bytes(b"")
    monkeypatch.chdir(folder)  # the dialog lists the working folder: the same one on every run
    assert snap_compare(CnnscopeApp("lenet5"), terminal_size=size, press=["o"])


def inside(widget, size) -> bool:
    """The widget is drawn whole on a screen of ``size``."""
    region = widget.region
    return region.width > 0 and region.height > 0 and region.right <= size[0] and region.bottom <= size[1]


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)])
async def test_small_terminals_keep_help_quit_and_whole_columns(size):
    app = CnnscopeApp("googlenet_tv")
    async with app.run_test(size=size) as pilot:

        def help_and_quit_shown() -> bool:  # the footer lays its keys out after the screen (and again later)
            keys = {key.key: key for key in app.screen.query("FooterKey")}
            return all(key in keys and inside(keys[key], size) for key in ("question_mark", "q"))

        assert await until(pilot, help_and_quit_shown)
        table = app.screen.query_one(LayerTable)
        shown = [column.label.plain for column in table.columns.values()]
        assert shown[:2] == ["Layer", "Output"]
        widths = sum(column.get_render_width(table) for column in table.columns.values())
        assert widths <= table.scrollable_content_region.width  # no column cut at the edge
        assert len(shown) >= (6 if size[0] >= 200 else 2)  # the columns that fit, whole
        outline = app.screen.query_one("#outline", GraphOutline)
        if size[0] >= 120:  # the outline takes a share of the terminal, not a fixed width
            assert outline.display and outline.region.width == max(24, min(56, int(size[0] * 0.23)))
        for key, dialog in (("question_mark", "#help"), ("o", "#open-image")):
            await pilot.press(key)
            await pilot.pause()
            assert inside(app.screen.query_one(dialog), size), (key, app.screen.query_one(dialog).region)
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, ModelScreen)


async def test_picker_keys_do_what_the_help_says():
    app = CnnscopeApp("lenet5")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("m")  # the model list over the open model
        await pilot.pause()
        search = app.screen.query_one("#search")
        models = app.screen.query_one("#models")
        assert app.focused is models  # ? and q work at once
        keys = {key.key for key in app.screen.query("FooterKey")}
        assert {"question_mark", "q"} <= keys
        await pilot.press(*"squeeze")  # typing goes to the search box, where q is a letter, not quit
        assert app.focused is search
        assert search.value == "squeeze" and app.is_running
        await pilot.press(*"zzz")
        await pilot.pause()
        assert models.option_count == 1 and "no matches for 'squeezezzz'" in str(models.get_option_at_index(0).prompt)
        await pilot.press("enter")  # nothing to open
        await pilot.pause()
        assert app.screen.query_one("#search") is search
        search.value = "resnet"
        await pilot.pause()
        await pilot.press("down")  # from the search box into the list
        assert app.focused is models and models.highlighted is not None
        await pilot.press("escape")  # from the list: back to the model open before
        await pilot.pause()
        assert isinstance(app.screen, ModelScreen) and app.screen.spec.name == "lenet5"
        await pilot.press("m")
        await pilot.pause()
        await pilot.press(*"alexnet", "escape")  # escape leaves the search box for the list
        assert app.focused is app.screen.query_one("#models")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ModelScreen) and app.screen.spec.name.startswith("alexnet")
        assert len(app.screen_stack) == 2  # the model replaced the one before, not stacked on it
        await pilot.press("m")
        await pilot.pause()
        await pilot.press("escape", "q")  # q in the list quits
        await pilot.pause()
        assert not app.is_running


async def test_escape_leaves_the_input_size_field_unchanged():
    app = CnnscopeApp("lenet5")
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        box = app.screen.query_one("#input-size")
        await pilot.press("i")
        assert app.focused is box and box.value == "1x32x32"  # i focuses the field and is not typed into it
        await pilot.press("4", "escape")
        assert app.focused is app.screen.query_one(LayerTable) and box.value == "1x32x32"
        await pilot.press("i", "i")
        assert box.value == "i"  # the first i selects the size, a second one is text: the field has the keys
        await pilot.press("escape")
        assert box.value == "1x32x32" and row(app, "c1")["output"] == "6x28x28"


async def test_escape_puts_back_the_size_in_force_after_a_refused_one():
    app = CnnscopeApp("lenet5")
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        table, box, error = (
            app.screen.query_one(LayerTable),
            app.screen.query_one("#input-size"),
            app.screen.query_one("#error"),
        )
        await submit_size(app, pilot, "64")  # applies: 1x64x64 is the size in force, the table has the keys again
        assert app.focused is table and row(app, "c1")["output"] == "6x60x60"
        await submit_size(app, pilot, "abc")
        assert error.display and "input size 'abc' is not a size" in text_of(error)
        assert app.focused is box and box.value == "abc"  # the field keeps the keys, to correct the text
        await pilot.press("escape")
        assert box.value == "1x64x64" and app.focused is table and row(app, "c1")["output"] == "6x60x60"
        assert not error.display  # the complaint went with the text it was about


async def test_graphics_protocol_pictures_through_textual_image():
    """Where the terminal shows real pixels the pane uses textual-image's widget (here its
    half-cell variant, which needs no terminal to test)."""
    pytest.importorskip("torch")
    widget = pytest.importorskip("textual_image.widget")
    app = CnnscopeApp("lenet5", graphics=widget.HalfcellImage)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("f")
        await settle(app, pilot)
        picture = app.screen.query_one("#filter-picture")
        assert picture.query_one(".image").image is not None
        assert "c1: 6x1x5x5" in picture.caption and "weights: random" in picture.caption


async def test_graphics_protocol_maps_keep_about_64_pixels(tmp_path):
    """Real pixels are small: a map is enlarged by a whole number to about 64 of them, whatever the pane."""
    pytest.importorskip("torch")
    widget = pytest.importorskip("textual_image.widget")
    image = digit_image(tmp_path / "digit.png")
    app = CnnscopeApp("lenet5", image=str(image), graphics=widget.HalfcellImage)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        picture = app.screen.query_one("#activation-picture")
        shown = np.asarray(picture.query_one(".image").image)
        expected = np.asarray(picture.image).repeat(3, axis=0).repeat(3, axis=1)  # c1: 28x28, 3 x 28 = 84 >= 64
        assert picture.image.size == (28, 28) and np.array_equal(shown[:84, :84], expected)
        assert "c1: channel 1/6" in picture.caption and "its lowest █" in picture.caption


async def test_the_outline_draws_branches_side_by_side_and_follows_the_table():
    app = CnnscopeApp("googlenet_tv")
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        outline = app.screen.query_one("#outline", GraphOutline)
        table = app.screen.query_one(LayerTable)
        table.move_cursor(row=table.get_row_index("inception3a.branch3.1.conv"))
        for _ in range(100):  # wait for the condition, not for a fixed time
            await pilot.pause()
            if outline.cursor_node is not None and outline.cursor_node.data == "inception3a.branch3.1.conv":
                break
        node = outline.cursor_node
        assert node is not None and node.data == "inception3a.branch3.1.conv"  # followed, its blocks opened
        while node.data != "inception3a":
            node = node.parent
        labels = [child.label.plain for child in node.children]
        # four paths on four lanes, three branching off the input, joined by the concat
        assert sum(label.startswith("├") for label in labels) == 3, labels
        assert any(label.startswith("● ┘ ┘ ┘ output") for label in labels), labels


@pytest.mark.parametrize(
    ("target", "size", "opened"),
    [
        ("lenet5", (120, 40), None),
        ("googlenet_tv", (120, 40), "inception3a.branch3.1.conv"),
        ("googlenet_tv", (200, 50), "inception4e.branch4.1.conv"),
    ],
)
async def test_the_outline_never_shows_part_of_a_shape(target, size, opened):
    """A line too long for the outline is shortened: a shape cut mid-number would read as another shape."""
    from cnnscope.layers import fmt_shape

    app = CnnscopeApp(target)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        outline = app.screen.query_one("#outline", GraphOutline)
        if opened:  # blocks opened around a layer deep inside
            table = app.screen.query_one(LayerTable)
            table.move_cursor(row=table.get_row_index(opened))
            for _ in range(100):
                await pilot.pause()
                if outline.cursor_node is not None and outline.cursor_node.data == opened:
                    break
        assert outline.virtual_size.width <= outline.scrollable_content_region.width  # nothing past the edge
        shapes = 0
        for y in range(outline.size.height):
            node = outline.get_node_at_line(outline.scroll_offset.y + y)
            report = app.screen.analysis.by_name.get(node.data) if node is not None and node.data else None
            if report is None:
                continue
            words = outline.render_line(y).text.split()
            shape = fmt_shape(report.output_shape)
            shapes += shape in words
            assert shape in words or not any(shape.startswith(word) for word in words if word[0].isdigit()), words
        assert shapes > 0  # where there is room, the shapes are shown


async def test_the_help_says_which_layer_the_heat_map_is_of():
    app = CnnscopeApp("lenet5")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        keys = app.screen.query_one("#help Static")
        text = text_of(keys)
        heat = " ".join(text[text.index(" h ") : text.index(" m ")].split())
        assert "at the selected layer" in heat and "at the last layer with one" in heat
        assert "Grad-CAM, difference, off" in heat
        assert keys.size.height == len(text.rstrip("\n").splitlines())  # no line wrapped at 80 columns


@pytest.fixture
def slow_build(monkeypatch):
    """Holds the model build (torch import and build) until the test lets it go; ``builds`` counts them."""
    import threading

    from cnnscope.tui.screens import model

    release = threading.Event()
    build = model.open_for_pictures
    builds = []

    def held(spec, asked):
        builds.append(spec.input.shape)
        release.wait(timeout=60)
        return build(spec, asked)

    monkeypatch.setattr(model, "open_for_pictures", held)
    release.builds = builds
    yield release
    release.set()


async def test_filters_show_what_is_known_at_once_and_keys_never_wait(slow_build):
    pytest.importorskip("torch")
    app = CnnscopeApp("lenet5")
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("f")
        picture = app.screen.query_one("#filter-picture", Picture)
        assert "c1: conv2d, 156 params" in picture.caption and "building the model" in picture.caption
        await pilot.press("down", "down")  # the build is still held: the keys are answered anyway
        assert app.screen.selected == "c3" and "c3: conv2d, 2,416 params" in picture.caption
        assert len(slow_build.builds) == 1  # each layer with weights asked for the model: it is built once
        slow_build.set()
        await settle(app, pilot)
        await settle(app, pilot)
        assert "c3: 16x6x5x5" in picture.caption and picture.image is not None


async def test_opening_an_image_shows_progress_and_shares_the_build_with_the_filters(tmp_path, slow_build):
    """The image and the filters wait for one build, the keys answered meanwhile; a size applied
    meanwhile gets a model of its own."""
    pytest.importorskip("torch")
    image = digit_image(tmp_path / "digit.png")
    app = CnnscopeApp("lenet5")
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("f")  # c1's filters ask for the model
        app.screen.run_image(str(image))  # and so does the image
        await pilot.pause()
        assert "digit.png: importing torch and building the model" in text_of(app.screen.query_one("#predictions"))
        await pilot.press("down")  # the build is held: the keys are answered anyway
        assert app.screen.selected == "s2" and slow_build.builds == [(1, 32, 32)]
        await submit_size(app, pilot, "64")  # f6's weights follow the input: the model on its way is the wrong one
        table = app.screen.query_one(LayerTable)
        table.move_cursor(row=table.get_row_index("f6"))
        await pilot.press("f")
        slow_build.set()
        for _ in range(3):
            await settle(app, pilot)
        assert slow_build.builds == [(1, 32, 32), (1, 64, 64)]
        picture = app.screen.query_one("#filter-picture", Picture)
        assert "f6: 84x9720" in picture.caption and picture.image is not None  # 120 x 9 x 9 inputs at 64
        predictions = text_of(app.screen.query_one("#predictions"))
        assert "digit.png" in predictions and "1. " in predictions


async def test_a_model_that_cannot_be_built_leaves_no_image_waiting(tmp_path, monkeypatch):
    from cnnscope.errors import CnnscopeError
    from cnnscope.tui.screens import model

    def fails(spec, asked):
        raise CnnscopeError("filters and activations needs torch, which this install lacks")

    monkeypatch.setattr(model, "open_for_pictures", fails)
    image = tmp_path / "digit.png"
    Image.new("L", (32, 32)).save(image)
    app = CnnscopeApp("lenet5", image=str(image))
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(app, pilot)
        assert any("needs torch" in n.message for n in app._notifications)
        assert not app.screen.query_one("#activation-picture", Picture).loading  # no spinner left turning
        assert text_of(app.screen.query_one("#predictions")).strip() == "press o to open an image"


def test_pane_pictures_are_whole_number_enlargements_with_gaps():
    from cnnscope.tui.widgets.picture import GAP, filter_image

    rng = np.random.default_rng(0)
    weight = rng.normal(size=(6, 1, 5, 5))
    image, what, *_ = filter_image(weight)
    pixels = np.asarray(image)
    # six 5x5 filters, each pixel a 2x2 square, three to a row, one pixel apart
    assert image.size == (3 * 10 + 2, 2 * 10 + 1) and "6 filters" in what
    first = pixels[:10, :10]
    assert (first[0::2, 0::2] == first[1::2, 1::2]).all()  # squares, not smoothed
    assert len({tuple(p) for p in first.reshape(-1, 3)}) == len({tuple(p) for p in first[::2, ::2].reshape(-1, 3)})
    assert (pixels[:, 10] == GAP).all() and (pixels[10, :] == GAP).all()  # the gaps
    # a linear layer: its matrix, pixel (i, j) = unit i's weight on input j, within bounds however wide
    weight = rng.normal(size=(84, 9720))
    image, what, *_ = filter_image(weight)
    assert image.size == (512, 84) and "(84 units, inputs 1-512 of 9720)" in what
    pixels, bound = np.asarray(image), np.abs(weight[:, :512]).max()
    assert (pixels[3, 7] == colorize(np.array((weight[3, 7] / bound + 1) / 2), DIVERGING)).all()
    image, what, *_ = filter_image(rng.normal(size=(10, 12)))  # small: each weight an 8x8 square
    assert image.size == (12 * 8, 10 * 8) and "(10 units, 12 inputs)" in what


async def test_the_picture_pane_shows_pixels_one_to_a_cell_and_scrolls():
    pytest.importorskip("torch")
    app = CnnscopeApp("resnet18")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.screen.query_one(LayerTable).move_cursor(
            row=app.screen.query_one(LayerTable).get_row_index("layer1.0.conv1")
        )
        await pilot.press("f")
        await settle(app, pilot)
        await settle(app, pilot)
        picture = app.screen.query_one("#filter-picture", Picture)
        assert picture.image is not None
        rows = [line for line in text_of(picture.query_one(".image")).splitlines() if line.strip()]
        assert len(rows) == math.ceil(picture.image.size[1] / 2)  # one line per two pixel rows: nothing wrapped
        assert {len(line.rstrip()) for line in rows} == {picture.image.size[0]}  # a pixel per cell, not stretched
        assert picture.virtual_size.height > picture.region.height  # taller than the pane: it scrolls


def test_the_macs_chart_has_an_axis_marks_the_selection_and_names_the_heaviest():
    from cnnscope.analysis import analyze
    from cnnscope.report.numbers import si
    from cnnscope.tui.widgets.cost_chart import chart
    from cnnscope.zoo import load_target

    analysis = analyze(load_target("lenet5"))
    names = [r.name for r in analysis.layers]
    macs = [r.cost.macs for r in analysis.layers]
    heaviest = max(analysis.layers, key=lambda r: r.cost.macs)  # c3: 16*10*10 * 6*5*5 = 240,000
    assert heaviest.name == "c3" and heaviest.cost.macs == 16 * 10 * 10 * 6 * 5 * 5
    lines = chart(names, macs, "c5", width=60).plain.splitlines()
    assert lines[0].startswith("MACs per layer  heaviest: c3 58%")  # 240,000 of 416,520
    assert lines[1].strip().startswith(f"{si(240_000)} ┤") and lines[3].strip().startswith("0 ┤")
    axis = lines[4]
    column = axis.index("└") + 1 + names.index("c5")
    assert axis[column] == "▲" and "c5 48.00K (12%)" in axis


async def test_a_model_with_no_map_says_it_has_no_heat_map(tmp_path):
    """An MLP on pixels has a class output but no map to point into: h says so, the app stays up."""
    pytest.importorskip("torch")
    spec = tmp_path / "mlp.toml"
    spec.write_text(
        'name = "mlp"\ninput = [1, 8, 8]\n'
        'layers = [{name = "flatten", type = "flatten"}, {name = "fc", type = "linear", out = 10}]\n'
    )
    app = CnnscopeApp(str(spec), image=str(digit_image(tmp_path / "digit.png")))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("h")
        await settle(app, pilot)
        picture = app.screen.query_one("#activation-picture", Picture)
        assert "no heat-map: mlp has no layer with a 2-D output" in picture.caption and app.is_running


async def test_at_80x24_every_footer_key_shows_and_the_weights_path_breaks_between_folders(monkeypatch, tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file
    from textual.geometry import Region

    import cnnscope
    from cnnscope.runtime.home import trained_checkpoint

    home = tmp_path / "a_home_folder_with_a_long_name" / "cnnscope"
    monkeypatch.setenv("CNNSCOPE_HOME", str(home))
    checkpoint = trained_checkpoint("lenet5")
    checkpoint.parent.mkdir(parents=True)
    torch.manual_seed(0)
    save_file({k: v.contiguous() for k, v in cnnscope.build("lenet5").state_dict().items()}, checkpoint)
    app = CnnscopeApp("lenet5")
    async with app.run_test(size=(80, 24)) as pilot:
        shown = {binding.key for binding in ModelScreen.BINDINGS if binding.show}

        def footer_laid_out() -> bool:
            keys = {key.key: key for key in app.screen.query("FooterKey")}
            return set(keys) == shown and all(inside(key, (80, 24)) for key in keys.values())

        assert await until(pilot, footer_laid_out)
        assert [label.content for label in app.screen.query("FooterLabel")] == ["tabs"]  # d f a
        await pilot.press("f")
        await settle(app, pilot)
        caption = app.screen.query_one("#filter-picture", Picture).query_one(".caption")
        width, height = caption.size
        lines = [strip.text.strip() for strip in caption.render_lines(Region(0, 0, width, height))]
        assert len(str(checkpoint)) > width  # the path must break: between its folders
        for part in checkpoint.parts[1:]:
            assert any(part in line for line in lines), (part, lines)
