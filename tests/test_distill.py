import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import default_collate

import testing
import trainingKD
from auxiliary.angles import ViewpointCodec
from auxiliary.checkpoint import CheckpointError, load_checkpoint
from engine.loop import to_device
from dataset.viewpoint import ViewpointDataset
from auxiliary.errors import InputError
from auxiliary.rotation import label_geodesic_error_torch
from model.crd import ContrastMemory, CRDLoss, collapse_warning, off_diagonal, pose_weight
from model.distill import DistillObjective, freeze, kl_divergence
from model.estimator import build_model
from model.pose_loss import PoseLoss

STUDENT = ["--dataset", "Synthetic", "--student_encoder", "resnet18", "--img_feature_dim", "32", "--batch_size", "16",
           "--workers", "0", "--print_freq", "0", "--lr", "1e-3", "--seed", "1", "--nce_k", "20", "--feat_dim", "16"]


def distil(root, teacher, out, *extra):
    return trainingKD.main(STUDENT + ["--data_dir", str(root), "--teacher_model", str(teacher),
                                      "--output_dir", str(out), *extra])


def test_memory_update_is_a_renormalised_momentum_average():
    memory = ContrastMemory(6, feat_dim=4, momentum=0.5)
    before = memory.memory_student.clone()
    teacher_before = memory.memory_teacher.clone()
    value = F.normalize(torch.randn(2, 4), dim=1)
    index = torch.tensor([1, 4])
    poses = torch.tensor([[10.0, 90.0, 180.0], [200.0, 100.0, 170.0]])
    memory.update(value, -value, index, poses)
    expected = F.normalize(0.5 * before[index] + 0.5 * value, dim=1)
    assert torch.allclose(memory.memory_student[index], expected, atol=1e-6)
    assert torch.allclose(memory.memory_teacher[index], F.normalize(0.5 * teacher_before[index] - 0.5 * value, dim=1),
                          atol=1e-6)
    assert torch.allclose(memory.memory_student[index].norm(dim=1), torch.ones(2))
    untouched = torch.tensor([0, 2, 3, 5])
    assert torch.equal(memory.memory_student[untouched], before[untouched])
    assert torch.equal(memory.poses[index], poses)


def test_negatives_never_include_the_positive_and_cover_all_others():
    torch.manual_seed(0)
    memory = ContrastMemory(7, feat_dim=4)
    index = torch.arange(7).repeat(50)
    negatives = memory.sample_negatives(index, 40)
    assert negatives.shape == (350, 40)
    assert not (negatives == index[:, None]).any()
    assert negatives.min() >= 0 and negatives.max() <= 6
    for i in range(7):  # every other sample is drawn, at about the uniform rate
        counts = torch.bincount(negatives[index == i].flatten(), minlength=7).float()
        assert counts[i] == 0
        others = counts[torch.arange(7) != i]
        assert (others > 0.7 * others.mean()).all()


@pytest.mark.parametrize("weighting, distance, expected", [
    ("none", 37.0, 1.0), ("linear", 90.0, 0.5), ("linear", 180.0, 1.0), ("linear", 0.0, 0.0),
    ("sqrt", 45.0, 0.5), ("square", 90.0, 0.25), ("sin", 30.0, 0.5), ("sin", 90.0, 1.0),
    ("sinsin", 45.0, 0.5), ("sinsin", 90.0, 1.0)])
def test_pose_weights_at_known_distances(weighting, distance, expected):
    assert pose_weight(torch.tensor([distance]), weighting).item() == pytest.approx(expected, abs=1e-6)


def test_negative_weights_use_the_geodesic_distance_to_the_stored_pose():
    crd = CRDLoss(8, 8, num_samples=3, feat_dim=4, nce_k=2, weighting="linear",
                  poses=torch.tensor([[0.0, 90.0, 180.0], [90.0, 90.0, 180.0], [180.0, 90.0, 180.0]]))
    weights = crd.negative_weights(torch.tensor([[0.0, 90.0, 180.0]]), torch.tensor([[1, 2]]))
    assert torch.allclose(weights, torch.tensor([[0.5, 1.0]]), atol=1e-6)  # azimuth 90 and 180 degrees away


