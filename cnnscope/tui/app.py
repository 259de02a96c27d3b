"""``cnnscope tui``: the Textual app. It only routes between screens."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App

from cnnscope.tui.screens.model import ModelScreen
from cnnscope.tui.screens.picker import PickerScreen

if TYPE_CHECKING:
    from cnnscope.tui.widgets.picture import GraphicsWidget


class CnnscopeApp(App[None]):
    CSS_PATH = "cnnscope.tcss"
    TITLE = "cnnscope"

    def __init__(
        self,
        target: str | None = None,
        image: str | None = None,
        weights: str | None = None,
        folder: Path | None = None,
        graphics: GraphicsWidget | None = None,
    ) -> None:
        """``graphics``: textual-image's widget class where the terminal shows real pixels."""
        super().__init__()
        self.target, self.image, self.weights = target, image, weights
        self.folder = folder or Path.cwd()
        self.graphics = graphics

    def on_mount(self) -> None:
        if self.target:
            self.push_screen(ModelScreen(self.target, self.image, self.weights))
        else:
            self.open_picker()

    def open_picker(self) -> None:
        self.push_screen(PickerScreen(self.folder), self.open_model)

    def open_model(self, target: str | None) -> None:
        if target:
            self.push_screen(ModelScreen(target, weights=self.weights))
