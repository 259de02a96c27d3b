"""One model: layer table, graph outline, cost chart, and a pane of details, filters and activations.

Static analysis runs on the UI thread (milliseconds); importing torch, building the model and
running an image happen in a worker thread, so the screen never freezes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label, Static, TabbedContent, TabPane, Tree

from cnnscope.analysis import Analysis, analyze_until_error
from cnnscope.errors import CnnscopeError, missing_torch_extra
from cnnscope.layers import fmt_shape
from cnnscope.report.numbers import count, si
from cnnscope.spec import Spec
from cnnscope.spec.sizes import resize
from cnnscope.tui.screens.open_image import OpenImageScreen
from cnnscope.tui.widgets.cost_chart import CostChart
from cnnscope.tui.widgets.details import LayerDetails
from cnnscope.tui.widgets.layer_table import BROKEN_ROW, LayerTable
from cnnscope.tui.widgets.outline import GraphOutline
from cnnscope.tui.widgets.picture import GraphicsPicture, Picture
from cnnscope.zoo import load_target


class SizeBox(Input):
    """The input-size field: escape leaves it unchanged, back to the table."""

    BINDINGS = [Binding("escape", "leave", "leave the field", show=False)]

    def action_leave(self) -> None:
        screen = self.screen
        if isinstance(screen, ModelScreen) and screen.spec is not None:
            self.value = "x".join(map(str, screen.spec.input.shape))
        screen.query_one("#layers").focus()


class ModelScreen(Screen[None]):
    class PickerRequested(Message):
        """``m``: the user wants another model; the app opens the picker over this screen."""

    # help and quit first: the footer keeps its left end when a narrow terminal cuts it
    BINDINGS = [
        Binding("question_mark", "help", "help"),
        Binding("q", "app.quit", "quit"),
        Binding("i", "edit_input", "input size"),
        Binding("d", "tab('details')", "details"),
        Binding("f", "tab('filters')", "filters"),
        Binding("a", "tab('activations')", "activations"),
        Binding("o", "open_image", "open image"),
        Binding("g", "figure", "figure"),
        Binding("left_square_bracket", "channel(-1)", "channel -", show=False),
        Binding("right_square_bracket", "channel(1)", "channel +", show=False),
        Binding("s", "shared_scale", "one scale for all channels", show=False),
        Binding("m", "models", "models"),
    ]

    def __init__(self, target: str, image: str | None = None, weights: str | None = None) -> None:
        super().__init__()
        self.target, self.image, self.weights = target, image, weights
        self.base: Spec | None = None
        self.spec: Spec | None = None
        self.analysis: Analysis | None = None
        self.error: CnnscopeError | None = None  # where the current input size breaks the model
        self.selected: str | None = None
        self.model: Any = None  # a SpecModel once the worker has built it
        self.weights_note = ""
        self.result: Any = None  # the last image run (cnnscope.vision.run.RunResult)
        self.channel = 0
        self.shared_scale = False  # activations: each channel on its own scale, or all on the layer's

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        with Horizontal(id="body"):
            yield GraphOutline("model", id="outline")
            with Vertical(id="center"):
                with Horizontal(id="size-row"):
                    yield Label("input size")
                    yield SizeBox(
                        id="input-size", compact=True, tooltip="e.g. 3x227x227 or 448; enter applies, escape leaves"
                    )
                yield Static(id="error")
                yield LayerTable(id="layers")
                yield CostChart(id="cost")
            with TabbedContent(id="tabs"):
                with TabPane("Details", id="details"):
                    yield LayerDetails(id="detail")
                with TabPane("Filters", id="filters"):
                    yield self._picture("filter-picture")
                with TabPane("Activations", id="activations"):
                    yield Static("press o to open an image", id="predictions")
                    yield self._picture("activation-picture")
        yield Footer(compact=True, show_command_palette=False)

    def _picture(self, widget_id: str) -> Picture | GraphicsPicture:
        graphics = getattr(self.app, "graphics", None)
        return GraphicsPicture(graphics, id=widget_id) if graphics else Picture(id=widget_id)

    def _shown_picture(self, widget_id: str) -> Picture | GraphicsPicture:
        """The picture widget that :meth:`_picture` made (its class depends on the terminal)."""
        picture = self.query_one(f"#{widget_id}")
        assert isinstance(picture, Picture | GraphicsPicture)
        return picture

    # --- the static side ------------------------------------------------------------------
    def on_resize(self) -> None:
        self.set_class(self.size.width < 110, "-narrow")  # the outline gives way on small terminals

    def on_mount(self) -> None:
        try:
            self.base = load_target(self.target)
        except CnnscopeError as exc:
            self.query_one("#title", Static).update(Text(f"{self.target}: this spec cannot be read", style="bold"))
            self._show_error(exc)
            return
        self.query_one("#input-size", Input).value = "x".join(map(str, self.base.input.shape))
        self.show_spec(self.base)
        self.query_one("#layers", LayerTable).focus()
        if self.image:
            self.run_image(self.image)

    def show_spec(self, spec: Spec) -> None:
        analysis, error = analyze_until_error(spec)
        self.error = error
        if self.spec is not None and spec.input != self.spec.input:
            self.model, self.result = None, None  # layer sizes may depend on the input
        self.spec, self.analysis = spec, analysis
        self.query_one("#layers", LayerTable).show(analysis, error)
        self.query_one("#outline", GraphOutline).show(analysis)
        self.query_one("#cost", CostChart).show(analysis, self.selected)
        self._show_error(error)
        total = analysis.total
        if error is None:
            figures = f" -> {fmt_shape(analysis.output_shape)} | params {count(total.params)} | MACs {si(total.macs)}"
        else:  # the layers before the break are not the model: no totals that look like its own
            figures = f" | breaks at layer '{error.layer}': no totals"
        self.query_one("#title", Static).update(  # the figures before the title: a narrow terminal keeps them
            Text.assemble((spec.name, "bold"), f" | input {fmt_shape(spec.input.shape)}{figures} | ", spec.title)
        )
        if self.selected in analysis.by_name:
            self._show_selected()
        else:  # the selected layer is gone or broken: show nothing stale
            self.query_one("#detail", LayerDetails).update("")

    def _show_error(self, error: CnnscopeError | None) -> None:
        box = self.query_one("#error", Static)
        box.update(f"[b]error[/b] {escape(str(error))}" if error else "")
        box.display = error is not None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "input-size" or self.base is None:
            return
        try:
            spec = resize(self.base, event.value)
        except CnnscopeError as exc:
            self._show_error(exc)
            return
        self.show_spec(spec)
        self.query_one("#layers", LayerTable).focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        name = event.row_key.value
        if name == BROKEN_ROW and self.error is not None:
            self.query_one("#detail", LayerDetails).update(Text(f"This layer breaks the model:\n\n{self.error}"))
        elif name and self.analysis and name in self.analysis.by_name:
            self.selected = name
            self.query_one("#outline", GraphOutline).follow(name)
            self.query_one("#cost", CostChart).select(name)
            self._show_selected()

    def on_tree_node_selected(self, event: Tree.NodeSelected[str]) -> None:
        table = self.query_one("#layers", LayerTable)
        if event.node.data and event.node.data in table.rows:
            table.move_cursor(row=table.get_row_index(event.node.data))

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._show_selected()

    def _show_selected(self) -> None:
        if not self.analysis or not self.selected:
            return
        tab = self.query_one("#tabs", TabbedContent).active
        if tab == "details":
            self.query_one("#detail", LayerDetails).show(self.analysis, self.selected)
        elif tab == "filters":
            self._show_filters()
        elif tab == "activations":
            self._show_activation()

    # --- the torch side -----------------------------------------------------------------
    def _show_filters(self) -> None:
        """What is known without torch at once (layer, type, parameters); the picture when drawn."""
        picture = self._shown_picture("filter-picture")
        report = self.analysis.by_name[self.selected] if self.analysis and self.selected else None
        if report is None or not report.node.layer.has_units:
            picture.show(None, "filters: pick a conv or linear layer")
            return
        static = (
            f"{report.name}: {report.type}, {count(report.cost.params)} params, output {fmt_shape(report.output_shape)}"
        )
        if self.model is None:
            picture.show(None, f"{static}\nbuilding the model (importing torch) ...")
            self.build_model()
            return
        picture.show(None, f"{static}\ndrawing ...")  # not the last layer's picture under this caption
        self.draw_filters(report.name, static)

    @work(thread=True, exclusive=True, group="picture")
    def draw_filters(self, name: str, static: str) -> None:
        """Draws in a thread: a large layer's grid takes a while, and keys must not wait for it."""
        from textual.worker import get_current_worker

        from cnnscope.tui.widgets.picture import colour_bar, filter_image

        weight = self.model.weight(name).detach().float().numpy()
        image, what, ramp, low, high = filter_image(weight)
        caption = Text.assemble(
            f"{name}: {'x'.join(map(str, weight.shape))} ({what})\n",
            colour_bar(ramp, low, high, color_system=self.app.console.color_system),
            f"\n{self.weights_note}",
        )
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._filters_ready, name, image, caption)

    def _filters_ready(self, name: str, image: Any, caption: Text) -> None:
        if name == self.selected and self.query_one("#tabs", TabbedContent).active == "filters":
            self._shown_picture("filter-picture").show(image, caption)

    @work(thread=True, exclusive=True, group="torch")
    def build_model(self, then_run: str | None = None) -> None:
        try:
            model, note = self._build()
        except CnnscopeError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", timeout=8)
            return
        self.app.call_from_thread(self._model_ready, model, note)
        if then_run:
            self._run(model, then_run)

    def _build(self) -> tuple[Any, str]:
        from cnnscope.runtime.opening import open_model

        assert self.spec is not None
        try:
            model, weights = open_model(self.spec, self.weights, random_if_unloadable=True, progress=False)
        except ImportError as exc:  # a lean install: static browsing works, pictures need the torch extra
            raise missing_torch_extra(exc, "filters and activations") or exc from None
        if weights.failed:
            self.app.call_from_thread(self.notify, weights.note, severity="error", timeout=8, markup=False)
        return model, weights.note

    def _model_ready(self, model: Any, note: str) -> None:
        self.model, self.weights_note = model, note
        self._show_selected()

    def action_open_image(self) -> None:
        def chosen(path: str | None) -> None:
            if path:
                self.run_image(path)

        self.app.push_screen(OpenImageScreen(), chosen)

    def run_image(self, path: str) -> None:
        if not Path(path).exists():
            self.notify(f"no such image: {path}", severity="error", markup=False)
            return
        self.query_one("#tabs", TabbedContent).active = "activations"
        self.query_one("#activation-picture").loading = True
        first = "importing torch and building the model, then " if self.model is None else ""
        self._progress(f"{Path(path).name}: {first}running it through {self.target} ...")
        if self.model is None:
            self.build_model(then_run=path)
        else:
            self.run_worker(lambda: self._run(self.model, path), thread=True, exclusive=True, group="torch")

    def _progress(self, line: str) -> None:
        """Says what the worker is doing (the keys keep working meanwhile)."""
        self.query_one("#predictions", Static).update(Text(line, style="italic"))

    def _run(self, model: Any, path: str) -> None:
        import torch

        from cnnscope.vision.labels import class_names
        from cnnscope.vision.run import run_image

        assert self.spec is not None
        try:
            result = run_image(model, path, torch.device("cpu"), 5, class_names(self.spec))
        except CnnscopeError as exc:
            self.app.call_from_thread(self._run_failed, str(exc))
            return
        self.app.call_from_thread(self._run_done, result, path)

    def _run_failed(self, message: str) -> None:
        self.query_one("#activation-picture").loading = False
        self.notify(message, severity="error", timeout=8, markup=False)

    def _run_done(self, result: Any, path: str) -> None:
        self.result, self.image = result, path
        self.query_one("#activation-picture").loading = False
        lines = [f"[b]{escape(Path(path).name)}[/b]  {escape(self.weights_note)}"]
        if result.note:
            lines.append(escape(result.note))
        if result.predictions:
            lines += [f"{i}. {escape(p.label)}  {p.probability:.1%}" for i, p in enumerate(result.predictions, 1)]
        self.query_one("#predictions", Static).update("\n".join(lines))
        self._show_selected()

    def _show_activation(self) -> None:
        picture = self._shown_picture("activation-picture")
        if self.result is None:
            picture.show(None, "press o to open an image")
            return
        from cnnscope.tui.widgets.picture import colour_bar, map_image
        from cnnscope.vision.pictures import VIRIDIS, as_maps

        name = self.selected if self.selected in self.result.activations else next(iter(self.result.activations))
        maps = as_maps(self.result.activations[name])
        self.channel %= len(maps)
        low: float | None
        high: float | None
        if self.shared_scale:  # the layer's real range, so that channels compare
            low, high = float(maps.min()), float(maps.max())
            scale, ends = "every channel on one scale", (f"{low:.3g}", f"{high:.3g}")
        else:
            low = high = None
            scale, ends = "each channel on its own scale", ("its lowest", "its highest")
        picture.show(
            map_image(maps[self.channel], low, high),
            Text.assemble(
                f"{name}: channel {self.channel + 1}/{len(maps)} ({fmt_shape(maps.shape[1:])}), {scale}",
                "   [ and ] change channel, s changes the scale\n",
                colour_bar(VIRIDIS, *ends, color_system=self.app.console.color_system),
            ),
        )

    def action_channel(self, step: int) -> None:
        self.channel += step
        self._show_activation()

    def action_shared_scale(self) -> None:
        self.shared_scale = not self.shared_scale
        self._show_activation()

    # --- navigation -----------------------------------------------------------------------
    def action_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab

    def action_edit_input(self) -> None:
        self.query_one("#input-size", Input).focus()

    def action_models(self) -> None:
        self.post_message(self.PickerRequested())

    def action_figure(self) -> None:
        """The architecture figure of the model at its current input size (``cnnscope draw``)."""
        from cnnscope.tui.screens.figure import FigureScreen

        if self.analysis is None or self.error is not None:
            self.notify("no figure: the model does not work at this input size", severity="error")
            return
        self.app.push_screen(FigureScreen(self.analysis))

    def action_help(self) -> None:
        from cnnscope.tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen())
