"""Every key binding, on one screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = [
    ("Models", [("/", "search the model list"), ("enter", "open the highlighted model"), ("q", "quit")]),
    (
        "A model",
        [
            ("up/down", "move through the layers (the outline and the pane follow)"),
            ("i", "change the input size (224 -> 227 -> 448 ...)"),
            ("d / f / a", "details, filters, activations"),
            ("o", "open an image and run it through the model"),
            ("g", "the architecture figure (s: volumes / graph)"),
            ("[ / ]", "previous / next channel of the activation maps"),
            ("m", "back to the model list"),
            ("?", "this help"),
            ("q", "quit"),
        ],
    ),
]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def compose(self) -> ComposeResult:
        lines = []
        for title, keys in KEYS:
            lines.append(f"[b]{title}[/b]")
            lines += [f"  [reverse] {key} [/reverse]  {what}" for key, what in keys]
            lines.append("")
        lines.append("[dim]escape closes this help[/dim]")
        with Vertical(id="help"):
            yield Static("\n".join(lines))
