"""A small z-buffered triangle rasteriser with Lambert shading (NumPy, vectorised over triangles and pixels).

The camera follows :mod:`auxiliary.rotation`: object-frame points go through R(azimuth, elevation, in-plane),
the object sits ``distance`` in front of a pinhole camera looking along -z, and pixels have u to the right and
v downwards. Returns an RGB float image in [0, 1] and the object's mask.
"""
from __future__ import annotations

import numpy as np

from auxiliary.rotation import camera_points, project_points


def rasterize(points_2d, depth, faces, width, height):
    """Nearest triangle per pixel -> (face id (H, W) with -1 for background, barycentrics (H, W, 3))."""
    tri = points_2d[faces]                       # (F, 3, 2)
    tri_depth = depth[faces]                     # (F, 3)
    x0 = np.clip(np.floor(tri[..., 0].min(1)).astype(int), 0, width - 1)
    x1 = np.clip(np.ceil(tri[..., 0].max(1)).astype(int), 0, width - 1)
    y0 = np.clip(np.floor(tri[..., 1].min(1)).astype(int), 0, height - 1)
    y1 = np.clip(np.ceil(tri[..., 1].max(1)).astype(int), 0, height - 1)
    visible = (tri_depth > 0).all(1) & (x1 >= x0) & (y1 >= y0)
    spans_x, spans_y = x1 - x0 + 1, y1 - y0 + 1
    counts = np.where(visible, spans_x * spans_y, 0)
    face = np.repeat(np.arange(len(faces)), counts)
    if face.size == 0:
        return np.full((height, width), -1), np.zeros((height, width, 3))
    local = np.arange(face.size) - np.repeat(np.cumsum(counts) - counts, counts)
    px = x0[face] + local % spans_x[face]
    py = y0[face] + local // spans_x[face]
    # barycentric coordinates at pixel centres
    a, b, c = tri[face, 0], tri[face, 1], tri[face, 2]
    cx, cy = px + 0.5, py + 0.5
    den = (b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1])
    ok = np.abs(den) > 1e-12
    den = np.where(ok, den, 1.0)
    w0 = ((b[:, 1] - c[:, 1]) * (cx - c[:, 0]) + (c[:, 0] - b[:, 0]) * (cy - c[:, 1])) / den
    w1 = ((c[:, 1] - a[:, 1]) * (cx - c[:, 0]) + (a[:, 0] - c[:, 0]) * (cy - c[:, 1])) / den
    w2 = 1 - w0 - w1
    inside = ok & (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
    face, px, py = face[inside], px[inside], py[inside]
    bary = np.stack([w0[inside], w1[inside], w2[inside]], 1)
    z = (bary * tri_depth[face]).sum(1)
    pixel = py * width + px
    order = np.lexsort((z, pixel))               # nearest first within each pixel
    first = order[np.r_[True, pixel[order][1:] != pixel[order][:-1]]]
    face_map = np.full(height * width, -1)
    bary_map = np.zeros((height * width, 3))
    face_map[pixel[first]] = face[first]
    bary_map[pixel[first]] = bary[first]
    return face_map.reshape(height, width), bary_map.reshape(height, width, 3)


def render(mesh, part_colors, azimuth, elevation, inplane, distance, focal, principal, width, height,
           light_dir, ambient=0.35, texture_freq=None):
    """Shade ``mesh`` seen from the viewpoint -> (rgb (H, W, 3) in [0, 1], mask (H, W) bool).

    Colours come from ``part_colors[mesh.slot[part]]``, or, when the mesh has ``vertex_colors`` (a CAD model's
    own colours or texture), from those interpolated across each triangle."""
    cam = camera_points(mesh.vertices, azimuth, elevation, inplane, distance)
    points_2d, depth = project_points(mesh.vertices, azimuth, elevation, inplane, distance, focal, principal)
    face_map, bary = rasterize(points_2d, depth, mesh.faces, width, height)
    mask = face_map >= 0
    rgb = np.zeros((height, width, 3))
    if not mask.any():
        return rgb, mask
    tri = cam[mesh.faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    centre = tri.mean(1)
    normal *= np.where((normal * centre).sum(1) > 0, -1.0, 1.0)[:, None]   # two-sided: face the camera
    light = np.asarray(light_dir, float) / np.linalg.norm(light_dir)
    shade = ambient + (1 - ambient) * np.clip(normal @ light, 0, 1)       # (F,)
    face = face_map[mask]
    part = mesh.part[face]
    if getattr(mesh, "vertex_colors", None) is not None:
        base = (bary[mask][:, :, None] * mesh.vertex_colors[mesh.faces[face]]).sum(1)
    else:
        base = part_colors[mesh.slot[part]]
    color = base * shade[face][:, None]
    if texture_freq is not None:
        textured = mesh.textured[part]
        if textured.any():
            obj = (bary[mask][:, :, None] * mesh.vertices[mesh.faces[face]]).sum(1)
            stripes = 0.8 + 0.2 * np.sign(np.sin(obj @ np.asarray(texture_freq, float)))
            color = np.where(textured[:, None], color * stripes[:, None], color)
    rgb[mask] = color
    return np.clip(rgb, 0, 1), mask
