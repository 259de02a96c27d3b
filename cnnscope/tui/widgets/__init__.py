"""Widgets of the TUI, each usable on its own."""
