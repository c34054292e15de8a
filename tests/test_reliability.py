"""Bad input gets one clear error and an exit status; interruptions and failed writes lose nothing; resume is exact."""
import csv
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import testing
import training
import trainingKD
from auxiliary import checkpoint as checkpoint_module
from auxiliary.checkpoint import CheckpointError, atomic_save, load_checkpoint
from auxiliary.errors import EXIT_BAD_INPUT, EXIT_NON_FINITE
from engine.cli import run_cli
from dataset import check
from dataset.annotations import shape_path
from dataset.pointcloud import write_ply_points
from model.pose_loss import PoseLoss

from conftest import TINY_TEACHER, without_flags

REPO = Path(__file__).resolve().parents[1]
ROW = 4  # a training row of the generated table; its line in the file is ROW + 2


def read_rows(root):
    with open(root / "Synthetic.txt", newline="") as f:
        return list(csv.reader(f))


def write_rows(root, rows):
    with open(root / "Synthetic.txt", "w", newline="") as f:
        csv.writer(f).writerows(rows)


def edit_row(root, **changes):
    rows = read_rows(root)
    header, row = rows[0], rows[ROW + 1]
    assert row[header.index("set")] == "train"
    for name, value in changes.items():
        row[header.index(name)] = value
    write_rows(root, rows)
    return dict(zip(header, row))


def row_files(root):
    rows = read_rows(root)
    row = dict(zip(rows[0], rows[ROW + 1]))
    return root / row["im_path"], shape_path(root, "pointcloud", row["cat"], float(row["cad_index"]))


