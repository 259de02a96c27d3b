"""Time `cnnscope draw` on the largest nets as whole fresh processes (start-up, parse, analysis,
layout, writing), next to a plain `cnnscope inspect --json` of the same spec.

    python benchmarks/draw_speed.py [--runs 5]

resnet1001.toml has 2,339 layers: drawn as volumes with --fit none every convolution and
add is a volume; drawn as a graph its runs of identical bottlenecks are folded (x 110), so a
generated chain of 1,000 layers with a shortcut every three is drawn as a graph with every layer
unfolded (--fit none). Without --fit, each is folded and wrapped to fit a 1920x1080 slide.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
from pathlib import Path

from timing import run_once

HERE = Path(__file__).resolve().parent


def chain(layers: int) -> str:
    """A spec of ``layers`` layers with no blocks: conv, relu, add of a shortcut, again and again."""
    lines = ['name = "chain1000"', "input = [8, 16, 16]", "layers = ["]
    for i in range(0, layers - 1, 3):
        previous = f"a{i - 3}" if i else "in"
        lines.append(f'  {{name = "c{i}", type = "conv2d", out = 8, kernel = 3, padding = 1}},')
        lines.append(f'  {{name = "r{i}", type = "relu"}},')
        lines.append(f'  {{name = "a{i}", type = "add", from = ["r{i}", "{previous}"]}},')
    lines.append("]")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    python = [sys.executable, "-m", "cnnscope"]
    with tempfile.TemporaryDirectory() as folder:
        generated = Path(folder) / "chain1000.toml"
        generated.write_text(chain(1000))
        resnet = str(HERE / "resnet1001.toml")
        commands = {
            "inspect resnet1001.toml --json": [*python, "inspect", resnet, "--json"],
            "draw resnet1001.toml --style volumes --fit none (svg)": [
                *python,
                "draw",
                resnet,
                "--style",
                "volumes",
                "--fit",
                "none",
                "--out",
                f"{folder}/v.svg",
            ],
            "draw resnet1001.toml --style volumes (svg, fitted to a slide)": [
                *python,
                "draw",
                resnet,
                "--style",
                "volumes",
                "--out",
                f"{folder}/vf.svg",
            ],
            "draw resnet1001.toml --style graph --depth 9 (svg)": [
                *python,
                "draw",
                resnet,
                "--style",
                "graph",
                "--depth",
                "9",
                "--out",
                f"{folder}/g.svg",
            ],
            "draw resnet1001.toml --style graph --depth 9 (png)": [
                *python,
                "draw",
                resnet,
                "--style",
                "graph",
                "--depth",
                "9",
                "--out",
                f"{folder}/g.png",
            ],
            "draw chain1000.toml --style graph --fit none (svg, 1,000 boxes' worth)": [
                *python,
                "draw",
                str(generated),
                "--fit",
                "none",
                "--out",
                f"{folder}/c.svg",
            ],
            "draw chain1000.toml --style graph (svg, fitted: stages)": [
                *python,
                "draw",
                str(generated),
                "--out",
                f"{folder}/cf.svg",
            ],
        }
        print(f"{platform.machine()}, CPython {platform.python_version()}, {runs} runs each\n")
        print("| command | median | min-max | peak RSS |")
        print("| --- | --- | --- | --- |")
        for label, command in commands.items():
            times, memory = zip(*(run_once(command) for _ in range(runs)))
            print(
                f"| `cnnscope {label}` | {statistics.median(times):.3f} s |"
                f" {min(times):.3f}-{max(times):.3f} s | {max(memory):.0f} MiB |"
            )


if __name__ == "__main__":
    main()
