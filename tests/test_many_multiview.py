"""The many-category set, multi-view shapes and render_cad (issue: data where the shape matters)."""
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import demo
import testing
import training
import trainingKD
import vis_tSNE
from auxiliary.rotation import project_points
from dataset.annotations import AnnotationTable
from dataset.check import scan
from dataset.multiview import (MultiViewError, make_spec, mirror_views, read_spec, read_views, render_views,
                               ring_step, turn_views)
from dataset.pointcloud import read_ply_points
from dataset.procedural import build_instance, make_category
from dataset.shapes import Mesh
from dataset.synthetic_many import category, generate, instance_mesh, render_image
from dataset.viewpoint import ViewpointDataset
from model.estimator import PoseEstimator

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import shape_reliance  # noqa: E402

MANY = dict(seed=5, categories=10, novel=3, instances=2, train_per_class=6, val_per_class=2, image_size=48,
            points=600, view_num=4, tour=1, view_size=24, progress=False)
TINY = ["--img_encoder", "resnet18", "--img_feature_dim", "32", "--shape_feature_dim", "16", "--input_dim", "32",
        "--point_num", "100", "--batch_size", "8", "--workers", "0", "--print_freq", "0", "--lr", "1e-3",
        "--n_epoch", "1", "--view_num", "4", "--view_feature_dim", "8"]


@pytest.fixture(scope="module")
def many_root(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("many") / "SyntheticMany", workers=1, **MANY)


def _digest(root):
    h = hashlib.sha256((root / "SyntheticMany.txt").read_bytes())
    for p in sorted(root.rglob("*")):
        if p.suffix in (".JPEG", ".ply", ".png"):
            h.update(p.read_bytes())
    return h.hexdigest()


def test_many_set_is_a_function_of_its_seed(many_root, tmp_path):
    again = generate(tmp_path / "again", workers=2, **MANY)
    assert _digest(again) == _digest(many_root)
    other = generate(tmp_path / "other", workers=1, **{**MANY, "seed": 6})
    assert _digest(other) != _digest(many_root)
    assert not (tmp_path / "again.partial").exists()
    # another seed gives other layouts, not only other instances
    assert category(5, 0) != category(6, 0)


def test_many_set_layout_and_novel_split(many_root):
    meta = json.loads((many_root / "generator.json").read_text())
    table = AnnotationTable.read(many_root / "SyntheticMany.txt")
    assert len(set(table["cat"])) == 10 and len(table) == 10 * 8
    assert meta["novel"] == meta["classes"][-3:]
    train = ViewpointDataset(many_root, "SyntheticMany", "train", novel=True, augment=False)
    val = ViewpointDataset(many_root, "SyntheticMany", "val", novel=True)
    assert not set(train.class_names) & set(meta["novel"]) and len(train.class_names) == 7
    assert set(val.class_names) == set(meta["novel"])
    supervised = ViewpointDataset(many_root, "SyntheticMany", "val")
    assert len(supervised.class_names) == 10


def test_every_category_cloud_lies_in_the_frame_its_images_are_rendered_in(many_root):
    """Each row's cloud, projected with the row's pose and distance through render.json's camera, covers the
    rendered silhouette and fills its box; a wrong azimuth does not."""
    cam = json.loads((many_root / "render.json").read_text())
    meta = json.loads((many_root / "generator.json").read_text())
    for index in range(MANY["categories"]):
        image, mask, row = render_image(MANY["seed"], index, "val", 0, MANY["instances"], MANY["image_size"])
        cloud = read_ply_points(many_root / "pointcloud" / row["cat"] / f"{row['cad_index']:02d}" / "compressed.ply")

        def inside(azimuth):
            uv, _ = project_points(cloud, azimuth, row["elevation"], row["inplane_rotation"], row["distance"],
                                   cam["focal"], cam["principal"])
            px = np.clip(np.floor(uv).astype(int), 0, MANY["image_size"] - 1)
            grown = mask | np.roll(mask, 1, 0) | np.roll(mask, -1, 0) | np.roll(mask, 1, 1) | np.roll(mask, -1, 1)
            return grown[px[:, 1], px[:, 0]].mean(), uv

        share, uv = inside(row["azimuth"])
        assert share > 0.99, row["cat"]
        assert uv[:, 0].min() == pytest.approx(row["left"], abs=1.5)
        assert uv[:, 1].max() == pytest.approx(row["lower"], abs=1.5)
        if row["cat"] not in meta["symmetric"]:
            assert inside(row["azimuth"] + 90)[0] < share, row["cat"]


