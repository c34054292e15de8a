"""Procedural 3D shapes for the synthetic dataset, built from boxes, frusta (cylinders, cones) and ellipsoids.

Every shape is a triangle mesh in the CAD frame of Pascal3D+ / ObjectNet3D: z up, the object's front facing
-y (so azimuth 0 looks at the front), scaled to fit a sphere of radius 0.45 around the origin. Parts carry a
colour slot and a texture flag; the renderer picks the colours.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_AXES = {"z": np.eye(3), "x": np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]], float),
         "y": np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], float)}


@dataclass
class Mesh:
    vertices: np.ndarray   # (V, 3) float64
    faces: np.ndarray      # (F, 3) int64
    part: np.ndarray       # (F,) int64, part id of each face
    slot: np.ndarray       # (P,) colour slot of each part
    textured: np.ndarray   # (P,) bool
    vertex_colors: np.ndarray | None = None  # (V, 3) in [0, 1]: a CAD model's own colours, used instead of slots

    def sample_surface(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """Area-weighted uniform samples on the surface, (count, 3)."""
        tri = self.vertices[self.faces]
        area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
        face = rng.choice(len(tri), size=count, p=area / area.sum())
        u, v = rng.random(count), rng.random(count)
        flip = u + v > 1
        u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
        t = tri[face]
        return t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])


class Builder:
    def __init__(self):
        self.parts = []  # (vertices, faces, slot, textured)

    def add(self, vertices, faces, slot=0, textured=False):
        self.parts.append((np.asarray(vertices, float), np.asarray(faces, np.int64), slot, textured))
        return self

    def box(self, center, size, slot=0, textured=False):
        c, s = np.asarray(center, float), np.asarray(size, float) / 2
        corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
        faces = [[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                 [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]]
        return self.add(c + corners * s, faces, slot, textured)

    def frustum(self, center, r_bottom, r_top, height, axis="z", segments=16, slot=0, textured=False, ry=None):
        """A cylinder (r_bottom == r_top), cone or frustum along ``axis``; ``ry`` scales the second radius axis."""
        t = np.linspace(0, 2 * np.pi, segments, endpoint=False)
        ring = np.stack([np.cos(t), np.sin(t) * (ry if ry else 1.0)], 1)
        bottom = np.c_[ring * r_bottom, np.full(segments, -height / 2)]
        top = np.c_[ring * r_top, np.full(segments, height / 2)]
        verts = np.vstack([bottom, top, [[0, 0, -height / 2], [0, 0, height / 2]]])
        faces = []
        for i in range(segments):
            j = (i + 1) % segments
            faces += [[i, j, segments + j], [i, segments + j, segments + i],
                      [2 * segments, j, i], [2 * segments + 1, segments + i, segments + j]]
        return self.add(np.asarray(center, float) + verts @ _AXES[axis].T, faces, slot, textured)

    def cylinder(self, center, radius, height, axis="z", **kw):
        return self.frustum(center, radius, radius, height, axis, **kw)

    def ellipsoid(self, center, radii, rings=6, segments=12, slot=0, textured=False):
        lat = np.linspace(-np.pi / 2, np.pi / 2, rings + 1)[1:-1]
        lon = np.linspace(0, 2 * np.pi, segments, endpoint=False)
        la, lo = np.meshgrid(lat, lon, indexing="ij")
        ring = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], -1).reshape(-1, 3)
        verts = np.vstack([ring, [[0, 0, -1], [0, 0, 1]]]) * np.asarray(radii, float)
        n_ring, south, north = rings - 1, len(ring), len(ring) + 1
        faces = []
        for r in range(n_ring):
            for s in range(segments):
                a, b = r * segments + s, r * segments + (s + 1) % segments
                if r + 1 < n_ring:
                    faces += [[a, b, b + segments], [a, b + segments, a + segments]]
            if r == 0:
                faces += [[south, (s + 1) % segments, s] for s in range(segments)]
            if r == n_ring - 1:
                base = r * segments
                faces += [[north, base + s, base + (s + 1) % segments] for s in range(segments)]
        return self.add(np.asarray(center, float) + verts, faces, slot, textured)

    def build(self, radius: float = 0.45) -> Mesh:
        verts, faces, part, slot, textured = [], [], [], [], []
        offset = 0
        for k, (v, f, s, t) in enumerate(self.parts):
            verts.append(v)
            faces.append(f + offset)
            part.append(np.full(len(f), k))
            slot.append(s)
            textured.append(t)
            offset += len(v)
        vertices = np.vstack(verts)
        vertices -= (vertices.min(0) + vertices.max(0)) / 2
        vertices *= radius / np.linalg.norm(vertices, axis=1).max()
        return Mesh(vertices, np.vstack(faces), np.concatenate(part), np.array(slot), np.array(textured))


def _legs(b, xs, ys, height, thickness, slot):
    for x in xs:
        for y in ys:
            b.box([x, y, height / 2], [thickness, thickness, height], slot)


def chair(rng):
    b, w, d, h = Builder(), rng.uniform(0.4, 0.55), rng.uniform(0.4, 0.55), rng.uniform(0.4, 0.5)
    t, back = rng.uniform(0.04, 0.07), rng.uniform(0.4, 0.65)
    _legs(b, (-w / 2 + t, w / 2 - t), (-d / 2 + t, d / 2 - t), h, t, 1)
    b.box([0, 0, h], [w, d, 0.06], 0, textured=True)
    b.box([0, d / 2 - 0.03, h + back / 2], [w, 0.05, back], 0, textured=True)
    return b


def table(rng):
    b, w, d, h = Builder(), rng.uniform(0.8, 1.1), rng.uniform(0.45, 0.65), rng.uniform(0.5, 0.65)
    t = rng.uniform(0.05, 0.08)
    _legs(b, (-w / 2 + t, w / 2 - t), (-d / 2 + t, d / 2 - t), h, t, 1)
    b.box([0, 0, h], [w, d, 0.05], 0, textured=True)
    b.box([rng.uniform(-0.2, 0.2) * w, -d / 2 + 0.1, h - 0.08], [w * 0.35, 0.2, 0.1], 2)  # drawer at the front
    b.box([0, d / 2 - t, h * 0.25], [w - 2 * t, t, t], 1)  # stretcher at the back
    return b


def bench(rng):
    b, w, d, h = Builder(), rng.uniform(1.0, 1.4), rng.uniform(0.35, 0.45), rng.uniform(0.35, 0.45)
    t = 0.06
    _legs(b, (-w / 2 + t, w / 2 - t), (-d / 2 + t, d / 2 - t), h, t, 1)
    b.box([0, 0, h], [w, d, 0.05], 0, textured=True)
    b.box([0, d / 2, h + 0.25], [w, 0.04, rng.uniform(0.2, 0.35)], 0, textured=True)
    for x in (-w / 2, w / 2):
        b.box([x, 0, h + 0.12], [0.05, d, 0.04], 1)
    return b


def sofa(rng):
    b, w, d = Builder(), rng.uniform(1.0, 1.5), rng.uniform(0.55, 0.7)
    b.box([0, 0, 0.15], [w, d, 0.3], 0, textured=True)
    b.box([0, d / 2 - 0.08, 0.45], [w, 0.16, rng.uniform(0.3, 0.5)], 0, textured=True)
    arm = rng.uniform(0.1, 0.18)
    for x in (-w / 2 + arm / 2, w / 2 - arm / 2):
        b.box([x, 0, 0.35], [arm, d, 0.2], 1)
    for x in np.linspace(-w / 4, w / 4, 2):
        b.box([x, -0.03, 0.33], [w / 2 - arm, d - 0.2, 0.07], 2)
    return b


def bed(rng):
    b, w, d = Builder(), rng.uniform(0.8, 1.1), rng.uniform(1.3, 1.7)
    b.box([0, 0, 0.2], [w, d, 0.25], 1)
    b.box([0, 0, 0.37], [w * 0.95, d * 0.95, 0.1], 0, textured=True)
    head = rng.uniform(0.7, 1.0)
    b.box([0, d / 2, head / 2], [w, 0.08, head], 1)                 # tall headboard at the back
    for x in (-w / 2, w / 2):
        b.box([x, d / 2, head / 2 + 0.05], [0.08, 0.08, head + 0.1], 1)  # head posts
    b.box([0, -d / 2, 0.25], [w, 0.05, 0.25], 1)                    # low footboard at the front
    b.box([0, d / 2 - 0.2, 0.46], [w * 0.7, 0.22, 0.08], 2)         # pillow
    return b


def bookshelf(rng):
    b, w, d, h = Builder(), rng.uniform(0.6, 1.0), rng.uniform(0.25, 0.35), rng.uniform(1.0, 1.6)
    t = 0.04
    b.box([0, d / 2, h / 2], [w, t, h], 1)
    for x in (-w / 2, w / 2):
        b.box([x, 0, h / 2], [t, d, h], 0, textured=True)
    shelves = int(rng.integers(3, 6))
    for z in np.linspace(0.02, h, shelves):
        b.box([0, 0, z], [w, d, t], 0)
    for k in range(shelves - 1):  # a few books on some shelves
        z0 = 0.02 + k * h / (shelves - 1)
        n = int(rng.integers(1, 5))
        x0 = rng.uniform(-w / 2 + 0.05, 0)
        b.box([x0 + n * 0.03, 0.02, z0 + 0.1], [n * 0.06, d * 0.7, 0.18], 2)
    return b


def car(rng):
    b, w, length = Builder(), rng.uniform(0.45, 0.55), rng.uniform(1.1, 1.4)
    b.box([0, 0, 0.22], [w, length, 0.2], 0, textured=True)
    cab = rng.uniform(0.45, 0.6) * length
    b.box([0, length / 2 - cab / 2 - 0.1 * length, 0.4], [w * 0.9, cab, 0.17], 2)
    r = rng.uniform(0.09, 0.12)
    for x in (-w / 2, w / 2):
        for y in (-length * 0.32, length * 0.32):
            b.cylinder([x, y, r], r, 0.08, axis="x", segments=12, slot=1)
    b.box([0, -length / 2, 0.25], [w * 0.8, 0.03, 0.06], 1)  # front grille
    return b


def aeroplane(rng):
    b, length, span = Builder(), rng.uniform(1.2, 1.5), rng.uniform(1.0, 1.4)
    r = rng.uniform(0.07, 0.1)
    b.cylinder([0, 0, 0], r, length, axis="y", segments=12, slot=0, textured=True)
    b.frustum([0, -length / 2 - 0.12, 0], r, 0.01, 0.24, axis="y", segments=12, slot=0)
    wing_y = rng.uniform(-0.15, 0.05)
    b.box([0, wing_y, -0.02], [span, rng.uniform(0.2, 0.3), 0.03], 1)
    b.box([0, length / 2 - 0.06, 0.02], [span * 0.35, 0.12, 0.02], 1)
    b.box([0, length / 2 - 0.06, 0.15], [0.02, 0.15, 0.25], 2)  # tail fin
    for x in (-span / 4, span / 4):
        b.cylinder([x, wing_y - 0.05, -0.07], 0.04, 0.18, axis="y", segments=10, slot=2)
    return b


def guitar(rng):
    b = Builder()
    lower, upper = rng.uniform(0.22, 0.28), rng.uniform(0.16, 0.2)
    b.cylinder([0, 0, lower], lower, 0.1, axis="y", segments=18, slot=0, textured=True)
    b.cylinder([0, 0, 2 * lower + upper * 0.6], upper, 0.1, axis="y", segments=18, slot=0, textured=True)
    neck = rng.uniform(0.6, 0.8)
    top = 2 * lower + upper * 1.2
    b.box([0, 0, top + neck / 2], [0.06, 0.05, neck], 1)
    b.box([0.02, 0, top + neck + 0.07], [0.1, 0.05, 0.14], 1)  # head, off-centre
    b.cylinder([0, -0.051, 2 * lower + 0.02], 0.06, 0.01, axis="y", segments=12, slot=2)  # sound hole at the front
    b.box([0, -0.052, lower * 0.7], [0.16, 0.01, 0.03], 2)  # bridge
    b.ellipsoid([0, 0.05, lower], [lower * 0.9, 0.08, lower * 0.9], slot=1)  # rounded back
    b.box([-lower * 0.45, -0.055, lower * 1.3], [lower * 0.35, 0.012, lower * 0.5], 2)  # pick guard, off-centre
    return b


def lamp(rng):
    b, h = Builder(), rng.uniform(0.7, 1.0)
    b.cylinder([0, 0, 0.02], rng.uniform(0.12, 0.18), 0.04, slot=1)
    b.cylinder([0, 0, h / 2], 0.02, h, slot=1)
    reach = rng.uniform(0.25, 0.4)
    b.box([-reach / 2, 0, h], [reach, 0.03, 0.03], 1)  # the arm makes the pose well defined
    b.frustum([-reach, 0, h - 0.08], rng.uniform(0.12, 0.17), 0.06, 0.16, slot=0, textured=True)
    b.box([0.05, -0.08, 0.05], [0.06, 0.04, 0.04], 2)  # switch on the base
    return b


def monitor(rng):
    b, w, h = Builder(), rng.uniform(0.8, 1.1), rng.uniform(0.5, 0.7)
    b.box([0, 0.05, 0.3 + h / 2], [w, 0.05, h], 1)
    b.box([0, 0.024, 0.3 + h / 2], [w * 0.92, 0.005, h * 0.88], 2)  # screen at the front
    b.box([0, 0.12, 0.3 + h / 2], [w * 0.5, 0.1, h * 0.5], 1, textured=True)  # casing at the back
    b.box([0, 0.1, 0.17], [0.06, 0.05, 0.3], 1)
    b.box([0, 0.05, 0.02], [0.4, 0.3, 0.03], 1)
    return b


def mug(rng):
    b, r, h = Builder(), rng.uniform(0.18, 0.25), rng.uniform(0.4, 0.55)
    b.cylinder([0, 0, h / 2], r, h, segments=20, slot=0, textured=True)
    b.cylinder([0, 0, h + 0.005], r * 0.85, 0.01, segments=20, slot=2)
    handle = rng.uniform(0.1, 0.15)
    b.box([r + handle / 2, 0, h * 0.8], [handle, 0.05, 0.05], 1)
    b.box([r + handle / 2, 0, h * 0.25], [handle, 0.05, 0.05], 1)
    b.box([r + handle, 0, h * 0.52], [0.05, 0.05, h * 0.6], 1)
    b.box([0, -r, h * 0.5], [r * 0.8, 0.02, h * 0.3], 2)  # printed logo on the front
    return b


BUILDERS = {"aeroplane": aeroplane, "bed": bed, "bench": bench, "bookshelf": bookshelf, "car": car,
            "chair": chair, "guitar": guitar, "lamp": lamp, "monitor": monitor, "mug": mug, "sofa": sofa,
            "table": table}


def build_shape(category: str, rng: np.random.Generator) -> Mesh:
    return BUILDERS[category](rng).build()
