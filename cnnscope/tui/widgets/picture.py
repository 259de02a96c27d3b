"""A PIL image shown as true-colour half blocks, scaled to the widget's width."""

from __future__ import annotations

from PIL import Image
from textual.widgets import Static

from cnnscope.vision.pictures import half_blocks


class Picture(Static):
    """Shows ``image`` with a caption; re-renders when resized."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__("", *args, **kwargs)  # type: ignore[arg-type]
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