def test_infonce_with_zero_weighted_negatives_is_zero_and_nce_normaliser_runs():
    crd = CRDLoss(4, 4, num_samples=5, feat_dim=4, nce_k=4, tau=0.5, objective="infonce")
    logits = torch.randn(3, 5)
    assert crd.side_loss(logits, torch.zeros(3, 4), 0).item() == pytest.approx(0.0, abs=1e-6)
    plain = -(logits[:, 0] - torch.logsumexp(logits, 1)).mean()
    assert crd.side_loss(logits, None, 0).item() == pytest.approx(plain.item(), rel=1e-6)

    nce = CRDLoss(4, 4, num_samples=5, feat_dim=4, nce_k=4, objective="nce", z_momentum=0.9)
    first, second = torch.zeros(2, 5), torch.full((2, 5), math.log(2.0))
    nce.side_loss(first, None, 0)
    assert nce.memory.z[0].item() == pytest.approx(5.0)           # N * mean(exp(0)) on the first call
    nce.side_loss(second, None, 0)
    assert nce.memory.z[0].item() == pytest.approx(0.9 * 5 + 0.1 * 10)  # then a running average
    assert nce.memory.z[1].item() == -1.0                         # the other side is still unset


def test_kl_divergence_is_zero_for_equal_logits_and_positive_otherwise():
    logits = torch.randn(4, 6)
    assert kl_divergence(logits, logits, 4.0).item() == pytest.approx(0.0, abs=1e-6)
    assert kl_divergence(torch.randn(4, 6), logits, 4.0).item() > 0


def test_distillation_steps_lower_the_loss_and_leave_the_teacher_bit_identical(synthetic_root):
    torch.manual_seed(0)
    shape_args = dict(shape="PointCloud", input_dim=32, point_num=100, seed=0, classes=["car", "chair"])
    dataset = ViewpointDataset(synthetic_root, "Synthetic", "train", **shape_args)
    batches = [to_device(default_collate([dataset[i] for i in range(k, k + 8)]), "cpu") for k in (0, 8, 16)]
    teacher = freeze(build_model({"kind": "teacher", "img_encoder": "resnet18", "img_feature_dim": 16,
                                  "shape_feature_dim": 16, "fusion": "deform", "num_bins": [24, 12, 24]}))
    student = build_model({"kind": "image", "img_encoder": "resnet18", "img_feature_dim": 16, "num_bins": [24, 12, 24]})
    crd = CRDLoss(200, 200, num_samples=len(dataset), feat_dim=16, nce_k=12, weighting="linear",
                  poses=torch.from_numpy(dataset.labels()).float())
    teacher_state = {k: v.clone() for k, v in teacher.state_dict().items()}
    objective = DistillObjective(teacher, PoseLoss(ViewpointCodec()), crd, gamma=0.5, embed_kl=0.5)
    optimizer = torch.optim.Adam(list(student.parameters()) + list(crd.parameters()), lr=1e-3)
    student.train()
    history = []
    for _ in range(12):
        total = 0.0
        for batch in batches:
            loss, parts, _ = objective(student, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        history.append(total / len(batches))
    assert {"pose", "crd", "kd", "embed_kl"} <= set(parts)
    assert sum(history[-3:]) < 0.8 * sum(history[:3])
    # parameters and BatchNorm running statistics of the teacher did not move
    assert all(torch.equal(teacher_state[k], v) for k, v in teacher.state_dict().items())
    assert all(p.grad is None for p in teacher.parameters())


def test_trainingkd_freezes_the_teacher_and_logs_every_loss_term(synthetic_root, teacher_path, tmp_path):
    args = trainingKD.get_args_parser().parse_args(["--teacher_model", str(teacher_path)])
    teacher, _ = trainingKD.load_teacher(args, torch.device("cpu"))
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    assert (args.input_dim, args.point_num) == (32, 100)  # taken from the teacher's checkpoint
    out = distil(synthetic_root, teacher_path, tmp_path / "kd", "--n_epoch", "1", "--crd", "--gamma", "1")
    for name in ("args.json", "metrics.jsonl", "checkpoint.pth", "best_student.pt", "results_best.json"):
        assert (out / name).is_file(), name
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"pose", "crd", "kd"} <= set(lines[0]["train"])


