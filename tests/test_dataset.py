import numpy as np
import pytest
import torch

from auxiliary.angles import raw_to_label
from auxiliary.errors import InputError
from auxiliary.rotation import project_points
from dataset.annotations import AnnotationError, AnnotationTable, write_table
from dataset.classes import OBJECTNET3D_NOVEL
from dataset.pointcloud import (PointCloudError, mirror_x, normalize_points, prepare_points,
                                read_ply_points, rotate_z, write_ply_points)
from dataset.transforms import Augmentation, resize_pad
from dataset.viewpoint import EmptySplitError, ViewpointDataset
from PIL import Image

from conftest import real_row

CAMERA = dict(distance=3.0, focal=200.0, principal=(64.0, 64.0))
rng = np.random.default_rng(1)


def test_flipped_image_and_mirrored_cloud_describe_the_same_camera():
    cloud = rng.uniform(-0.4, 0.4, (300, 3))
    for a, e, t in rng.uniform([-180, -30, -30], [360, 80, 30], (20, 3)):
        uv, _ = project_points(cloud, a, e, t, **CAMERA)
        uv_flip, _ = project_points(mirror_x(cloud), 360 - a, e, -t, **CAMERA)
        np.testing.assert_allclose(uv_flip[:, 0], 2 * 64.0 - uv[:, 0], atol=1e-9)
        np.testing.assert_allclose(uv_flip[:, 1], uv[:, 1], atol=1e-9)


def test_random_frame_rotation_and_shifted_azimuth_describe_the_same_camera():
    cloud = rng.uniform(-0.4, 0.4, (300, 3))
    for a, e, t in rng.uniform([-180, -30, -30], [360, 80, 30], (10, 3)):
        for step in (-8, -3, 5, 71):
            delta = 5.0 * step
            uv, _ = project_points(cloud, a, e, t, **CAMERA)
            uv_rand, _ = project_points(rotate_z(cloud, delta), a + delta, e, t, **CAMERA)
            np.testing.assert_allclose(uv_rand, uv, atol=1e-9)
    # the reference's bug (cloud turned by m degrees while the label moves by 5m) is not consistent
    uv_bug, _ = project_points(rotate_z(cloud, 3.0), 10 + 15.0, 20, 0, **CAMERA)
    assert np.abs(uv_bug - project_points(cloud, 10, 20, 0, **CAMERA)[0]).max() > 1


def test_dataset_flip_transforms_labels_and_cloud_together(synthetic_root):
    always = Augmentation(jitter=False, blur=0, flip=1.0, rotate=0, color=0, lighting=0)
    never = Augmentation(jitter=False, blur=0, flip=1e-300, rotate=0, color=0, lighting=0)
    kw = dict(dataset="Synthetic", split="train", shape="PointCloud", input_dim=64, point_num=500)
    flipped = ViewpointDataset(synthetic_root, augment=always, **kw)
    plain = ViewpointDataset(synthetic_root, augment=never, **kw)
    for i in (0, 5, 17):
        a, e, t = flipped.raw_angles[i]
        expected = np.array(raw_to_label(-a, e, -t), dtype=np.float32)
        np.testing.assert_allclose(flipped[(i, 2)]["label"].numpy(), expected, atol=1e-4)
        np.testing.assert_allclose(plain[(i, 2)]["label"].numpy(), raw_to_label(a, e, t), atol=1e-4)
        p_flip, p_plain = flipped[(i, 2)]["points"].numpy(), plain[(i, 2)]["points"].numpy()
        # same subset of points; x is mirrored (an affine map with negative slope), y and z are not
        assert np.corrcoef(p_flip[0], p_plain[0])[0, 1] == pytest.approx(-1, abs=1e-5)
        assert np.corrcoef(p_flip[1], p_plain[1])[0, 1] == pytest.approx(1, abs=1e-5)
        image_flip, image_plain = flipped[(i, 2)]["image"], plain[(i, 2)]["image"]
        assert not torch.equal(image_flip, image_plain)


def test_dataset_random_frame_shifts_label_and_rotates_cloud_consistently(synthetic_root):
    ds = ViewpointDataset(synthetic_root, "Synthetic", "train", shape="PointCloud", input_dim=32, point_num=400,
                          augment=False, random_frame=True, seed=5)
    shifts = []
    for i in range(0, len(ds), 7):
        item = ds[(i, 3)]
        a, e, t = ds.raw_angles[i]
        azimuth_label = float(item["label"][0])
        delta = ((360 - azimuth_label) - a + 180) % 360 - 180  # new raw azimuth minus old
        assert delta % 5 == pytest.approx(0, abs=1e-3) or delta % 5 == pytest.approx(5, abs=1e-3)
        assert -40 - 1e-3 <= delta <= 40 + 1e-3
        shifts.append(delta)
        # the cloud was rotated by exactly delta before normalisation
        generator = np.random.default_rng([ds.seed, 3, i])
        generator.integers(-8, 9)
        cloud = ds.clouds[str(ds.shape_file(i))]
        expected = prepare_points(cloud, 400, generator, rotation_deg=round(delta))
        np.testing.assert_allclose(item["points"].numpy(), expected, atol=1e-5)
        np.testing.assert_allclose(item["label"][1:].numpy(), raw_to_label(a, e, t)[1:], atol=1e-4)
    assert len(set(np.round(shifts))) > 1


