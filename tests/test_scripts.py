import csv
import json

import numpy as np
import pytest
import torch

import testing
import training
from auxiliary.checkpoint import CheckpointError, load_checkpoint
from auxiliary.metrics import per_class_table

TINY = ["--dataset", "Synthetic", "--img_encoder", "resnet18", "--img_feature_dim", "32", "--shape_feature_dim",
        "16", "--input_dim", "32", "--point_num", "100", "--batch_size", "16", "--workers", "0", "--print_freq", "0",
        "--lr", "1e-3", "--seed", "1"]


def train(root, out, *extra):
    return training.main(TINY + ["--data_dir", str(root), "--output_dir", str(out), *extra])


def test_two_epochs_write_every_file_and_testing_agrees_with_predictions(synthetic_root, tmp_path):
    out = train(synthetic_root, tmp_path / "run", "--n_epoch", "2")
    for name in ("args.json", "metrics.jsonl", "checkpoint.pth", "model_best.pth", "results_best.json"):
        assert (out / name).is_file(), name
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [0, 1]
    assert {"loss", "acc30", "contrast", "offset"} <= set(lines[0]["train"])
    assert json.loads((out / "args.json").read_text())["n_epoch"] == 2
    checkpoint = load_checkpoint(out / "checkpoint.pth", kind="teacher")
    assert checkpoint["epoch"] == 1 and checkpoint["data_args"]["input_dim"] == 32

    result = testing.main(["--data_dir", str(synthetic_root), "--model", str(out / "model_best.pth"),
                           "--output_dir", str(tmp_path / "test"), "--workers", "0"])
    with open(tmp_path / "test" / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 * 4  # every val sample once
    recomputed = per_class_table(np.array([float(r["error_deg"]) for r in rows]), np.array([r["cat"] for r in rows]))
    saved = json.loads((tmp_path / "test" / "results.json").read_text())
    assert saved["mean"]["acc30"] == pytest.approx(recomputed["mean"]["acc30"])
    assert saved["mean"]["mederr"] == pytest.approx(recomputed["mean"]["mederr"], abs=1e-3)
    for cat, row in recomputed["classes"].items():
        assert saved["classes"][cat]["n"] == row["n"] and saved["classes"][cat]["acc30"] == pytest.approx(row["acc30"])
    assert result["table"]["pooled"]["acc30"] == pytest.approx(recomputed["pooled"]["acc30"])
    # the error column is the geodesic error between the written raw angles
    from auxiliary.rotation import geodesic_distance, viewpoint_to_rotation
    r = rows[0]
    pred = viewpoint_to_rotation(*(float(r[f"pred_{k}"]) for k in ("azimuth", "elevation", "inplane")))
    gt = viewpoint_to_rotation(*(float(r[f"gt_{k}"]) for k in ("azimuth", "elevation", "inplane")))
    assert geodesic_distance(pred, gt) == pytest.approx(float(r["error_deg"]), abs=1e-2)


def test_resume_continues_at_the_next_epoch_with_the_same_state(synthetic_root, tmp_path):
    straight = train(synthetic_root, tmp_path / "straight", "--n_epoch", "2", "--shape", "None")
    split = train(synthetic_root, tmp_path / "split", "--n_epoch", "1", "--shape", "None")
    first = load_checkpoint(split / "checkpoint.pth")
    train(synthetic_root, tmp_path / "split", "--n_epoch", "2", "--shape", "None")  # rerun: resumes at epoch 1
    a, b = load_checkpoint(straight / "checkpoint.pth"), load_checkpoint(split / "checkpoint.pth")
    assert first["epoch"] == 0 and b["epoch"] == 1
    for key, value in a["model"].items():
        torch.testing.assert_close(b["model"][key], value, rtol=1e-5, atol=1e-6)
    for key, state in a["optimizer"]["state"].items():
        assert int(b["optimizer"]["state"][key]["step"]) == int(state["step"])
        torch.testing.assert_close(b["optimizer"]["state"][key]["exp_avg"], state["exp_avg"], rtol=1e-4, atol=1e-7)
    epochs = [json.loads(line)["epoch"] for line in (split / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1]


def test_testing_refuses_a_checkpoint_of_the_other_kind(synthetic_root, tmp_path):
    out = train(synthetic_root, tmp_path / "run", "--n_epoch", "1", "--shape", "None")
    with pytest.raises(CheckpointError, match="holds an image-only network"):
        testing.main(["--data_dir", str(synthetic_root), "--model", str(out / "model_best.pth"),
                      "--shape", "PointCloud", "--workers", "0"])
    with pytest.raises(CheckpointError, match="img_feature_dim 32, not 2048"):
        testing.main(["--data_dir", str(synthetic_root), "--model", str(out / "model_best.pth"),
                      "--img_feature_dim", "2048", "--workers", "0"])
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth is not a readable checkpoint"):
        testing.main(["--data_dir", str(synthetic_root), "--model", str(tmp_path / "junk.pth")])


def test_few_shot_fine_tuning_starts_from_a_base_class_model(synthetic_root, tmp_path):
    base = train(synthetic_root, tmp_path / "base", "--n_epoch", "1", "--novel")
    base_classes = json.loads((base / "results_best.json").read_text())["classes"]
    assert set(base_classes) == {"bed", "guitar", "mug"}  # zero-shot: evaluated on the held-out classes
    tuned = train(synthetic_root, tmp_path / "shot", "--n_epoch", "1", "--model", str(base / "model_best.pth"),
                  "--shot", "2")
    assert (tuned / "model_best.pth").is_file()
    with pytest.raises(CheckpointError, match="holds a teacher"):
        train(synthetic_root, tmp_path / "bad", "--n_epoch", "1", "--model", str(base / "model_best.pth"),
              "--shape", "None")


def test_point_norm_and_optimizer_flags_reach_the_checkpoint_and_testing(synthetic_root, tmp_path):
    out = train(synthetic_root, tmp_path / "run", "--n_epoch", "1", "--point_norm", "sphere", "--optimizer", "adamw",
                "--no_decay_norm_bias")
    assert load_checkpoint(out / "model_best.pth")["data_args"]["point_norm"] == "sphere"
    assert [g["weight_decay"] for g in load_checkpoint(out / "checkpoint.pth")["optimizer"]["param_groups"]] == \
        [5e-4, 0.0]

    def errors(*extra):  # testing.py's per-sample errors (the point sampling is seeded, so runs are comparable)
        result = testing.main(["--data_dir", str(synthetic_root), "--model", str(out / "model_best.pth"),
                               "--output_dir", str(tmp_path / "test"), "--workers", "0", *extra])
        return result["errors"]

    # testing.py takes the normalisation from the checkpoint: the same errors as with --point_norm sphere
    np.testing.assert_array_equal(errors(), errors("--point_norm", "sphere"))
    assert not np.array_equal(errors(), errors("--point_norm", "minmax"))
