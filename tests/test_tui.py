"""The TUI, driven with Textual's pilot as a user would: keys in, what the widgets show out."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

from cnnscope.tui.app import CnnscopeApp
from cnnscope.tui.screens.help import HelpScreen
from cnnscope.tui.screens.model import ModelScreen
from cnnscope.tui.widgets.layer_table import LayerTable
from cnnscope.tui.widgets.outline import GraphOutline
from cnnscope.tui.widgets.picture import Picture


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNSCOPE_HOME", str(tmp_path / "home"))


def row(app, name):
    table = app.screen.query_one(LayerTable)
    return dict(zip(("layer", "output", "params", "macs", "type"), table.get_row(name), strict=False))


def text_of(widget) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.content)
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
        assert "digit.png" in predictions and "1. " in predictions and "random initial weights" in predictions
        picture = screen.query_one("#activation-picture", Picture)
        assert "▀" in text_of(picture) and "c1: channel 1/6 (28x28)" in picture.caption
        await pilot.press("right_square_bracket")
        assert "channel 2/6" in picture.caption
        await pilot.press("down", "down")
        await pilot.pause()
        assert "c3: channel" in picture.caption


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


SNAPSHOT_SIZE = (120, 34)


def test_snapshot_model_screen(snap_compare):
    assert snap_compare(CnnscopeApp("googlenet"), terminal_size=SNAPSHOT_SIZE, press=["down", "down"])


def test_snapshot_picker(snap_compare):
    assert snap_compare(CnnscopeApp(folder=Path("/nonexistent")), terminal_size=SNAPSHOT_SIZE)


def test_snapshot_help(snap_compare):
    assert snap_compare(CnnscopeApp("resnet18"), terminal_size=(80, 24), press=["question_mark"])


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
        assert "c1: 6x1x5x5" in picture.caption and "random initial weights" in picture.caption


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
