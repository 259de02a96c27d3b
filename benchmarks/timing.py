"""Shared by the benchmark scripts: one fresh process, its wall time and peak memory."""

from __future__ import annotations

import os
import subprocess
import time


def run_once(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MiB) of one fresh process; RuntimeError if it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise RuntimeError((proc.stderr.read() if proc.stderr else b"").decode()[-500:])
    return elapsed, usage.ru_maxrss / 1024
