"""The Textual TUI: browse a model's layers, arithmetic, filters and activations."""