def test_a_fixed_frame_turn_turns_every_val_cloud_and_azimuth_label_together(synthetic_root):
    ds = ViewpointDataset(synthetic_root, "Synthetic", "val", shape="PointCloud", input_dim=32, point_num=400,
                          augment=False, seed=5)
    plain = [ds[i] for i in range(3)]
    ds.frame_turn = 30.0
    for i, before in enumerate(plain):
        after = ds[i]
        a, e, t = ds.raw_angles[i]
        np.testing.assert_allclose(after["label"].numpy(), raw_to_label(a + 30.0, e, t), atol=1e-4)
        assert not torch.equal(after["label"], before["label"])
        expected = prepare_points(ds.clouds[str(ds.shape_file(i))], 400, np.random.default_rng([ds.seed, 0, i]),
                                  rotation_deg=30.0)
        np.testing.assert_allclose(after["points"].numpy(), expected, atol=1e-5)
        assert torch.equal(after["image"], before["image"])
        np.testing.assert_allclose(ds.labels()[i], after["label"].numpy(), atol=1e-4)  # what evaluation scores


def test_real_layout_table_and_filters(real_layout):
    root, rows = real_layout
    table = AnnotationTable.read(root / "ObjectNet3D.txt")
    assert len(table) == len(rows)
    train = ViewpointDataset(root, "ObjectNet3D", "train", shape="PointCloud", input_dim=48)
    assert sorted(train.im_paths.tolist()) == ["Images/n01.JPEG", "Images/n02.JPEG"]
    val = ViewpointDataset(root, "ObjectNet3D", "val", input_dim=48)
    assert val.im_paths.tolist() == ["Images/n03.JPEG"]  # keypoints, eval classes, truncation filters
    assert set(val.class_names) <= set(OBJECTNET3D_NOVEL)
    item = train[0]
    assert item["image"].shape == (3, 48, 48) and item["points"].shape == (3, 2500)
    # azimuth -30.5 is read as 329.5 degrees, whose label is 30.5
    assert val[0]["label"].tolist() == pytest.approx([30.5, 102.0, 176.0])
    novel = ViewpointDataset(root, "ObjectNet3D", "train", novel=True, input_dim=48)
    assert novel.cats.tolist() == ["chair"]
    with pytest.raises(EmptySplitError, match="train split is empty"):
        ViewpointDataset(root, "ObjectNet3D", "train", novel=True, classes=["bed"])


def test_table_accepts_index_column_and_cls_name(tmp_path):
    path = tmp_path / "t.txt"
    header = ",".join(["", "source", "set", "cls_name"] + [c for c in real_row() if c not in ("source", "set", "cat")])
    values = ["0", "object3d", "val", "sofa"] + [str(v) for k, v in real_row().items() if k not in ("source", "set", "cat")]
    path.write_text(header + "\n" + ",".join(values) + "\n")
    table = AnnotationTable.read(path)
    assert table["cat"].tolist() == ["sofa"] and table["azimuth"][0] == -30.5


def test_table_errors_name_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    write_table(path, [real_row(), real_row(azimuth="north")])
    with pytest.raises(AnnotationError, match=r"bad.txt, line 3: column 'azimuth' is not a number"):
        AnnotationTable.read(path)
    write_table(path, [real_row(left=50, right=10)])
    with pytest.raises(AnnotationError, match="line 2: empty or inverted box"):
        AnnotationTable.read(path)
    path.write_text("source,set\nobject3d,train\n")
    with pytest.raises(AnnotationError, match="missing column"):
        AnnotationTable.read(path)


def test_shot_sampling_is_seeded_and_per_class(synthetic_root):
    table = AnnotationTable.read(synthetic_root / "Synthetic.txt")
    a = table.select("train", shot=3, seed=1)
    assert np.array_equal(a, table.select("train", shot=3, seed=1))
    assert not np.array_equal(a, table.select("train", shot=3, seed=2))
    cats, counts = np.unique(table["cat"][a], return_counts=True)
    assert len(cats) == 12 and (counts == 3).all()
    with pytest.raises(AnnotationError, match="fewer than --shot 99"):
        table.select("train", shot=99)


