"""Reading the MATLAB annotation records of ObjectNet3D and Pascal3D+ (``Annotations/**/<image>.mat``).

Each file holds ``record`` with ``filename`` and ``objects``, a struct array whose elements carry ``class``,
``bbox`` (x1 y1 x2 y2), ``viewpoint`` (azimuth, elevation, theta, distance, plus the coarse azimuth_coarse /
elevation_coarse used when the fine ones are missing), ``truncated``, ``occluded``, ``difficult``,
``cad_index`` and ``anchors`` (keypoints; ``has_keypoints`` is 1 when the field holds any).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io


def _field(struct, name, default=None):
    value = getattr(struct, name, default)
    if isinstance(value, np.ndarray) and value.size == 0:
        return default
    return value


def _number(value, default=0.0) -> float:
    if value is None:
        return default
    value = np.asarray(value, dtype=np.float64).ravel()
    return float(value[0]) if value.size else default


def read_record(path) -> tuple[str, list[dict]]:
    """(image file name, [object dict]) of one annotation file; raises ValueError naming the file."""
    path = Path(path)
    try:
        record = scipy.io.loadmat(str(path), squeeze_me=True, struct_as_record=False)["record"]
    except Exception as error:
        raise ValueError(f"annotation record {path} cannot be read: {error}") from None
    objects = []
    for obj in np.atleast_1d(_field(record, "objects", np.array([]))):
        view = _field(obj, "viewpoint")
        if view is None:
            continue
        azimuth = _field(view, "azimuth")
        azimuth = _field(view, "azimuth_coarse") if azimuth is None else azimuth
        elevation = _field(view, "elevation")
        elevation = _field(view, "elevation_coarse") if elevation is None else elevation
        anchors = _field(obj, "anchors")
        bbox = np.asarray(_field(obj, "bbox", [0, 0, 0, 0]), dtype=np.float64).ravel()
        objects.append({
            "class": str(_field(obj, "class", "")),
            "azimuth": _number(azimuth), "elevation": _number(elevation),
            "inplane_rotation": _number(_field(view, "theta")), "distance": _number(_field(view, "distance")),
            "left": int(bbox[0]), "upper": int(bbox[1]), "right": int(bbox[2]), "lower": int(bbox[3]),
            "truncated": int(_number(_field(obj, "truncated"))), "occluded": int(_number(_field(obj, "occluded"))),
            "difficult": int(_number(_field(obj, "difficult"))), "cad_index": int(_number(_field(obj, "cad_index"), 1)),
            "has_keypoints": int(anchors is not None),
        })
    return str(_field(record, "filename", path.stem)), objects


def table_row(obj: dict, source: str, split: str, im_name: str, index: int, im_path: str, cat=None) -> dict:
    """One annotation-table row from an object of :func:`read_record`."""
    row = {"source": source, "set": split, "cat": cat or obj["class"], "im_name": im_name, "object": index}
    row.update({k: v for k, v in obj.items() if k != "class"})
    row["im_path"] = im_path
    return row


def prepare_main(argv, doc: str, default_root: str, table_name: str, build_rows) -> None:
    """Command line shared by the .mat prepare scripts: --root, build the rows, write the table."""
    import argparse

    from dataset.annotations import write_table

    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--root", default=default_root)
    args = parser.parse_args(argv)
    rows = build_rows(args.root)
    write_table(Path(args.root) / table_name, rows)
    print(f"wrote {len(rows)} objects to {Path(args.root) / table_name}")
