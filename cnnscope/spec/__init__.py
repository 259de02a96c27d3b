"""Specs: TOML text in, validated :class:`Spec` out (no torch, no rendering)."""

from cnnscope.spec.model import INPUT, Expectations, InputSpec, Node, OutputKey, Outputs, Preprocess, Spec, output_label
from cnnscope.spec.parse import load, parse

__all__ = [
    "INPUT",
    "Expectations",
    "InputSpec",
    "Node",
    "OutputKey",
    "Outputs",
    "Preprocess",
    "Spec",
    "load",
    "output_label",
    "parse",
]
