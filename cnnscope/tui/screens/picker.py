"""Pick a model: the zoo plus the specs of a folder, filtered as you type."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, OptionList
from textual.widgets.option_list import Option

from cnnscope.zoo import zoo_dir, zoo_names


def available_specs(folder: Path) -> dict[str, str]:
    """Label -> zoo name or path: the zoo first, then *.toml files of ``folder``."""
    found = {f"{name}  [dim](zoo)[/dim]": name for name in zoo_names()}
    if folder.is_dir() and folder.resolve() != zoo_dir().resolve():
        for path in sorted(folder.glob("*.toml")):
            found[f"{escape(path.name)}  [dim]({escape(str(folder))})[/dim]"] = str(path)
    return found


class PickerScreen(Screen[str]):
    """Dismisses with the chosen zoo name or spec path."""

    BINDINGS = [Binding("slash", "search", "search"), Binding("q", "app.quit", "quit")]

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.specs = available_specs(folder)

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Label("[b]cnnscope[/b]  pick a model (type to search, enter to open)")
            yield Input(placeholder="search models", id="search")
            yield OptionList(*self._options(""), id="models")
        yield Footer()

    def _options(self, text: str) -> list[Option]:
        words = text.lower().split()
        return [
            Option(label, id=target) for label, target in self.specs.items() if all(w in label.lower() for w in words)
        ]

    def on_input_changed(self, event: Input.Changed) -> None:
        models = self.query_one("#models", OptionList)
        models.clear_options()
        models.add_options(self._options(event.value))
        if models.option_count:
            models.highlighted = 0

    def on_input_submitted(self, event: Input.Submitted) -> None:
        models = self.query_one("#models", OptionList)
        if models.highlighted is not None:
            self.dismiss(models.get_option_at_index(models.highlighted).id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()
