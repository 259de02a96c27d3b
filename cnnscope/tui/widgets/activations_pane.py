"""The Activations tab: an image run through the model, its predictions and one channel of a layer,
or where the image made its top class (a heat-map over it, at the selected layer).

The pane runs the image in a thread of its own (once the screen has built the model, asked
with :class:`ActivationsPane.ModelWanted`), and keeps what the user browses: the channel,
whether the channels share the layer's scale, and which heat-map method is shown, if any.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Static, TabPane

from cnnscope.errors import CnnscopeError
from cnnscope.layers import fmt_shape
from cnnscope.tui.widgets.picture import Bar, breakable_paths, map_image, new_picture
from cnnscope.vision.explain import CAM_METHODS, is_map
from cnnscope.vision.pictures import INFERNO, VIRIDIS, as_maps

if TYPE_CHECKING:
    from PIL import Image

    from cnnscope.tui.opened import OpenedModel
    from cnnscope.tui.terminal import GraphicsWidget
    from cnnscope.vision.run import RunResult

NO_IMAGE = "press o to open an image"
HEAT_METHODS = (None, *CAM_METHODS)  # what h steps through: the activations, then each method


class ActivationsPane(TabPane):
    class ModelWanted(Message):
        """An image waits to run and there is no model yet: the screen builds one."""

    def __init__(self, graphics: GraphicsWidget | None, id: str | None = None) -> None:
        super().__init__("Activations", id=id)
        self.predictions = Static(NO_IMAGE, id="predictions")
        self.picture = new_picture(graphics, id="activation-picture")
        self.waiting: str | None = None  # the image to run once the model is built
        self.running: str | None = None  # the image being run
        self.runs = 0  # counts the runs started: a run's result is dropped if another started since
        self.result: RunResult | None = None  # the last image run
        self.image: str | None = None  # its path: run again when the input size changes
        self.run_text: tuple[str, list[str]] = ("", [])  # its predictions (markup) and notes (plain)
        self.opened: OpenedModel | None = None  # the model it ran through (heat-maps need its gradients)
        self.heat_method: str | None = None  # a heat-map method shown instead of the activations
        self.layer_name: str | None = None  # the layer shown (its first layer's when the run lacks it)
        self.channel = 0
        self.shared_scale = False  # each channel on its own scale, or all on the layer's

    def compose(self) -> ComposeResult:
        yield self.predictions
        yield self.picture

    # --- the run ----------------------------------------------------------------------------
    def open_image(self, path: str, opened: OpenedModel | None, through: str) -> None:
        """Run the image at ``path`` through the model (``through`` names it), building the model first if need be."""
        self.picture.loading = True
        first = "importing torch and building the model, then " if opened is None else ""
        self._progress(f"{Path(path).name}: {first}running it through {through} ...")
        if opened is None:
            self.waiting = path
            self.post_message(self.ModelWanted())
        else:
            self._start(opened, path)

    def model_ready(self, opened: OpenedModel) -> None:
        """The model the screen built: the image waiting for it runs now."""
        if self.waiting is not None:
            path, self.waiting = self.waiting, None
            self._start(opened, path)

    def no_model(self) -> None:
        """The model could not be built (the screen says why): nothing runs."""
        self.waiting = None
        self.picture.loading = False
        self.predictions.update(NO_IMAGE)  # not the progress line of a run that will not come

    def forget(self) -> None:
        """The input size changed: the last run (its predictions, activations and heat-maps) no longer
        belongs to the model shown. The image stays open: the one waiting for its model, being run,
        or shown runs again through the model of the new size, once it is built."""
        self.result, self.opened = None, None
        self.runs += 1  # a run in progress went through the model of the old size: its result is dropped
        again = self.waiting or self.running or self.image
        self.running = None
        if again is None:
            self.picture.loading = False
            self.predictions.update(NO_IMAGE)
        else:
            self.waiting = again
            self.picture.loading = True
            self._progress(f"{Path(again).name}: running it again at the new input size ...")
            self.post_message(self.ModelWanted())
        self.show(self.layer_name)

    def _progress(self, line: str) -> None:
        """Says what the worker is doing (the keys keep working meanwhile)."""
        self.predictions.update(Text(line, style="italic"))

    def _start(self, opened: OpenedModel, path: str) -> None:
        self.runs += 1
        self.running = path
        self.run(opened, path, self.runs)

    @work(thread=True, exclusive=True, group="run")
    def run(self, opened: OpenedModel, path: str, number: int) -> None:
        import torch

        from cnnscope.vision.labels import class_names
        from cnnscope.vision.run import run_image

        try:
            result = run_image(opened.model, path, torch.device("cpu"), 5, class_names(opened.model.spec))
        except CnnscopeError as exc:
            self.app.call_from_thread(self._failed, str(exc), number)
            return
        self.app.call_from_thread(self._done, result, path, opened, number)

    def _failed(self, message: str, number: int) -> None:
        if number == self.runs:
            self.running = None
            self.picture.loading = False
            self.notify(message, severity="error", timeout=8, markup=False)

    def _done(self, result: RunResult, path: str, opened: OpenedModel, number: int) -> None:
        if number != self.runs:  # another run started since, or the input size changed
            return
        self.running = None
        self.result, self.opened, self.image = result, opened, path
        self.picture.loading = False
        # the predictions run on in one paragraph: in a narrow pane, a line each left the picture 5 rows
        ranked = "  ".join(f"{i}. {escape(p.label)} {p.percent(1)}" for i, p in enumerate(result.predictions or [], 1))
        self.run_text = (
            f"[b]{escape(Path(path).name)}[/b]  {ranked or 'output not a class vector'}",
            [note for note in (opened.note, result.note) if note],
        )
        self._show_run_text()
        self.show(self.layer_name)

    def _show_run_text(self) -> None:
        """The predictions over the notes, whose paths (the weights file) break between folders."""
        first, notes = self.run_text
        width = self.predictions.size.width
        self.predictions.update("\n".join([first, *(f"[dim]{escape(breakable_paths(n, width))}[/dim]" for n in notes)]))

    def on_resize(self) -> None:
        if self.result is not None:
            self._show_run_text()

    # --- what the user browses --------------------------------------------------------------
    def show(self, layer: str | None) -> None:
        """One channel of ``layer``'s output in the last run."""
        self.layer_name = layer
        if self.result is None:  # nothing to show: the line above says what to do
            self.picture.show(None)
            return
        activations = self.result.activations
        name = layer if layer is not None and layer in activations else next(iter(activations))
        if self.heat_method is not None and self.opened is not None:
            self._show_heat(self.opened, self.result, name, self.heat_method)
            return
        maps = as_maps(activations[name])
        self.channel %= len(maps)
        low: float | None
        high: float | None
        if self.shared_scale:  # the layer's real range, so that channels compare
            low, high = float(maps.min()), float(maps.max())
            scale, ends = "every channel on one scale", (f"{low:.3g}", f"{high:.3g}")
        else:
            low = high = None
            scale, ends = "each channel on its own scale", ("its lowest", "its highest")
        self.picture.show(
            map_image(maps[self.channel], low, high),
            f"{name}: channel {self.channel + 1}/{len(maps)} ({fmt_shape(maps.shape[1:])}), {scale}",
            Bar(VIRIDIS, *ends),
            "[ and ] change the channel, s the scale, h shows the heat-map",  # under the map: it can wait
            grow=True,
        )

    def step_channel(self, step: int) -> None:
        self.channel += step
        self.show(self.layer_name)

    def toggle_scale(self) -> None:
        self.shared_scale = not self.shared_scale
        self.show(self.layer_name)

    def step_heat(self) -> None:
        """The activations, then the heat-map of each method, in turn."""
        self.heat_method = HEAT_METHODS[(HEAT_METHODS.index(self.heat_method) + 1) % len(HEAT_METHODS)]
        self.show(self.layer_name)

    # --- heat-maps --------------------------------------------------------------------------
    def _show_heat(self, opened: OpenedModel, result: RunResult, layer: str, method: str) -> None:
        """The top class's heat-map at ``layer`` where its output is a map, else at the last map."""
        if not result.predictions:
            self.picture.show(None, "no heat-map: the model's output is not a class vector")
            return
        at = layer if is_map(result.activations[layer].shape) else None
        self.picture.show(None, Text(f"heat-map of '{result.predictions[0].label}' ({method}) ..."))
        self.draw_heat(opened, result, at, method)

    @work(thread=True, exclusive=True, group="heat")
    def draw_heat(self, opened: OpenedModel, result: RunResult, layer: str | None, method: str) -> None:
        """Takes a forward and a backward pass and ten forward passes for the check: in a thread."""
        from textual.worker import get_current_worker

        from cnnscope.vision.explain import class_heat_map, heat_caption, heat_check
        from cnnscope.vision.labels import class_names
        from cnnscope.vision.pictures import heat_overlay

        assert result.predictions  # _show_heat asked for a class output
        model = opened.model
        try:
            heat = class_heat_map(
                model, result.input, result.predictions[0].index, layer, method, class_names(model.spec)
            )
        except CnnscopeError as exc:  # a model with no map to point into (an MLP on pixels)
            self.app.call_from_thread(self._heat_failed, result, method, f"no heat-map: {exc}")
            return
        # the input under its heat, a pixel per input pixel (the pane enlarges it to its width): the
        # saved figure's caption, second tile and bar would be drawn as giant pixels in the pane
        image = heat_overlay(result.seen, heat.heat)
        bar = Bar(INFERNO, "0", f"{float(heat.heat.max()):.3g}")
        notes = "\n".join([*heat_check(heat), "h: the next method, or back to the activations"])
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._heat_drawn, result, method, image, heat_caption(heat), bar, notes)

    def _heat_failed(self, result: RunResult, method: str, message: str) -> None:
        if result is self.result and method == self.heat_method:
            self.picture.show(None, Text(message))

    def _heat_drawn(
        self, result: RunResult, method: str, image: Image.Image, caption: str, bar: Bar, notes: str
    ) -> None:
        if result is self.result and method == self.heat_method:  # still what the user asks to see
            self.picture.show(image, caption, bar, notes, grow=True)  # the check under the map: it can wait
