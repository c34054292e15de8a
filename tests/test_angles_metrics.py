import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from auxiliary.angles import ViewpointCodec, label_to_raw, raw_to_label, wrap_inplane
from auxiliary.metrics import per_class_table, summarize
from auxiliary.rotation import (geodesic_distance, label_geodesic_error, label_to_rotation,
                                project_points, viewpoint_to_rotation)

rng = np.random.default_rng(0)


def random_raw(n):
    return rng.uniform(-180, 360, n), rng.uniform(-90, 89.9, n), rng.uniform(-180, 180, n)


def test_raw_label_round_trip_and_ranges():
    a, e, t = random_raw(1000)
    la, le, lt = raw_to_label(a, e, t)
    assert la.min() >= 0 and la.max() < 360 and le.min() >= 0 and le.max() < 180 and lt.max() < 360
    ra, re, rt = label_to_raw(la, le, lt)
    np.testing.assert_allclose(np.cos(np.radians(ra - a)), 1, atol=1e-12)
    assert ra.min() >= 0 and ra.max() < 360
    np.testing.assert_allclose(re, e, atol=1e-12)
    np.testing.assert_allclose(np.cos(np.radians(rt - t)), 1, atol=1e-12)


def test_known_label_values():
    # The reference convention: azimuth label flips sign, elevation +90, in-plane +180.
    la, le, lt = raw_to_label(30.0, -10.0, -170.0)
    assert (la, le, lt) == (330.0, 80.0, 10.0)
    la, _, _ = raw_to_label(-30.0, 0, 0)  # ObjectNet3D stores negative azimuths
    assert la == 30.0
    assert float(wrap_inplane(190.0)) == -170.0 and float(wrap_inplane(-180.0)) == 180.0


def test_codec_round_trip_and_bins():
    codec = ViewpointCodec(15)
    assert codec.num_bins == (24, 12, 24)
    labels = torch.tensor(np.stack(raw_to_label(*random_raw(500)), 1))
    bins, offsets = codec.encode(labels)
    assert bins.dtype == torch.int64 and (offsets >= -0.5).all() and (offsets < 0.5).all()
    assert (bins[:, 0] < 24).all() and (bins[:, 1] < 12).all() and (bins[:, 2] < 24).all()
    torch.testing.assert_close(codec.decode_bins(bins, offsets), labels, atol=1e-5, rtol=0)
    b, o = codec.encode(torch.tensor([[0.0, 179.5, 37.5]]))
    assert b.tolist() == [[0, 11, 2]] and o.tolist() == [[-0.5, pytest.approx(0.4666667), 0.0]]
    assert ViewpointCodec(30).num_bins == (12, 6, 12)
    with pytest.raises(ValueError):
        ViewpointCodec(7)


def test_codec_decodes_network_outputs():
    codec = ViewpointCodec(15)
    labels = torch.tensor([[100.0, 95.0, 181.0], [3.0, 44.0, 359.0]], dtype=torch.float64)
    bins, offsets = codec.encode(labels)
    outputs = []
    for k, n in enumerate(codec.num_bins):
        logits = torch.zeros(2, n)
        logits[torch.arange(2), bins[:, k]] = 5.0
        outputs.append(logits)
    for k, n in enumerate(codec.num_bins):
        reg = torch.zeros(2, n)
        reg[torch.arange(2), bins[:, k]] = torch.atanh(2 * offsets[:, k].clamp(-0.4999, 0.4999))
        outputs.append(reg)
    torch.testing.assert_close(codec.decode(outputs), labels, atol=1e-3, rtol=0)


