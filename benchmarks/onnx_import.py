"""Time `cnnscope import resnet50.onnx` as whole fresh processes, beside `onnx.load` of the same file alone.

    python benchmarks/onnx_import.py [--runs 5] [--file resnet50.onnx]

Without --file, torchvision's resnet50 (random weights) is exported first with torch's dynamo
exporter and its default settings (batch norms folded into the convolutions, as most files people
open in Netron are), at 3x224x224 with a dynamic batch. The import is timed twice: without torch
(the onnx extra alone: reading the graph, folding, writing the spec and the safetensors weights),
and with torch (the same, then the spec-built model checked against onnxruntime on the file).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import run_once

WITHOUT_TORCH = (
    "import sys\n"
    "for name in ('torch', 'torchvision', 'sklearn'):\n"
    "    sys.modules[name] = None\n"
    "from cnnscope.cli import main\n"
    "sys.argv = ['cnnscope', *sys.argv[1:]]\n"
    "main()\n"
)


EXPORT = """
import sys, warnings
import torch, torchvision
warnings.simplefilter("ignore")
model = torchvision.models.resnet50().eval()
torch.onnx.export(
    model, (torch.randn(2, 3, 224, 224),), sys.argv[1], dynamo=True, external_data=False,
    dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False,
)
"""


def exported_resnet50(folder: Path) -> Path:
    """torchvision's resnet50 as one ONNX file, exported in a process of its own (the timed processes are
    forked from this one: a parent holding torch would count in their peak memory)."""
    path = folder / "resnet50.onnx"
    subprocess.run([sys.executable, "-c", EXPORT, str(path)], check=True, capture_output=True)
    return path


def commands(path: Path, folder: Path) -> dict[str, list[str]]:
    python = sys.executable
    spec = str(folder / "resnet50.toml")
    return {
        "onnx.load (the floor of reading the file)": [python, "-c", f"import onnx; onnx.load({str(path)!r})"],
        "cnnscope import resnet50.onnx, without torch": [
            python,
            "-c",
            WITHOUT_TORCH,
            "import",
            str(path),
            "--out",
            spec,
        ],
        "import torch, onnxruntime (the floor of the check)": [python, "-c", "import torch, onnxruntime"],
        "cnnscope import resnet50.onnx, checked (torch, onnxruntime)": [
            python,
            "-m",
            "cnnscope",
            "import",
            str(path),
            "--out",
            spec,
        ],
        "cnnscope inspect resnet50.toml --json (the written spec)": [
            python,
            "-m",
            "cnnscope",
            "inspect",
            spec,
            "--json",
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--file", type=Path, help="an ONNX file to import (default: torchvision's resnet50, exported)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        path = args.file or exported_resnet50(folder)
        print(
            f"{platform.processor() or platform.machine()}, {platform.python_implementation()}"
            f" {platform.python_version()}, {path.name} of {path.stat().st_size / 2**20:.1f} MiB,"
            f" {args.runs} runs each (one warm-up run discarded)\n"
        )
        print("| command | median | min-max | peak RSS |")
        print("| --- | --- | --- | --- |")
        for label, command in commands(path, folder).items():
            run_once(command)
            samples = [run_once(command) for _ in range(args.runs)]
            times = [t for t, _ in samples]
            peak = max(m for _, m in samples)
            print(
                f"| {label} | {statistics.median(times):.2f} s | {min(times):.2f}-{max(times):.2f} s | {peak:.0f} MiB |"
            )


if __name__ == "__main__":
    main()
