"""ONNX files torch exports from models not written here: do they import with onnxruntime's outputs?

    python benchmarks/onnx_reach.py [--only tv:resnet18,timm:convnext_atto]

Each model (torchvision's or timm's, random weights, eval mode) is exported at 3x64x64 with a dynamic
batch by torch's dynamo exporter (its defaults: batch norms folded into convolutions) or by its
TorchScript exporter (`dynamo=False`, as older files were made), in a process of its own, then
imported with `cnnscope import` (the spec-built model checked against onnxruntime on the file). A
row says "yes" with the largest output difference, or the error's first words.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = {  # model -> exporters
    "tv:resnet18": ("dynamo", "torchscript"),
    "tv:googlenet": ("dynamo",),
    "tv:shufflenet_v2_x0_5": ("dynamo", "torchscript"),
    "tv:mobilenet_v3_small": ("dynamo",),
    "tv:efficientnet_b0": ("dynamo",),
    "tv:convnext_tiny": ("torchscript",),
    "timm:resnet18": ("dynamo",),
    "timm:mobilenetv3_small_050": ("dynamo",),
    "timm:convnext_atto": ("dynamo", "torchscript"),
}

EXPORT = """
import sys, warnings
import torch
warnings.simplefilter("ignore")
source, name, exporter, path = sys.argv[1:]
if source == "timm":
    import timm
    model = timm.create_model(name, pretrained=False).eval()
else:
    import torchvision
    extra = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    model = getattr(torchvision.models, name)(**extra).eval()
x = torch.randn(2, 3, 64, 64)
if exporter == "dynamo":
    torch.onnx.export(model, (x,), path, dynamo=True, external_data=False,
                      dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False)
else:
    torch.onnx.export(model, (x,), path, dynamo=False, input_names=["input"], dynamic_axes={"input": {0: "batch"}})
"""


def row(model: str, exporter: str, folder: Path) -> str:
    source, _, name = model.partition(":")
    path = folder / f"{name}_{exporter}.onnx"
    subprocess.run([sys.executable, "-c", EXPORT, source, name, exporter, str(path)], check=True, capture_output=True)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "cnnscope", "import", str(path), "--out", str(folder / f"{name}.toml")],
        capture_output=True,
        text=True,
        env={"COLUMNS": "1000", "PATH": "", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    seconds = time.perf_counter() - start
    said = " ".join((result.stdout + result.stderr).split())
    if result.returncode == 0:
        layers = said.split(": ", 1)[1].split(" layers")[0]
        difference = said.split("largest difference ")[1].split(" ")[0]
        verdict = f"yes: {layers} layers, difference {difference}"
    else:
        verdict = "no: " + said.removeprefix("error: ")[:160]
    return f"| {model} | {exporter} | {path.stat().st_size / 2**20:.1f} MiB | {verdict} | {seconds:.1f} s |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated models, as in MODELS (default: all)")
    args = parser.parse_args()
    models = args.only.split(",") if args.only else list(MODELS)
    print("| model | exporter | file | imports with onnxruntime's outputs | import |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as folder:
        for model in models:
            for exporter in MODELS.get(model, ("dynamo",)):
                print(row(model, exporter, Path(folder)), flush=True)


if __name__ == "__main__":
    main()