def test_resume_restores_the_memory_banks_exactly(synthetic_root, teacher_path, tmp_path):
    memory = ("--crd", "--crd_negatives", "memory")
    straight = distil(synthetic_root, teacher_path, tmp_path / "straight", "--n_epoch", "2", *memory)
    resumed = tmp_path / "resumed"
    distil(synthetic_root, teacher_path, resumed, "--n_epoch", "1", *memory)
    first = load_checkpoint(resumed / "checkpoint.pth")["crd"]
    distil(synthetic_root, teacher_path, resumed, "--n_epoch", "2", *memory)
    a, b = load_checkpoint(straight / "checkpoint.pth"), load_checkpoint(resumed / "checkpoint.pth")
    assert not torch.equal(first["memory.memory_student"], b["crd"]["memory.memory_student"])  # epoch 2 trained
    for key in ("memory.memory_student", "memory.memory_teacher", "memory.poses", "memory.z"):
        assert torch.equal(a["crd"][key], b["crd"][key]), key
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert [json.loads(x)["epoch"] for x in (resumed / "metrics.jsonl").read_text().splitlines()] == [0, 1]


def test_best_student_is_read_by_testing_as_an_image_only_network(synthetic_root, teacher_path, tmp_path):
    out = distil(synthetic_root, teacher_path, tmp_path / "kd", "--n_epoch", "1")
    # the default loss is the reference's KL recipe (CRD is added by --crd only)
    train = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])["train"]
    assert {"pose", "kd", "embed_kl"} <= set(train) and "crd" not in train
    result = testing.main(["--data_dir", str(synthetic_root), "--shape", "None", "--model", str(out / "best_student.pt"),
                           "--img_feature_dim", "32", "--output_dir", str(tmp_path / "test"), "--workers", "0"])
    assert result["table"]["mean"]["n"] == 12 * 4
    # an image-only teacher (the control without 3D knowledge): no shape is loaded, CRD and KL run on its outputs
    control = distil(synthetic_root, out / "best_student.pt", tmp_path / "of_image", "--n_epoch", "1", "--crd",
                     "--crd_negatives", "batch")
    assert json.loads((control / "args.json").read_text())["shape"] is None
    train = json.loads((control / "metrics.jsonl").read_text().splitlines()[0])["train"]
    assert all(math.isfinite(train[k]) and train[k] > 0 for k in ("crd", "kd", "embed_kl"))
    with pytest.raises(CheckpointError, match="reads no shapes, not PointCloud"):
        distil(synthetic_root, out / "best_student.pt", tmp_path / "bad", "--shape", "PointCloud")
    with pytest.raises(InputError, match="leave --shape out"):
        distil(synthetic_root, teacher_path, tmp_path / "bad", "--shape", "None")


def crd_diagnostics(student_features, objective="nce"):
    torch.manual_seed(0)
    crd = CRDLoss(8, 8, num_samples=40, feat_dim=16, nce_k=12, tau=0.1, objective=objective)
    teacher_features = torch.randn(len(student_features), 8)
    crd(student_features.requires_grad_(), teacher_features, torch.arange(len(student_features)),
        torch.zeros(len(student_features), 3))
    return crd, {k: float(v) for k, v in crd.diagnostics.items()}


def test_collapse_diagnostics_report_a_collapsed_student_embedding():
    crd, stats = crd_diagnostics(torch.ones(16, 8))  # every sample has the same feature
    assert stats["diag_cos_student"] == pytest.approx(1.0, abs=1e-5)
    assert stats["diag_rank_student"] == pytest.approx(1.0, abs=1e-3)
    assert stats["diag_rank_teacher"] > 4 and stats["diag_cos_teacher"] < 0.5
    warning = collapse_warning(stats)
    assert warning is not None and "student" in warning and "teacher:" not in warning


def test_collapse_diagnostics_stay_quiet_for_spread_embeddings():
    _, stats = crd_diagnostics(torch.randn(16, 8))
    assert stats["diag_cos_student"] < 0.5 and stats["diag_rank_student"] > 4
    assert collapse_warning(stats) is None


