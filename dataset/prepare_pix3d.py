"""Build Pix3D.txt (evaluation only) from the official ``pix3d.json``, and optionally the square crops.

    python -m dataset.prepare_pix3d --root data/Pix3D [--crops]

Angles follow the reference pipelines: elevation = atan(y / sqrt(x^2 + z^2)) from ``cam_position``; the
label-space azimuth is atan2(-x, z) (so the stored raw azimuth, Pascal3D+ convention, is its negative) and the
raw in-plane rotation is minus the json's ``inplane_rotation`` (radians). The in-plane sign differs between
the public pipelines; check a few overlays with ``demo.py`` before trusting Pix3D in-plane numbers. Every row
is in the val split; ``occluded`` is occluded or slightly_occluded; the box is the json ``bbox``.
``--crops`` also writes ``crop/<cat>/<id>.png``: the box resized and padded to 224 (the reference's cleaned set).
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from tqdm import tqdm

from dataset.annotations import write_table


def pix3d_angles(cam_position, inplane_rad) -> tuple[float, float, float]:
    """Raw (azimuth, elevation, in-plane) in degrees, Pascal3D+ convention, from a Pix3D camera."""
    x, y, z = (float(v) for v in cam_position)
    elevation = math.degrees(math.atan2(y, math.hypot(x, z)))
    azimuth_label = math.degrees(math.atan2(-x, z)) % 360.0
    return (360.0 - azimuth_label) % 360.0, elevation, -math.degrees(float(inplane_rad))


def build_rows(root) -> list[dict]:
    root = Path(root)
    path = root / "pix3d.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (download Pix3D and unpack it there)")
    try:
        entries = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    rows = []
    for k, entry in enumerate(entries):
        try:
            azimuth, elevation, inplane = pix3d_angles(entry["cam_position"], entry["inplane_rotation"])
            left, upper, right, lower = (int(v) for v in entry["bbox"])
            rows.append({"source": "pix3d", "set": "val", "cat": entry["category"],
                         "im_name": Path(entry["img"]).stem, "object": 0,
                         "cad_index": 1, "truncated": int(bool(entry["truncated"])),
                         "occluded": int(bool(entry["occluded"]) or bool(entry.get("slightly_occluded", False))),
                         "difficult": 0, "azimuth": azimuth, "elevation": elevation, "inplane_rotation": inplane,
                         "left": left, "upper": upper, "right": right, "lower": lower, "has_keypoints": 1,
                         "distance": math.sqrt(sum(float(v) ** 2 for v in entry["cam_position"])),
                         "im_path": entry["img"]})
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}, entry {k}: malformed ({error!r})") from None
    return rows


def write_crops(root, rows, size: int = 224) -> None:
    from dataset.transforms import clip_box, load_image, resize_pad

    root = Path(root)
    for row in tqdm(rows, desc="cropping"):
        image = load_image(root / row["im_path"])
        box = clip_box((row["left"], row["upper"], row["right"], row["lower"]), *image.size, root / row["im_path"])
        out = root / "crop" / row["cat"] / f"{row['im_name']}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        resize_pad(image.crop(box), size).save(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="data/Pix3D")
    parser.add_argument("--crops", action="store_true", help="also write crop/<cat>/<id>.png")
    args = parser.parse_args(argv)
    rows = build_rows(args.root)
    write_table(Path(args.root) / "Pix3D.txt", rows)
    if args.crops:
        write_crops(args.root, rows)
    print(f"wrote {len(rows)} objects to {Path(args.root) / 'Pix3D.txt'}")


if __name__ == "__main__":
    main()
