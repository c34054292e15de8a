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
from auxiliary.errors import InputError
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


def test_view_map_and_correlation_logits_turn_with_the_views():
    """A model turned by one ring step (60 degrees: each ring's views roll by one, :func:`turn_views`) has an
    azimuth label 4 bins lower: the views' direction map rolls by +4 bins, the correlation logits by -4, and every
    other output stays the same, as with a point cloud."""
    torch.manual_seed(0)
    model = PoseEstimator("resnet18", 32, 8, fusion="correlation", shape="MultiView", view_num=12, view_tour=2,
                          view_encoder="small", view_feature_dim=4).eval()
    with torch.no_grad():  # a trained-looking modulation, so that the shape reaches every head
        model.fusion.film.modulation.weight.normal_()
        model.fusion.query.weight.normal_()
    views = torch.rand(1, 12, 3, 16, 16)
    turned = torch.from_numpy(turn_views(views[0].numpy(), 60.0, 2))[None]
    image = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        maps = [model.shape_encoder(v) for v in (views, turned)]
        outs = [model(image, v)["outputs"] for v in (views, turned)]
        correlation = [model.fusion(torch.cat([m.flatten(1), model.image_encoder(image)], 1))[1] for m in maps]
    assert maps[0].shape == (1, 2 * 4, 24) and model.shape_encoder.feature_dim == 8 * 24
    assert torch.allclose(maps[0].roll(4, dims=2), maps[1], atol=1e-5)
    assert torch.allclose(correlation[0].roll(-4, dims=1), correlation[1], atol=1e-5)
    assert not torch.allclose(correlation[0], correlation[1], atol=1e-3)
    for before, after in zip(outs[0][1:], outs[1][1:]):
        assert torch.allclose(before, after, atol=1e-5)
    # between two views the map mixes them linearly: bin 2 of a ring is half view 0, half view 1
    features = model.shape_encoder.encoder(views[0]).reshape(2, 6, 4)
    assert torch.allclose(maps[0][0, :4, 2], (features[0, 0] + features[0, 1]) / 2, atol=1e-5)
    assert torch.allclose(maps[0][0, 4:, 4], features[1, 1], atol=1e-5)


def _views_task(n: int, rng: np.random.Generator):
    """Every sample a new model: 12 views (2 rings of 6) of random colours, the front one of each ring marked
    red, turned counter-clockwise by k ring steps (60 degrees: each ring rolls by k), which gives it the azimuth
    label -4k bins. Only the views tell the pose (the images are noise)."""
    views = rng.uniform(0.0, 0.5, (n, 2, 6, 3, 8, 8))
    views[:, :, 0, 0] = 1.0
    steps = rng.integers(0, 6, n)
    views = np.stack([np.roll(v, k, axis=1) for v, k in zip(views, steps)]).reshape(n, 12, 3, 8, 8)
    return torch.tensor(views, dtype=torch.float32), torch.tensor((-4 * steps) % 24)


def test_a_teacher_that_reads_its_views_beats_one_given_shuffled_views():
    """Zero-shot in miniature for multi-view shapes: trained on some models, scored on new ones; the correlation
    teacher finds the turn from its views, one trained on views shuffled between samples stays near chance (1 in 6),
    and the first drops to it when its views are shuffled at test time."""
    rng = np.random.default_rng(0)
    views, labels = _views_task(512, rng)
    test_views, test_labels = _views_task(256, rng)
    test_images = torch.randn(256, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    accuracy = {}
    for name, order in (("own", torch.arange(512)), ("shuffled", torch.randperm(512, generator=torch.Generator()
                                                                                   .manual_seed(0)))):
        torch.manual_seed(0)
        model = PoseEstimator("resnet18", 32, 8, "correlation", shape="MultiView", view_num=12, view_tour=2,
                              view_encoder="small", view_feature_dim=8)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for step in range(48):
            batch = torch.arange(step * 32, step * 32 + 32) % 512
            optimizer.zero_grad()
            logits = model(torch.randn(32, 3, 8, 8), views[order[batch]])["outputs"][0]
            torch.nn.functional.cross_entropy(logits, labels[batch]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy[name] = (model(test_images, test_views)["outputs"][0].argmax(1) == test_labels).float().mean()
            if name == "own":
                other = test_views[torch.randperm(256, generator=torch.Generator().manual_seed(1))]
                accuracy["own, shuffled at test"] = (model(test_images, other)["outputs"][0].argmax(1)
                                                     == test_labels).float().mean()
    assert accuracy["own"] > 0.9 and accuracy["shuffled"] < 0.3, accuracy
    assert accuracy["own, shuffled at test"] < 0.3, accuracy


def test_views_are_resized_before_encoding_and_the_small_encoder_learns():
    torch.manual_seed(0)
    small = PoseEstimator("resnet18", 32, 8, "linear", shape="MultiView", view_num=4, view_encoder="small",
                          view_feature_dim=8, view_size=12)
    views = torch.rand(2, 4, 3, 24, 24)
    resized = torch.nn.functional.interpolate(views.flatten(0, 1), size=(12, 12), mode="bilinear", antialias=True)
    encoder = small.shape_encoder.eval()
    with torch.no_grad():
        assert torch.allclose(encoder(views), encoder.encoder(resized).reshape(2, -1), atol=1e-6)
    small.train()
    out = small(torch.randn(2, 3, 32, 32), views)
    sum(o.sum() for o in out["outputs"]).backward()
    assert small.shape_encoder.encoder.layers[0].weight.grad.abs().sum() > 0


def test_a_view_ring_other_than_the_data_s_is_one_error(many_root, tmp_path):
    common = ["--dataset", "SyntheticMany", "--data_dir", str(many_root), "--shape", "MultiView"]
    with pytest.raises(InputError, match="views.json: 4 views on 1 ring.*reads 4 views on 2 ring"):
        training.main(TINY + common + ["--view_tour", "2", "--output_dir", str(tmp_path / "t")])
    out = training.main(TINY + common + ["--fusion", "correlation", "--view_encoder", "small",
                                         "--view_size", "16", "--output_dir", str(tmp_path / "c")])
    result = testing.main(["--dataset", "SyntheticMany", "--data_dir", str(many_root), "--model",
                           str(out / "model_best.pth"), "--workers", "0", "--output_dir", str(tmp_path / "test")])
    assert result["table"]["mean"]["n"] == 10 * 2


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
