"""Checkpoints: plain dicts of tensors and Python values, written atomically, read with weights_only=True.

A checkpoint holds ``format`` (always "3daug-pose"), ``model_args`` (constructor arguments including ``kind``:
"teacher" or "image"), ``model`` (the state dict) and, for training checkpoints, optimizer, scheduler, epoch,
best metric, RNG states and the run's arguments.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from auxiliary.errors import InputError

FORMAT = "3daug-pose"
KIND_NAMES = {"teacher": "a teacher (image + point cloud)", "image": "an image-only network"}
SHAPE_NAMES = {"PointCloud": "a teacher (image + point cloud)", "MultiView": "a teacher (image + multi-view renders)",
               None: "an image-only network"}


class CheckpointError(InputError):
    """A file that is not a usable checkpoint for what was asked, with its path."""


def atomic_save(obj, path) -> None:
    """torch.save to a temporary file in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_checkpoint(path, kind: str | None = None, map_location="cpu") -> dict:
    """Read a checkpoint; ``kind`` ("teacher" / "image") makes a checkpoint of the other kind an error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or another format): {error}") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT or "model_args" not in checkpoint:
        raise CheckpointError(f"{path} is not a 3DAug-Pose checkpoint (no 'format'/'model_args' entries)")
    found = checkpoint["model_args"].get("kind")
    if kind is not None and found != kind:
        raise CheckpointError(f"{path} holds {KIND_NAMES.get(found, found)}, but {KIND_NAMES.get(kind, kind)} is "
                              f"needed here")
    return checkpoint


def load_weights(model: torch.nn.Module, state_dict: dict, path="checkpoint") -> None:
    """Load a state dict strictly: every key present, every shape equal, or an error listing the differences."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    mismatched = [f"{k}: {tuple(state_dict[k].shape)} in file, {tuple(v.shape)} in model"
                  for k, v in own.items() if k in state_dict and torch.is_tensor(v) and state_dict[k].shape != v.shape]
    if missing or unexpected or mismatched:
        lines = [f"{path} does not fit the network:"]
        lines += [f"  missing {k}" for k in missing[:5]] + [f"  unexpected {k}" for k in unexpected[:5]]
        lines += [f"  shape {m}" for m in mismatched[:5]]
        raise CheckpointError("\n".join(lines))
    model.load_state_dict(state_dict)
