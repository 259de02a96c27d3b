"""Where and in what precision a model runs: ``--device`` and ``--dtype`` resolved with clear errors."""

from __future__ import annotations

import os

import torch

from cnnscope.errors import DeviceError

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(name: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an explicit device must exist here."""
    base, _, number = name.partition(":")
    if base not in DEVICES or (
        ":" in name and (base != "cuda" or not number.isdigit() or not number.isascii() or len(number) > 4)
    ):
        raise DeviceError(f"unknown device '{name}'", hint=f"use one of {', '.join(DEVICES)} (cuda:N for a given GPU)")
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    if base == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("CUDA was asked for, but torch sees no CUDA device here", hint="use --device cpu or auto")
        index = int(number) if number else 0
        if index >= torch.cuda.device_count():
            raise DeviceError(f"there is no {name}: torch sees {torch.cuda.device_count()} CUDA device(s)")
        return torch.device("cuda", index)
    if base == "mps" and not _mps_available():
        raise DeviceError("MPS was asked for, but this machine has no Apple GPU", hint="use --device cpu or auto")
    return torch.device(base)


def resolve_dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise DeviceError(f"unknown dtype '{name}'", hint=f"use one of {', '.join(DTYPES)}")
    return DTYPES[name]


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that timings measure it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


# Below this much arithmetic per training step (multiply-accumulates, forward and backward), the
# kernels are too small to share: each op's threads wait on one another, and on a busy machine on
# threads the OS has descheduled. LeNet-5 at batch 32 does about 0.04 GMAC a step; at load 7 it
# trained in 28 minutes with two threads and in 20 s with one.
SHARED_STEP_MACS = 1_000_000_000


def training_threads(macs_per_sample: int, batch: int) -> int:
    """CPU threads for training a model of this size: one for small models, else torch's default.

    An ``OMP_NUM_THREADS`` the user set is kept (torch already follows it).
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    step = 3 * macs_per_sample * batch  # backward costs about twice the forward
    return 1 if step < SHARED_STEP_MACS else torch.get_num_threads()
