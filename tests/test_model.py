import types

import numpy as np
import pytest
import torch

from auxiliary.angles import ViewpointCodec
from auxiliary.checkpoint import CheckpointError, load_weights
from model.estimator import ImageEstimator, PoseEstimator, build_model, model_args_from
from model.fusion import build_fusion
from model.infonce import InfoNCE
from model.pose_loss import PoseLoss

TINY = dict(img_encoder="resnet18", img_feature_dim=32)


def flags(**kw):
    base = dict(bin_size=15, shape="PointCloud", img_encoder="resnet18", img_feature_dim=32, shape_feature_dim=16,
                fusion="deform", head="mlp")
    base.update(kw)
    return types.SimpleNamespace(**base)


@pytest.mark.parametrize("fusion", ["deform", "mlp", "linear", "residual"])
def test_teacher_outputs_and_gradients_reach_both_encoders(fusion):
    torch.manual_seed(0)
    model = build_model(model_args_from(flags(fusion=fusion)))
    assert isinstance(model, PoseEstimator)
    out = model(torch.randn(4, 3, 32, 32), torch.rand(4, 3, 50))
    assert [o.shape[1] for o in out["outputs"]] == [24, 12, 24, 24, 12, 24]
    assert out["feature"].shape == (4, 200) and out["embedding"].shape == (4, 200)
    if fusion == "deform":
        assert out["feature"].abs().max() < 1  # tanh
    loss, _ = PoseLoss(ViewpointCodec())(out["outputs"], torch.tensor([[10.0, 90, 180]] * 4))
    (loss + InfoNCE()(out["embedding"], out["feature"])).backward()
    for encoder in (model.image_encoder, model.shape_encoder):
        grads = [p.grad for p in encoder.parameters()]
        assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0


def test_residual_fusion_starts_as_its_linear_layer_and_learns_what_a_linear_fusion_cannot():
    """The pose must depend on image and shape together (here: the sign of their product, as turning the azimuth
    by the frame a randomised cloud gives): a linear fusion before linear heads only adds the two, so it stays
    at chance, while the residual fusion, which starts out equal to its linear layer, fits it."""
    torch.manual_seed(0)
    fusion = build_fusion("residual", 4, 8)
    x = torch.randn(5, 4)
    assert torch.equal(fusion(x), fusion.linear(x))
    image, shape = torch.randn(512, 2), torch.randn(512, 2)
    target = ((image[:, 0] * shape[:, 0]) > 0).long()
    accuracy = {}
    for name in ("linear", "residual"):
        torch.manual_seed(0)
        net = torch.nn.Sequential(build_fusion(name, 4, 16), torch.nn.Linear(16, 2))
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
        features = torch.cat([shape, image], dim=1)
        for _ in range(300):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(net(features), target).backward()
            optimizer.step()
        accuracy[name] = (net(features).argmax(1) == target).float().mean().item()
    assert accuracy["linear"] < 0.65 and accuracy["residual"] > 0.9, accuracy


def test_film_fusion_starts_from_the_image_alone_and_learns_a_product_of_image_and_shape():
    torch.manual_seed(0)
    fusion = build_fusion("film", 6, 8, shape_dim=2)
    shape, image = torch.randn(5, 2), torch.randn(5, 4)
    assert torch.equal(fusion(torch.cat([shape, image], 1)), fusion.linear(image))  # zero-initialised modulation
    assert torch.equal(fusion(torch.cat([torch.randn(5, 2), image], 1)), fusion.linear(image))
    with pytest.raises(ValueError, match="shape feature"):
        build_fusion("film", 6, 8)
    image, shape = torch.randn(512, 2), torch.randn(512, 2)
    target = ((image[:, 0] * shape[:, 0]) > 0).long()
    torch.manual_seed(0)
    net = torch.nn.Sequential(build_fusion("film", 4, 16, shape_dim=2), torch.nn.Linear(16, 2))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    features = torch.cat([shape, image], dim=1)
    for _ in range(300):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(features), target).backward()
        optimizer.step()
    assert (net(features).argmax(1) == target).float().mean().item() > 0.9
    # every parameter gets a gradient once the modulation is away from zero
    teacher = build_model(model_args_from(flags(fusion="film", shape_feature_dim=16, img_feature_dim=32)))
    out = teacher(torch.randn(2, 3, 32, 32), torch.rand(2, 3, 50))
    (sum(o.sum() for o in out["outputs"]) + out["embedding"].sum()).backward()
    assert teacher.fusion.modulation.weight.grad.abs().sum() > 0


