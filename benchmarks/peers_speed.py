"""cnnscope against the peer tools, as whole fresh processes, in one run on one machine.

1. Cold runs: `cnnscope inspect MODEL --json` against torchinfo's summary, fvcore's
   FlopCountAnalysis, ptflops and thop on the same architecture (torchvision's resnet152,
   and a 1,000-layer synthetic conv stack): median and min-max wall time, peak memory,
   and how many times slower each peer is than cnnscope.
2. Static throughput: whole-model analyses per second of resnet152 at input sizes 32-1024.
3. Scale: analysis time against the number of layers (chains up to 20,000 layers and a
   generated ResNet-1001), to show that it grows linearly.

    python benchmarks/peers_speed.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from timing import run_once

from cnnscope.analysis import analyze
from cnnscope.spec import parse
from cnnscope.zoo import load_target

STACK_DEPTH = 1000


def chain_spec(layers: int) -> str:
    """`layers` layers: conv3x3 + relu units on 16 channels at 32x32."""
    return (
        f'name = "chain{layers}"\ninput = [16, 32, 32]\n'
        f'layers = [{{name = "stack", block = "unit", repeat = {layers // 2}}}]\n'
        "[blocks.unit]\n"
        'layers = [{name = "conv", type = "conv2d", out = 16, kernel = 3, padding = 1},'
        ' {name = "relu", type = "relu"}]\n'
    )


RESNET1001 = Path(__file__).with_name("resnet1001.toml")


MODEL = {
    "resnet152": "import torchvision; m = torchvision.models.resnet152(weights=None).eval(); shape = (3, 224, 224)",
    "stack": (
        f"import torch; m = torch.nn.Sequential(*[layer for _ in range({STACK_DEPTH // 2}) for layer in"
        " (torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU())]).eval(); shape = (16, 32, 32)"
    ),
}
PEERS = {
    "torchinfo": "import torchinfo; torchinfo.summary(m, input_size=(1, *shape), verbose=0)",
    "fvcore": (
        "import torch; from fvcore.nn import FlopCountAnalysis; a = FlopCountAnalysis(m, torch.randn(1, *shape));"
        " a.unsupported_ops_warnings(False); a.uncalled_modules_warnings(False); a.total()"
    ),
    "ptflops": (
        "from ptflops import get_model_complexity_info;"
        " get_model_complexity_info(m, shape, as_strings=False, print_per_layer_stat=False)"
    ),
    "thop": "import torch, thop; thop.profile(m, inputs=(torch.randn(1, *shape),), verbose=False)",
}


def measure(command: list[str], runs: int) -> tuple[float, float, float, float] | None:
    try:
        run_once(command)  # warm the file cache
    except RuntimeError as exc:
        print(f"  skipped: {str(exc).strip().splitlines()[-1] if str(exc).strip() else exc}")
        return None
    samples = [run_once(command) for _ in range(runs)]
    times = [t for t, _ in samples]
    return statistics.median(times), min(times), max(times), max(m for _, m in samples)


def cold_runs(runs: int, folder: Path) -> None:
    stack = folder / f"stack{STACK_DEPTH}.toml"
    stack.write_text(chain_spec(STACK_DEPTH))
    for model, target in (("resnet152", "resnet152"), ("stack", str(stack))):
        label = "torchvision resnet152" if model == "resnet152" else f"{STACK_DEPTH}-layer conv stack"
        print(f"\n{label}: {runs} fresh processes each (median, min-max, peak RSS)")
        print(f"  {'tool':10} {'median':>9} {'min-max':>17} {'peak RSS':>10} {'x cnnscope':>11}")
        ours = measure([sys.executable, "-m", "cnnscope", "inspect", target, "--json"], runs)
        assert ours is not None
        rows = [("cnnscope", ours)]
        for peer, code in PEERS.items():
            result = measure([sys.executable, "-c", f"{MODEL[model]}; {code}"], runs)
            if result is not None:
                rows.append((peer, result))
        for tool, (median, low, high, peak) in rows:
            print(f"  {tool:10} {median:8.3f}s {low:7.3f}-{high:7.3f}s {peak:7.0f} MiB {median / ours[0]:10.1f}x")


def throughput() -> None:
    spec = load_target("resnet152")
    print("\nstatic throughput, resnet152 (in-process, analyses per second)")
    for size in (32, 64, 128, 224, 448, 1024):
        resized = spec.with_input((3, size, size))
        start, count = time.perf_counter(), 0
        while time.perf_counter() - start < 1.0:
            analyze(resized)
            count += 1
        print(f"  {size:>5}x{size:<5} {count / (time.perf_counter() - start):8.1f} analyses/s")


def scale() -> None:
    print("\nscale: parse + analyse time against layers")
    print(f"  {'spec':14} {'layers':>7} {'seconds':>9} {'us/layer':>9}")
    cases = [(f"chain{n}", chain_spec(n)) for n in (1250, 2500, 5000, 10000, 20000)]
    cases.append(("resnet1001", RESNET1001.read_text()))
    for name, text in cases:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            layers = len(analyze(parse(text)).layers)
            times.append(time.perf_counter() - start)
        best = min(times)
        print(f"  {name:14} {layers:>7} {best:9.3f} {1e6 * best / layers:9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as folder:
        cold_runs(args.runs, Path(folder))
    throughput()
    scale()


if __name__ == "__main__":
    main()
