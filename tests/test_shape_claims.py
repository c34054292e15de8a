"""The shape-claims script's bookkeeping, and the premise in miniature: a teacher reads a cloud that tells the pose."""
import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import shape_claims  # noqa: E402
from model.estimator import PoseEstimator  # noqa: E402


def fake_run(directory: Path, accs, probe=None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"epoch": e, "time_s": 60.0, "train": {"acc30": 2 * a}, "val": {"acc30": a, "mederr": 90.0 - a}})
             for e, a in enumerate(accs)]
    (directory / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    if probe:
        swaps = {name: {"acc30": acc, "mederr": 50.0, "kept": 0} for name, acc in zip(shape_claims.PROBE, probe)}
        (directory / "reliance.json").write_text(json.dumps({"model": "m", "swaps": swaps}))


def two_seeds(tmp_path: Path, monkeypatch, name: str):
    """A 2-epoch budget over seeds 1 and 2 in ``tmp_path``, with the image-only network finished on both seeds of
    the set ``name``; returns the arguments and that set's run directory."""
    monkeypatch.setattr(shape_claims, "DEFAULT_EPOCHS", 2)
    args = argparse.Namespace(out=str(tmp_path / "runs"), archive=str(tmp_path / "archive"), seeds=[1, 2], epochs=2)
    runs = tmp_path / "runs" / name
    fake_run(runs / "seed1" / "novel_image", [10.0, 20.0])
    fake_run(runs / "seed2" / "novel_image", [12.0, 24.0])
    return args, runs


def test_table_curves_probes_and_targets_from_finished_runs_and_their_archive(tmp_path, monkeypatch):
    args, runs = two_seeds(tmp_path, monkeypatch, "tuning")
    fake_run(runs / "seed1" / "novel_cloud_film_random", [15.0, 40.0], probe=(40.0, 38.0, 12.0, 39.0))
    fake_run(runs / "seed2" / "novel_cloud_film_random", [15.0, 36.0], probe=(36.0, 30.0, 14.0, 35.0))
    fake_run(runs / "seed1" / "novel_cloud_linear", [25.0])                  # unfinished: one epoch of two
    results = shape_claims.finished(args)
    assert set(results["tuning"]) == {"novel_image", "novel_cloud_film_random"}
    assert (tmp_path / "archive" / "tuning" / "seed2" / "novel_cloud_film_random.reliance.json").is_file()
    shutil.rmtree(tmp_path / "runs")                                          # a fresh clone: the archive alone
    path = tmp_path / "table.md"
    shape_claims.write_table(path, shape_claims.finished(args), args)
    lines = path.read_text().splitlines()
    film = next(line for line in lines if "FiLM fusion, `--random`" in line and line.startswith("| zero-shot"))
    assert "| 2 | 15.0 38.0 | 38.0 ± 2.8 | 52.0 ± 2.8 | 76.0 ± 5.7 |" in film and "38.0 ± 2.8 / 34.0 ± 5.7 / 13.0 ± 1.4 / 37.0 ± 2.8" in film
    best = next(line for line in lines if line.startswith("| zero-shot: best teacher - image-only"))
    assert "| novel_cloud_film_random | 2 | +16.0 ± 5.7 | yes |" in best     # 40 - 20 and 36 - 24
    reads = next(line for line in lines if "own shape - another category's" in line)
    assert "| 2 | +25.0 ± 4.2 | yes |" in reads                               # 40 - 12 and 36 - 14
    assert not any("linear fusion" in line for line in lines)


def test_the_table_says_how_far_a_zero_shot_teachers_best_epoch_is_above_its_last(tmp_path, monkeypatch):
    args, runs = two_seeds(tmp_path, monkeypatch, "tuning")
    fake_run(runs / "seed1" / "novel_cloud_film_random", [30.0, 25.0], probe=(30.0, 28.0, 10.0, 29.0))  # best: epoch 1
    fake_run(runs / "seed2" / "novel_cloud_film_random", [15.0, 36.0], probe=(36.0, 30.0, 14.0, 35.0))  # best: last
    fake_run(runs / "seed1" / "cloud_film_random", [30.0, 20.0], probe=(30.0, 28.0, 10.0, 29.0))  # supervised: not counted
    lines = shape_claims.table_lines(shape_claims.finished(args), args)
    gap = next(line for line in lines if line.startswith("A zero-shot teacher's best epoch"))
    assert "is 0.0 to 5.0 points (mean 2.5) above the last epoch's over these 2 probed runs" in gap


def test_the_best_teacher_is_chosen_among_the_rows_with_the_most_seeds(tmp_path, monkeypatch):
    args, runs = two_seeds(tmp_path, monkeypatch, "tuning")
    fake_run(runs / "seed1" / "novel_cloud_film_random", [15.0, 40.0], probe=(40.0, 38.0, 12.0, 39.0))
    fake_run(runs / "seed2" / "novel_cloud_film_random", [15.0, 36.0], probe=(36.0, 30.0, 14.0, 35.0))
    fake_run(runs / "seed1" / "novel_cloud_film", [15.0, 45.0], probe=(45.0, 44.0, 40.0, 44.0))  # one lucky seed
    results = shape_claims.finished(args)
    assert shape_claims.best_teacher(results["tuning"], novel=True) == "novel_cloud_film_random"
    fake_run(runs / "seed2" / "novel_cloud_film", [15.0, 30.0], probe=(30.0, 29.0, 28.0, 29.0))  # mean 37.5 < 38
    assert shape_claims.best_teacher(shape_claims.finished(args)["tuning"], novel=True) == "novel_cloud_film_random"
    fake_run(runs / "seed2" / "novel_cloud_film", [15.0, 33.0], probe=(33.0, 32.0, 31.0, 32.0))  # mean 39 > 38
    assert shape_claims.best_teacher(shape_claims.finished(args)["tuning"], novel=True) == "novel_cloud_film"
    for seed in (1, 2):  # a teacher weakened for the equal-accuracy control is never the best, whatever it scores
        fake_run(runs / f"seed{seed}" / "novel_cloud_corr_p8", [15.0, 50.0], probe=(50.0, 49.0, 20.0, 40.0))
    assert shape_claims.best_teacher(shape_claims.finished(args)["tuning"], novel=True) == "novel_cloud_film"
    for seed in (1, 2):  # nor is a teacher at another input size than its yardstick's (the 64 px rows)
        fake_run(runs / f"seed{seed}" / "cloud_film", [15.0, 30.0], probe=(30.0, 29.0, 20.0, 25.0))
        fake_run(runs / f"seed{seed}" / "cloud_64", [15.0, 60.0], probe=(60.0, 59.0, 20.0, 40.0))
    assert shape_claims.best_teacher(shape_claims.finished(args)["tuning"], novel=False) == "cloud_film"


def test_the_held_out_set_scores_the_teacher_chosen_on_the_tuning_set(tmp_path, monkeypatch):
    """A teacher that is best on the held-out set only is not picked there: the tuning set chooses."""
    args, tuning = two_seeds(tmp_path, monkeypatch, "tuning")
    _, heldout = two_seeds(tmp_path, monkeypatch, "heldout")
    for seed, (film, film_random) in enumerate([(40.0, 35.0), (38.0, 36.0)], start=1):  # tuning: FiLM best
        fake_run(tuning / f"seed{seed}" / "novel_cloud_film", [15.0, film], probe=(film, 30.0, 14.0, 30.0))
        fake_run(tuning / f"seed{seed}" / "novel_cloud_film_random", [15.0, film_random],
                 probe=(film_random, 30.0, 14.0, 30.0))
    for seed, (film, film_random) in enumerate([(30.0, 45.0), (32.0, 47.0)], start=1):  # held-out: the other
        fake_run(heldout / f"seed{seed}" / "novel_cloud_film", [15.0, film], probe=(film, 30.0, 20.0, 30.0))
        fake_run(heldout / f"seed{seed}" / "novel_cloud_film_random", [15.0, film_random],
                 probe=(film_random, 30.0, 14.0, 30.0))
    results = shape_claims.finished(args)
    assert shape_claims.best_teacher(results["heldout"], novel=True) == "novel_cloud_film_random"
    assert shape_claims.chosen_teacher(results, "heldout", novel=True) == "novel_cloud_film"
    lines = shape_claims.target_lines(results)
    best = [line for line in lines if line.startswith("| zero-shot: best teacher - image-only")]
    assert "| heldout | novel_cloud_film | 2 | +9.0 ± 1.4 | no |" in best[1]  # 30 - 20 and 32 - 24
    reads = [line for line in lines if "own shape - another category's" in line and "| heldout |" in line]
    assert "| novel_cloud_film | 2 | +11.0 ± 1.4 | yes |" in reads[0]    # 30 - 20 and 32 - 20


def test_a_run_of_some_seeds_keeps_the_other_seeds_in_the_table(tmp_path, monkeypatch):
    """`--seeds 2` rewrites the table after each run: the archived seed 1 must stay in it."""
    both, _ = two_seeds(tmp_path, monkeypatch, "heldout")
    shape_claims.finished(both)                                                     # archives both
    shutil.rmtree(tmp_path / "runs" / "heldout" / "seed1")                          # seed 1 in the archive only
    one = argparse.Namespace(**{**vars(both), "seeds": [2]})
    assert shape_claims.seeds_of(one) == [1, 2]
    assert set(shape_claims.finished(one)["heldout"]["novel_image"]) == {1, 2}
    path = tmp_path / "table.md"
    shape_claims.write_table(path, shape_claims.finished(one), one)
    row = next(line for line in path.read_text().splitlines() if line.startswith("| zero-shot: image-only"))
    assert "| 2 | 11.0 22.0 | 22.0 ± 2.8 |" in row


def test_runs_of_another_epoch_count_are_kept_apart_and_get_their_own_section(tmp_path, monkeypatch):
    """A 3-epoch run is not the first 2 epochs of a 2-epoch run: it has its own name, archive file and section."""
    monkeypatch.setattr(shape_claims, "DEFAULT_EPOCHS", 2)
    args = argparse.Namespace(out=str(tmp_path / "runs"), archive=str(tmp_path / "archive"), seeds=[1], epochs=2)
    longer = argparse.Namespace(**{**vars(args), "epochs": 3})
    runs = tmp_path / "runs" / "tuning" / "seed1"
    fake_run(runs / "novel_image", [10.0, 20.0])
    assert shape_claims.run_dir(longer, "tuning", 1, "novel_image") == runs / "novel_image.e3"
    assert shape_claims.records_of("novel_image", longer, "tuning", 1) is None    # the 2-epoch run is not it
    fake_run(runs / "novel_image.e3", [11.0, 30.0, 33.0])
    assert [r["val"]["acc30"] for r in shape_claims.records_of("novel_image", longer, "tuning", 1)] == [11, 30, 33]
    assert (tmp_path / "archive" / "tuning" / "seed1" / "novel_image.e3.jsonl").is_file()
    shape_claims.finished(args)                                                    # archives the 2-epoch run
    shutil.rmtree(tmp_path / "runs")
    assert shape_claims.budgets(args) == [2, 3]
    path = tmp_path / "table.md"
    shape_claims.write_table(path, shape_claims.finished(args), args)
    head, tail = path.read_text().split("## 3 epochs")
    assert "| 10.0 20.0 | 20.0 | 70.0 | 40.0 |" in head and "33.0" not in head
    assert "| 11.0 30.0 33.0 | 33.0 |" in tail


def blank(command: list[str], *flags: str) -> list[str]:
    """The command with the values of ``flags`` blanked out."""
    return [None if i and command[i - 1] in flags else x for i, x in enumerate(command)]


def test_commands_name_the_set_split_and_seed(tmp_path):
    args = argparse.Namespace(out="result/shape", archive="docs/runs/shape", seeds=[2], epochs=6)
    command = shape_claims.command_of("novel_cloud_film", args, "heldout", 2)
    assert command[0] == "training.py" and "--novel" in command and command[command.index("--seed") + 1] == "2"
    assert command[command.index("--data_dir") + 1] == "data/SyntheticManyHeldout"
    assert command[command.index("--fusion") + 1] == "film" and command[command.index("--n_epoch") + 1] == "6"
    probe = shape_claims.probe_command("novel_cloud_film", args, "heldout", 2)
    assert "--novel" in probe and probe[probe.index("--model") + 1].endswith("heldout/seed2/novel_cloud_film/model_best.pth")
    assert "--novel" not in shape_claims.command_of("control", args, "tuning", 2)
    command = shape_claims.command_of("image_64_light", args, "tuning", 2)       # the row's input size wins
    assert command[len(command) - 1 - command[::-1].index("--input_dim") + 1] == "64"
    assert sorted(k for group in shape_claims.GROUPS for k in group) == sorted(shape_claims.RUNS)
    # the teacher stopped early trains for its own epoch count, its student for the budget's, and distils it
    command = shape_claims.command_of("novel_cloud_corr_2ep", args, "tuning", 2)
    assert command[command.index("--n_epoch") + 1] == "2" and "--novel" in command
    student = shape_claims.command_of("student_crd_kl_of_corr_2ep", args, "tuning", 2)
    assert student[student.index("--n_epoch") + 1] == "6"
    assert student[student.index("--teacher_model") + 1].endswith("tuning/seed2/novel_cloud_corr_2ep/model_best.pth")
    # the alpha-1 students differ from their CRD + KL rows in the pose loss's weight alone, each distilling its teacher
    for suffix, teacher in (("", "novel_cloud_corr"), ("_of_image", "novel_image"),
                            ("_of_corr_2ep", "novel_cloud_corr_2ep")):
        a1 = shape_claims.command_of(f"student_crd_kl_a1{suffix}", args, "tuning", 2)
        reference = shape_claims.command_of(f"student_crd_kl{suffix}", args, "tuning", 2)
        assert a1[a1.index("--alpha") + 1] == "1" and reference[reference.index("--alpha") + 1] == "0.25"
        assert a1[a1.index("--output_dir") + 1] != reference[reference.index("--output_dir") + 1]
        assert blank(a1, "--alpha", "--output_dir") == blank(reference, "--alpha", "--output_dir")
        assert a1[a1.index("--teacher_model") + 1].endswith(f"tuning/seed2/{teacher}/model_best.pth")
    # the teacher on 8 points differs from the correlation teacher in its point count alone (the row's count wins),
    # trains for the budget's epochs, and its alpha-1 student distils it
    few = shape_claims.command_of("novel_cloud_corr_p8", args, "tuning", 2)
    full = shape_claims.command_of("novel_cloud_corr", args, "tuning", 2)
    last = len(few) - 1 - few[::-1].index("--point_num")
    assert few[last + 1] == "8" and few[few.index("--n_epoch") + 1] == "6"
    assert blank(few[:last] + few[last + 2:], "--output_dir") == blank(full, "--output_dir")
    student = shape_claims.command_of("student_crd_kl_a1_of_corr_p8", args, "tuning", 2)
    assert student[student.index("--teacher_model") + 1].endswith("tuning/seed2/novel_cloud_corr_p8/model_best.pth")
    assert shape_claims.STUDENTS["student_crd_kl_a1_of_corr_p8"] == "novel_cloud_corr_p8"
    # the student of the multi-view teacher differs from the CRD + KL student in the teacher it distils alone
    views = shape_claims.command_of("student_crd_kl_of_views", args, "tuning", 2)
    reference = shape_claims.command_of("student_crd_kl", args, "tuning", 2)
    assert views[views.index("--teacher_model") + 1].endswith("tuning/seed2/novel_views_corr/model_best.pth")
    assert blank(views, "--teacher_model", "--output_dir") == blank(reference, "--teacher_model", "--output_dir")
    assert shape_claims.DEPENDS["student_crd_kl_of_views"] == {"teacher": "novel_views_corr"}
    fake_run(tmp_path / "early", [20.0, 30.0])
    assert len(shape_claims.finished_records(tmp_path / "early", tmp_path / "a.jsonl",
                                             shape_claims.epochs_of("novel_cloud_corr_2ep", args))) == 2
    assert shape_claims.finished_records(tmp_path / "early", tmp_path / "b.jsonl", args.epochs) is None


def test_a_student_distils_its_teachers_checkpoint_trained_again_when_only_its_metrics_were_kept(tmp_path,
                                                                                                     monkeypatch):
    """The students' rows: the teacher's checkpoint is needed, not only its archived metrics, so a fresh clone
    trains the teacher again first; the student trains on the base categories (--eval_base), then testing.py
    scores it on the novel ones, and the teacher once on the base categories (where its students train); the table
    shows all three and the students' targets."""
    monkeypatch.setattr(shape_claims, "DEFAULT_EPOCHS", 2)
    args = argparse.Namespace(out=str(tmp_path / "runs"), archive=str(tmp_path / "archive"), seeds=[1], epochs=2)
    teacher = shape_claims.run_dir(args, "tuning", 1, "novel_cloud_corr")
    fake_run(teacher, [30.0, 40.0], probe=(40.0, 35.0, 15.0, 38.0))
    shape_claims.finished(args)                                                    # archived ...
    shutil.rmtree(tmp_path / "runs")                                               # ... and the checkpoint gone
    calls = []

    def fake_call(command, log):
        calls.append(command)
        out = Path(command[command.index("--output_dir") + 1])
        if command[0] == "training.py":
            fake_run(out, [31.0, 41.0])
            (out / "model_best.pth").write_bytes(b"weights")
        elif command[0] == "trainingKD.py":
            fake_run(out, [50.0, 60.0] if "--crd" in command else [50.0, 55.0])
            (out / "best_student.pt").write_bytes(b"weights")
        elif command[0] == "testing.py":
            out.mkdir(parents=True)
            acc = 45.0 if "--eval_base" in command else 20.0
            (out / "results.json").write_text(json.dumps({"mean": {"acc30": acc, "mederr": 80.0}}))

    monkeypatch.setattr(shape_claims, "call", fake_call)
    for key in ("student_pose", "student_crd_kl"):
        shape_claims.run(key, args, "tuning", 1)
    assert [c[0] for c in calls] == ["training.py", "trainingKD.py", "testing.py", "testing.py", "trainingKD.py",
                                     "testing.py"]
    student = calls[1]
    assert "--novel" in student and "--eval_base" in student
    assert student[student.index("--teacher_model") + 1] == str(teacher / "model_best.pth")
    assert "--novel" in calls[2] and calls[2][calls[2].index("--model") + 1].endswith("student_pose/best_student.pt")
    assert "--eval_base" in calls[3] and calls[3][calls[3].index("--model") + 1] == str(teacher / "model_best.pth")
    shutil.rmtree(tmp_path / "runs")
    path = tmp_path / "table.md"
    shape_claims.write_table(path, shape_claims.finished(args), args)
    lines = path.read_text().splitlines()
    crd_kl = next(line for line in lines if line.startswith("| base categories: student, CRD + KL |"))
    assert "| 60.0 |" in crd_kl and "novel: 20.0; its teacher on the base categories: 45.0" in crd_kl
    target = next(line for line in lines if line.startswith("| base categories: student, CRD + KL - pose"))
    assert "| +5.0 | yes |" in target


def test_a_10_shot_student_starts_from_its_zero_shot_student_and_distils_the_10_shot_teacher(tmp_path, monkeypatch):
    """The 10-shot rows: every run they start from or distil is trained first, each once (the zero-shot teacher,
    the 10-shot teacher fine-tuned from it, the zero-shot student); the 10-shot runs train on every category and
    are scored on the novel ones (--shot 10 --eval_novel), and the 10-shot teacher is not probed."""
    monkeypatch.setattr(shape_claims, "DEFAULT_EPOCHS", 2)
    args = argparse.Namespace(out=str(tmp_path / "runs"), archive=str(tmp_path / "archive"), seeds=[1], epochs=2)
    calls = []

    def fake_call(command, log):
        calls.append(command)
        if command[0] == "scripts/shape_reliance.py":
            probe = {"swaps": {k: {"acc30": 1.0} for k in shape_claims.PROBE}}
            Path(command[command.index("--output") + 1]).write_text(json.dumps(probe))
            return
        out = Path(command[command.index("--output_dir") + 1])
        if command[0] == "testing.py":
            out.mkdir(parents=True)
            (out / "results.json").write_text(json.dumps({"mean": {"acc30": 5.0, "mederr": 90.0}}))
            return
        fake_run(out, [10.0, 20.0])
        (out / ("model_best.pth" if command[0] == "training.py" else "best_student.pt")).write_bytes(b"weights")

    monkeypatch.setattr(shape_claims, "call", fake_call)
    shape_claims.run("shot10_student_crd_kl", args, "tuning", 1)

    def made(command):
        return Path(command[command.index("--output_dir") + 1]).name

    trained = {made(c): c for c in calls if c[0] in ("training.py", "trainingKD.py")}
    assert list(trained) == ["novel_cloud_corr", "shot10_cloud_corr", "student_crd_kl",
                             "shot10_student_crd_kl"]
    runs = Path(args.out) / "tuning" / "seed1"
    student, teacher = trained["shot10_student_crd_kl"], trained["shot10_cloud_corr"]
    assert student[student.index("--teacher_model") + 1] == str(runs / "shot10_cloud_corr" / "model_best.pth")
    assert student[student.index("--student_model") + 1] == str(runs / "student_crd_kl" / "best_student.pt")
    assert teacher[teacher.index("--model") + 1] == str(runs / "novel_cloud_corr" / "model_best.pth")
    for command in (student, teacher):
        assert "--eval_novel" in command and command[command.index("--shot") + 1] == "10"
        assert "--novel" not in command and "--eval_base" not in command
    probed = [c for c in calls if c[0] == "scripts/shape_reliance.py"]
    assert [Path(c[c.index("--model") + 1]).parent.name for c in probed] == ["novel_cloud_corr"]
    calls.clear()
    shape_claims.run("shot10_student_crd_kl", args, "tuning", 1)                  # finished: nothing runs again
    assert calls == []
    shape_claims.write_table(tmp_path / "table.md", shape_claims.finished(args), args)
    lines = (tmp_path / "table.md").read_text().splitlines()
    assert any(line.startswith("| 10-shot, novel categories: student, CRD + KL | 1 | 10.0 20.0 |") for line in lines)


def _trained_on_clouds(fusion: str, shape_dim: int, clouds, labels, steps: int) -> PoseEstimator:
    """A small teacher trained on the azimuth bins alone, batches of 32 in order, noise images (seed 0); in eval
    mode."""
    torch.manual_seed(0)
    model = PoseEstimator("resnet18", img_feature_dim=32, shape_feature_dim=shape_dim, fusion=fusion)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for step in range(steps):
        batch = torch.arange(step * 32, step * 32 + 32) % len(clouds)
        optimizer.zero_grad()
        F.cross_entropy(model(torch.randn(32, 3, 8, 8), clouds[batch])["outputs"][0], labels[batch]).backward()
        optimizer.step()
    return model.eval()


def _shape_task(n: int, rng: np.random.Generator):
    """One asymmetric cloud turned about z by the azimuth (the images are noise, drawn afresh for every batch, so
    that nothing but the cloud tells the pose and no image can be memorised)."""
    base = rng.uniform(-1, 1, (3, 96)) * np.array([[1.0], [0.3], [0.2]])
    base[:, :24] += np.array([[0.0], [1.0], [0.5]])                    # an arm that makes the cloud asymmetric
    steps = rng.integers(0, 8, n)
    angles = np.deg2rad(45.0 * steps)
    c, s = np.cos(angles), np.sin(angles)
    rotations = np.zeros((n, 3, 3))
    rotations[:, 0, 0], rotations[:, 0, 1], rotations[:, 1, 0], rotations[:, 1, 1] = c, -s, s, c
    rotations[:, 2, 2] = 1.0
    clouds = torch.tensor(rotations @ base, dtype=torch.float32)
    return clouds, torch.tensor(steps * 3)                              # 45 degrees = 3 bins of 15


def test_a_teacher_that_reads_the_cloud_beats_one_given_shuffled_clouds():
    """The pose is in the cloud only: a teacher trained and scored with the right clouds must find it, one whose
    clouds are shuffled between samples stays near chance (1 in 8), and the first drops when its clouds are
    shuffled at test time."""
    rng = np.random.default_rng(0)
    clouds, labels = _shape_task(256, rng)
    test_clouds, test_labels = _shape_task(128, rng)
    test_images = torch.randn(128, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    shuffled = torch.randperm(256, generator=torch.Generator().manual_seed(0))
    accuracy = {}
    for name, train_clouds in (("own", clouds), ("shuffled", clouds[shuffled])):
        model = _trained_on_clouds("film", 32, train_clouds, labels, steps=60)
        with torch.no_grad():
            accuracy[name] = (model(test_images, test_clouds)["outputs"][0].argmax(1) == test_labels).float().mean().item()
            if name == "own":
                other = test_clouds[torch.randperm(128, generator=torch.Generator().manual_seed(1))]
                accuracy["own, shuffled at test"] = (model(test_images, other)["outputs"][0].argmax(1)
                                                     == test_labels).float().mean().item()
    assert accuracy["own"] > 0.9 and accuracy["shuffled"] < 0.35, accuracy
    assert accuracy["own, shuffled at test"] < 0.4, accuracy


def _novel_shapes_task(n: int, rng: np.random.Generator):
    """Every sample a shape never seen before (a body, two parts in random directions, a nose at its front, +x),
    turned counter-clockwise about z by d, which gives it the azimuth label -d (label = 360 - raw azimuth), at the
    centre of one of the 24 bins of 15 degrees. The images are noise: only the cloud tells the pose."""
    labels = rng.integers(0, 24, n)
    clouds = []
    for label in labels:
        parts = [rng.normal(0, 1, (3, 120)) * np.array([[0.5], [0.5], [0.3]])]
        for angle in rng.uniform(0, 2 * np.pi, 2):
            centre = np.array([[np.cos(angle)], [np.sin(angle)], [rng.uniform(-0.3, 0.3)]]) * 0.9
            parts.append(rng.normal(0, 0.12, (3, 40)) + centre)
        parts.append(rng.normal(0, 0.08, (3, 40)) + np.array([[1.3], [0.0], [0.0]]))
        turn = -np.deg2rad(15.0 * label + 7.5)
        c, s = np.cos(turn), np.sin(turn)
        clouds.append(np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ np.concatenate(parts, axis=1))
    return torch.tensor(np.stack(clouds), dtype=torch.float32), torch.tensor(labels)


def test_the_correlation_teacher_reads_the_turn_of_shapes_it_never_saw_where_film_cannot():
    """Zero-shot in miniature: trained on some shapes, scored on new ones. Comparing the image with the cloud
    turned to each bin finds the turn of a new shape; FiLM, which reads the cloud as a global code, stays near
    chance (1 in 24), as our FiLM teachers do on novel categories."""
    rng = np.random.default_rng(0)
    clouds, labels = _novel_shapes_task(512, rng)
    test_clouds, test_labels = _novel_shapes_task(256, rng)
    test_images = torch.randn(256, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    accuracy = {}
    for fusion in ("correlation", "film"):
        model = _trained_on_clouds(fusion, 16, clouds, labels, steps=64)
        with torch.no_grad():
            accuracy[fusion] = (model(test_images, test_clouds)["outputs"][0].argmax(1)
                                == test_labels).float().mean().item()
            if fusion == "correlation":
                other = test_clouds[torch.randperm(256, generator=torch.Generator().manual_seed(1))]
                accuracy["correlation, shuffled at test"] = (model(test_images, other)["outputs"][0].argmax(1)
                                                             == test_labels).float().mean().item()
    assert accuracy["correlation"] > 0.6 and accuracy["film"] < 0.15, accuracy
    assert accuracy["correlation, shuffled at test"] < 0.15, accuracy