def test_ply_binary_and_ascii_round_trip(tmp_path):
    points = rng.normal(size=(50, 3))
    for binary in (True, False):
        path = tmp_path / f"c{binary}.ply"
        write_ply_points(path, points, binary=binary)
        np.testing.assert_allclose(read_ply_points(path), points.astype(np.float32))
    first = read_ply_points(tmp_path / "cTrue.ply")
    (tmp_path / "broken.ply").write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 10\n")
    with pytest.raises(PointCloudError, match="broken.ply"):
        read_ply_points(tmp_path / "broken.ply")
    with pytest.raises(PointCloudError, match="fewer than --point_num 100"):
        prepare_points(first, 100, rng)


def test_normalisation_is_the_reference_scalar_min_max():
    points = np.array([[0.0, 1.0, -1.0], [2.0, 0.5, 0.0]])
    np.testing.assert_allclose(normalize_points(points), (points + 1) / 3)
    out = prepare_points(rng.normal(size=(100, 3)).astype(np.float32), 60, rng)
    assert out.shape == (3, 60) and out.dtype == np.float32 and out.min() == 0 and out.max() == pytest.approx(1)


def test_resize_pad_keeps_aspect_and_centres():
    image = Image.new("RGB", (100, 50), (255, 255, 255))
    out = np.asarray(resize_pad(image, 64))
    assert out.shape == (64, 64, 3)
    rows = np.nonzero(out[:, 32, 0] > 128)[0]
    assert len(rows) == 32 and rows[0] == 16
    assert np.asarray(resize_pad(Image.new("RGB", (20, 20)), 64)).shape == (64, 64, 3)
    # the loader's tensor version: same placement, pixels within one grey level of PIL's
    from dataset.transforms import resize_pad_tensor
    for size, crop in ((64, (100, 50)), (64, (31, 47)), (224, (50, 48)), (32, (96, 80))):
        image = Image.fromarray(rng.integers(0, 256, (crop[1], crop[0], 3), dtype=np.uint8))
        tensor = resize_pad_tensor(image, size)
        assert tensor.dtype == torch.uint8 and tensor.shape == (3, size, size)
        difference = np.abs(tensor.permute(1, 2, 0).numpy().astype(int) - np.asarray(resize_pad(image, size)).astype(int))
        assert difference.max() <= 1 and difference.mean() < 0.05


def test_missing_or_corrupt_image_names_the_file(real_layout):
    from dataset.transforms import ImageError

    root, _ = real_layout
    ds = ViewpointDataset(root, "ObjectNet3D", "train", input_dim=32)
    (root / ds.im_paths[0]).write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(ImageError, match=f"{ds.im_paths[0]} cannot be decoded"):
        ds[0]
    (root / ds.im_paths[1]).unlink()
    with pytest.raises(FileNotFoundError, match=f"{ds.im_paths[1]} does not exist"):
        ds[1]


def test_batched_photometric_equals_torchvision_per_sample():
    """The device-side batch step reproduces torchvision's per-sample jitter (in each sample's order),
    normalisation and the PCA lighting."""
    import torchvision.transforms.v2.functional as TF

    from dataset.transforms import (IMAGENET_MEAN, IMAGENET_STD, LIGHTING_EIGVAL, LIGHTING_EIGVEC, Augmentation,
                                    normalize_batch, photometric_params)

    generator = np.random.default_rng(4)
    images = torch.from_numpy(generator.integers(0, 256, (6, 3, 20, 24), dtype=np.uint8))
    params = np.stack([photometric_params(generator, Augmentation()) for _ in range(6)])
    assert len({tuple(p[3:6]) for p in params}) > 1  # several orders in one batch
    batched = normalize_batch(images, torch.from_numpy(params))
    ops = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation)
    for b in range(6):
        x = images[b].float() / 255
        for k in params[b][3:6].astype(int):
            x = ops[k](x, float(params[b][k]))
        x = TF.normalize(x.clamp(0, 1), IMAGENET_MEAN, IMAGENET_STD)
        x = x + (LIGHTING_EIGVEC @ (torch.from_numpy(params[b][6:9]) * LIGHTING_EIGVAL))[:, None, None]
        torch.testing.assert_close(batched[b], x, atol=2e-5, rtol=0)
    plain = normalize_batch(images)
    expected = TF.normalize(images.float() / 255, IMAGENET_MEAN, IMAGENET_STD)
    torch.testing.assert_close(plain, expected)
    identity = np.stack([photometric_params(generator, Augmentation.none()) for _ in range(6)])
    torch.testing.assert_close(normalize_batch(images, torch.from_numpy(identity)), expected, atol=1e-6, rtol=0)


