"""Zoo specs to ONNX and back: `cnnscope export NAME --out NAME.onnx`, then `cnnscope import NAME.onnx`.

    python benchmarks/onnx_roundtrip.py [--only resnet18,unet]

Each spec is exported (torch's dynamo exporter, checked against onnxruntime at two batch sizes),
imported back (its weights read from the file, checked against onnxruntime on the file), and the
two specs are compared layer by layer: name, type and keys, fused activation, inputs, output shape,
parameters, MACs, FLOPs and receptive field, and the totals (dropout, the identity at inference,
leaves no node in the file and is left out of the comparison). One row per spec; the round trips
of tests/test_onnx.py are a smaller spec of every layer type these use.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = {  # a small input each takes (unet's valid convolutions need 188 at least)
    "resnet18": (3, 64, 64),
    "mobilenet_v3_large": (3, 64, 64),
    "efficientnet_b0": (3, 64, 64),
    "googlenet_tv": (3, 64, 64),
    "unet": (1, 188, 188),
}


def round_trip(name: str, folder: Path) -> str:
    import torch

    from cnnscope.analysis import analyze
    from cnnscope.importer.onnx import from_onnx
    from cnnscope.runtime.build import build
    from cnnscope.runtime.onnx import compare_import, export_onnx
    from cnnscope.zoo import load_target
    from tests.test_onnx import layer_table

    spec = load_target(name).with_input(SIZES[name])
    torch.manual_seed(0)
    model = build(spec).eval()
    path = folder / f"{name}.onnx"
    start = time.perf_counter()
    _, exported = export_onnx(model, path, static_batch=False, tolerance=1e-4)
    middle = time.perf_counter()
    imported, reading = from_onnx(path)
    comparison = compare_import(path, imported, reading, 1e-4)
    end = time.perf_counter()
    ours, theirs = layer_table(spec), layer_table(imported)
    differing = [name for name in {**ours, **theirs} if ours.get(name) != theirs.get(name)]
    totals = [analyze(s).total for s in (spec, imported)]
    equal_totals = [(t.params, t.macs, t.flops) for t in totals]
    verdict = "yes" if not differing and equal_totals[0] == equal_totals[1] else f"no: {', '.join(differing[:3])}"
    shape = "x".join(map(str, SIZES[name]))
    return (
        f"| {name} | {shape} | {len(ours)} / {len(theirs)} | {verdict} | {totals[1].params:,} | {totals[1].macs:,} |"
        f" {exported:.0e} | {comparison.difference:.0e} | {middle - start:.1f} s | {end - middle:.1f} s |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated zoo names (default: all five)")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(SIZES)
    print(
        "| spec | input | layers (spec / imported) | same layers and totals | params | MACs |"
        " export vs onnxruntime | import vs onnxruntime | export | import |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            print(round_trip(name, Path(folder)), flush=True)


if __name__ == "__main__":
    main()