def test_procedural_categories_vary_and_symmetric_ones_are_flagged():
    layouts = [make_category(f"c{k}", np.random.default_rng([0, k])) for k in range(60)]
    symmetric = [c for c in layouts if c.symmetric]
    assert 1 <= len(symmetric) <= 15
    # a symmetric stack is a solid of revolution about z (up to its polygon sides); an asymmetric layout has a
    # front marker, so its instances are not mirror-symmetric front to back
    asym = next(c for c in layouts if not c.symmetric)
    mesh = build_instance(asym, np.random.default_rng(1))
    flipped = mesh.vertices * [1, -1, 1]
    from scipy.spatial import cKDTree
    assert cKDTree(mesh.vertices).query(flipped)[0].max() > 0.02
    a, b = build_instance(asym, np.random.default_rng(1)), build_instance(asym, np.random.default_rng(2))
    assert a.vertices.shape != b.vertices.shape or not np.allclose(a.vertices, b.vertices)


def test_views_turn_and_mirror_with_the_model():
    """Rolling a ring equals rendering the turned model; mirroring equals rendering the mirrored model."""
    spec = make_spec(view_num=8, tour=2, view_size=32)
    mesh = instance_mesh(5, 1, 0)
    colors = np.array([[0.9, 0.2, 0.2], [0.2, 0.9, 0.2], [0.2, 0.2, 0.9]])
    views = render_views(mesh, colors, spec).transpose(0, 3, 1, 2)
    step = ring_step(spec)
    t = np.radians(step)
    turn = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    turned = Mesh(mesh.vertices @ turn.T, mesh.faces, mesh.part, mesh.slot, mesh.textured)
    expected = render_views(turned, colors, spec).transpose(0, 3, 1, 2)
    got = turn_views(views, step, 2)
    assert np.abs(got.astype(int) - expected).mean() < 1.0
    assert np.abs(views.astype(int) - expected).mean() > 5.0  # the turn is visible
    mirrored = Mesh(mesh.vertices * [-1, 1, 1], mesh.faces[:, ::-1], mesh.part, mesh.slot, mesh.textured)
    expected = render_views(mirrored, colors, spec).transpose(0, 3, 1, 2)
    assert np.abs(mirror_views(views, 2).astype(int) - expected).mean() < 1.0
    with pytest.raises(ValueError, match="multiple of the ring step"):
        turn_views(views, step / 2, 2)


def test_dataset_serves_views_that_turn_with_the_label(many_root):
    plain = ViewpointDataset(many_root, "SyntheticMany", "val", shape="MultiView", shape_dir="multiview",
                             input_dim=32)
    item = plain[0]
    assert item["views"].shape == (4, 3, 24, 24) and item["views"].dtype == torch.uint8
    stored = read_views(plain.shape_file(0), read_spec(many_root / "multiview"))
    np.testing.assert_array_equal(item["views"].numpy(), stored)
    turned = ViewpointDataset(many_root, "SyntheticMany", "val", shape="MultiView", shape_dir="multiview",
                              input_dim=32)
    turned.frame_turn = 90.0
    index = int(np.flatnonzero(turned.randomizable)[0])
    own = read_views(turned.shape_file(index), turned.view_spec)
    np.testing.assert_array_equal(turned[index]["views"].numpy(), turn_views(own, 90.0, 1))
    assert np.abs(turned[index]["views"].numpy().astype(int) - own).mean() > 1.0
    assert (turned.labels()[index, 0] - plain.labels()[index, 0]) % 360 == pytest.approx(270.0)  # label = 360 - a


