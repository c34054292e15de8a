import json
import hashlib

import numpy as np
import pytest
from plyfile import PlyData
from scipy.spatial import cKDTree

from auxiliary.rotation import project_points
from dataset.annotations import AnnotationTable
from dataset.classes import SYNTHETIC_CLASSES, SYNTHETIC_NOVEL
from dataset.render import rasterize
from dataset.shapes import BUILDERS, build_shape
from dataset.synthetic import GENERATOR_VERSION, _mesh, ensure_synthetic, generate


def test_generated_layout_matches_the_real_one(synthetic_root):
    table = AnnotationTable.read(synthetic_root / "Synthetic.txt")
    assert len(table) == 12 * 16 and set(table["cat"]) == set(SYNTHETIC_CLASSES)
    assert set(SYNTHETIC_NOVEL) <= set(SYNTHETIC_CLASSES) and len(SYNTHETIC_CLASSES) >= 10
    assert (table["azimuth"] < 0).any()  # stored like ObjectNet3D, negative azimuths included
    assert ((table["elevation"] >= -30) & (table["elevation"] <= 80)).all()
    assert (synthetic_root / "Image_sets" / "train.txt").read_text().count("\n") == 12 * 12
    ply = PlyData.read(str(synthetic_root / "pointcloud" / "chair" / "01" / "compressed.ply"))
    assert ply["vertex"].count == 5000 and ply["vertex"]["x"].dtype == np.float64 and ply["face"].count == 0
    assert not ply.text and ply.byte_order == "<"
    cloud = np.stack([ply["vertex"][k] for k in "xyz"], 1)
    assert np.linalg.norm(cloud, axis=1).max() <= 0.5


def test_generation_is_deterministic(tmp_path):
    def digest(root):
        h = hashlib.sha256((root / "Synthetic.txt").read_bytes())
        for p in sorted((root / "Images").iterdir()):
            h.update(p.read_bytes())
        return h.hexdigest()
    kw = dict(seed=9, instances=1, train_per_class=2, val_per_class=1, image_size=48, classes=("car", "mug"),
              progress=False)
    a = generate(tmp_path / "a", workers=1, **kw)
    b = generate(tmp_path / "b", workers=2, **kw)
    assert digest(a) == digest(b)
    c = generate(tmp_path / "c", workers=1, **{**kw, "seed": 10})
    assert digest(a) != digest(c)
    assert not (tmp_path / "a.partial").exists()


def test_annotated_box_matches_the_projection_of_the_annotated_pose(synthetic_root):
    """The label describes the rendered image: the CAD model projected with the row's angles has the box's size."""
    table = AnnotationTable.read(synthetic_root / "Synthetic.txt")
    size, checked = 64, 0
    for i in range(0, len(table), 5):
        if table["truncated"][i]:
            continue
        mesh = _mesh(3, table["cat"][i], int(table["cad_index"][i]) - 1)
        uv, _ = project_points(mesh.vertices, table["azimuth"][i], table["elevation"][i],
                               table["inplane_rotation"][i], table["distance"][i], 1.8 * size, (0, 0))
        width, height = np.ptp(uv[:, 0]), np.ptp(uv[:, 1])
        assert width == pytest.approx(table["right"][i] - table["left"][i], abs=2.0)
        assert height == pytest.approx(table["lower"][i] - table["upper"][i], abs=2.0)
        # a wrong azimuth would not fit as well for these asymmetric shapes
        checked += 1
    assert checked > 20


def test_rasterizer_depth_order_and_coverage():
    # two overlapping triangles: the nearer one wins where they overlap
    points = np.array([[0, 0], [20, 0], [0, 20], [0, 0], [20, 0], [0, 20]], float)
    depth = np.array([5, 5, 5, 2, 2, 2], float)
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    face_map, bary = rasterize(points, depth, faces, 32, 32)
    assert (face_map[face_map >= 0] == 1).all()
    assert 180 <= (face_map >= 0).sum() <= 230  # about half of a 20x20 square
    np.testing.assert_allclose(bary[face_map >= 0].sum(1), 1)


@pytest.mark.parametrize("category", sorted(BUILDERS))
def test_shapes_fit_the_unit_sphere_and_are_not_rotationally_symmetric(category):
    mesh = build_shape(category, np.random.default_rng(0))
    assert np.linalg.norm(mesh.vertices, axis=1).max() == pytest.approx(0.45)
    cloud = mesh.sample_surface(2000, np.random.default_rng(1))
    resampled = mesh.sample_surface(2000, np.random.default_rng(2))
    # turning the shape by 180 degrees about z does not map it onto itself: the turned cloud lies clearly
    # farther from the shape than a fresh sample of the shape does
    tree = cKDTree(cloud)
    turned = cloud * np.array([-1, -1, 1])
    assert tree.query(turned)[0].mean() > 1.3 * tree.query(resampled)[0].mean()


def test_ensure_synthetic_generates_only_when_missing(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("dataset.synthetic.generate", lambda root, **kw: calls.append(root) or root)
    ensure_synthetic(tmp_path / "S")
    assert calls == [tmp_path / "S"]
    (tmp_path / "S").mkdir()
    (tmp_path / "S" / "Synthetic.txt").write_text("")
    ensure_synthetic(tmp_path / "S")
    assert len(calls) == 1


def test_ensure_synthetic_regenerates_an_older_version_with_its_sizes(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("dataset.synthetic.generate", lambda root, **kw: calls.append((root, kw)) or root)
    root = tmp_path / "S"
    root.mkdir()
    (root / "Synthetic.txt").write_text("")
    (root / "generator.json").write_text(json.dumps({"seed": 3, "train_per_class": 12, "image_size": 64}))
    ensure_synthetic(root)
    assert calls == [(root, {"seed": 3, "train_per_class": 12, "image_size": 64})]
    (root / "generator.json").write_text(json.dumps({"version": GENERATOR_VERSION, "seed": 3}))
    ensure_synthetic(root)
    assert len(calls) == 1
