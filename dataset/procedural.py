"""Procedural object categories for the many-category synthetic set (``--dataset SyntheticMany``).

A category is a seeded part layout: a body (box, ellipsoid or a lying cylinder) and parts (boxes, cylinders,
cones, ellipsoids) anchored on the faces of the body's bounding box, some in mirrored left/right pairs, some
optional. Every layout lives in the CAD frame of :mod:`dataset.shapes` (z up, front facing -y): each
asymmetric category has a marker part on its front face and one more anchored off the x = 0 plane's front/back
axis, so a turn about z changes what it looks like; about one category in ten is a stack of coaxial solids of
revolution about z (rotationally symmetric, flagged like the real datasets' symmetric classes). An instance
scales the body and every part, moves each part a little on its face and draws the optional parts, so two
instances of a category differ as two CAD models of one real class do.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dataset.shapes import Builder, Mesh

KINDS = ("box", "cylinder", "cone", "ellipsoid")
FACES = ("top", "bottom", "front", "back", "left", "right")
# each face: (axis index, sign) of its outward normal in the CAD frame (front is -y)
_NORMAL = {"top": (2, 1), "bottom": (2, -1), "front": (1, -1), "back": (1, 1), "left": (0, -1), "right": (0, 1)}


@dataclass(frozen=True)
class Part:
    kind: str
    face: str
    uv: tuple            # position on the face, as fractions of the face's two other extents, in [-0.5, 0.5]
    size: tuple          # (x, y, z) size as fractions of the body's size
    mirror: bool         # add a copy mirrored through x = 0
    presence: float      # probability that an instance has the part (1: always)
    slot: int


@dataclass(frozen=True)
class Category:
    name: str
    symmetric: bool
    body_kind: str
    body_size: tuple     # (x, y, z) of the body, before the instance's scaling
    parts: tuple         # Part, ...
    levels: tuple = ()   # symmetric categories: (kind, radius, height) of each coaxial solid, bottom up


def _face_point(face: str, uv, half: np.ndarray) -> np.ndarray:
    """A point on a face of the box [-half, half] at (u, v) fractions of the face's other two axes."""
    axis, sign = _NORMAL[face]
    others = [k for k in range(3) if k != axis]
    point = np.zeros(3)
    point[axis] = sign * half[axis]
    point[others[0]] = uv[0] * 2 * half[others[0]]
    point[others[1]] = uv[1] * 2 * half[others[1]]
    return point


def make_category(name: str, rng: np.random.Generator) -> Category:
    """A random category layout; ``rng`` fixes it."""
    if rng.random() < 0.1:
        count = int(rng.integers(2, 5))
        levels = tuple((str(rng.choice(["cylinder", "cone", "ellipsoid"])), float(rng.uniform(0.15, 0.5)),
                        float(rng.uniform(0.15, 0.5))) for _ in range(count))
        return Category(name, True, "stack", (1.0, 1.0, 1.0), (), levels)
    body_kind = str(rng.choice(["box", "box", "ellipsoid", "cylinder"]))
    body_size = tuple(float(v) for v in rng.uniform([0.3, 0.3, 0.15], [1.0, 1.0, 0.8]))
    parts = []
    # the front marker: always there, off-centre in x or not, never mirrored, so front and back differ
    parts.append(Part(str(rng.choice(KINDS)), "front", (float(rng.uniform(-0.3, 0.3)), float(rng.uniform(-0.3, 0.3))),
                      tuple(float(v) for v in rng.uniform([0.15, 0.1, 0.15], [0.5, 0.4, 0.5])), False, 1.0, 2))
    for _ in range(int(rng.integers(2, 7))):
        face = str(rng.choice(FACES, p=[0.25, 0.15, 0.15, 0.2, 0.125, 0.125]))
        mirror = face not in ("left", "right") and rng.random() < 0.45
        uv = (float(rng.uniform(0.1, 0.45)) if mirror else float(rng.uniform(-0.45, 0.45)),
              float(rng.uniform(-0.45, 0.45)))
        size = tuple(float(v) for v in rng.uniform(0.08, 0.6, 3))
        if face == "bottom" and rng.random() < 0.6:  # legs: thin and long
            size = (size[0] * 0.4, size[1] * 0.4, float(rng.uniform(0.4, 1.0)))
        presence = 1.0 if rng.random() < 0.7 else float(rng.uniform(0.4, 0.8))
        parts.append(Part(str(rng.choice(KINDS)), face, uv, size, mirror, presence, int(rng.integers(0, 3))))
    return Category(name, False, body_kind, body_size, tuple(parts))


def _add(builder: Builder, kind: str, centre, size, slot: int, textured: bool = False, axis: str = "z"):
    size = np.asarray(size, float)
    if kind == "box":
        builder.box(centre, size, slot, textured=textured)
    elif kind == "ellipsoid":
        builder.ellipsoid(centre, size / 2, slot=slot, textured=textured)
    else:
        along = "xyz".index(axis)
        across = [k for k in range(3) if k != along]
        radius = size[across[0]] / 2
        ratio = size[across[1]] / max(size[across[0]], 1e-9)
        top = radius if kind == "cylinder" else radius * 0.25
        builder.frustum(centre, radius, top, size[along], axis=axis, segments=14, slot=slot, textured=textured,
                        ry=ratio if axis == "z" else None)


def build_instance(category: Category, rng: np.random.Generator) -> Mesh:
    """One instance of ``category`` (``rng`` fixes it), in the CAD frame, scaled into a sphere of radius 0.45."""
    b = Builder()
    if category.symmetric:
        z = 0.0
        for kind, radius, height in category.levels:
            r, h = radius * rng.uniform(0.8, 1.25), height * rng.uniform(0.8, 1.25)
            _add(b, kind, [0, 0, z + h / 2], [2 * r, 2 * r, h], slot=len(b.parts) % 3, textured=not b.parts)
            z += h
        return b.build()
    body = np.asarray(category.body_size) * rng.uniform(0.8, 1.25, 3)
    half = body / 2
    if category.body_kind == "cylinder":  # lying along y, as a fuselage or a barrel
        b.frustum([0, 0, 0], half[0], half[0], body[1], axis="y", segments=16, slot=0, textured=True)
    else:
        _add(b, category.body_kind, [0, 0, 0], body, slot=0, textured=True)
    for part in category.parts:
        if rng.random() >= part.presence:
            continue
        size = np.asarray(part.size) * body.max() * rng.uniform(0.75, 1.3, 3)
        uv = np.clip(np.asarray(part.uv) + rng.uniform(-0.06, 0.06, 2), -0.5, 0.5)
        axis, sign = _NORMAL[part.face]
        centre = _face_point(part.face, uv, half)
        centre[axis] += sign * size[axis] / 2 * 0.9  # sits on the face, slightly sunk into it
        along = "xyz"[axis] if part.kind in ("cylinder", "cone") else "z"
        for mirrored in ((False, True) if part.mirror else (False,)):
            c = centre * np.array([-1.0 if mirrored else 1.0, 1.0, 1.0])
            _add(b, part.kind, c, size, part.slot, axis=along)
    return b.build()


def category_name(index: int) -> str:
    return f"shape{index:03d}"