def test_bad_views_are_reported_by_file(many_root, tmp_path):
    root = tmp_path / "m"
    shutil.copytree(many_root, root)
    cat = json.loads((root / "generator.json").read_text())["classes"][0]
    bad = root / "multiview" / cat / "01" / "views.png"
    Image.new("RGB", (30, 24)).save(bad)
    with pytest.raises(MultiViewError, match=str(bad)):
        ViewpointDataset(root, "SyntheticMany", "train", shape="MultiView", shape_dir="multiview")
    report = scan(root, "SyntheticMany", "pointcloud", 500, progress=False, views_dir="multiview")
    assert len(report["views"]) == 1 and str(bad) in report["views"][0]
    (root / "multiview" / "views.json").write_text("{")
    assert "not valid" in scan(root, "SyntheticMany", None, progress=False, views_dir="multiview")["views"][0]


def test_multiview_teacher_gradients_reach_the_view_encoder():
    model = PoseEstimator("resnet18", 32, 16, "linear", shape="MultiView", view_num=4, view_feature_dim=8)
    out = model(torch.randn(3, 3, 32, 32), torch.randn(3, 4, 3, 24, 24))
    assert out["feature"].shape == (3, 200)
    sum(o.sum() for o in out["outputs"]).backward()
    assert model.shape_encoder.encoder.backbone.conv1.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="4 views"):
        model(torch.randn(3, 3, 32, 32), torch.randn(3, 5, 3, 24, 24))


@pytest.mark.parametrize("shape", ["PointCloud", "MultiView"])
def test_teacher_trains_evaluates_and_distils_on_the_many_set(many_root, tmp_path, shape):
    common = ["--dataset", "SyntheticMany", "--data_dir", str(many_root)]
    out = training.main(TINY + common + ["--shape", shape, "--output_dir", str(tmp_path / "t"), "--random"])
    result = testing.main(common + ["--model", str(out / "model_best.pth"), "--workers", "0",
                                    "--output_dir", str(tmp_path / "test")])
    assert result["table"]["mean"]["n"] == 10 * 2
    with pytest.raises(Exception, match="holds a teacher .image \\+ (point cloud|multi-view renders)., but a teacher"):
        testing.main(common + ["--model", str(out / "model_best.pth"), "--workers", "0", "--shape",
                               "MultiView" if shape == "PointCloud" else "PointCloud"])
    student = trainingKD.main(common + ["--teacher_model", str(out / "model_best.pth"), "--student_encoder",
                                        "resnet18", "--img_feature_dim", "32", "--batch_size", "8", "--workers", "0",
                                        "--print_freq", "0", "--n_epoch", "1", "--crd",
                                        "--output_dir", str(tmp_path / "s")])
    assert (student / "best_student.pt").is_file()
    image = many_root / "Images" / "shape000_val_00000.JPEG"
    flag = ["--views", str(many_root / "multiview" / "shape000" / "01" / "views.png")] if shape == "MultiView" else \
        ["--pointcloud", str(many_root / "pointcloud" / "shape000" / "01" / "compressed.ply")]
    pose = demo.main(["--image", str(image), "--model", str(out / "model_best.pth"), *flag])
    assert len(pose) == 3 and all(np.isfinite(pose))
    png = vis_tSNE.main(common + ["--model", str(out / "model_best.pth"), "--feature", "shape", "--perplexity", "5",
                                  "--workers", "0", "--output_dir", str(tmp_path / "vis")])
    assert png.stat().st_size > 0
    rows = shape_reliance.main(common + ["--model", str(out / "model_best.pth"), "--workers", "0"])
    assert set(rows) == {"own", "same class", "other class", "turned"}
