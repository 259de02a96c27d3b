"""Where users wait (issue 16): every CPU row of the issue's table, measured in one run.

Each figure is the median wall time of whole fresh processes, start-up included, run in turn
with the reference it is compared with (the bare interpreter, ``import torch``, the fastest
peer tool), so that a drift of the machine's speed hits both alike.

    python benchmarks/user_waits.py [--runs 7] [--no-peers] [--no-train] [--train-baseline]

Rows: ``import cnnscope``; cold ``inspect resnet152 --json`` (and the fastest of torchinfo,
fvcore, ptflops and thop on the same model); the table of resnet152, of ResNet-1001 and of
2,000- and 20,000-layer chains (time per layer: linear); ``verify resnet50``; ``train lenet5``
while four busy processes keep the cores loaded (``--train-baseline`` adds the same run with
torch's default of one thread per core, ``OMP_NUM_THREADS=<cores>``, which takes minutes).
The GPU rows come from ``benchmarks/throughput.py`` on a CUDA machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from peers_speed import MODEL, PEERS, RESNET1001, chain_spec
from timing import run_once

PYTHON = sys.executable
CNNSCOPE = [PYTHON, "-m", "cnnscope"]


def compile_package() -> None:
    """An installed package has its bytecode; a checkout run with PYTHONDONTWRITEBYTECODE may not."""
    root = Path(__file__).resolve().parent.parent / "cnnscope"
    subprocess.run(
        [PYTHON, "-m", "compileall", "-q", str(root)], check=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""}
    )


def timed(commands: list[list[str]], runs: int, env: dict[str, str] | None = None) -> list[tuple[float, float]]:
    """(median wall s, peak MiB) of each command, run in turn, after one unmeasured warm-up each."""
    for command in commands:
        run_once(command) if env is None else run_with(command, env)
    samples: list[list[tuple[float, float]]] = [[] for _ in commands]
    for _ in range(runs):
        for index, command in enumerate(commands):
            samples[index].append(run_once(command) if env is None else run_with(command, env))
    return [(statistics.median(t for t, _ in s), max(m for _, m in s)) for s in samples]


def run_with(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return run_once(command)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def row(what: str, seconds: float, peak: float, note: str = "") -> None:
    print(f"| {what} | {seconds:.3f} s | {peak:.0f} MiB | {note} |")


def static_rows(runs: int, folder: Path, peers: bool) -> None:
    bare, imported, json_cold, table152 = timed(
        [
            [PYTHON, "-c", "pass"],
            [PYTHON, "-c", "import cnnscope"],
            [*CNNSCOPE, "inspect", "resnet152", "--json"],
            [*CNNSCOPE, "inspect", "resnet152"],
        ],
        runs,
    )
    row("`python -c pass` (the floor)", *bare)
    row("`import cnnscope`", *imported, f"{1000 * (imported[0] - bare[0]):.0f} ms over the floor")
    api = timed([[PYTHON, "-c", "from cnnscope import analyze, load; analyze(load('resnet152'))"]], runs)[0]
    row("`analyze(load('resnet152'))` (library, cold)", *api, f"{1000 * (api[0] - bare[0]):.0f} ms over the floor")
    note = ""
    if peers:
        results = {}
        for peer, code in PEERS.items():
            try:
                results[peer] = timed([[PYTHON, "-c", f"{MODEL['resnet152']}; {code}"]], max(1, runs // 3))[0]
            except RuntimeError as exc:
                print(f"(peer {peer} skipped: {str(exc).strip().splitlines()[-1:]})")
        if results:
            fastest = min(results, key=lambda p: results[p][0])
            note = f"fastest peer {fastest} {results[fastest][0]:.2f} s: {results[fastest][0] / json_cold[0]:.0f}x"
    row("cold `inspect resnet152 --json`", *json_cold, note)
    row("cold `inspect resnet152` (table)", *table152)
    chains = {}
    for layers in (2000, 20000):
        path = folder / f"chain{layers}.toml"
        path.write_text(chain_spec(layers))
        chains[layers] = path
    r1001, small, big, big_json = timed(
        [
            [*CNNSCOPE, "inspect", str(RESNET1001)],
            [*CNNSCOPE, "inspect", str(chains[2000])],
            [*CNNSCOPE, "inspect", str(chains[20000])],
            [*CNNSCOPE, "inspect", str(chains[20000]), "--json"],
        ],
        max(3, runs // 2),
    )
    row("`inspect resnet1001.toml` (table, 2,339 layers)", *r1001)
    per_small = 1e6 * (small[0] - bare[0]) / 2000
    per_big = 1e6 * (big[0] - bare[0]) / 20000
    row("`inspect` 2,000-layer chain (table)", *small, f"{per_small:.0f} us a layer")
    row("`inspect` 20,000-layer chain (table)", *big, f"{per_big:.0f} us a layer")
    row("`inspect` 20,000-layer chain `--json`", *big_json, f"{1e6 * (big_json[0] - bare[0]) / 20000:.0f} us a layer")


def verify_row(runs: int) -> None:
    floor, verify = timed([[PYTHON, "-c", "import torch"], [*CNNSCOPE, "verify", "resnet50"]], max(3, runs // 2))
    row("`import torch` (the floor of torch commands)", *floor)
    row("`verify resnet50`", *verify, f"{verify[0] - floor[0]:.2f} s over importing torch")


def train_row(folder: Path, baseline: bool) -> None:
    """train lenet5 while four busy processes (ours) keep every core loaded."""
    cores = os.cpu_count() or 1
    busy = [subprocess.Popen([PYTHON, "-c", "while True: pass"]) for _ in range(4)]
    try:
        command = [*CNNSCOPE, "train", "lenet5", "--out", str(folder / "lenet5.safetensors")]
        print(f"| `train lenet5` under 4 busy processes (load ~{4 + 1}) | ", end="", flush=True)
        seconds, peak = run_once(command)
        print(f"{seconds:.1f} s | {peak:.0f} MiB | threads chosen for the model (1) |")
        if baseline:
            print(f"| the same with one thread per core (`OMP_NUM_THREADS={cores}`) | ", end="", flush=True)
            seconds, peak = run_with(command, {"OMP_NUM_THREADS": str(cores)})
            print(f"{seconds:.1f} s | {peak:.0f} MiB | as before issue 16 |")
    finally:
        for process in busy:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-peers", action="store_true", help="skip the peer tools (4 s a run each)")
    parser.add_argument("--no-train", action="store_true", help="skip train lenet5 under load")
    parser.add_argument("--train-baseline", action="store_true", help="also train with one thread per core")
    args = parser.parse_args()
    compile_package()
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()},"
        f" medians of {args.runs} fresh processes (fewer for the slow rows), peaks over the runs\n"
    )
    print("| what | median | peak RSS | note |\n| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as folder:
        static_rows(args.runs, Path(folder), not args.no_peers)
        verify_row(args.runs)
        if not args.no_train:
            train_row(Path(folder), args.train_baseline)
    try:
        import torch

        gpu = torch.cuda.is_available()
    except ImportError:
        gpu = False
    print(
        "\nGPU rows: run `python benchmarks/throughput.py --device cuda --dtype float16 --batch 64` (and --batch 1)."
        if gpu
        else "\nGPU rows: not run (no CUDA device here)."
    )


if __name__ == "__main__":
    main()