def test_gradient_diagnostics_match_the_softmax_identity():
    # InfoNCE without weights: d/dl_0 = q_0 - 1 and d/dl_k = q_k, so the positive's and the negatives' gradient
    # sizes are equal; both are reported per unit of cosine (x 1 / tau)
    crd, stats = crd_diagnostics(torch.randn(16, 8), objective="infonce")
    assert stats["diag_grad_positive"] == pytest.approx(stats["diag_grad_negative"], rel=1e-4)
    assert 0 < stats["diag_grad_positive"] <= 1 / crd.tau
    _, nce = crd_diagnostics(torch.randn(16, 8), objective="nce")
    assert nce["diag_grad_positive"] > 0 and nce["diag_grad_negative"] > 0


def test_distillation_logs_the_crd_diagnostics(teacher_path, synthetic_root, tmp_path):
    distil(synthetic_root, teacher_path, tmp_path / "s", "--crd", "--crd_negatives", "memory", "--n_epoch", "1")
    record = json.loads((tmp_path / "s" / "metrics.jsonl").read_text().splitlines()[0])
    for key in ("diag_cos_student", "diag_cos_teacher", "diag_rank_student", "diag_rank_teacher",
                "diag_grad_positive", "diag_grad_negative", "diag_align", "diag_memory_fresh"):
        assert math.isfinite(record["train"][key])


def test_distillation_with_in_batch_negatives_runs_and_records_its_settings(teacher_path, synthetic_root, tmp_path):
    distil(synthetic_root, teacher_path, tmp_path / "s", "--crd", "--crd_negatives", "batch", "--n_epoch", "1")
    record = json.loads((tmp_path / "s" / "metrics.jsonl").read_text().splitlines()[0])
    assert math.isfinite(record["train"]["diag_align"]) and "diag_memory_fresh" not in record["train"]
    saved = json.loads((tmp_path / "s" / "args.json").read_text())
    assert (saved["crd_negatives"], saved["crd_objective"], saved["crd_positive"]) == ("batch", "infonce", "live")
    # no memory is allocated or saved; resuming the run with memory negatives is refused, naming the missing banks
    assert not any(key.startswith("memory") for key in load_checkpoint(tmp_path / "s" / "checkpoint.pth")["crd"])
    with pytest.raises(CheckpointError, match=r"\(crd\) does not fit(.|\n)*missing memory\.memory_student"):
        distil(synthetic_root, teacher_path, tmp_path / "s", "--crd", "--crd_negatives", "memory", "--n_epoch", "2")


def test_a_student_with_the_direct_head_distils_its_512_d_feature(teacher_path, synthetic_root, tmp_path):
    distil(synthetic_root, teacher_path, tmp_path / "s", "--crd", "--head", "direct", "--n_epoch", "1",
           "--offset_detach")  # (its detached offset regressors beside the KL on them)
    checkpoint = load_checkpoint(tmp_path / "s" / "checkpoint.pth")
    assert checkpoint["model_args"]["head"] == "direct"
    assert json.loads((tmp_path / "s" / "args.json").read_text())["offset_detach"] is True
    assert checkpoint["crd"]["embed_student.linear.weight"].shape == (16, 512)  # --feat_dim 16 from the feature
    assert checkpoint["crd"]["embed_teacher.linear.weight"].shape == (16, 200)


@pytest.mark.parametrize("positive", ["memory", "live"])
def test_the_positive_is_the_memory_row_or_the_live_embedding(positive):
    # one anchor (index 0); its own memory rows are never drawn as negatives, so they matter only as positives
    torch.manual_seed(0)
    crd = CRDLoss(8, 8, num_samples=20, feat_dim=16, nce_k=8, tau=0.1, objective="infonce", positive=positive)
    student, teacher, index, poses = torch.randn(1, 8), torch.randn(1, 8), torch.tensor([0]), torch.zeros(1, 3)
    state = copy.deepcopy(crd.state_dict())

    def loss_with_anchor_rows(row):
        crd.load_state_dict(state)
        crd.memory.memory_teacher[0] = row
        crd.memory.memory_student[0] = row
        return crd(student, teacher, index, poses).item()

    a, b = loss_with_anchor_rows(F.normalize(torch.randn(16), dim=0)), loss_with_anchor_rows(
        F.normalize(torch.randn(16), dim=0))
    if positive == "live":
        assert a == pytest.approx(b, rel=1e-6)
        # known value: each side's positive logit is the live student-teacher cosine over tau
        crd.load_state_dict(state)
        negatives = crd.memory.sample_negatives(index, crd.k)
        with torch.no_grad():
            s, t = crd.embed_student(student), crd.embed_teacher(teacher)
            expected = 0.0
            for own, other, bank in ((s, t, crd.memory.memory_teacher), (t, s, crd.memory.memory_student)):
                logits = torch.cat([(own * other).sum(1, keepdim=True),
                                    torch.einsum("bd,bkd->bk", own, bank[negatives])], 1) / crd.tau
                expected += -(logits[:, 0] - torch.logsumexp(logits, 1)).mean().item()
        assert a == pytest.approx(expected, rel=1e-5)
    else:
        assert a != pytest.approx(b, rel=1e-3)
    with pytest.raises(ValueError, match="positive"):
        CRDLoss(8, 8, num_samples=20, positive="queue")


