"""Reading backbone weight files and loading them strictly, with errors that say what differs."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn


def read_state_dict(
    path: str | Path, *, drop_prefixes: tuple[str, ...] = ()
) -> dict[str, torch.Tensor]:
    """Tensors of a weights file: a bare state dict, or one under ``state_dict`` / ``model``.

    ``module.`` prefixes (DataParallel) are stripped, keys starting with one of
    ``drop_prefixes`` (an ImageNet classifier) are dropped. Files are read with
    ``torch.load(weights_only=True)``: no pickled code runs.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file holds no mapping of tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"backbone weights {path} not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError) as exc:
        raise ValueError(f"{path} is not a torch weights file readable with weights_only=True: "
                         f"{exc}") from exc
    for key in ("state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(
            f"{path}: expected a state dict (name -> tensor), optionally under 'state_dict' "
            "or 'model'"
        )
    out: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        key = key.removeprefix("module.")
        if not key.startswith(drop_prefixes):
            out[key] = value
    return out


def load_state_dict_strict(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    source: str,
    expected: str = "the original ImageNet model's key names",
) -> None:
    """``module.load_state_dict(state, strict=True)`` with a readable error on mismatch.

    Raises:
        ValueError: keys missing or unexpected, or shapes that differ (a few named).
    """
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    bad_shape = sorted(
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(own) & set(state)
        if tuple(own[k].shape) != tuple(state[k].shape)
    )
    if missing or unexpected or bad_shape:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        if bad_shape:
            parts.append(f"{len(bad_shape)} of another shape (e.g. {bad_shape[:3]})")
        raise ValueError(
            f"{source} does not match the {type(module).__name__} model: "
            + "; ".join(parts)
            + f". Expected {expected}."
        )
    module.load_state_dict(state, strict=True)
