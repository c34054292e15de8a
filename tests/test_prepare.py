import json

import numpy as np
import pytest
import scipy.io
from PIL import Image

from dataset.annotations import AnnotationTable
from dataset.pointcloud import read_ply_points
from dataset import prepare_objectnet3d, prepare_pascal3d, prepare_pix3d, prepare_pointclouds
from dataset.viewpoint import ViewpointDataset

FIELDS = ["class", "bbox", "viewpoint", "truncated", "occluded", "difficult", "cad_index", "anchors"]


def save_record(path, filename, objects):
    """A .mat annotation in the real record layout: record.filename, record.objects (struct array)."""
    array = np.empty((1, len(objects)), dtype=[(f, "O") for f in FIELDS])
    for k, obj in enumerate(objects):
        array[0, k] = tuple(obj[f] for f in FIELDS)
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"record": {"filename": filename, "objects": array, "imgsize": np.array([80, 60, 3])}})


def obj(cls, azimuth, elevation=10.0, theta=-5.0, anchors=True, coarse=None, **kw):
    view = {"azimuth": np.array([]) if azimuth is None else azimuth, "elevation": elevation, "theta": theta,
            "distance": 4.0, "azimuth_coarse": coarse if coarse is not None else 0.0, "elevation_coarse": 0.0}
    anchor = {"head": {"location": np.array([3.0, 4.0]), "status": 1}} if anchors else np.array([])
    out = dict(zip(FIELDS, [cls, np.array([10.0, 8.0, 50.0, 40.0]), view, 0, 0, 0, 2, anchor]))
    out.update(kw)
    return out


def test_objectnet3d_records_to_table(tmp_path):
    root = tmp_path / "ObjectNet3D"
    save_record(root / "Annotations" / "n01.mat", "n01.JPEG", [obj("bed", -30.0), obj("chair", 200.0, anchors=False)])
    save_record(root / "Annotations" / "n02.mat", "n02.JPEG", [obj("bed", None, coarse=45.0, truncated=1)])
    save_record(root / "Annotations" / "n03.mat", "n03.JPEG", [obj("bed", 10.0)])  # in no image set
    (root / "Image_sets").mkdir()
    (root / "Image_sets" / "train.txt").write_text("n01\n")
    (root / "Image_sets" / "val.txt").write_text("n02\n")
    prepare_objectnet3d.main(["--root", str(root)])
    table = AnnotationTable.read(root / "ObjectNet3D.txt")
    assert table["im_name"].tolist() == ["n01", "n01", "n02"]
    assert table["set"].tolist() == ["train", "train", "val"]
    assert table["azimuth"].tolist() == [-30.0, 200.0, 45.0]  # coarse fallback for the missing fine azimuth
    assert table["has_keypoints"].tolist() == [1, 0, 1] and table["truncated"].tolist() == [0, 0, 1]
    assert table["im_path"][0] == "Images/n01.JPEG" and table["left"][0] == 10 and table["cad_index"][0] == 2
    # the prepared table loads with the dataset
    (root / "Images").mkdir()
    Image.new("RGB", (80, 60)).save(root / "Images" / "n01.JPEG")
    assert len(ViewpointDataset(root, "ObjectNet3D", "train", input_dim=32)) == 2


def test_pascal3d_records_splits_and_filters(tmp_path):
    root = tmp_path / "Pascal3D"
    save_record(root / "Annotations" / "car_imagenet" / "i1.mat", "i1.JPEG", [obj("car", 30.0)])
    save_record(root / "Annotations" / "car_pascal" / "p1.mat", "p1.jpg",
                [obj("car", 60.0), obj("person", 10.0), obj("car", 0.0, elevation=0.0, theta=0.0)])
    save_record(root / "Annotations" / "car_pascal" / "p2.mat", "p2.jpg", [obj("car", 90.0)])
    voc = root / "PASCAL" / "VOCdevkit" / "VOC2012" / "ImageSets" / "Main"
    voc.mkdir(parents=True)
    (voc / "car_val.txt").write_text("p1 1\nother -1\n")
    prepare_pascal3d.main(["--root", str(root)])
    table = AnnotationTable.read(root / "Pascal3D.txt")
    assert table["im_name"].tolist() == ["i1", "p1", "p2"]  # other class and all-zero angles dropped
    assert table["set"].tolist() == ["train", "val", "train"]
    assert table["source"].tolist() == ["imagenet", "pascal", "pascal"]
    assert table["im_path"].tolist() == ["Images/car_imagenet/i1.JPEG", "Images/car_pascal/p1.jpg",
                                         "Images/car_pascal/p2.jpg"]


def test_pix3d_json_to_table_and_crops(tmp_path):
    root = tmp_path / "Pix3D"
    (root / "img" / "chair").mkdir(parents=True)
    Image.new("RGBA", (100, 80)).save(root / "img" / "chair" / "0001.png")
    entries = [
        {"img": "img/chair/0001.png", "category": "chair", "bbox": [10, 5, 70, 60], "cam_position": [0, 0, 2.0],
         "inplane_rotation": 0.1, "truncated": False, "occluded": False, "slightly_occluded": True, "model": "m"},
        {"img": "img/chair/0001.png", "category": "chair", "bbox": [10, 5, 70, 60], "cam_position": [-1.0, 1.0, 0],
         "inplane_rotation": 0.0, "truncated": False, "occluded": False, "slightly_occluded": False, "model": "m"},
    ]
    (root / "pix3d.json").write_text(json.dumps(entries))
    prepare_pix3d.main(["--root", str(root), "--crops"])
    table = AnnotationTable.read(root / "Pix3D.txt")
    assert table["azimuth"].tolist() == [0.0, 270.0]   # label-space azimuths 0 and 90
    assert table["elevation"].tolist() == pytest.approx([0.0, 45.0])
    assert table["inplane_rotation"][0] == pytest.approx(-np.degrees(0.1))
    assert table["occluded"].tolist() == [1, 0] and set(table["set"]) == {"val"}
    assert Image.open(root / "crop" / "chair" / "0001.png").size == (224, 224)
    ds = ViewpointDataset(root, "Pix3D", "val", input_dim=32)
    assert len(ds) == 1 and ds[0]["image"].shape == (3, 32, 32)
    (root / "pix3d.json").write_text(json.dumps([{"img": "x"}]))
    with pytest.raises(ValueError, match="entry 0: malformed"):
        prepare_pix3d.build_rows(root)


def test_pointclouds_from_cad_models(tmp_path):
    trimesh = pytest.importorskip("trimesh")
    root = tmp_path / "Pascal3D"
    (root / "CAD" / "car").mkdir(parents=True)
    trimesh.creation.box(extents=(0.4, 0.8, 0.2)).export(root / "CAD" / "car" / "01.obj")
    trimesh.creation.box(extents=(0.4, 0.8, 0.2)).export(root / "CAD" / "car" / "02.off")
    prepare_pointclouds.main(["--root", str(root)])
    for n in ("01", "02"):
        points = read_ply_points(root / "pointcloud" / "car" / n / "compressed.ply")
        assert points.shape == (5000, 3)
        np.testing.assert_allclose(np.abs(points).max(0), [0.2, 0.4, 0.1], atol=1e-6)
    first = read_ply_points(root / "pointcloud" / "car" / "01" / "compressed.ply")
    prepare_pointclouds.main(["--root", str(root)])
    np.testing.assert_array_equal(first, read_ply_points(root / "pointcloud" / "car" / "01" / "compressed.ply"))
