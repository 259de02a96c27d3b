"""``cnnscope tui``: the Textual app. It only routes between screens."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App

from cnnscope.tui.screens.model import ModelScreen
from cnnscope.tui.screens.picker import PickerScreen

if TYPE_CHECKING:
    from cnnscope.tui.terminal import GraphicsWidget


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
        typed: str = "",
    ) -> None:
        """``graphics``: textual-image's widget class where the terminal shows real pixels;
        ``typed``: keys typed before the app ran (while the terminal was asked what it can draw)."""
        super().__init__()
        self.target, self.image, self.weights = target, image, weights
        self.folder = folder or Path.cwd()
        self.graphics = graphics
        self.typed = typed

    async def on_mount(self) -> None:
        if self.target:
            await self.push_screen(ModelScreen(self.target, self.image, self.weights, self.graphics))
        else:
            await self.push_screen(PickerScreen(self.folder), self.open_model)
        self.call_after_refresh(self._replay_typed)

    def _replay_typed(self) -> None:
        """The keys typed during start-up, in order, to the first screen, as if typed now."""
        if not self.typed:
            return
        from textual._xterm_parser import XTermParser  # Textual's own reading of terminal input

        parser = XTermParser()
        for event in [*parser.feed(self.typed), *parser.feed("")]:
            self.post_message(event)
        self.typed = ""

    def on_model_screen_picker_requested(self, message: ModelScreen.PickerRequested) -> None:
        self.open_picker(over_model=True)

    def open_picker(self, over_model: bool = False) -> None:
        """``over_model``: a model is open under the picker, and escape goes back to it."""
        self.push_screen(PickerScreen(self.folder, can_go_back=over_model), self.open_model)

    def open_model(self, target: str | None) -> None:
        if not target:  # escape: the model under the picker is shown again
            return
        if isinstance(self.screen, ModelScreen):  # the picker came from a model: replace it
            self.switch_screen(ModelScreen(target, weights=self.weights, graphics=self.graphics))
        else:
            self.push_screen(ModelScreen(target, weights=self.weights, graphics=self.graphics))
