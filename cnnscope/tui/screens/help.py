"""Every key binding, on one screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = [
    (
        "Models",
        [
            ("type, /", "search the model list"),
            ("down, escape", "from the search to the list"),
            ("enter", "open the highlighted model"),
            ("escape", "in the list: back to the model open before"),
            ("q", "quit (in the list)"),
        ],
    ),
    (
        "A model",
        [
            ("up/down", "move through the layers (outline and pane follow)"),
            ("i", "input size (224, 3x227x227 ...); enter applies, escape leaves"),
            ("d / f / a", "details, filters, activations"),
            ("o", "open an image and run it through the model"),
            ("g", "figure: s style, +/- zoom, o as text, arrows/PgUp/PgDn scroll"),
            ("[ / ]", "previous / next channel of the activations"),
            ("s", "the activations' channels on one scale, or each on its own"),
            (
                "h",
                "heat-map of the top class at the selected layer (if it has no\n"
                "map, at the last layer with one): Grad-CAM, difference, off",
            ),
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
            for key, what in keys:  # a description's further lines under its first
                lines.append(f"  [reverse] {key} [/reverse]  " + what.replace("\n", "\n" + " " * (len(key) + 6)))
            lines.append("")
        lines.append("[dim]escape closes this help; it scrolls if the terminal is short[/dim]")
        with Vertical(id="help"):
            yield Static("\n".join(lines))
