"""Regenerate the README's figures with `cnnscope draw`: python docs/figures/make.py

tests/test_draw.py checks that the committed SVGs equal what the command draws now, so a
change to the drawing code or to a spec shows up as a failing test until this is run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (file stem, the arguments of `cnnscope draw` before --out)
FIGURES = [
    ("alexnet_volumes", ["alexnet", "--style", "volumes"]),
    ("resnet18_graph", ["resnet18", "--style", "graph", "--depth", "2"]),
    ("mobilenet_v3_large_graph", ["mobilenet_v3_large", "--style", "graph"]),
]


def main() -> None:
    for stem, arguments in FIGURES:
        for suffix in (".svg", ".png"):
            out = HERE / f"{stem}{suffix}"
            subprocess.run([sys.executable, "-m", "cnnscope", "draw", *arguments, "--out", str(out)], check=True)


if __name__ == "__main__":
    main()
