"""The annotation table (ObjectNet3D.txt / Pascal3D.txt / Pix3D.txt / Synthetic.txt) and its row filters.

The table is a CSV with a header row and these 19 columns (PoseFromShape layout; read by name, so an extra
leading index column or a different column order is fine; ``cls_name`` is accepted for ``cat``):

    source, set, cat, im_name, object, cad_index, truncated, occluded, difficult, azimuth, elevation,
    inplane_rotation, left, upper, right, lower, has_keypoints, distance, im_path

Angles are raw annotation degrees; the box is (left, upper, right, lower) in pixels; ``im_path`` is relative to
the dataset root. The whole table is parsed once into numpy arrays.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

COLUMNS = ("source", "set", "cat", "im_name", "object", "cad_index", "truncated", "occluded", "difficult",
           "azimuth", "elevation", "inplane_rotation", "left", "upper", "right", "lower", "has_keypoints",
           "distance", "im_path")
TEXT_COLUMNS = ("source", "set", "cat", "im_name", "im_path")
FLAG_COLUMNS = ("truncated", "occluded", "difficult", "has_keypoints")
ALIASES = {"cls_name": "cat"}


class AnnotationError(ValueError):
    """A problem in an annotation table, with the file and row it was found in."""


def _parse_flag(value: str) -> int:
    value = value.strip()
    if value in ("True", "true"):
        return 1
    if value in ("False", "false", ""):
        return 0
    return int(float(value))


@dataclass
class AnnotationTable:
    path: Path
    columns: dict

    def __len__(self):
        return len(self.columns["cat"])

    def __getitem__(self, name):
        return self.columns[name]

    @classmethod
    def read(cls, path) -> "AnnotationTable":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"annotation table {path} does not exist")
        with open(path, newline="") as f:
            reader = csv.reader(f)
            try:
                header = [ALIASES.get(h.strip(), h.strip()) for h in next(reader)]
            except StopIteration:
                raise AnnotationError(f"{path}: the file is empty (expected a header row)") from None
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise AnnotationError(f"{path}: missing column(s) {', '.join(missing)} in the header")
            where = {c: header.index(c) for c in COLUMNS}
            values = {c: [] for c in COLUMNS}
            for row_number, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) < len(header):
                    raise AnnotationError(f"{path}, line {row_number}: {len(row)} fields, expected {len(header)}")
                for c in COLUMNS:
                    values[c].append(row[where[c]])
        columns = {}
        for c in COLUMNS:
            if c in TEXT_COLUMNS:
                columns[c] = np.array(values[c], dtype=object)
                continue
            parse = _parse_flag if c in FLAG_COLUMNS else float
            out = np.empty(len(values[c]), dtype=np.float64)
            for i, v in enumerate(values[c]):
                try:
                    out[i] = parse(v)
                except ValueError:
                    raise AnnotationError(f"{path}, line {i + 2}: column {c!r} is not a number: {v!r}") from None
            columns[c] = out
        table = cls(path, columns)
        table._validate()
        return table

    def _validate(self):
        angles = np.stack([self["azimuth"], self["elevation"], self["inplane_rotation"]], 1)
        bad = ~np.isfinite(angles).all(1) | (np.abs(self["elevation"]) > 90) | (np.abs(self["inplane_rotation"]) > 360)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise AnnotationError(f"{self.path}, line {i + 2}: invalid angles (azimuth, elevation, inplane_rotation)"
                                  f" = {tuple(angles[i])}; elevation must lie in [-90, 90]")
        box = np.stack([self["left"], self["upper"], self["right"], self["lower"]], 1)
        bad = ~np.isfinite(box).all(1) | (box[:, 2] <= box[:, 0]) | (box[:, 3] <= box[:, 1])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise AnnotationError(f"{self.path}, line {i + 2}: empty or inverted box (left, upper, right, lower)"
                                  f" = {tuple(box[i])}")

    def select(self, split: str, classes=None, exclude=(), keypoint: bool = False, shot: int | None = None,
               seed: int = 0) -> np.ndarray:
        """Row indices of one split after the reference filters.

        ``split='train'``: set == train, elevation != 90, not difficult; with ``keypoint`` also untruncated,
        unoccluded and keypoint-annotated (PoseFromShape's --keypoint). ``split='val'`` (every evaluation):
        set == val, elevation != 90, not difficult, not truncated, not occluded, has_keypoints. ``classes``
        keeps only those categories, ``exclude`` drops some (--novel), and ``shot`` draws K rows per class
        without replacement with a generator seeded by ``seed``.
        """
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', not {split!r}")
        keep = (self["set"] == split) & (self["elevation"] < 90) & (self["difficult"] == 0)
        if split == "val" or keypoint:
            keep &= (self["truncated"] == 0) & (self["occluded"] == 0) & (self["has_keypoints"] == 1)
        if classes is not None:
            keep &= np.isin(self["cat"], list(classes))
        if exclude:
            keep &= ~np.isin(self["cat"], list(exclude))
        rows = np.flatnonzero(keep)
        if shot is not None:
            rng = np.random.default_rng(seed)
            picked = []
            for cat in sorted(set(self["cat"][rows].tolist())):
                candidates = rows[self["cat"][rows] == cat]
                if len(candidates) < shot:
                    raise AnnotationError(f"{self.path}: class {cat!r} has {len(candidates)} {split} rows, "
                                          f"fewer than --shot {shot}")
                picked.append(np.sort(rng.choice(candidates, size=shot, replace=False)))
            rows = np.sort(np.concatenate(picked)) if picked else rows[:0]
        return rows


def shape_path(root, shape_dir: str, cat: str, cad_index) -> Path:
    """Point cloud of a row: <root>/<shape_dir>/<cat>/<cad_index as 2 digits>/compressed.ply."""
    return Path(root) / shape_dir / cat / f"{int(cad_index):02d}" / "compressed.ply"


def write_table(path, rows) -> None:
    """Write rows (dicts with the 19 columns) as an annotation table; used by the generator and prepare scripts."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.10g}" if isinstance(v, float) and math.isfinite(v) else v)
                             for k, v in row.items()})
    tmp.replace(path)
