"""Build Pascal3D.txt from the official PASCAL3D+ release.

    python -m dataset.prepare_pascal3d --root data/Pascal3D

Reads ``Annotations/<cat>_{imagenet,pascal}/*.mat``. ImageNet images go to train; PASCAL images go to val when
they are listed in ``PASCAL/VOCdevkit/VOC2012/ImageSets/Main/<cat>_val.txt``, else to train. Only objects of the
folder's category are kept, and objects whose three angles are all zero (unannotated) are skipped.
"""
from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from dataset.classes import PASCAL3D_CLASSES
from dataset.mat_records import prepare_main, read_record, table_row


def build_rows(root) -> list[dict]:
    root = Path(root)
    rows = []
    for cat in PASCAL3D_CLASSES:
        voc_val = root / "PASCAL" / "VOCdevkit" / "VOC2012" / "ImageSets" / "Main" / f"{cat}_val.txt"
        val_names = {line.split()[0] for line in voc_val.read_text().splitlines() if line.strip()} if voc_val.is_file() else set()
        for source in ("imagenet", "pascal"):
            folder = root / "Annotations" / f"{cat}_{source}"
            for path in tqdm(sorted(folder.glob("*.mat")), desc=f"{cat}_{source}", leave=False):
                filename, objects = read_record(path)
                split = "val" if source == "pascal" and path.stem in val_names else "train"
                for k, obj in enumerate(objects):
                    if obj["class"] != cat:
                        continue
                    if obj["azimuth"] == 0 and obj["elevation"] == 0 and obj["inplane_rotation"] == 0:
                        continue
                    rows.append(table_row(obj, source, split, path.stem, k, f"Images/{cat}_{source}/{filename}"))
    return rows


def main(argv=None):
    prepare_main(argv, __doc__, "data/Pascal3D", "Pascal3D.txt", build_rows)


if __name__ == "__main__":
    main()
