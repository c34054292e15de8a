"""Build ObjectNet3D.txt from the official download (Annotations/*.mat, Image_sets/{train,val,test}.txt).

    python -m dataset.prepare_objectnet3d --root data/ObjectNet3D

The split of an image comes from the image-set lists; rows of images in none of them are skipped.
"""
from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from dataset.mat_records import prepare_main, read_record, table_row


def build_rows(root) -> list[dict]:
    root = Path(root)
    split_of = {}
    for split in ("train", "val", "test"):
        listing = root / "Image_sets" / f"{split}.txt"
        if listing.is_file():
            split_of.update({name.strip(): split for name in listing.read_text().split() if name.strip()})
    if not split_of:
        raise FileNotFoundError(f"no image-set lists under {root / 'Image_sets'}")
    rows = []
    for path in tqdm(sorted((root / "Annotations").glob("*.mat")), desc="reading records"):
        split = split_of.get(path.stem)
        if split is None:
            continue
        filename, objects = read_record(path)
        for k, obj in enumerate(objects):
            rows.append(table_row(obj, "object3d", split, path.stem, k, f"Images/{filename}"))
    return rows


def main(argv=None):
    prepare_main(argv, __doc__, "data/ObjectNet3D", "ObjectNet3D.txt", build_rows)


if __name__ == "__main__":
    main()
