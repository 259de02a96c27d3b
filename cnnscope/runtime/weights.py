"""Checkpoints in and out, safely: ``torch.load(weights_only=True)`` or safetensors,
never arbitrary unpickling; nothing half-written on export."""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from cnnscope.errors import CheckpointError, require_file

SHOWN = 3  # keys listed per kind of mismatch
FORMATS = (".pth", ".pt", ".safetensors")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.pth``/``.pt`` state_dict (or ``{"state_dict": ...}``) or ``.safetensors`` file."""
    path = Path(path)
    require_file(path, "a checkpoint", CheckpointError)
    loaded = _read_safetensors(path) if path.suffix == ".safetensors" else _read_torch(path)
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise CheckpointError("not a state_dict (a mapping of names to tensors)", path=str(path))
    return loaded


def _read_safetensors(path: Path) -> object:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"not a readable safetensors file ({exc})", path=str(path)) from None


def _read_torch(path: Path) -> object:
    where = str(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not zipfile.is_zipfile(path):
            raise CheckpointError(
                "not a readable torch checkpoint", path=where, hint="the file may be truncated or of another format"
            ) from None
        detail = next((line.strip() for line in str(exc).splitlines() if "Unsupported global" in line), "")
        raise CheckpointError(
            f"refused: the file holds more than tensors{f' ({detail})' if detail else ''}",
            path=where,
            hint="only plain state_dicts are loaded, never arbitrary pickled code",
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise CheckpointError(
            f"not a readable torch checkpoint ({type(exc).__name__})",
            path=where,
            hint="the file may be truncated or of another format",
        ) from None


def rename_keys(state: Mapping[str, torch.Tensor], prefixes: Mapping[str, str]) -> dict[str, torch.Tensor]:
    """Apply a spec's ``[checkpoint] keys``: ``features.0.weight`` -> ``conv1.weight``."""
    renamed = {}
    for key, tensor in state.items():
        for source, target in prefixes.items():
            if key == source or key.startswith(source + "."):
                key = target + key[len(source) :]
                break
        renamed[key] = tensor
    return renamed


def _listed(keys: list[str]) -> str:
    more = f", ... {len(keys) - SHOWN} more" if len(keys) > SHOWN else ""
    return ", ".join(keys[:SHOWN]) + more


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a checkpoint into ``model``; a checkpoint that does not fit is refused whole."""
    state = read_state_dict(path)
    spec = getattr(model, "spec", None)
    if spec is not None and spec.checkpoint_keys:
        state = rename_keys(state, spec.checkpoint_keys)
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
        raise CheckpointError(
            "checkpoint does not fit the model: " + "; ".join(problems),
            path=str(path),
            hint="is it for another model or layout?",
        )
    model.load_state_dict(state)
    return model


def save_weights(model: nn.Module, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Write the model's state_dict as ``.safetensors`` (with ``metadata``) or ``.pth``, atomically."""
    path = Path(path)
    if path.suffix not in FORMATS:
        raise CheckpointError(
            f"unknown format '{path.suffix}'", path=str(path), hint=f"use one of {', '.join(FORMATS)}"
        )
    if not path.parent.is_dir():
        raise CheckpointError("the folder does not exist", path=str(path))
    if path.is_dir():
        raise CheckpointError("is a directory", path=str(path))
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(handle)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file(state, temporary, metadata=metadata)
        else:
            torch.save(state, temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path
