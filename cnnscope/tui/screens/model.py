"""One model: layer table, graph outline, cost chart, and a pane of details, filters and activations.

The screen composes the widgets and routes between them: the size box and the two picture panes
post messages, and the screen answers with the spec, the selected layer and the torch model they
need. Static analysis runs on the UI thread (milliseconds); building the model (importing torch)
runs in a worker thread here, drawing filters and running an image in the panes' own, so that
the screen never freezes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static, TabbedContent, TabPane, Tree

from cnnscope.analysis import Analysis, analyze_until_error
from cnnscope.errors import CnnscopeError
from cnnscope.layers import fmt_shape
from cnnscope.report.numbers import count, si
from cnnscope.report.table import returned_shapes
from cnnscope.spec import Spec
from cnnscope.tui.opened import OpenedModel, open_for_pictures
from cnnscope.tui.screens.figure import FigureScreen
from cnnscope.tui.screens.help import HelpScreen
from cnnscope.tui.screens.open_image import OpenImageScreen
from cnnscope.tui.widgets.activations_pane import ActivationsPane
from cnnscope.tui.widgets.cost_chart import CostChart
from cnnscope.tui.widgets.details import LayerDetails
from cnnscope.tui.widgets.filters_pane import FiltersPane
from cnnscope.tui.widgets.layer_table import BROKEN_ROW, LayerTable
from cnnscope.tui.widgets.outline import GraphOutline
from cnnscope.tui.widgets.size_box import SizeBox
from cnnscope.zoo import load_target

if TYPE_CHECKING:
    from textual.worker import Worker

    from cnnscope.tui.terminal import GraphicsWidget


class ModelScreen(Screen[None]):
    class PickerRequested(Message):
        """``m``: the user wants another model; the app opens the picker over this screen."""

    # help and quit first: the footer keeps its left end when a narrow terminal cuts it; the tab keys share
    # one label, so that every key of the footer shows at 80 columns
    TABS = Binding.Group("tabs", compact=True)
    BINDINGS = [
        Binding("question_mark", "help", "help"),
        Binding("q", "app.quit", "quit"),
        Binding("i", "edit_input", "input size"),
        Binding("d", "tab('details')", "details", group=TABS),
        Binding("f", "tab('filters')", "filters", group=TABS),
        Binding("a", "tab('activations')", "activations", group=TABS),
        Binding("o", "open_image", "open image"),
        Binding("g", "figure", "figure"),
        Binding("left_square_bracket", "channel(-1)", "channel -", show=False),
        Binding("right_square_bracket", "channel(1)", "channel +", show=False),
        Binding("s", "shared_scale", "one scale for all channels", show=False),
        Binding("h", "heat_map", "heat-map", show=False),
        Binding("m", "models", "models"),
    ]

    def __init__(
        self,
        target: str,
        image: str | None = None,
        weights: str | None = None,
        graphics: GraphicsWidget | None = None,
    ) -> None:
        """``graphics``: textual-image's widget class where the terminal shows real pixels."""
        super().__init__()
        self.target, self.image, self.weights, self.graphics = target, image, weights, graphics
        self.spec: Spec | None = None
        self.analysis: Analysis | None = None
        self.error: CnnscopeError | None = None  # where the current input size breaks the model
        self.selected: str | None = None
        self.opened: OpenedModel | None = None  # the torch model, once built for the current input size
        self.building: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        with Horizontal(id="body"):
            yield GraphOutline("model", id="outline")
            with Vertical(id="center"):
                with Horizontal(id="size-row"):
                    yield Label("input size")
                    yield SizeBox(id="input-size")
                yield Static(id="error")
                yield LayerTable(id="layers")
                yield CostChart(id="cost")
            with TabbedContent(id="tabs"):
                with TabPane("Details", id="details"):
                    yield LayerDetails(id="detail")
                yield FiltersPane(self.graphics, id="filters")
                yield ActivationsPane(self.graphics, id="activations")
        yield Footer(compact=True, show_command_palette=False)

    # --- the static side ------------------------------------------------------------------
    def on_resize(self) -> None:
        self.set_class(self.size.width < 110, "-narrow")  # the outline gives way on small terminals

    def on_mount(self) -> None:
        try:
            base = load_target(self.target)
        except CnnscopeError as exc:
            self.query_one("#title", Static).update(Text(f"{self.target}: this spec cannot be read", style="bold"))
            self._show_error(exc)
            return
        self.query_one(SizeBox).start(base)
        self.show_spec(base)
        self.query_one(LayerTable).focus()
        if self.image:
            self.run_image(self.image)

    def show_spec(self, spec: Spec) -> None:
        analysis, error = analyze_until_error(spec)
        self.error = error
        if self.spec is not None and spec.input != self.spec.input:  # layer sizes may depend on the input
            self.opened = None
            self.query_one(ActivationsPane).forget()
        self.spec, self.analysis = spec, analysis
        self.query_one(LayerTable).show(analysis, error)
        self.query_one(GraphOutline).show(analysis)
        self.query_one(CostChart).show(analysis, self.selected)
        self._show_error(error)
        total = analysis.total
        several = spec.returns.several and error is None  # each output's shape at the end: the figures come first
        if error is None:
            output = f"{len(analysis.outputs)} outputs" if several else fmt_shape(analysis.output_shape)
            figures = f" -> {output} | params {count(total.params)} | MACs {si(total.macs)}"
        else:  # the layers before the break are not the model: no totals that look like its own
            figures = f" | breaks at layer '{error.layer}': no totals"
        self.query_one("#title", Static).update(  # the figures before the title: a narrow terminal keeps them
            Text.assemble(
                (spec.name, "bold"),
                f" | input {fmt_shape(spec.input.shape)}{figures} | ",
                spec.title,
                f"{' | ' if spec.title else ''}outputs {returned_shapes(analysis)}" if several else "",
            )
        )
        if self.selected in analysis.by_name:
            self._show_selected()
        else:  # the selected layer is gone or broken: show nothing stale
            self.query_one(LayerDetails).update("")

    def _show_error(self, error: CnnscopeError | None) -> None:
        box = self.query_one("#error", Static)
        box.update(f"[b]error[/b] {escape(str(error))}" if error else "")
        box.display = error is not None

    def on_size_box_input_size_changed(self, message: SizeBox.InputSizeChanged) -> None:
        self.show_spec(message.spec)
        self.query_one(LayerTable).focus()

    def on_size_box_input_size_refused(self, message: SizeBox.InputSizeRefused) -> None:
        self._show_error(message.error)

    def on_size_box_left(self, message: SizeBox.Left) -> None:
        self._show_error(self.error)  # not the complaint about text the field no longer holds
        self.query_one(LayerTable).focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        name = event.row_key.value
        if name == BROKEN_ROW and self.error is not None:
            self.query_one(LayerDetails).update(Text(f"This layer breaks the model:\n\n{self.error}"))
        elif name and self.analysis and name in self.analysis.by_name:
            self.selected = name
            self.query_one(GraphOutline).follow(name)
            self.query_one(CostChart).select(name)
            self._show_selected()

    def on_tree_node_selected(self, event: Tree.NodeSelected[str]) -> None:
        table = self.query_one(LayerTable)
        if event.node.data and event.node.data in table.rows:
            table.move_cursor(row=table.get_row_index(event.node.data))

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._show_selected()

    def _show_selected(self) -> None:
        """The selected layer in the pane of the tab in view (the others catch up when shown)."""
        if not self.analysis or not self.selected:
            return
        tab = self.query_one(TabbedContent).active
        if tab == "details":
            self.query_one(LayerDetails).show(self.analysis, self.selected)
        elif tab == "filters":
            self.query_one(FiltersPane).show(self.analysis.by_name.get(self.selected), self.opened)
        elif tab == "activations":
            self.query_one(ActivationsPane).show(self.selected)

    # --- the torch side -----------------------------------------------------------------
    @on(FiltersPane.ModelWanted)
    @on(ActivationsPane.ModelWanted)
    def want_model(self) -> None:
        """One build at a time, for the input size shown; the panes are given the model when it is ready."""
        if self.spec is None or self.opened is not None:
            return
        if self.building is None or self.building.is_finished:
            self.building = self.build_model(self.spec)

    @work(thread=True, exclusive=True, group="torch")
    def build_model(self, spec: Spec) -> None:
        try:
            opened = open_for_pictures(spec, self.weights)
        except CnnscopeError as exc:
            self.app.call_from_thread(self._build_failed, str(exc))
            return
        self.app.call_from_thread(self._model_ready, opened)

    def _build_failed(self, message: str) -> None:
        self.notify(message, severity="error", timeout=8)
        self.query_one(ActivationsPane).no_model()

    def _model_ready(self, opened: OpenedModel) -> None:
        if self.spec is not None and opened.model.spec.input != self.spec.input:
            self.building = self.build_model(self.spec)  # built for an input size no longer shown
            return
        if opened.weights.failed:
            self.notify(opened.note, severity="error", timeout=8, markup=False)
        self.opened = opened
        self.query_one(ActivationsPane).model_ready(opened)
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
        self.query_one(TabbedContent).active = "activations"
        self.query_one(ActivationsPane).open_image(path, self.opened, through=self.target)

    def action_channel(self, step: int) -> None:
        self.query_one(ActivationsPane).step_channel(step)

    def action_shared_scale(self) -> None:
        self.query_one(ActivationsPane).toggle_scale()

    def action_heat_map(self) -> None:
        self.query_one(TabbedContent).active = "activations"
        self.query_one(ActivationsPane).step_heat()

    # --- navigation -----------------------------------------------------------------------
    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_edit_input(self) -> None:
        self.query_one(SizeBox).focus()

    def action_models(self) -> None:
        self.post_message(self.PickerRequested())

    def action_figure(self) -> None:
        """The architecture figure of the model at its current input size (``cnnscope draw``)."""
        if self.analysis is None or self.error is not None:
            self.notify("no figure: the model does not work at this input size", severity="error")
            return
        self.app.push_screen(FigureScreen(self.analysis, self.graphics))

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())
