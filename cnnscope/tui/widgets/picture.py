"""Pictures in the terminal: true-colour half blocks everywhere, real pixels where the
terminal speaks a graphics protocol (Kitty's or Sixel), through textual-image."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TypeAlias

from PIL import Image
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from cnnscope.vision.pictures import half_blocks

if TYPE_CHECKING:  # importing textual_image.widget asks the terminal what it supports: never at import time
    from textual_image.widget import AutoImage, SixelImage

    GraphicsWidget: TypeAlias = type[AutoImage | SixelImage]  # what textual_image.widget.Image is


def graphics_image_widget() -> GraphicsWidget | None:
    """textual-image's widget class when this terminal shows real pixels, else None.

    Must run before the app starts: textual-image asks the terminal what it supports,
    which is impossible once Textual owns the screen.
    """
    if not (sys.__stdout__ and sys.__stdout__.isatty()):
        return None
    try:
        from textual_image.renderable import Image as Best
        from textual_image.renderable import SixelImage, TGPImage
        from textual_image.widget import Image as ImageWidget
    except Exception:  # an old or broken textual-image: half blocks still work
        return None
    return ImageWidget if Best in (SixelImage, TGPImage) else None


class Picture(Static):
    """Shows ``image`` as half blocks with a caption; re-renders when resized."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("", *args, **kwargs)
        self.image: Image.Image | None = None
        self.caption = ""

    def show(self, image: Image.Image | None, caption: str = "") -> None:
        self.image, self.caption = image, caption
        self.render_image()

    def render_image(self) -> None:
        if self.image is None:
            self.update(self.caption)
            return
        width = max(8, (self.size.width or 60) - 2)
        picture = half_blocks(self.image, width=width)
        self.update(picture.append(self.caption, style="dim") if self.caption else picture)

    def on_resize(self) -> None:
        self.render_image()


class GraphicsPicture(Vertical):
    """The same interface as :class:`Picture`, drawn with a terminal graphics protocol."""

    DEFAULT_CSS = """
    GraphicsPicture { height: auto; }
    GraphicsPicture > .image { width: 100%; height: auto; max-height: 24; }
    """

    def __init__(self, image_widget: GraphicsWidget, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.image_widget = image_widget
        self.image: Image.Image | None = None
        self.caption = ""

    def compose(self) -> ComposeResult:
        yield self.image_widget(classes="image")
        yield Static(classes="caption")

    def show(self, image: Image.Image | None, caption: str = "") -> None:
        self.image, self.caption = image, caption
        shown = self.query_one(".image", self.image_widget)
        shown.image = image
        shown.display = image is not None
        self.query_one(".caption", Static).update(caption)
