"""Multi-view shape input (``--shape MultiView``): renders of each CAD model from a fixed ring of viewpoints.

PoseFromShape's multi-view representation: the model seen from ``view_num`` viewpoints on ``tour`` elevation
rings (ring r at elevation 15 + 30 r degrees; ``view_num / tour`` azimuths per ring, evenly spaced from 0),
in the model's own colours under a fixed light, on black. Stored per model as one PNG strip of the views side
by side, ring after ring, ``<root>/<shape_dir>/<cat>/<NN>/views.png`` (``shape_dir`` is ``multiview`` by
default), with the ring written once in ``<root>/<shape_dir>/views.json``.

The representation turns with the model frame: a model turned by ``d`` degrees about z (``--random``) is seen
from the ring's azimuth ``phi`` as the original is from ``phi - d``, so for ``d`` a multiple of the ring's
azimuth step the views roll along each ring (:func:`turn_views`); a mirrored model (a flipped image) is seen
from ``phi`` as the mirror image of the original seen from ``-phi`` (:func:`mirror_views`). Both are tested
against renders of the turned and mirrored meshes.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from auxiliary.errors import InputError
from auxiliary.files import atomic_write_text

SPEC_FILE = "views.json"
VIEW_DEFAULTS = dict(view_num=12, tour=2, view_size=64)
_DISTANCE, _FOCAL = 1.9, 1.8   # focal in units of the view size: a model of radius 0.45 fills about 0.85 of a view


class MultiViewError(InputError):
    """A multi-view file or ring description that cannot be used, with its path."""


def ring(view_num: int, tour: int) -> list[tuple[float, float]]:
    """(azimuth, elevation) of each view, ring after ring."""
    if view_num <= 0 or tour <= 0 or view_num % tour:
        raise ValueError(f"view_num ({view_num}) must be a positive multiple of tour ({tour})")
    per_ring = view_num // tour
    return [(360.0 * k / per_ring, 15.0 + 30.0 * r) for r in range(tour) for k in range(per_ring)]


def make_spec(view_num: int = VIEW_DEFAULTS["view_num"], tour: int = VIEW_DEFAULTS["tour"],
              view_size: int = VIEW_DEFAULTS["view_size"]) -> dict:
    views = ring(view_num, tour)
    return {"view_num": view_num, "tour": tour, "view_size": view_size, "azimuths": [a for a, _ in views],
            "elevations": [e for _, e in views], "distance": _DISTANCE, "focal": _FOCAL * view_size,
            "layout": "one PNG strip per model, views side by side in this order"}


def render_views(mesh, colors, spec: dict) -> np.ndarray:
    """The views of ``mesh`` (part colours ``colors`` (3, 3), or its own vertex colours) -> uint8 (V, S, S, 3)."""
    from dataset.render import render

    size = spec["view_size"]
    views = np.zeros((spec["view_num"], size, size, 3), np.uint8)
    for k, (azimuth, elevation) in enumerate(zip(spec["azimuths"], spec["elevations"])):
        # the light has no x component, so a mirrored model's views are exactly the mirrored views
        rgb, mask = render(mesh, colors, azimuth, elevation, 0.0, spec["distance"], spec["focal"],
                           (size / 2, size / 2), size, size, light_dir=[0.0, 0.5, 1.0], ambient=0.4)
        views[k] = (np.where(mask[..., None], rgb, 0.0) * 255).round().astype(np.uint8)
    return views


def views_path(root, shape_dir: str, cat: str, cad_index) -> Path:
    return Path(root) / shape_dir / cat / f"{int(cad_index):02d}" / "views.png"


def write_views(path, views: np.ndarray) -> None:
    """(V, S, S, 3) uint8 -> one PNG strip, written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    Image.fromarray(np.concatenate(list(views), axis=1)).save(tmp, format="PNG")
    os.replace(tmp, path)


def write_spec(shape_root, spec: dict) -> None:
    atomic_write_text(Path(shape_root) / SPEC_FILE, json.dumps(spec, indent=2) + "\n")


def read_spec(shape_root) -> dict:
    path = Path(shape_root) / SPEC_FILE
    if not path.is_file():
        raise FileNotFoundError(f"multi-view description {path} does not exist; render the views with "
                                f"`python -m dataset.prepare_multiview` (docs/data.md)")
    try:
        spec = json.loads(path.read_text())
        ring(int(spec["view_num"]), int(spec["tour"]))
        int(spec["view_size"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise MultiViewError(f"multi-view description {path} is not valid: {error}") from None
    return spec


def read_views(path, spec: dict) -> np.ndarray:
    """One model's strip -> uint8 (V, 3, S, S), checked against the ring description (``view_num``, and
    ``view_size``; without it, the strip's height)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"multi-view renders {path} do not exist")
    try:
        with Image.open(path) as image:
            strip = np.asarray(image.convert("RGB"))
    except OSError as error:
        raise MultiViewError(f"multi-view renders {path} cannot be decoded: {error}") from None
    view_num, size = int(spec["view_num"]), int(spec.get("view_size") or strip.shape[0])
    if strip.shape[:2] != (size, view_num * size):
        raise MultiViewError(f"multi-view renders {path} are {strip.shape[1]}x{strip.shape[0]} pixels, not "
                             f"{view_num} views of {size}x{size} side by side ({view_num * size}x{size})")
    return np.ascontiguousarray(strip.reshape(size, view_num, size, 3).transpose(1, 3, 0, 2))


def ring_step(spec: dict) -> float:
    """Azimuth step (degrees) between neighbouring views of a ring."""
    return 360.0 * int(spec["tour"]) / int(spec["view_num"])


def turn_views(views: np.ndarray, degrees: float, tour: int) -> np.ndarray:
    """The views of the model turned by ``degrees`` about z (a multiple of the ring step): each ring rolls."""
    view_num = views.shape[0]
    per_ring = view_num // tour
    steps = degrees * per_ring / 360.0
    if abs(steps - round(steps)) > 1e-6:
        raise ValueError(f"a turn of {degrees} degrees is not a multiple of the ring step {360.0 / per_ring}")
    rings = views.reshape(tour, per_ring, *views.shape[1:])
    return np.roll(rings, int(round(steps)), axis=1).reshape(views.shape)


def mirror_views(views: np.ndarray, tour: int) -> np.ndarray:
    """The views of the model mirrored through x = 0: view k becomes the flipped view -k of its ring."""
    view_num = views.shape[0]
    per_ring = view_num // tour
    rings = views.reshape(tour, per_ring, *views.shape[1:])
    order = (-np.arange(per_ring)) % per_ring
    return np.ascontiguousarray(rings[:, order][..., ::-1]).reshape(views.shape)
