"""At 80 columns the layer table keeps every name whole and its RF column (names go on a line of their own)."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from rich.console import Console

from cnnscope.analysis import analyze
from cnnscope.report.rows import receptive_text, rows
from cnnscope.report.table import layer_table
from cnnscope.zoo import load_target
from tests.conftest import ROOT


def table_lines(name: str, width: int, **console: object) -> tuple[list[str], list[tuple[str, str]]]:
    analysis = analyze(load_target(name))
    target = Console(file=io.StringIO(), width=width, markup=False, emoji=False, highlight=False, **console)  # type: ignore[arg-type]
    target.print(layer_table(analysis, rows(analysis), width=width))
    expected = [(report.name, receptive_text(report.receptive)) for report in analysis.layers]
    return target.file.getvalue().splitlines(), expected  # type: ignore[attr-defined]


def assert_names_whole(lines: list[str], expected: list[tuple[str, str]], width: int) -> None:
    assert all(len(line) <= width for line in lines)
    header = next(line for line in lines if line.lstrip().startswith("Layer"))
    assert header.split()[-1] == "RF"
    at = next(number for number, line in enumerate(lines) if line.split()[:1] == ["input"]) + 1
    for name, field in expected:  # in order: the name whole, then its row, whose last cell is its RF
        words = lines[at].split()
        assert words[0] == name, (name, lines[at])
        if len(words) == 1:  # the name had a line of its own: its cells follow on the next line
            at += 1
            words = lines[at].split()
        assert words[-1] == field, (name, lines[at])
        at += 1


@pytest.mark.parametrize("name", ["googlenet", "efficientnet_b0", "resnet50"])
def test_every_name_is_whole_at_80_columns(name: str):
    lines, expected = table_lines(name, 80)
    assert_names_whole(lines, expected, 80)


def test_colours_do_not_change_the_layout():
    plain, expected = table_lines("efficientnet_b0", 80)
    coloured, _ = table_lines("efficientnet_b0", 80, force_terminal=True, color_system="truecolor")
    assert_names_whole(plain, expected, 80)
    assert len(coloured) == len(plain)


def test_a_wide_terminal_keeps_the_lecture_table():
    lines, expected = table_lines("resnet50", 150)
    assert any("Filters/" in line for line in lines) and len(lines) == len(expected) + 10  # one line a layer


def test_the_command_at_80_columns():
    env = {**os.environ, "COLUMNS": "80"}
    result = subprocess.run(
        [sys.executable, "-m", "cnnscope", "inspect", "resnet50"], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert result.returncode == 0
    analysis = analyze(load_target("resnet50"))
    words = set(result.stdout.split())
    assert all(report.name in words for report in analysis.layers)