def test_off_diagonal_keeps_each_rows_other_columns_in_order():
    square = torch.arange(16.0).view(4, 4)
    expected = torch.tensor([[1.0, 2, 3], [4, 6, 7], [8, 9, 11], [12, 13, 14]])
    assert torch.equal(off_diagonal(square), expected)


@pytest.mark.parametrize("weighting", ["none", "linear"])
def test_in_batch_negatives_take_a_known_value_without_a_memory(weighting):
    torch.manual_seed(0)
    crd = CRDLoss(8, 8, num_samples=30, feat_dim=16, tau=0.2, objective="infonce", positive="live",
                  negatives="batch", weighting=weighting)
    student, teacher = torch.randn(5, 8, requires_grad=True), torch.randn(5, 8)
    index, poses = torch.tensor([3, 7, 0, 12, 29]), torch.rand(5, 3) * torch.tensor([360.0, 180.0, 360.0])
    loss = crd(student, teacher, index, poses)
    with torch.no_grad():  # the same loss written out: CLIP's two softmaxes, negatives weighted by pose distance
        s, t = crd.embed_student(student), crd.embed_teacher(teacher)
        sim = s @ t.t() / crd.tau
        expected = 0.0
        for logits in (sim, sim.t()):
            for i in range(5):
                terms = [logits[i, i]]
                for j in range(5):
                    if j != i:
                        w = 1.0
                        if weighting == "linear":
                            w = label_geodesic_error_torch(poses[i:i + 1], poses[j:j + 1]).item() / 180
                        terms.append(logits[i, j] + math.log(max(w, 1e-12)))
                expected += -(logits[i, i] - torch.logsumexp(torch.stack(terms), 0)).item() / 5
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # no memory is allocated (so none is read or written), and the loss is a function of the batch alone
    assert crd.memory is None and not any("memory" in key for key in crd.state_dict())
    assert crd(student, teacher, index, poses).item() == pytest.approx(loss.item(), rel=1e-6)
    assert "diag_memory_fresh" not in crd.diagnostics and crd.diagnostics["diag_grad_negative"] > 0
    # both embedding heads and the student's feature get gradients
    loss.backward()
    for grad in (student.grad, crd.embed_student.linear.weight.grad, crd.embed_teacher.linear.weight.grad):
        assert grad is not None and grad.abs().sum() > 0


def test_in_batch_negatives_refuse_the_memory_positive_and_the_nce_objective():
    with pytest.raises(ValueError, match="live positive and the infonce"):
        CRDLoss(8, 8, num_samples=20, negatives="batch", objective="nce", positive="live")
    with pytest.raises(ValueError, match="negatives"):
        CRDLoss(8, 8, num_samples=20, negatives="queue")
    args = trainingKD.get_args_parser().parse_args(["--teacher_model", "t.pth"])  # in-batch negatives by default
    trainingKD.resolve_crd_args(args)
    assert (args.crd_negatives, args.crd_objective, args.crd_positive) == ("batch", "infonce", "live")
    args = trainingKD.get_args_parser().parse_args(["--teacher_model", "t.pth", "--crd_negatives", "memory"])
    trainingKD.resolve_crd_args(args)
    assert (args.crd_objective, args.crd_positive) == ("nce", "memory")
    with pytest.raises(InputError, match="--crd_objective infonce, not nce"):
        trainingKD.resolve_crd_args(trainingKD.get_args_parser().parse_args(
            ["--teacher_model", "t.pth", "--crd_negatives", "batch", "--crd_objective", "nce"]))


