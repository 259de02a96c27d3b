"""Time `cnnscope import` on resnet50 and efficientnet_b0 as whole fresh processes, and then the
static analysis of the spec it wrote, next to the torch start-up that an import cannot avoid.

    python benchmarks/import_speed.py [--runs 5]

Each import reads the model with torch.fx, folds it into blocks, writes the spec and checks it
(the model's state_dict loaded into the written spec gives the same outputs) before writing.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
from pathlib import Path

from timing import run_once

MODELS = ("resnet50", "efficientnet_b0")


def commands(folder: Path) -> dict[str, list[str]]:
    python = sys.executable
    found = {"import torch, torchvision (the floor)": [python, "-c", "import torch, torchvision.models"]}
    for name in MODELS:
        spec = str(folder / f"{name}.toml")
        found[f"cnnscope import torchvision.models:{name}"] = [
            python,
            "-m",
            "cnnscope",
            "import",
            f"torchvision.models:{name}",
            "--out",
            spec,
        ]
        found[f"cnnscope inspect {name}.toml --json (the written spec)"] = [
            python,
            "-m",
            "cnnscope",
            "inspect",
            spec,
            "--json",
        ]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(
        f"{platform.processor() or platform.machine()}, {platform.python_implementation()} {platform.python_version()},"
        f" {args.runs} runs each (one warm-up run discarded)\n"
    )
    print(f"{'command':62} {'median':>9} {'min-max':>17} {'peak RSS':>10}")
    with tempfile.TemporaryDirectory() as folder:
        for label, command in commands(Path(folder)).items():
            run_once(command)
            samples = [run_once(command) for _ in range(args.runs)]
            times = [t for t, _ in samples]
            low, high = min(times), max(times)
            peak = max(m for _, m in samples)
            print(f"{label:62} {statistics.median(times):8.2f}s {low:7.2f}-{high:.2f} s {peak:8.0f} MiB")


if __name__ == "__main__":
    main()
