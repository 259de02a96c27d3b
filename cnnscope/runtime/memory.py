"""Refuse, with the numbers, what would not fit in memory, before torch allocates it.

A spec or ``--input`` can ask for terabytes (10^12 filters, a 20000x20000 input): the static
totals (params, activations) say so in microseconds, while torch would grow until the
machine swaps or the kernel kills it.
"""

from __future__ import annotations

import os
import resource

import torch

from cnnscope.analysis import analyze
from cnnscope.errors import DeviceError
from cnnscope.report.numbers import size_bytes
from cnnscope.spec import Spec

HEADROOM = 0.9  # of what is free: torch, the allocator and Python need some too


def _meminfo(field: str) -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as file:
            for line in file:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _address_space_left() -> int | None:
    """What an address-space limit (ulimit -v) still allows this process, or None without one."""
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit == resource.RLIM_INFINITY:
        return None
    used = 0
    try:
        with open("/proc/self/status", encoding="ascii") as file:
            for line in file:
                if line.startswith("VmSize:"):
                    used = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return max(0, limit - used)


def cpu_available() -> int | None:
    """Bytes this process can still allocate on the CPU, or None when the system does not say."""
    free = _meminfo("MemAvailable")
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            free = None
    limit = _address_space_left()
    known = [value for value in (free, limit) if value is not None]
    return min(known) if known else None


def available(device: torch.device) -> int | None:
    """Free bytes on ``device`` (CUDA: torch.cuda.mem_get_info; CPU: RAM and ulimit), None if unknown."""
    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except RuntimeError:  # a driver that does not say: torch's own error will come later, if any
            return None
    if device.type == "cpu":
        return cpu_available()
    return None  # mps and others do not say


def check_fits(
    needed: int, doing: str, device: torch.device | None = None, path: str | None = None, hint: str | None = None
) -> None:
    """Raise DeviceError when ``needed`` bytes exceed what ``device`` (default: the CPU) has free."""
    device = device or torch.device("cpu")
    free = available(device)
    if free is not None and needed > HEADROOM * free:
        raise DeviceError(
            f"{doing} needs about {size_bytes(needed)}, but {device} has {size_bytes(free)} free",
            path=path,
            hint=hint or "use a smaller --input or --batch, or a machine with more memory",
        )


def check_model_fits(
    spec: Spec, device: torch.device, batch: int = 1, element_bytes: int = 4, keep_activations: bool = False
) -> None:
    """Weights plus the forward pass's activations, from the static totals, against ``device``.

    (Building, on the CPU in float32, is checked by SpecModel itself.) The forward pass needs the input, and the largest
    output beside its input (or every activation, when they are all kept, as ``run`` does).
    """
    analysis = analyze(spec)
    params = analysis.total.params
    name = spec.name
    largest = max([report.activations for report in analysis.layers] + [1])
    inputs = 1
    for side in spec.input.shape:
        inputs *= side
    per_sample = analysis.total.activations if keep_activations else 2 * largest
    needed = element_bytes * (params + batch * (inputs + per_sample))
    kept = "all activations" if keep_activations else "largest activation"
    doing = (
        f"{name} at batch {batch} ({params:,} parameters, {kept} {per_sample if keep_activations else largest:,}"
        " values per sample)"
    )
    check_fits(needed, doing, device)


def check_training_fits(spec: Spec, images: int, batch: int, test_images: int) -> None:
    """Training's memory from the static totals, against the CPU, before the data set is resized to the input.

    The data set at the spec's input size (three copies at the peak: resized, normalised, split), the weights
    with their gradients and Adam's two moments, a batch's activations kept for the backward pass (and their
    gradients), and the held-out images' forward pass.
    """
    analysis = analyze(spec)
    params = analysis.total.params
    largest = max([report.activations for report in analysis.layers] + [1])
    pixels = 1
    for side in spec.input.shape:
        pixels *= side
    values = 3 * images * pixels + 4 * params + 2 * batch * analysis.total.activations + 2 * test_images * largest
    check_fits(
        4 * values,
        f"training {spec.name} ({images:,} images of {pixels:,} values, {params:,} parameters, batch {batch})",
        hint="a spec with a smaller input (every digit is resized to it), or a machine with more memory",
    )