def test_skip_bad_is_refused_with_memory_negatives_under_torchrun_only(monkeypatch):
    def resolve(*flags):
        trainingKD.resolve_crd_args(trainingKD.get_args_parser().parse_args(["--teacher_model", "t.pth", *flags]))

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(InputError, match="--skip_bad cannot be combined with --crd --crd_negatives memory"):
        resolve("--crd", "--crd_negatives", "memory", "--skip_bad")
    resolve("--crd", "--skip_bad")  # in-batch negatives: each process contrasts its own batch, of any size
    resolve("--crd", "--crd_negatives", "memory")
    monkeypatch.setenv("WORLD_SIZE", "1")
    resolve("--crd", "--crd_negatives", "memory", "--skip_bad")


def test_in_batch_contrast_aligns_student_and_teacher_embeddings():
    # a student feature that carries the teacher's information: minimising the in-batch loss makes s_i agree with
    # t_i (diag_align rises towards 1) without collapsing the batch
    torch.manual_seed(0)
    crd = CRDLoss(8, 8, num_samples=40, feat_dim=16, tau=0.1, objective="infonce", positive="live", negatives="batch")
    teacher = torch.randn(32, 8)
    student = teacher @ torch.randn(8, 8)
    index, poses = torch.arange(32), torch.zeros(32, 3)
    optimizer = torch.optim.Adam(crd.parameters(), lr=0.05)
    crd(student, teacher, index, poses)
    before = float(crd.diagnostics["diag_align"])
    for _ in range(100):
        optimizer.zero_grad()
        crd(student, teacher, index, poses).backward()
        optimizer.step()
    assert float(crd.diagnostics["diag_align"]) > max(0.8, before + 0.3)
    assert float(crd.diagnostics["diag_cos_student"]) < 0.3


def test_alignment_and_memory_freshness_diagnostics():
    torch.manual_seed(0)
    crd = CRDLoss(8, 8, num_samples=40, feat_dim=16, nce_k=12, tau=0.1)
    crd.embed_teacher.load_state_dict(crd.embed_student.state_dict())
    features, index, poses = torch.randn(16, 8), torch.arange(16), torch.zeros(16, 3)
    crd(features, features, index, poses)
    first = {k: float(v) for k, v in crd.diagnostics.items()}
    assert first["diag_align"] == pytest.approx(1.0, abs=1e-5)  # the same embedding on both sides
    assert abs(first["diag_memory_fresh"]) < 0.3                # the rows are still the random initial ones
    crd(features, features, index, poses)                         # after one momentum-0.5 update of those rows
    assert float(crd.diagnostics["diag_memory_fresh"]) > 0.6


def test_the_effective_rank_is_held_between_measurements_when_measured_sparsely():
    # on a GPU the rank (an SVD, which synchronises the device) is measured every RANK_EVERY_CUDA-th step only
    torch.manual_seed(0)
    crd = CRDLoss(8, 8, num_samples=40, feat_dim=16, nce_k=12, tau=0.1)
    crd.rank_every = 2
    teacher, index, poses = torch.randn(16, 8), torch.arange(16), torch.zeros(16, 3)
    ranks = []
    for student in (torch.ones(16, 8), torch.randn(16, 8), torch.randn(16, 8)):  # collapsed, then spread
        crd(student, teacher, index, poses)
        ranks.append(float(crd.diagnostics["diag_rank_student"]))
    assert ranks[0] == pytest.approx(1.0, abs=1e-3) and ranks[1] == ranks[0]  # held at the second step
    assert ranks[2] > 4  # measured again at the third


def test_the_pose_loss_alone_is_three_flags_away_from_the_default(synthetic_root, teacher_path, tmp_path):
    out = distil(synthetic_root, teacher_path, tmp_path / "pose", "--n_epoch", "1", "--alpha", "1", "--gamma", "0",
                 "--embed_kl", "0")
    train = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])["train"]
    assert "pose" in train and not {"kd", "embed_kl", "crd"} & set(train)
    assert train["loss"] == pytest.approx(train["pose"], rel=1e-5)  # alpha 1: the loss is the pose loss
