"""Pick a model: the zoo plus the specs of a folder, filtered as you type."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, OptionList
from textual.widgets.option_list import Option

from cnnscope.zoo import zoo_dir, zoo_names

NO_MATCHES = "no_matches"  # id of the line that says nothing matches (not a model: never opened)


def available_specs(folder: Path) -> dict[str, str]:
    """Label -> zoo name or path: the zoo first, then *.toml files of ``folder``."""
    found = {f"{name}  [dim](zoo)[/dim]": name for name in zoo_names()}
    if folder.is_dir() and folder.resolve() != zoo_dir().resolve():
        for path in sorted(folder.glob("*.toml")):
            found[f"{escape(path.name)}  [dim]({escape(str(folder))})[/dim]"] = str(path)
    return found


class SearchBox(Input):
    """The search field: Down and Escape leave it for the list (:class:`Left`), so the list's keys work."""

    BINDINGS = [
        Binding("down", "leave", "to the list", show=False),
        Binding("escape", "leave", "to the list (? help, q quit)"),
    ]

    class Left(Message):
        """Down or escape: the screen gives the focus to the list."""

    def action_leave(self) -> None:
        self.post_message(self.Left())


class PickerScreen(Screen[str | None]):
    """Dismisses with the chosen zoo name or spec path, or None (escape, back to the model open before)."""

    BINDINGS = [
        Binding("question_mark", "help", "help"),
        Binding("q", "app.quit", "quit"),
        Binding("slash", "search", "search"),
        Binding("escape", "back", "back", show=False),
    ]

    def __init__(self, folder: Path, can_go_back: bool = False) -> None:
        super().__init__()
        self.specs = available_specs(folder)
        self.can_go_back = can_go_back  # a model screen lies under this one

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Label("[b]cnnscope[/b]  pick a model: type to search, enter opens, ? help")
            yield SearchBox(placeholder="search models", id="search", select_on_focus=False)
            yield OptionList(*self._options(""), id="models")
        yield Footer(compact=True, show_command_palette=False)

    def _options(self, text: str) -> list[Option]:
        words = text.lower().split()
        found = [
            Option(label, id=target) for label, target in self.specs.items() if all(w in label.lower() for w in words)
        ]
        return found or [Option(Text(f"no matches for '{text}'", style="dim"), id=NO_MATCHES, disabled=True)]

    def on_input_changed(self, event: Input.Changed) -> None:
        models = self.query_one("#models", OptionList)
        models.clear_options()
        models.add_options(self._options(event.value))
        if self._chosen(0) is not None:
            models.highlighted = 0

    def _chosen(self, index: int | None) -> str | None:
        """The model on line ``index`` of the list (None for the "no matches" line)."""
        models = self.query_one("#models", OptionList)
        if index is None or index >= models.option_count:
            return None
        option = models.get_option_at_index(index)
        return None if option.id == NO_MATCHES else option.id

    def on_input_submitted(self, event: Input.Submitted) -> None:
        chosen = self._chosen(self.query_one("#models", OptionList).highlighted)
        if chosen is not None:
            self.dismiss(chosen)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id != NO_MATCHES:
            self.dismiss(event.option.id)

    def on_mount(self) -> None:
        """The list has the focus, so that ? and q work at once; typing goes to the search box."""
        self.query_one("#models", OptionList).focus()

    def on_key(self, event: events.Key) -> None:
        """Typing in the list goes on with the search (q, escape and the list's own keys aside)."""
        search = self.query_one("#search", Input)
        if self.focused is not search and event.is_printable and event.character not in ("q", "/", "?"):
            search.focus()
            search.insert_text_at_cursor(event.character or "")
            event.stop()

    def on_search_box_left(self, message: SearchBox.Left) -> None:
        self.query_one("#models", OptionList).focus()

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_back(self) -> None:
        if self.can_go_back:
            self.dismiss(None)

    def action_help(self) -> None:
        from cnnscope.tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen())
