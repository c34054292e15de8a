"""Viewpoint angle codec: raw annotation angles <-> label space <-> (bin, in-bin offset).

The convention, written once (docs/angles.md repeats it):

* **Raw angles** are the annotation's degrees, as stored in the CSV tables of ObjectNet3D / Pascal3D+ (and
  the tables this project writes): azimuth ``a`` (any real; ObjectNet3D stores some negative values),
  elevation ``e`` in [-90, 90), in-plane rotation ``theta`` in (-180, 180]. The object-to-camera rotation is
  ``R = Rz(theta) . Rx(e - 90 deg) . Rz(-a)`` (see :mod:`auxiliary.rotation`).
* **Label space** shifts every angle into a non-negative range so that it can be binned::

      azimuth_label   = (360 - a) mod 360        in [0, 360)
      elevation_label = e + 90                   in [0, 180)
      inplane_label   = (theta + 180) mod 360    in [0, 360)

  and back: ``a = (360 - azimuth_label) mod 360``, ``e = elevation_label - 90``,
  ``theta = inplane_label - 180``. The reference code truncates labels to integer degrees; we keep them as
  floats, so a round trip is exact to float tolerance.
* **Bins**: with a bin size ``s`` (15 degrees by default) there are 360/s azimuth, 180/s elevation and 360/s
  in-plane bins (24/12/24). ``bin = floor(label / s)`` and the regression target is the position inside the
  bin, ``offset = (label mod s) / s - 0.5`` in [-0.5, 0.5). The network predicts an unbounded value ``r`` per
  bin; the offset it stands for is ``tanh(r) / 2`` and a prediction decodes to
  ``label = (bin + tanh(r[bin]) / 2 + 0.5) * s``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

ANGLE_NAMES = ("azimuth", "elevation", "inplane")
ANGLE_RANGES = (360.0, 180.0, 360.0)


def raw_to_label(azimuth, elevation, inplane):
    """Raw annotation degrees -> label-space degrees (arrays broadcast; float64 numpy)."""
    azimuth = np.asarray(azimuth, dtype=np.float64)
    elevation = np.asarray(elevation, dtype=np.float64)
    inplane = np.asarray(inplane, dtype=np.float64)
    return (np.mod(360.0 - np.mod(azimuth, 360.0), 360.0),
            elevation + 90.0,
            np.mod(inplane + 180.0, 360.0))


def label_to_raw(azimuth_label, elevation_label, inplane_label):
    """Label-space degrees -> raw annotation degrees (azimuth in [0, 360), in-plane in [-180, 180))."""
    azimuth_label = np.asarray(azimuth_label, dtype=np.float64)
    return (np.mod(360.0 - azimuth_label, 360.0),
            np.asarray(elevation_label, dtype=np.float64) - 90.0,
            np.asarray(inplane_label, dtype=np.float64) - 180.0)


def wrap_inplane(theta):
    """Wrap raw in-plane degrees into (-180, 180]."""
    theta = np.mod(np.asarray(theta, dtype=np.float64) + 180.0, 360.0) - 180.0
    return np.where(theta == -180.0, 180.0, theta)


@dataclass(frozen=True)
class ViewpointCodec:
    """Encode label-space angles to (bin, offset) targets and decode network outputs back.

    Works on torch tensors of shape (..., 3) holding (azimuth, elevation, in-plane) labels.
    """

    bin_size: float = 15.0

    def __post_init__(self):
        for span in ANGLE_RANGES:
            if span % self.bin_size:
                raise ValueError(f"bin_size {self.bin_size} must divide 360 and 180")

    @property
    def num_bins(self) -> tuple[int, int, int]:
        return tuple(int(span // self.bin_size) for span in ANGLE_RANGES)

    def encode(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """labels (..., 3) in degrees -> (bins (..., 3) int64, offsets (..., 3) float in [-0.5, 0.5))."""
        labels = labels.to(torch.float64)
        bins = torch.floor(labels / self.bin_size)
        # An elevation of exactly +90 (label 180) would fall into a 13th bin; datasets drop such rows, and
        # the codec clamps so a stray one still gets a valid class index.
        top = torch.tensor(self.num_bins, dtype=bins.dtype, device=bins.device) - 1
        bins = torch.minimum(bins, top)
        offsets = (labels - bins * self.bin_size) / self.bin_size - 0.5
        return bins.long(), offsets.float()

    def decode_bins(self, bins: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """(bins, offsets in [-0.5, 0.5]) -> label-space degrees, the exact inverse of :meth:`encode`."""
        return (bins.to(torch.float64) + offsets.to(torch.float64) + 0.5) * self.bin_size

    def decode(self, outputs) -> torch.Tensor:
        """Network outputs -> label-space degrees (B, 3).

        ``outputs`` is the six-head list ``[cls_azi, cls_ele, cls_inp, reg_azi, reg_ele, reg_inp]``; the bin is
        the arg-max of the classification logits and the offset ``tanh(r[bin]) / 2`` of that bin's regressor.
        """
        angles = []
        for k in range(3):
            bins = outputs[k].argmax(dim=1)
            raw = outputs[k + 3].gather(1, bins[:, None]).squeeze(1)
            angles.append(self.decode_bins(bins, torch.tanh(raw.float()) / 2))
        return torch.stack(angles, dim=1)
