"""Where and in what precision a model runs: ``--device`` and ``--dtype`` resolved with clear errors."""

from __future__ import annotations

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
