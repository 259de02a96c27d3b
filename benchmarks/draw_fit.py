"""Every zoo spec drawn as `cnnscope draw` draws it by default, in both styles: the figure's size,
its smallest text once scaled to a 1920x1080 slide, what was folded or wrapped to fit, and the
time the drawing took in process (parse and analysis not counted).

    python benchmarks/draw_fit.py
"""

from __future__ import annotations

import platform
import time

from cnnscope.analysis import analyze
from cnnscope.draw import draw
from cnnscope.zoo import load_target, zoo_names


def main() -> None:
    print(f"{platform.machine()}, CPython {platform.python_version()}\n")
    print("| spec | style | size (px) | smallest text on the slide | time | folded or wrapped |")
    print("| --- | --- | --- | --- | --- | --- |")
    total = 0.0
    for name in zoo_names():
        analysis = analyze(load_target(name))
        for style in ("volumes", "graph"):
            start = time.perf_counter()
            canvas = draw(analysis, style)
            spent = time.perf_counter() - start
            total += spent
            width, height = canvas.size()
            said = canvas.note.split(": ", 1)[-1].split(" (--")[0] if canvas.note else "-"
            print(f"| {name} | {style} | {width}x{height} | {canvas.slide_text():.1f} px | {spent:.3f} s | {said} |")
    print(f"\nall {len(zoo_names()) * 2} figures: {total:.2f} s")


if __name__ == "__main__":
    main()
