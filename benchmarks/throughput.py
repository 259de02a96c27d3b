"""Forward throughput of spec-built models against their torchvision twins.

Both models get the same weights, batch, dtype and device, and are timed in
alternating rounds in one process so that machine noise hits both alike. Prints
images/s and the ratio spec / torchvision (the goal: at least 0.97).

    python benchmarks/throughput.py [--device cpu|cuda] [--dtype float32|float16|bfloat16] [--batch 8]
    python benchmarks/throughput.py --device cuda --dtype float16 --latency   # + batch 1, the launch-bound case
    python benchmarks/throughput.py --overhead   # the Python side of a forward pass, on the CPU

``--overhead`` runs batch 0 on the CPU: every op is dispatched and every module called, but no
arithmetic is done, which leaves what a launch-bound GPU waits for on the host. It times the
spec's generated forward, its step loop (``SpecModel.forward_steps``, the forward before the
generated one) and torchvision in turn.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

import cnnscope
from cnnscope.runtime.device import resolve_device, resolve_dtype, synchronize

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the twins are test code, in tests/
from tests.twins import torchvision_twin

PAIRS = ("alexnet_tv", "vgg16", "googlenet_tv", "resnet18", "resnet50")
OVERHEAD_MODELS = ("resnet50", "resnet152", "googlenet_tv", "mobilenet_v2", "densenet121")


def images_per_second(model: torch.nn.Module, x: torch.Tensor, device: torch.device, repeats: int) -> float:
    with torch.inference_mode():
        synchronize(device)
        start = time.perf_counter()
        for _ in range(repeats):
            model(x)
        synchronize(device)
    return repeats * x.shape[0] / (time.perf_counter() - start)


def latency_ms(
    model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, device: torch.device, repeats: int
) -> float:
    """Median milliseconds of one forward pass: CUDA events on a GPU (no host sync inside the timing)."""
    times = []
    with torch.inference_mode():
        for _ in range(repeats):
            if device.type == "cuda":
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                model(x)
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
            else:
                synchronize(device)
                began = time.perf_counter()
                model(x)
                synchronize(device)
                times.append(1000 * (time.perf_counter() - began))
    return statistics.median(times)


def microseconds(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, repeats: int) -> float:
    with torch.inference_mode():
        start = time.perf_counter()
        for _ in range(repeats):
            forward(x)
    return 1e6 * (time.perf_counter() - start) / repeats


def overhead(model_names: list[str], rounds: int, repeats: int) -> None:
    """Microseconds of one batch-0 forward pass on the CPU: the generated forward, the step loop, torchvision."""
    print(
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, CPU, batch 0 (no arithmetic),"
        f" {rounds} alternating rounds of {repeats} passes (median)\n"
    )
    print("| model | torchvision | spec, step loop | spec, generated | speed, step loop | speed, generated |")
    print("| --- | --- | --- | --- | --- | --- |")
    for model_name in model_names:
        reference = torchvision_twin(model_name).eval()
        spec_model = cnnscope.build(model_name).eval()
        x = torch.empty(0, *spec_model.spec.input.shape)
        contenders = {"torchvision": reference, "loop": spec_model.forward_steps, "generated": spec_model}
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for forward in contenders.values():  # warm-up
            microseconds(forward, x, repeats)
        for _ in range(rounds):
            for name, forward in contenders.items():
                times[name].append(microseconds(forward, x, repeats))
        tv, loop, generated = (statistics.median(times[name]) for name in contenders)
        speeds = [
            statistics.median(a / b for a, b in zip(times["torchvision"], times[name]))
            for name in ("loop", "generated")
        ]
        cells = [f"{tv:.0f} us", f"{loop:.0f} us", f"{generated:.0f} us", *(f"{speed:.3f}" for speed in speeds)]
        print(f"| {model_name} | {' | '.join(cells)} |")
    print("\nspeed: torchvision's time / the spec's, median of the rounds' ratios (the goal: at least 0.99)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="forward passes per round")
    parser.add_argument("--models", nargs="*", default=list(PAIRS))
    parser.add_argument("--latency", action="store_true", help="also batch-1 latency, spec and torchvision in turn")
    parser.add_argument("--overhead", action="store_true", help="only the Python side: batch 0 on the CPU (see above)")
    args = parser.parse_args()
    if args.overhead:
        given = args.models != list(PAIRS)
        overhead(args.models if given else list(OVERHEAD_MODELS), 5 * args.rounds, 10 * args.repeats)
        return
    device, dtype = resolve_device(args.device), resolve_dtype(args.dtype)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(
        f"{name}, torch {torch.__version__}, {args.dtype}, batch {args.batch}, threads {torch.get_num_threads()},"
        f" {args.rounds} alternating rounds of {args.repeats} passes (median)\n"
    )
    print(f"{'model':14} {'spec img/s':>11} {'torchvision img/s':>18} {'ratio':>7}")
    for model_name in args.models:
        reference = torchvision_twin(model_name)
        spec_model = cnnscope.build(model_name).eval()
        spec_model.load_state_dict(reference.state_dict())
        reference, spec_model = reference.to(device, dtype), spec_model.to(device, dtype)
        x = torch.randn(args.batch, *spec_model.spec.input.shape, device=device, dtype=dtype)
        if device.type == "cuda":
            reference = reference.to(memory_format=torch.channels_last)
            spec_model = spec_model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        for model in (reference, spec_model):  # warm-up
            images_per_second(model, x, device, 1)
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(images_per_second(spec_model, x, device, args.repeats))
            theirs.append(images_per_second(reference, x, device, args.repeats))
        spec_rate, tv_rate = statistics.median(ours), statistics.median(theirs)
        line = f"{model_name:14} {spec_rate:11.1f} {tv_rate:18.1f} {spec_rate / tv_rate:7.3f}"
        if args.latency:  # batch 1: the launch-bound case, where per-step Python overhead shows
            one = x[:1].contiguous(memory_format=torch.channels_last) if device.type == "cuda" else x[:1]
            spec_ms, loop_ms, tv_ms = [], [], []
            for _ in range(args.rounds):
                spec_ms.append(latency_ms(spec_model, one, device, 10 * args.repeats))
                loop_ms.append(latency_ms(spec_model.forward_steps, one, device, 10 * args.repeats))
                tv_ms.append(latency_ms(reference, one, device, 10 * args.repeats))
            spec_latency, loop_latency, tv_latency = map(statistics.median, (spec_ms, loop_ms, tv_ms))
            line += f"   batch 1: spec {spec_latency:.3f} ms, torchvision {tv_latency:.3f} ms"
            line += f", speed ratio {tv_latency / spec_latency:.3f} (step loop: {tv_latency / loop_latency:.3f})"
        print(line)


if __name__ == "__main__":
    main()