def test_image_only_estimator_and_bin_size():
    model = build_model(model_args_from(flags(shape=None, bin_size=30)))
    assert isinstance(model, ImageEstimator)
    out = model(torch.randn(2, 3, 32, 32))
    assert [o.shape[1] for o in out["outputs"]] == [12, 6, 12, 12, 6, 12]


def test_vgg11_encoder_builds():
    model = ImageEstimator("vgg11", 64).eval()
    assert model(torch.randn(2, 3, 32, 32))["outputs"][0].shape == (2, 24)


def test_pose_loss_known_values():
    codec = ViewpointCodec()
    labels = torch.tensor([[37.5, 100.0, 181.0]])
    bins, offsets = codec.encode(labels)
    outputs = [torch.zeros(1, n) for n in codec.num_bins] * 2
    loss, parts = PoseLoss(codec)(outputs, labels)
    # uniform logits: CE = log(n); zero regression -> prediction 0 against the offsets
    expected_ce = np.log(24) + np.log(12) + np.log(24)
    expected_offset = torch.nn.functional.smooth_l1_loss(torch.zeros(3), 5 * offsets[0]).item()
    assert loss.item() == pytest.approx(expected_ce + expected_offset, rel=1e-5)
    assert parts["ce_elevation"].item() == pytest.approx(np.log(12), rel=1e-5)
    # perfect logits and offsets -> near zero
    good = []
    for k, n in enumerate(codec.num_bins):
        logits = torch.full((1, n), -20.0)
        logits[0, bins[0, k]] = 20.0
        good.append(logits)
    for k, n in enumerate(codec.num_bins):
        reg = torch.zeros(1, n)
        reg[0, bins[0, k]] = torch.atanh(2 * offsets[0, k])
        good.append(reg)
    assert PoseLoss(codec)(good, labels)[0].item() < 1e-5


def test_infonce_prefers_matching_pairs():
    torch.manual_seed(0)
    x = torch.randn(16, 8)
    loss = InfoNCE(dropout=0.0).eval()
    assert loss(x, x).item() < loss(x, torch.randn(16, 8)).item()
    assert loss(x, x).item() < np.log(16)


def test_strict_weight_loading_names_the_problem():
    small = build_model(model_args_from(flags()))
    other = build_model(model_args_from(flags(img_feature_dim=64)))
    with pytest.raises(CheckpointError, match="shape image_encoder.backbone.fc.weight"):
        load_weights(other, small.state_dict(), "teacher.pth")
    with pytest.raises(CheckpointError, match="missing"):
        load_weights(build_model(model_args_from(flags(shape=None))), small.state_dict(), "x")


