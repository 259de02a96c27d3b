"""Checkpoints in, safely: ``torch.load(weights_only=True)``, never arbitrary unpickling."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch
from torch import nn

from cnnscope.errors import SpecError

SHOWN = 3  # keys listed per kind of mismatch


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.pth``/``.pt`` state_dict (or ``{"state_dict": ...}``) file."""
    path = Path(path)
    where = str(path)
    if path.is_dir():
        raise SpecError("is a directory, not a checkpoint", path=where)
    if not path.exists():
        raise SpecError("no such checkpoint file", path=where)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not zipfile.is_zipfile(path):
            raise SpecError(
                "not a readable torch checkpoint", path=where, hint="the file may be truncated or of another format"
            ) from None
        detail = next((line.strip() for line in str(exc).splitlines() if "Unsupported global" in line), "")
        raise SpecError(
            f"refused: the file holds more than tensors{f' ({detail})' if detail else ''}",
            path=where,
            hint="only plain state_dicts are loaded, never arbitrary pickled code",
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise SpecError(
            f"not a readable torch checkpoint ({type(exc).__name__})",
            path=where,
            hint="the file may be truncated or of another format",
        ) from None
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise SpecError("not a state_dict (a mapping of names to tensors)", path=where)
    return loaded


def _listed(keys: list[str]) -> str:
    more = f", ... {len(keys) - SHOWN} more" if len(keys) > SHOWN else ""
    return ", ".join(keys[:SHOWN]) + more


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a checkpoint into ``model``; a checkpoint that does not fit is refused whole."""
    state = read_state_dict(path)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k}: model {'x'.join(map(str, own[k].shape))}, checkpoint {'x'.join(map(str, state[k].shape))}"
        for k in own
        if k in state and own[k].shape != state[k].shape
    ]
    problems = [
        f"{len(found)} {what} ({_listed(found)})"
        for what, found in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", mismatched),
        )
        if found
    ]
    if problems:
        raise SpecError(
            "checkpoint does not fit the model: " + "; ".join(problems),
            path=str(path),
            hint="is it for another model or layout?",
        )
    model.load_state_dict(state)
    return model
