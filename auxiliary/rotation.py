"""Rotations from viewpoint angles, geodesic error, and the Pascal3D+ camera model.

The object-to-camera rotation for raw annotation angles (degrees) is the StarMap / Pascal3D+ convention

    R = Rz(theta) . Rx(elevation - 90 deg) . Rz(-azimuth)

with right-handed, counter-clockwise elementary rotations. The camera sits at
``distance * (cos e sin a, -cos e cos a, sin e)`` in the object (CAD) frame, z up, and looks along its own -z
axis; x points right and y up in the image. The geodesic error between two rotations is
``arccos((trace(R1^T R2) - 1) / 2)``.
"""
from __future__ import annotations

import numpy as np

from auxiliary.angles import label_to_raw


def _rz(t, xp=np):
    """Counter-clockwise rotations about z by angles t (radians); ``xp`` is numpy or torch."""
    c, s, o, z = xp.cos(t), xp.sin(t), xp.ones_like(t), xp.zeros_like(t)
    return xp.stack([xp.stack([c, -s, z], -1), xp.stack([s, c, z], -1), xp.stack([z, z, o], -1)], -2)


def _rx(t, xp=np):
    c, s, o, z = xp.cos(t), xp.sin(t), xp.ones_like(t), xp.zeros_like(t)
    return xp.stack([xp.stack([o, z, z], -1), xp.stack([z, c, -s], -1), xp.stack([z, s, c], -1)], -2)


def viewpoint_to_rotation(azimuth, elevation, inplane) -> np.ndarray:
    """Raw angles in degrees (broadcastable arrays) -> rotation matrices (..., 3, 3), float64."""
    a, e, t = np.broadcast_arrays(*(np.radians(np.asarray(x, dtype=np.float64))
                                    for x in (azimuth, elevation, inplane)))
    return _rz(t) @ _rx(e - np.pi / 2) @ _rz(-a)


def label_to_rotation(labels) -> np.ndarray:
    """Label-space angles (..., 3) in degrees -> rotation matrices (..., 3, 3)."""
    labels = np.asarray(labels, dtype=np.float64)
    return viewpoint_to_rotation(*label_to_raw(labels[..., 0], labels[..., 1], labels[..., 2]))


def geodesic_distance(r1, r2) -> np.ndarray:
    """Angle in degrees of the relative rotation R1^T R2, for stacks (..., 3, 3)."""
    trace = np.einsum("...ij,...ij->...", np.asarray(r1, np.float64), np.asarray(r2, np.float64))
    return np.degrees(np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0)))


def label_geodesic_error(pred_labels, gt_labels) -> np.ndarray:
    """Geodesic error in degrees between label-space predictions and ground truth, (N, 3) -> (N,)."""
    return geodesic_distance(label_to_rotation(pred_labels), label_to_rotation(gt_labels))


def camera_points(points, azimuth, elevation, inplane, distance) -> np.ndarray:
    """Object-frame points (N, 3) -> camera-frame points (N, 3); the camera looks along -z."""
    rotation = viewpoint_to_rotation(azimuth, elevation, inplane)
    return np.asarray(points, np.float64) @ rotation.T - np.array([0.0, 0.0, distance])


def project_points(points, azimuth, elevation, inplane, distance, focal, principal) -> tuple[np.ndarray, np.ndarray]:
    """Pinhole projection of object-frame points to pixel coordinates (u right, v down) and their depths."""
    cam = camera_points(points, azimuth, elevation, inplane, distance)
    depth = -cam[:, 2]
    u = principal[0] + focal * cam[:, 0] / depth
    v = principal[1] - focal * cam[:, 1] / depth
    return np.stack([u, v], axis=1), depth


def label_geodesic_error_torch(pred_labels, gt_labels):
    """Torch version of :func:`label_geodesic_error` (degrees, (N,)), in float64 on the inputs' device."""
    import torch

    def rotation(labels):
        labels = torch.deg2rad(labels.to(torch.float64))
        # raw angles from labels: -azimuth = azimuth label, elevation - 90 = label - 180, in-plane = label - 180
        return (_rz(labels[:, 2] - torch.pi, torch) @ _rx(labels[:, 1] - torch.pi, torch)
                @ _rz(labels[:, 0], torch))
    trace = (rotation(pred_labels) * rotation(gt_labels)).sum(dim=(-1, -2))
    return torch.rad2deg(torch.arccos(((trace - 1) / 2).clamp(-1, 1)))
