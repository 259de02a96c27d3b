"""How numbers read in tables: exact counts with separators, large costs in SI units."""

from __future__ import annotations


def count(value: int) -> str:
    return f"{value:,}"


def counted(value: int, noun: str) -> str:
    """3 -> '3 layers', 1 -> '1 layer': a count and its noun, in the number it takes."""
    return f"{value:,} {noun}{'' if value == 1 else 's'}"


def si(value: float) -> str:
    """105415200 -> '105.42M'; small values stay exact."""
    for factor, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.2f}{unit}"
    return f"{value:g}"


def size_bytes(value: int) -> str:
    for factor, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if value >= factor:
            return f"{value / factor:.2f} {unit}"
    return f"{value} B"
