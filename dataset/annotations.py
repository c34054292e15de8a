"""The annotation table (ObjectNet3D.txt / Pascal3D.txt / Pix3D.txt / Synthetic.txt) and its row filters.

The table is a CSV with a header row and these 19 columns (PoseFromShape layout; read by name, so an extra
leading index column or a different column order is fine; ``cls_name`` is accepted for ``cat``):

    source, set, cat, im_name, object, cad_index, truncated, occluded, difficult, azimuth, elevation,
    inplane_rotation, left, upper, right, lower, has_keypoints, distance, im_path

Angles are raw annotation degrees; the box is (left, upper, right, lower) in pixels; ``im_path`` is relative to
the dataset root. The whole table is parsed once into numpy arrays.

PoseFromShape's Pix3D evaluation files (``Pix3D.txt`` and the Georgakis et al. subsets ``bed_annotation.txt``,
``chair_annotation.txt``, ``desk_annotation.txt``) have another layout, recognised by its header:

    img_source (or resized_crop_source), model_source, truncated, occluded, slightly_occluded, image_path,
    cat_id, example_id, model_name, azimuth, elevation, inplane_rotation

with the images already cropped to the object (the box is the whole image), azimuth and elevation in degrees
and the in-plane rotation in **radians**. PoseFromShape evaluates on the label-space angles
``(azimuth, elevation + 90, degrees(inplane) + 180)``, with no ``360 - a`` flip of the azimuth; the reader
converts each row to the raw angles that give exactly those labels (:func:`pix3d_raw_angles`), and keeps
PoseFromShape's filter by marking a row ``occluded`` when it is occluded or slightly occluded (evaluation keeps
rows that are neither truncated nor occluded). Every row is a val row.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from auxiliary.errors import InputError

COLUMNS = ("source", "set", "cat", "im_name", "object", "cad_index", "truncated", "occluded", "difficult",
           "azimuth", "elevation", "inplane_rotation", "left", "upper", "right", "lower", "has_keypoints",
           "distance", "im_path")
TEXT_COLUMNS = ("source", "set", "cat", "im_name", "im_path")
FLAG_COLUMNS = ("truncated", "occluded", "difficult", "has_keypoints")
ALIASES = {"cls_name": "cat"}
PIX3D_COLUMNS = ("model_source", "truncated", "occluded", "slightly_occluded", "image_path", "cat_id",
                 "example_id", "model_name", "azimuth", "elevation", "inplane_rotation")


def pix3d_raw_angles(azimuth: float, elevation: float, inplane_rad: float) -> tuple[float, float, float]:
    """A PoseFromShape Pix3D row's angles -> raw annotation degrees (see the module docstring): the azimuth
    column is already a label-space azimuth, so the raw azimuth is ``(360 - a) mod 360``; the in-plane column is
    in radians."""
    theta = math.degrees(inplane_rad)
    theta = (theta + 180.0) % 360.0 - 180.0
    return (360.0 - azimuth % 360.0) % 360.0, elevation, theta


def _pix3d_values(row: list, where: dict, root: Path) -> dict:
    """One row of PoseFromShape's Pix3D layout as the 19 columns (the box is the whole cropped image)."""
    image_path = row[where["image_path"]].strip()
    azimuth, elevation, inplane = pix3d_raw_angles(float(row[where["azimuth"]]), float(row[where["elevation"]]),
                                                   float(row[where["inplane_rotation"]]))
    try:
        with Image.open(root / image_path) as image:  # reads the header only
            width, height = image.size
    except FileNotFoundError:
        raise ValueError(f"image {root / image_path} does not exist") from None
    except OSError as error:
        raise ValueError(f"image {root / image_path} cannot be decoded: {error}") from None
    occluded = _parse_flag(row[where["occluded"]]) or _parse_flag(row[where["slightly_occluded"]])
    return {"source": row[0], "set": "val", "cat": row[where["cat_id"]].strip(), "im_name": Path(image_path).stem,
            "object": 0.0, "cad_index": 0.0, "truncated": _parse_flag(row[where["truncated"]]),
            "occluded": int(occluded), "difficult": 0, "azimuth": azimuth, "elevation": elevation,
            "inplane_rotation": inplane, "left": 0.0, "upper": 0.0, "right": float(width), "lower": float(height),
            "has_keypoints": 1, "distance": 0.0, "im_path": image_path}


class AnnotationError(InputError):
    """A problem in an annotation table, with the file and line it was found in."""


def _parse_flag(value: str) -> int:
    value = value.strip()
    if value in ("True", "true"):
        return 1
    if value in ("False", "false", ""):
        return 0
    return int(float(value))


