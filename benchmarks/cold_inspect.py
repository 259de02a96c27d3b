"""Time a cold `cnnscope inspect resnet152 --json` as whole fresh processes.

Prints medians, min-max and peak memory, next to two references measured in the
same run: a bare Python start, and the least a torch-based tool must do for the same
answer (import torch, build torchvision's resnet152, count its parameters).

    python benchmarks/cold_inspect.py [--runs 10]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys

from timing import run_once

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "cnnscope inspect resnet152 --json": [sys.executable, "-m", "cnnscope", "inspect", "resnet152", "--json"],
    "torch + torchvision resnet152 param count": [
        sys.executable,
        "-c",
        "import torchvision; m = torchvision.models.resnet152(weights=None);"
        " print(sum(p.numel() for p in m.parameters()))",
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    print(
        f"{platform.processor() or platform.machine()}, {platform.python_implementation()} {platform.python_version()},"
        f" {args.runs} runs each (one warm-up run discarded)\n"
    )
    results = {}
    for label, command in COMMANDS.items():
        try:
            run_once(command)
        except RuntimeError as exc:
            print(f"skipped {label}: {exc}")
            continue
        samples = [run_once(command) for _ in range(args.runs)]
        times = [t for t, _ in samples]
        results[label] = (statistics.median(times), min(times), max(times), max(m for _, m in samples))
    cnnscope = results["cnnscope inspect resnet152 --json"][0]
    print(f"{'command':45} {'median':>9} {'min-max':>17} {'peak RSS':>10} {'vs cnnscope':>12}")
    for label, (median, low, high, peak) in results.items():
        print(f"{label:45} {median:8.3f}s {low:7.3f}-{high:7.3f}s {peak:7.0f} MiB {median / cnnscope:11.2f}x")


if __name__ == "__main__":
    main()
