import shutil

import numpy as np
import pytest
from PIL import Image

from dataset.annotations import write_table
from dataset.pointcloud import write_ply_points
from dataset.synthetic import generate


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    """A small generated dataset shared by the tests (read-only: copy it before changing anything)."""
    root = tmp_path_factory.mktemp("data") / "Synthetic"
    generate(root, seed=3, instances=2, train_per_class=12, val_per_class=4, image_size=64, workers=1,
             progress=False)
    return root


@pytest.fixture
def synthetic_copy(synthetic_root, tmp_path):
    root = tmp_path / "Synthetic"
    shutil.copytree(synthetic_root, root)
    return root


def real_row(**overrides):
    row = dict(source="object3d", set="train", cat="bed", im_name="n01", object=1, cad_index=2, truncated=0,
               occluded=0, difficult=0, azimuth=-30.5, elevation=12.0, inplane_rotation=-4.0, left=10, upper=8,
               right=50, lower=40, has_keypoints=1, distance=4.2, im_path="Images/n01.JPEG")
    row.update(overrides)
    return row


@pytest.fixture
def real_layout(tmp_path):
    """A hand-written dataset in the real ObjectNet3D layout (not produced by the generator)."""
    root = tmp_path / "ObjectNet3D"
    (root / "Images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = [
        real_row(),
        real_row(im_name="n02", im_path="Images/n02.JPEG", cat="chair", azimuth=200.0, cad_index=1),
        real_row(im_name="n03", im_path="Images/n03.JPEG", set="val", cat="bed"),
        real_row(im_name="n04", im_path="Images/n04.JPEG", set="val", cat="bed", has_keypoints=0),
        real_row(im_name="n05", im_path="Images/n05.JPEG", set="val", cat="chair"),  # not an eval class
        real_row(im_name="n06", im_path="Images/n06.JPEG", set="train", cat="chair", difficult=1),
        real_row(im_name="n07", im_path="Images/n07.JPEG", set="train", cat="chair", elevation=90.0),
        real_row(im_name="n08", im_path="Images/n08.JPEG", set="test", cat="bed"),
        real_row(im_name="n09", im_path="Images/n09.JPEG", set="val", cat="guitar", truncated=1),
    ]
    for row in rows:
        Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(root / row["im_path"], quality=90)
    write_table(root / "ObjectNet3D.txt", rows)
    for cat, cad in (("bed", 2), ("chair", 1)):
        write_ply_points(root / "pointcloud" / cat / f"{cad:02d}" / "compressed.ply",
                         rng.uniform(-0.4, 0.4, (5000, 3)))
    return root, rows


TINY_TEACHER = ["--dataset", "Synthetic", "--img_encoder", "resnet18", "--img_feature_dim", "32",
                "--shape_feature_dim", "16", "--input_dim", "32", "--point_num", "100", "--batch_size", "16",
                "--workers", "0", "--print_freq", "0", "--lr", "1e-3", "--seed", "1"]


@pytest.fixture(scope="session")
def teacher_path(synthetic_root, tmp_path_factory):
    """A one-epoch teacher on the tiny synthetic set (its model_best.pth)."""
    import training

    out = training.main(TINY_TEACHER + ["--data_dir", str(synthetic_root), "--n_epoch", "1",
                                        "--output_dir", str(tmp_path_factory.mktemp("teacher"))])
    return out / "model_best.pth"


@pytest.fixture(scope="session")
def image_model_path(synthetic_root, tmp_path_factory):
    """A one-epoch image-only network on the tiny synthetic set (its model_best.pth)."""
    import training

    out = training.main(TINY_TEACHER + ["--shape", "None", "--data_dir", str(synthetic_root), "--n_epoch", "1",
                                        "--output_dir", str(tmp_path_factory.mktemp("image"))])
    return out / "model_best.pth"


def without_flags(argv, *flags):
    """``argv`` without the given flags and their values."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in flags:
            skip = True
        else:
            out.append(a)
    return out