def test_a_tiny_model_learns_on_generated_data(synthetic_root):
    """A few dozen steps on a handful of synthetic crops drive the pose loss well down."""
    from dataset.transforms import normalize_batch
    from dataset.viewpoint import ViewpointDataset

    torch.manual_seed(0)
    ds = ViewpointDataset(synthetic_root, "Synthetic", "train", shape="PointCloud", input_dim=32, point_num=200,
                          augment=False)
    batch = [ds[i] for i in range(0, 48, 3)]
    images = normalize_batch(torch.stack([b["image"] for b in batch]))
    points = torch.stack([b["points"] for b in batch])
    labels = torch.stack([b["label"] for b in batch])
    model = build_model(model_args_from(flags()))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = PoseLoss(ViewpointCodec())
    losses = []
    for _ in range(60):
        loss, _ = criterion(model(images, points)["outputs"], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


def test_linear_head_feeds_the_backbone_output_to_the_heads_and_round_trips_through_its_checkpoint_arguments():
    args = model_args_from(flags(shape=None, head="linear"))
    model = build_model(args)
    assert isinstance(model.compress, torch.nn.Identity) and model.image_encoder.feature_dim == 200
    image = torch.randn(2, 3, 32, 32)
    out = model.eval()(image)
    assert torch.equal(out["feature"], model.image_encoder(image))  # the heads read the backbone's last layer
    assert [o.shape[1] for o in out["outputs"]] == [24, 12, 24, 24, 12, 24]
    load_weights(build_model(args), model.state_dict(), "x")  # the stored arguments rebuild the same network
    with pytest.raises(ValueError, match="unknown head"):
        build_model({**args, "head": "conv"})


def test_direct_head_reads_the_backbones_pooled_feature_like_the_controls_classifier():
    args = model_args_from(flags(shape=None, head="direct"))
    model = build_model(args).eval()
    assert isinstance(model.image_encoder.backbone.fc, torch.nn.Identity)
    assert model.feature_dim == model.image_encoder.feature_dim == 512  # resnet18's pooled channels
    image = torch.randn(2, 3, 32, 32)
    out = model(image)
    assert out["feature"].shape == (2, 512) and out["embedding"].shape == (2, 200)
    assert torch.equal(out["feature"], model.image_encoder(image))
    # one Linear layer from the pooled feature to each head, as the control's fc
    assert model.heads.classify[0].weight.shape == (24, 512)
    load_weights(build_model(args), model.state_dict(), "x")


@pytest.mark.parametrize("kind", ["image", "teacher"])
def test_detached_offsets_keep_the_outputs_and_keep_the_offset_loss_out_of_the_network(kind):
    """``detach_offsets``: the same six outputs; the offset loss trains the regressors and nothing beneath them,
    while the bin loss still reaches the backbone."""
    torch.manual_seed(0)
    model = build_model(model_args_from(flags(shape=None if kind == "image" else "PointCloud", head="direct",
                                              fusion="linear"))).eval()
    inputs = (torch.randn(3, 3, 32, 32),) + (() if kind == "image" else (torch.rand(3, 3, 50),))
    plain = model(*inputs)["outputs"]
    model.heads.detach_offsets = True
    detached = model(*inputs)["outputs"]
    assert all(torch.equal(a, b) for a, b in zip(plain, detached))

    labels = torch.tensor([[10.0, 5.0, 350.0], [200.0, 30.0, 20.0], [90.0, 60.0, 170.0]])
    codec = ViewpointCodec()
    bins, _ = codec.encode(labels)
    offset_loss = sum(o.gather(1, bins[:, k:k + 1]).pow(2).sum() for k, o in enumerate(detached[3:]))
    offset_loss.backward(retain_graph=True)
    assert model.heads.regress[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.image_encoder.parameters())
    bin_loss = sum(torch.nn.functional.cross_entropy(o, bins[:, k]) for k, o in enumerate(detached[:3]))
    bin_loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.image_encoder.parameters())


def test_offset_detach_leaves_the_network_to_the_bins(synthetic_root, tmp_path):
    """``training.py --offset_detach``: the offset loss's weight changes the regressors and nothing beneath them
    (one epoch at weight 1 and at weight 0, same seed, end with the same backbone); without the flag it does."""
    import training
    from auxiliary.checkpoint import load_checkpoint
    from conftest import TINY_TEACHER

    def weights(weight, *extra):
        out = training.main(TINY_TEACHER + ["--shape", "None", "--head", "direct", "--data_dir", str(synthetic_root),
                                            "--n_epoch", "1", "--offset_weight", weight, *extra,
                                            "--output_dir", str(tmp_path / f"w{weight}{len(extra)}")])
        return load_checkpoint(out / "checkpoint.pth")["model"]

    detached, detached_unweighted, plain = weights("1", "--offset_detach"), weights("0", "--offset_detach"), weights("1")
    backbone = [k for k in plain if k.startswith("image_encoder.") and plain[k].is_floating_point()]
    assert all(torch.equal(detached[k], detached_unweighted[k]) for k in backbone)
    assert not torch.equal(detached["heads.regress.0.weight"], detached_unweighted["heads.regress.0.weight"])
    assert not all(torch.equal(detached[k], plain[k]) for k in backbone)