def test_rotation_matches_scipy_intrinsic_zxz():
    a, e, t = random_raw(2000)
    ours = viewpoint_to_rotation(a, e, t)
    scipy_r = Rotation.from_euler("ZXZ", np.stack([t, e - 90, -a], 1), degrees=True).as_matrix()
    np.testing.assert_allclose(ours, scipy_r, atol=1e-12)
    # geodesic distances on random pairs agree with scipy's relative-rotation magnitude
    a2, e2, t2 = random_raw(2000)
    r2 = viewpoint_to_rotation(a2, e2, t2)
    s2 = Rotation.from_matrix(r2)
    expected = np.degrees((Rotation.from_matrix(ours).inv() * s2).magnitude())
    assert np.max(np.abs(geodesic_distance(ours, r2) - expected)) < 1e-6


def test_geodesic_hand_computed_cases():
    r = viewpoint_to_rotation(10, 20, 30)
    assert geodesic_distance(r, r) == pytest.approx(0, abs=1e-5)
    for delta in (5, 30, 90, 179):
        assert geodesic_distance(viewpoint_to_rotation(40, 0, 0), viewpoint_to_rotation(40 + delta, 0, 0)) == pytest.approx(delta)
        assert geodesic_distance(viewpoint_to_rotation(0, 20, 0), viewpoint_to_rotation(0, 20, delta)) == pytest.approx(delta)
        assert geodesic_distance(viewpoint_to_rotation(0, 20, 0), viewpoint_to_rotation(0, 20 + delta / 2, 0)) == pytest.approx(delta / 2)
    assert geodesic_distance(viewpoint_to_rotation(0, 0, 0), viewpoint_to_rotation(180, 0, 0)) == pytest.approx(180)
    # symmetric
    x, y = viewpoint_to_rotation(*random_raw(50)), viewpoint_to_rotation(*random_raw(50))
    np.testing.assert_allclose(geodesic_distance(x, y), geodesic_distance(y, x))


def test_label_error_is_error_between_raw_rotations():
    a, e, t = random_raw(100)
    labels = np.stack(raw_to_label(a, e, t), 1)
    np.testing.assert_allclose(label_to_rotation(labels), viewpoint_to_rotation(a, e, t), atol=1e-12)
    shifted = labels.copy()
    shifted[:, 0] = np.mod(shifted[:, 0] + 20, 360)
    np.testing.assert_allclose(label_geodesic_error(shifted, labels)[np.abs(e) < 1e-9], 20)


def test_camera_sits_where_pascal3d_puts_it():
    a, e, d = 30.0, 20.0, 3.0
    ar, er = np.radians(a), np.radians(e)
    center = d * np.array([np.cos(er) * np.sin(ar), -np.cos(er) * np.cos(ar), np.sin(er)])
    uv, depth = project_points(np.zeros((1, 3)), a, e, 0, d, 100, (50, 50))
    np.testing.assert_allclose(uv, [[50, 50]]) and np.testing.assert_allclose(depth, [d])
    r = viewpoint_to_rotation(a, e, 0)
    np.testing.assert_allclose(r @ center, [0, 0, d], atol=1e-12)
    # z (up) in the object frame projects upwards in the image for a level camera
    uv, _ = project_points(np.array([[0, 0, 0.5]]), 0.0, 0.0, 0.0, 3.0, 100, (50, 50))
    assert uv[0, 1] < 50 and abs(uv[0, 0] - 50) < 1e-9


def test_per_class_table_known_values():
    errors = np.array([10, 40, 20, 5, 100, 31, 29])
    classes = np.array(["a", "a", "a", "b", "b", "b", "b"])
    table = per_class_table(errors, classes)
    assert table["classes"]["a"] == {"n": 3, "acc30": pytest.approx(200 / 3), "mederr": 20.0}
    assert table["classes"]["b"] == {"n": 4, "acc30": 50.0, "mederr": 30.0}
    assert table["mean"]["acc30"] == pytest.approx((200 / 3 + 50) / 2)
    assert table["mean"]["mederr"] == pytest.approx(25.0)
    assert table["pooled"] == {"n": 7, "acc30": pytest.approx(400 / 7), "mederr": 29.0}
    assert summarize([30.0])["acc30"] == 100.0  # inclusive threshold
    with pytest.raises(ValueError):
        summarize([])