def _row_problem(values: dict) -> str | None:
    """What is wrong with one parsed row's angles and box, or None."""
    azimuth, elevation, inplane = values["azimuth"], values["elevation"], values["inplane_rotation"]
    if not all(math.isfinite(v) for v in (azimuth, elevation, inplane)):
        return f"non-finite angle (azimuth, elevation, inplane_rotation) = {(azimuth, elevation, inplane)}"
    if not -90.0 <= elevation <= 90.0:
        return f"elevation {elevation} outside [-90, 90]"
    if not (-360.0 <= azimuth <= 360.0 and -360.0 <= inplane <= 360.0):
        return f"azimuth {azimuth} or inplane_rotation {inplane} outside [-360, 360]"
    box = tuple(values[c] for c in ("left", "upper", "right", "lower"))
    if not all(math.isfinite(v) for v in box):
        return f"non-finite box (left, upper, right, lower) = {box}"
    if box[2] <= box[0] or box[3] <= box[1]:
        return f"empty or inverted box (left, upper, right, lower) = {box}"
    if box[2] <= 0 or box[3] <= 0:
        return f"box (left, upper, right, lower) = {box} lies outside the image (right or lower edge <= 0)"
    if not values["im_path"].strip():
        return "empty im_path"
    return None


@dataclass
class AnnotationTable:
    """The parsed table: one numpy array per column, plus ``line`` (each row's line number in the file) and
    ``problems`` (``"<file>, line <n>: <problem>"`` for every row dropped by ``skip_bad``)."""

    path: Path
    columns: dict
    problems: list = field(default_factory=list)

    def __len__(self):
        return len(self.columns["cat"])

    def __getitem__(self, name):
        return self.columns[name]

    @classmethod
    def read(cls, path, skip_bad: bool = False) -> "AnnotationTable":
        """Parse and check every row. A bad row (missing fields, a non-numeric, NaN or out-of-range angle, an
        empty, inverted or off-image box) raises :class:`AnnotationError` naming the file and line, or, with
        ``skip_bad``, is dropped and listed in ``table.problems``."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"annotation table {path} does not exist")
        problems, rows = [], []
        with open(path, newline="") as f:
            reader = csv.reader(f)
            try:
                header = [ALIASES.get(h.strip(), h.strip()) for h in next(reader)]
            except StopIteration:
                raise AnnotationError(f"{path}: the file is empty (expected a header row)") from None
            except (csv.Error, UnicodeDecodeError) as error:
                raise AnnotationError(f"{path}: not a CSV annotation table ({error})") from None
            pix3d = all(c in header for c in PIX3D_COLUMNS)
            missing = [c for c in COLUMNS if c not in header]
            if missing and not pix3d:
                raise AnnotationError(f"{path}: missing column(s) {', '.join(missing)} in the header")
            where = {c: header.index(c) for c in (PIX3D_COLUMNS if pix3d else COLUMNS)}
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except (csv.Error, UnicodeDecodeError) as error:
                    problems.append(f"{path}, line {reader.line_num}: unreadable row ({error})")
                    continue
                if not row:
                    continue
                problem, values = None, {"line": reader.line_num}
                if len(row) < len(header):
                    problem = f"{len(row)} fields, expected {len(header)}"
                elif pix3d:
                    try:
                        values.update(_pix3d_values(row, where, path.parent))
                    except ValueError as error:
                        problem = str(error)
                    problem = problem or _row_problem(values)
                else:
                    for c in COLUMNS:
                        value = row[where[c]]
                        if c in TEXT_COLUMNS:
                            values[c] = value
                            continue
                        try:
                            values[c] = (_parse_flag if c in FLAG_COLUMNS else float)(value)
                        except ValueError:
                            problem = f"column {c!r} is not a number: {value!r}"
                            break
                    problem = problem or _row_problem(values)
                if problem:
                    problems.append(f"{path}, line {reader.line_num}: {problem}")
                else:
                    rows.append(values)
        if problems and not skip_bad:
            more = f" (and {len(problems) - 1} more bad rows; `python -m dataset.check` lists them all)" \
                if len(problems) > 1 else ""
            raise AnnotationError(problems[0] + more)
        columns = {}
        for c in COLUMNS + ("line",):
            if c in TEXT_COLUMNS:
                columns[c] = np.array([r[c] for r in rows], dtype=object)
            else:
                columns[c] = np.array([r[c] for r in rows], dtype=np.int64 if c == "line" else np.float64)
        return cls(path, columns, problems)

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