def test_large_jpeg_is_decoded_at_reduced_size_with_the_same_crop(tmp_path):
    from dataset.transforms import crop_view, load_image, load_view

    generator = np.random.default_rng(2)
    y, x = np.mgrid[0:600, 0:800]
    pixels = np.stack([(x * 0.3) % 255, (y * 0.4) % 255, ((x + y) * 0.2) % 255], axis=2).astype(np.uint8)
    path = tmp_path / "big.jpg"
    Image.fromarray(pixels).save(path, quality=95)
    box = np.array([100.0, 80.0, 620.0, 500.0])
    image, scale = load_view(path, box, 64)
    assert scale == 0.25 and image.size == (200, 150)  # 520 px box, 64 px input: decoded at 1/4
    reduced = crop_view(image, box * scale, 64, generator, Augmentation.none())[0].float()
    full = crop_view(load_image(path), box, 64, generator, Augmentation.none())[0].float()
    assert (reduced - full).abs().mean() < 2.0  # the same view, up to resampling
    assert load_view(path, box, 224)[1] == 1.0  # a box under twice the input (with jitter room) is decoded whole
    png = tmp_path / "big.png"
    Image.fromarray(pixels).save(png)
    assert load_view(png, box, 64)[1] == 1.0  # only JPEG has a reduced decode


def test_sphere_normalisation_centres_the_cloud_in_the_unit_ball():
    points = np.array([[0.0, 1.0, -1.0], [2.0, 0.5, 0.0], [1.0, 0.0, 1.0]])
    out = normalize_points(points, "sphere")
    np.testing.assert_allclose((out.min(axis=0) + out.max(axis=0)) / 2, 0, atol=1e-12)  # bounding box centred
    assert np.linalg.norm(out, axis=1).max() == pytest.approx(1)
    # centre (1, 0.5, 0); the first point, at distance 1.5, is the farthest
    np.testing.assert_allclose(out[0], np.array([-1.0, 0.5, -1.0]) / 1.5)
    cloud = rng.normal(size=(100, 3)).astype(np.float32) + 5  # far from the origin
    minmax = prepare_points(cloud, 60, np.random.default_rng(0))
    sphere = prepare_points(cloud, 60, np.random.default_rng(0), norm="sphere")
    # the same 60 points, only normalised differently: an affine map (one scale, one shift per axis) of each other
    scale = np.ptp(sphere, axis=1) / np.ptp(minmax, axis=1)
    assert scale == pytest.approx(np.full(3, scale[0]))
    np.testing.assert_allclose(sphere, scale[0] * minmax - (scale[0] * minmax).mean(axis=1, keepdims=True)
                               + sphere.mean(axis=1, keepdims=True), atol=1e-5)
    with pytest.raises(ValueError, match="unknown point normalisation"):
        normalize_points(points, "unit")


def test_eval_base_scores_the_classes_a_zero_shot_split_trains_on(synthetic_root):
    """--eval_base: the val split of the base classes (implies --novel); with the novel val split it makes up
    the whole val split, and it holds exactly the classes the zero-shot training split trains on."""
    everything = ViewpointDataset(synthetic_root, "Synthetic", "val", input_dim=16)
    novel = ViewpointDataset(synthetic_root, "Synthetic", "val", novel=True, input_dim=16)
    base = ViewpointDataset(synthetic_root, "Synthetic", "val", eval_base=True, input_dim=16)
    train = ViewpointDataset(synthetic_root, "Synthetic", "train", novel=True, input_dim=16)
    assert set(base.cats) == set(train.cats) and not set(base.cats) & set(novel.cats)
    assert sorted(base.im_paths.tolist() + novel.im_paths.tolist()) == sorted(everything.im_paths.tolist())


def test_eval_novel_trains_on_every_class_and_scores_the_novel_ones(synthetic_root):
    """--eval_novel (the few-shot protocol): the training split keeps the novel classes (K of each with --shot K)
    and the val split is the zero-shot one; it refuses the flags that would drop the novel classes from training."""
    novel = ViewpointDataset(synthetic_root, "Synthetic", "val", novel=True, input_dim=16)
    scored = ViewpointDataset(synthetic_root, "Synthetic", "val", eval_novel=True, input_dim=16)
    assert sorted(scored.im_paths.tolist()) == sorted(novel.im_paths.tolist())
    train = ViewpointDataset(synthetic_root, "Synthetic", "train", eval_novel=True, shot=2, input_dim=16)
    assert set(novel.cats) <= set(train.cats)
    assert all(count == 2 for count in np.unique(train.cats, return_counts=True)[1])
    with pytest.raises(InputError, match="--eval_novel"):
        ViewpointDataset(synthetic_root, "Synthetic", "val", eval_novel=True, novel=True, input_dim=16)
