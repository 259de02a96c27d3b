"""README's examples are what the commands print today (docs/readme_examples.py regenerates them)."""

from __future__ import annotations

import importlib.util

from tests.conftest import ROOT


def test_readme_examples_match_the_commands():
    spec = importlib.util.spec_from_file_location("readme_examples", ROOT / "docs" / "readme_examples.py")
    assert spec is not None and spec.loader is not None
    examples = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(examples)
    text = examples.README.read_text(encoding="utf-8")
    assert text.count("```\n$ cnnscope ") >= 3  # the examples exist (inspect, --explain, compare)
    assert examples.regenerated(text) == text, "README examples drifted: run python docs/readme_examples.py --write"
