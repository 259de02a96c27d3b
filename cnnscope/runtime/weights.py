"""Checkpoints in and out, safely: ``torch.load(weights_only=True)`` or safetensors,
never arbitrary unpickling; nothing half-written on export."""

from __future__ import annotations

import errno
import os
import pickle
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from cnnscope.errors import CheckpointError
from cnnscope.files import atomic_path, disk_full, os_error, regular_file

SHOWN = 3  # keys listed per kind of mismatch
FORMATS = (".pth", ".pt", ".safetensors")
MAX_EXPANSION = 4  # a checkpoint zip may declare this many times its size unpacked (torch stores, never deflates)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.pth``/``.pt`` state_dict (or ``{"state_dict": ...}``) or ``.safetensors`` file."""
    path = Path(path)
    regular_file(path, "a checkpoint", CheckpointError)
    loaded = _read_safetensors(path) if path.suffix == ".safetensors" else _read_torch(path)
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if (
        not isinstance(loaded, dict)
        or not all(isinstance(k, str) for k in loaded)
        or not all(isinstance(v, torch.Tensor) for v in loaded.values())
    ):
        raise CheckpointError("not a state_dict (a mapping of names to tensors)", path=str(path))
    for key, tensor in loaded.items():
        problem = _unusable(tensor)
        if problem:
            raise CheckpointError(f"tensor '{key}' is {problem}", path=str(path), hint="only dense real tensors load")
    return loaded


def _unusable(tensor: torch.Tensor) -> str | None:
    """Why a tensor cannot be weights (meta, sparse, quantized, complex), or None."""
    if tensor.is_meta:
        return "a meta tensor (a shape without values)"
    if tensor.layout != torch.strided:
        return f"not dense ({tensor.layout})"
    if tensor.is_quantized:
        return "quantized"
    if tensor.is_complex():
        return "complex (its imaginary part would be dropped)"
    return None


def _check_archive(path: Path) -> None:
    """Refuse a zip whose declared contents would expand far beyond the file (read before any unpacking)."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"not a readable zip archive ({exc})", path=str(path)) from None
    if not entries:
        raise CheckpointError("an empty zip archive, not a torch checkpoint", path=str(path))
    declared = sum(entry.file_size for entry in entries)
    size = path.stat().st_size
    if declared > MAX_EXPANSION * size + (1 << 20):
        raise CheckpointError(
            f"refused: {size:,} bytes that declare {declared:,} bytes unpacked (a zip bomb?)",
            path=str(path),
            hint="torch.save stores tensors uncompressed",
        )
    from cnnscope.runtime.memory import check_fits

    check_fits(declared, "loading this checkpoint", path=str(path))


def _read_safetensors(path: Path) -> object:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from cnnscope.runtime.memory import check_fits

    check_fits(path.stat().st_size, "loading this checkpoint", path=str(path))  # its tensors are its bytes
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"not a readable safetensors file ({exc})", path=str(path)) from None


def _read_torch(path: Path) -> object:
    where = str(path)
    _check_archive(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about old formats: the error below says it
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
    except Exception as exc:  # torch.load fails in many ways on foreign bytes (KeyError, TypeError, ...)
        raise CheckpointError(
            f"not a readable torch checkpoint ({type(exc).__name__})",
            path=where,
            hint="the file may be truncated, of another format, or older than torch 1.6's zip format",
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
    return load_state(model, read_state_dict(path), str(path))


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor], where: str) -> nn.Module:
    """Load ``state`` (read from ``where``) into ``model``, whole or not at all."""
    spec = getattr(model, "spec", None)
    if spec is not None and spec.checkpoint_keys:
        state = rename_keys(state, spec.checkpoint_keys)
    own = model.state_dict()
    # files saved before torch 0.4.1 (torchvision's DenseNet, AlexNet, VGG ...) have no batch-norm step
    # counter, which torch's BatchNorm then starts at zero: so does cnnscope
    counters = {k: own[k] for k in own if k.endswith(".num_batches_tracked") and k not in state}
    if counters:
        state = {**state, **counters}
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
            path=where,
            hint="is it for another model or layout?",
        )
    model.load_state_dict(state)
    return model


def check_destination(path: str | Path) -> Path:
    """``path`` if a checkpoint can be written there (format, folder); checked before any long work."""
    path = Path(path)
    if not str(path).strip():
        raise CheckpointError("an empty path is no checkpoint file")
    if path.suffix not in FORMATS:
        raise CheckpointError(
            f"unknown format '{path.suffix}'", path=str(path), hint=f"use one of {', '.join(FORMATS)}"
        )
    if path.is_dir():
        raise CheckpointError("is a directory", path=str(path))
    if not path.parent.is_dir():
        raise CheckpointError("the folder does not exist", path=str(path))
    return path


def save_weights(model: nn.Module, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Write the model's state_dict as ``.safetensors`` (with ``metadata``) or ``.pth``, atomically."""
    path = check_destination(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as temporary:
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import save_file

                save_file(state, temporary, metadata=metadata)
            else:
                torch.save(state, temporary)
        except OSError:
            raise
        except Exception as exc:  # a full disk is a RuntimeError from torch, its own error from safetensors
            if disk_full(temporary):
                raise os_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), path) from None
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(f"cannot write: {first}", path=str(path)) from None
    return path