def cli(capsys, script, argv):
    """Run a script as its __main__ does; returns (exit status, stderr)."""
    with pytest.raises(SystemExit) as stopped:
        run_cli(script.main, argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: ")
    return stopped.value.code, err.strip().splitlines()[-1]


def train_argv(root, out, *extra):
    return TINY_TEACHER + ["--data_dir", str(root), "--output_dir", str(out), "--n_epoch", "1", *extra]


# ---------------------------------------------------------------------------------------------- bad input

TABLE_CASES = {
    "missing columns": (None, r"line 6: 5 fields, expected 19"),
    "non-numeric angle": ({"azimuth": "north"}, r"line 6: column 'azimuth' is not a number: 'north'"),
    "NaN angle": ({"elevation": "nan"}, r"line 6: non-finite angle"),
    "elevation out of range": ({"elevation": "120"}, r"line 6: elevation 120.0 outside \[-90, 90\]"),
    "azimuth out of range": ({"azimuth": "900"}, r"line 6: azimuth 900.0 or inplane_rotation .* outside"),
    "inverted box": ({"left": "50", "right": "10"}, r"line 6: empty or inverted box"),
    "empty box": ({"upper": "20", "lower": "20"}, r"line 6: empty or inverted box"),
}


@pytest.mark.parametrize("case", sorted(TABLE_CASES))
def test_bad_annotation_row_names_file_and_line(case, synthetic_copy, tmp_path, capsys):
    changes, message = TABLE_CASES[case]
    if changes is None:
        rows = read_rows(synthetic_copy)
        rows[ROW + 1] = rows[ROW + 1][:5]
        write_rows(synthetic_copy, rows)
    else:
        edit_row(synthetic_copy, **changes)
    status, err = cli(capsys, training, train_argv(synthetic_copy, tmp_path / "run"))
    assert status == EXIT_BAD_INPUT
    assert str(synthetic_copy / "Synthetic.txt") in err
    assert re.search(message, err), err


def break_image(path, how):
    if how == "missing":
        path.unlink()
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    else:
        path.write_text("not an image at all\n")


@pytest.mark.parametrize("how,message", [("missing", "does not exist"), ("truncated", "cannot be decoded"),
                                         ("text", "cannot be decoded")])
def test_bad_image_names_file_and_row(how, message, synthetic_copy, tmp_path, capsys):
    image, _ = row_files(synthetic_copy)
    break_image(image, how)
    status, err = cli(capsys, training, train_argv(synthetic_copy, tmp_path / "run", "--workers", "1"))
    assert status == EXIT_BAD_INPUT
    assert f"image {image}" in err and message in err and "line 6 of" in err


def test_box_outside_the_image(synthetic_copy, tmp_path, capsys):
    edit_row(synthetic_copy, left="500", upper="500", right="600", lower="600")
    image, _ = row_files(synthetic_copy)
    status, err = cli(capsys, training, train_argv(synthetic_copy, tmp_path / "run"))
    assert status == EXIT_BAD_INPUT
    assert "lies outside image" in err and str(image) in err and "64x64" in err


@pytest.mark.parametrize("how,message", [("missing", "does not exist"), ("corrupt", "is not a readable PLY"),
                                         ("small", "has 50 points, fewer than --point_num 100")])
def test_bad_point_cloud_names_the_file(how, message, synthetic_copy, tmp_path, capsys):
    _, cloud = row_files(synthetic_copy)
    if how == "missing":
        cloud.unlink()
    elif how == "corrupt":
        cloud.write_bytes(cloud.read_bytes()[:300])
    else:
        write_ply_points(cloud, np.random.default_rng(0).normal(size=(50, 3)))
    status, err = cli(capsys, training, train_argv(synthetic_copy, tmp_path / "run"))
    assert status == EXIT_BAD_INPUT
    assert f"point cloud {cloud}" in err and message in err


def test_missing_dataset_says_how_to_prepare_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default run directory, result/PointCloud_ObjectNet3D, is relative
    status, err = cli(capsys, training, ["--dataset", "ObjectNet3D", "--data_dir", str(tmp_path / "nowhere")])
    assert status == EXIT_BAD_INPUT
    assert f"dataset root {tmp_path / 'nowhere'} does not exist" in err and "dataset.prepare_objectnet3d" in err
    assert not (tmp_path / "result").exists()  # bad input leaves no empty run directory behind
    (tmp_path / "empty").mkdir()
    status, err = cli(capsys, training, ["--dataset", "Pascal3D", "--data_dir", str(tmp_path / "empty")])
    assert status == EXIT_BAD_INPUT and f"annotation table {tmp_path / 'empty' / 'Pascal3D.txt'} does not exist" in err


def test_empty_splits(synthetic_copy, tmp_path, capsys):
    status, err = cli(capsys, training, train_argv(synthetic_copy, tmp_path / "a", "--shot", "100"))
    assert status == EXIT_BAD_INPUT and "has 12 train rows, fewer than --shot 100" in err
    rows = read_rows(synthetic_copy)
    header = rows[0]
    for row in rows[1:]:  # no val rows of the novel classes left
        if row[header.index("set")] == "val" and row[header.index("cat")] in ("bed", "guitar", "mug"):
            row[header.index("set")] = "test"
    write_rows(synthetic_copy, rows)
    status, err = cli(capsys, training, train_argv(synthetic_copy, tmp_path / "b", "--novel"))
    assert status == EXIT_BAD_INPUT and "the val split is empty after filtering (novel=True" in err


def test_wrong_checkpoints(teacher_path, image_model_path, synthetic_root, tmp_path, capsys):
    base = ["--data_dir", str(synthetic_root), "--workers", "0", "--output_dir", str(tmp_path / "t")]
    cases = [
        (testing, ["--model", str(teacher_path), "--shape", "None"], "holds a teacher (image + point cloud), but an image-only"),
        (testing, ["--model", str(image_model_path), "--shape", "PointCloud"], "holds an image-only network, but a teacher"),
        (testing, ["--model", str(teacher_path), "--bin_size", "30"], "was trained with --bin_size 15, not 30"),
        (testing, ["--model", str(image_model_path), "--img_feature_dim", "64"], "has img_feature_dim 32, not 64"),
        (trainingKD, ["--teacher_model", str(teacher_path), "--student_model", str(teacher_path)],
         "holds a teacher (image + point cloud), but an image-only"),
    ]
    for script, argv, message in cases:
        status, err = cli(capsys, script, base + argv)
        assert status == EXIT_BAD_INPUT and message in err, err
    assert not (tmp_path / "t").exists()  # refused before any run directory was made
    not_a_checkpoint = tmp_path / "notes.pth"
    not_a_checkpoint.write_text("hello")
    foreign = tmp_path / "foreign.pth"
    torch.save({"state_dict": {}}, foreign)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(teacher_path.read_bytes()[:1000])
    for path, message in ((not_a_checkpoint, "is not a readable checkpoint"),
                          (foreign, "is not a 3DAug-Pose checkpoint"), (truncated, "is not a readable checkpoint")):
        status, err = cli(capsys, testing, base + ["--model", str(path)])
        assert status == EXIT_BAD_INPUT and str(path) in err and message in err


def test_script_entry_point_prints_one_line_without_traceback(tmp_path):
    run = subprocess.run([sys.executable, "training.py", "--dataset", "ObjectNet3D", "--data_dir",
                          str(tmp_path / "nowhere")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == EXIT_BAD_INPUT
    assert run.stderr.strip().splitlines() == [run.stderr.strip()] and run.stderr.startswith("error: dataset root")


# ---------------------------------------------------------------------------------------------- non-finite loss

def test_non_finite_loss_stops_at_that_step_and_keeps_the_last_checkpoint(synthetic_root, tmp_path, capsys,
                                                                         monkeypatch):
    out = tmp_path / "run"
    training.main(train_argv(synthetic_root, out, "--shape", "None"))
    saved = (out / "checkpoint.pth").read_bytes()
    original, calls = PoseLoss.forward, []

    def poisoned(self, outputs, labels):
        total, parts = original(self, outputs, labels)
        calls.append(1)
        return (total * float("nan") if len(calls) == 3 else total), parts

    monkeypatch.setattr(PoseLoss, "forward", poisoned)
    status, err = cli(capsys, training, train_argv(synthetic_root, out, "--shape", "None", "--n_epoch", "2"))
    assert status == EXIT_NON_FINITE
    assert "non-finite training loss at epoch 1, step 3/9 (loss=nan" in err
    assert f"{out / 'checkpoint.pth'} still holds the last good state" in err
    assert (out / "checkpoint.pth").read_bytes() == saved
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [0]


# ---------------------------------------------------------------------------------------------- atomic writes

def test_failed_checkpoint_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pth"
    atomic_save({"format": "3daug-pose", "model_args": {"kind": "image"}, "epoch": 1}, path)
    before = path.read_bytes()
    real_save = torch.save

    def full_disk(obj, f):  # write half of the file, then fail as a full disk does
        import io
        buffer = io.BytesIO()
        real_save(obj, buffer)
        f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint_module.torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        atomic_save({"format": "3daug-pose", "model_args": {"kind": "image"}, "epoch": 2, "big": torch.zeros(1000)},
                    path)
    assert path.read_bytes() == before and load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pth"]  # no temporary file left

    from engine.runner import save_checkpoint
    with pytest.raises(CheckpointError, match=f"could not write {path}: .*No space left.*the previous file is intact"):
        save_checkpoint({"epoch": 3}, tmp_path)
    assert path.read_bytes() == before


def test_interrupted_write_temporaries_are_cleared_on_resume(synthetic_root, tmp_path):
    out = tmp_path / "run"
    training.main(train_argv(synthetic_root, out, "--shape", "None"))
    stale = out / ".checkpoint.pth.tmp12345"
    stale.write_bytes(b"half a checkpoint")
    training.main(train_argv(synthetic_root, out, "--shape", "None", "--n_epoch", "2"))
    assert not stale.exists() and load_checkpoint(out / "checkpoint.pth")["epoch"] == 1


# ---------------------------------------------------------------------------------------------- kill and resume

def run_script(args, log):
    return subprocess.Popen([sys.executable, *args], cwd=REPO, stdout=open(log, "w"), stderr=subprocess.STDOUT)


def kill_mid_epoch_and_resume(args, out, marker="epoch 0 [5/"):
    """Start a run, SIGTERM it once its log shows ``marker``, check the exit, then rerun it to the end."""
    log = out.parent / f"{out.name}.log"
    process = run_script(args, log)
    deadline = time.time() + 240
    while marker not in log.read_text():
        assert process.poll() is None, log.read_text()
        assert time.time() < deadline, "the run never reached the marker"
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 128 + signal.SIGTERM, log.read_text()
    text = log.read_text()
    assert "interrupted: stopped at epoch 0, step" in text, text
    partial = load_checkpoint(out / "checkpoint.pth")
    assert partial["progress"]["epoch"] == 0 and 5 <= partial["progress"]["step"] < 36
    resumed = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"at epoch 0, step {partial['progress']['step']}" in resumed.stdout


def assert_same_run(a: Path, b: Path, buffers=()):
    x, y = load_checkpoint(a / "checkpoint.pth"), load_checkpoint(b / "checkpoint.pth")
    assert x["epoch"] == y["epoch"] == 1 and "progress" not in y
    for key in x["model"]:
        assert torch.equal(x["model"][key], y["model"][key]), key
    for group_x, group_y in zip(x["optimizer"]["state"].values(), y["optimizer"]["state"].values()):
        for key in group_x:
            assert torch.equal(torch.as_tensor(group_x[key]), torch.as_tensor(group_y[key])), key
    for name in buffers:
        for key, value in x[name].items():
            assert (torch.equal(value, y[name][key]) if torch.is_tensor(value) else value == y[name][key]), (name, key)
    records = []
    for run in (a, b):
        lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        for line in lines:
            line.pop("time_s")
        records.append(lines)
    assert [r["epoch"] for r in records[1]] == [0, 1] and records[0] == records[1]


KILL_ARGS = ["--batch_size", "4", "--workers", "2", "--print_freq", "1", "--deterministic", "--n_epoch", "2"]


def test_training_killed_mid_epoch_resumes_bit_identical(synthetic_root, tmp_path):
    tiny = without_flags(TINY_TEACHER, "--workers", "--print_freq", "--batch_size")
    common = ["training.py", *tiny, "--data_dir", str(synthetic_root), *KILL_ARGS]
    subprocess.run([sys.executable, *common, "--output_dir", str(tmp_path / "straight")], cwd=REPO, check=True, capture_output=True,
                   timeout=300)
    kill_mid_epoch_and_resume(common + ["--output_dir", str(tmp_path / "killed")], tmp_path / "killed")
    assert_same_run(tmp_path / "straight", tmp_path / "killed")


def test_distillation_killed_mid_epoch_resumes_bit_identical(teacher_path, synthetic_root, tmp_path):
    common = ["trainingKD.py", "--dataset", "Synthetic", "--data_dir", str(synthetic_root), "--teacher_model",
              str(teacher_path), "--student_encoder", "resnet18", "--img_feature_dim", "32", "--crd",
              "--crd_negatives", "memory", "--nce_k", "16",
              "--lr", "1e-3", "--seed", "1"] + KILL_ARGS
    subprocess.run([sys.executable, *common, "--output_dir", str(tmp_path / "straight")], cwd=REPO, check=True, capture_output=True,
                   timeout=300)
    kill_mid_epoch_and_resume(common + ["--output_dir", str(tmp_path / "killed")], tmp_path / "killed")
    assert_same_run(tmp_path / "straight", tmp_path / "killed", buffers=("crd",))


# ---------------------------------------------------------------------------------------------- check and skip

def test_dataset_check_reports_every_problem_at_once(synthetic_copy, capsys):
    assert check.main(["--data_dir", str(synthetic_copy), "--point_num", "100", "--workers", "0"]) == 0
    assert "no problems found" in capsys.readouterr().out
    edit_row(synthetic_copy, elevation="120")
    rows = read_rows(synthetic_copy)
    header = rows[0]
    other = dict(zip(header, rows[ROW + 3]))
    rows[ROW + 3][header.index("left")], rows[ROW + 3][header.index("right")] = "500", "600"
    write_rows(synthetic_copy, rows)
    broken_image = synthetic_copy / dict(zip(header, rows[ROW + 5]))["im_path"]
    break_image(broken_image, "truncated")
    cloud = shape_path(synthetic_copy, "pointcloud", other["cat"], float(other["cad_index"]))
    cloud.unlink()
    assert check.main(["--data_dir", str(synthetic_copy), "--point_num", "100", "--workers", "0"]) == 1
    out = capsys.readouterr().out
    assert "[table]" in out and "line 6: elevation 120.0 outside" in out
    assert f"[images] line {ROW + 4}: box (500.0" in out and "lies outside image" in out
    assert f"[images] image {broken_image} cannot be decoded" in out
    assert f"[clouds] point cloud {cloud} does not exist" in out
    assert "4 problem(s) (1 table, 2 images, 1 clouds, 0 splits)" in out


def test_skip_bad_trains_and_evaluates_around_broken_samples(synthetic_copy, tmp_path, capsys):
    edit_row(synthetic_copy, elevation="120")
    rows = read_rows(synthetic_copy)
    header = rows[0]
    train_image = synthetic_copy / dict(zip(header, rows[ROW + 3]))["im_path"]
    val_row = next(r for r in rows[1:] if r[header.index("set")] == "val")
    val_image = synthetic_copy / val_row[header.index("im_path")]
    break_image(train_image, "truncated")
    break_image(val_image, "missing")
    out = tmp_path / "run"
    # 143 good rows = 13 batches of 11: drop_last leaves out nothing, so every training image is read
    training.main(train_argv(synthetic_copy, out, "--skip_bad", "--shape", "None", "--batch_size", "11"))
    err = capsys.readouterr().err
    assert "line 6: elevation 120.0 outside" in err
    assert train_image.name in (out / "skipped_samples.txt").read_text()
    result = testing.main(["--data_dir", str(synthetic_copy), "--model", str(out / "model_best.pth"), "--skip_bad",
                           "--workers", "0", "--output_dir", str(tmp_path / "test")])
    assert result["skipped"] == 1 and result["table"]["pooled"]["n"] == 12 * 4 - 1
    with open(tmp_path / "test" / "predictions.csv") as f:
        assert val_row[header.index("im_path")] not in f.read()