def test_correlation_fusion_turns_its_azimuth_logits_with_the_cloud_and_nothing_else():
    """A cloud turned by one bin (15 degrees counter-clockwise about z) has an azimuth label one bin lower: the
    direction map rolls by +1, the azimuth logits by -1, and every other output stays the same; the min-max
    normalisation of the turned cloud (another shift and scale) does not matter."""
    from dataset.pointcloud import normalize_points, rotate_z
    torch.manual_seed(0)
    model = PoseEstimator("resnet18", 32, 8, fusion="correlation").eval()
    with torch.no_grad():  # a trained-looking modulation, so that the shape reaches every head
        model.fusion.film.modulation.weight.normal_()
        model.fusion.query.weight.normal_()
    cloud = (np.random.default_rng(0).normal(size=(300, 3)) * [1.0, 0.5, 0.3]).astype(np.float32)

    def prepared(points):
        return torch.from_numpy(np.ascontiguousarray(normalize_points(points).T))[None]

    image = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        maps = [model.shape_encoder(prepared(rotate_z(cloud, turn))) for turn in (0.0, 15.0)]
        outs = [model(image, prepared(rotate_z(cloud, turn)))["outputs"] for turn in (0.0, 15.0)]
        correlation = [model.fusion(torch.cat([m.flatten(1), model.image_encoder(image)], 1))[1] for m in maps]
    assert maps[0].shape == (1, 8, 24)
    assert torch.allclose(maps[0].roll(1, dims=2), maps[1], atol=1e-5)
    assert torch.allclose(correlation[0].roll(-1, dims=1), correlation[1], atol=1e-5)
    assert not torch.allclose(correlation[0], correlation[1], atol=1e-3)  # it does depend on the turn
    for before, after in zip(outs[0][1:], outs[1][1:]):
        assert torch.allclose(before, after, atol=1e-5)
    assert model.shape_encoder.feature_dim == 8 * 24


def test_correlation_fusion_needs_a_map_of_bins():
    with pytest.raises(ValueError, match="multiple of the views per ring"):  # 5 views a ring over 24 bins
        PoseEstimator("resnet18", 32, 8, fusion="correlation", shape="MultiView", view_num=10, view_tour=2,
                      view_feature_dim=8)
    with pytest.raises(ValueError, match="bins x channels"):
        build_fusion("correlation", 40, 8, shape_dim=10, bins=4)


def test_the_default_fusion_is_the_correlation_for_point_clouds_and_views():
    """``--fusion auto`` (the default) resolves when the network is built: a point-cloud teacher and a multi-view one
    get the correlation fusion (views spread over the azimuth bins); a named fusion stays."""
    from engine.options import model_parser
    parse = model_parser().parse_args
    cloud = parse([])
    assert cloud.fusion == "auto"
    assert model_args_from(flags(fusion=cloud.fusion))["fusion"] == "correlation"
    views = model_args_from(flags(fusion="auto", shape="MultiView", view_num=4, view_encoder="resnet18",
                                  view_feature_dim=8, view_size=0, view_tour=2))
    assert views["fusion"] == "correlation"
    assert build_model(views).shape_encoder.feature_dim == 2 * 8 * 24  # 2 rings of 8-d view features a direction
    assert model_args_from(flags(fusion=parse(["--fusion", "deform"]).fusion))["fusion"] == "deform"
    teacher = build_model(model_args_from(flags(fusion="auto", shape_feature_dim=8)))
    assert type(teacher.fusion).__name__ == "CorrelationFusion"
