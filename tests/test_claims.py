"""The claims script's bookkeeping: which runs count as finished, the table's mean ± std, the students' teacher."""
import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import synthetic_claims as claims  # noqa: E402


def fake_run(directory: Path, accs: list[float], mederr: float = 40.0) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"epoch": e, "time_s": 30.0, "val": {"acc30": a, "mederr": mederr}}) for e, a in enumerate(accs)]
    (directory / "metrics.jsonl").write_text("\n".join(lines) + "\n")


def test_the_table_averages_finished_seeds_at_the_last_epoch_and_skips_unfinished_runs(tmp_path):
    args = argparse.Namespace(out=str(tmp_path / "runs"), archive=str(tmp_path / "archive"), seeds=[1, 2, 3],
                              epochs=2, student_epochs=1, teacher_epochs=4, teacher_seed=1)
    runs = tmp_path / "runs"
    fake_run(runs / "heldout" / "seed1" / "control", [10.0, 50.0])
    fake_run(runs / "heldout" / "seed2" / "control", [20.0, 60.0])
    fake_run(runs / "heldout" / "seed3" / "control", [30.0])                 # interrupted: one epoch of two
    fake_run(runs / "heldout" / "seed1" / "teacher", [70.0, 65.0], mederr=20.0)
    fake_run(runs / "heldout" / "kd_teacher", [60.0, 70.0, 80.0, 85.0])          # shared by every seed
    results = claims.finished(args)
    assert set(results) == {"heldout"} and set(results["heldout"]["control"]) == {1, 2}
    assert set(results["heldout"]["kd_teacher"]) == {1}
    claims.write_table(tmp_path / "table.md", results, args)
    table = (tmp_path / "table.md").read_text()
    control = next(line for line in table.splitlines() if line.startswith("| control"))
    assert "| 2 | 55.0 ± 7.1 | 55.0 ± 7.1 | 40.0 ± 0.0 |" in control  # last = best here; stdev of 50, 60
    teacher = next(line for line in table.splitlines() if line.startswith("| teacher"))
    assert "| 1 | 65.0 | 70.0 | 20.0 |" in teacher  # last epoch 65, best epoch 70
    assert any(line.startswith("| the students' teacher") and "| 1 | 85.0 |" in line for line in table.splitlines())
    assert not any(line.startswith(("| student", "| zero-shot")) for line in table.splitlines())
    assert "**tuning**" not in table


def test_students_distil_their_sets_shared_teacher_and_zero_shot_ones_their_seeds(tmp_path):
    args = argparse.Namespace(out="result/claims", archive="docs/runs/claims", seeds=[2], epochs=6,
                              student_epochs=3, teacher_epochs=12, teacher_seed=1)
    command = claims.command_of("crd", args, "tuning", 2)
    assert command[command.index("--teacher_model") + 1].endswith("result/claims/tuning/kd_teacher/model_best.pth")
    assert command[command.index("--seed") + 1] == "2"
    command = claims.command_of("kd_teacher", args, "tuning", 2)
    assert command[command.index("--seed") + 1] == "1" and command[command.index("--n_epoch") + 1] == "12"
    command = claims.command_of("novel_crd", args, "heldout", 2)
    teacher = command[command.index("--teacher_model") + 1]
    assert teacher.endswith("result/claims/heldout/seed2/novel_teacher/model_best.pth")
    assert command[command.index("--n_epoch") + 1] == "3" and "--novel" in command
    assert command[command.index("--data_dir") + 1] == "data/SyntheticHeldout"


def test_finished_runs_outlive_their_run_directories_and_a_needed_teacher_is_trained_again(tmp_path, monkeypatch):
    """A fresh clone has no result/: the archived metrics still count, and a teacher a student needs is rerun."""
    args = argparse.Namespace(out=str(tmp_path / "runs"), archive=str(tmp_path / "archive"), seeds=[1], epochs=2,
                              student_epochs=1, teacher_epochs=2, teacher_seed=1)
    fake_run(tmp_path / "runs" / "tuning" / "seed1" / "control", [10.0, 50.0])
    fake_run(tmp_path / "runs" / "tuning" / "kd_teacher", [40.0, 80.0])
    assert set(claims.finished(args)["tuning"]) == {"control", "kd_teacher"}  # archives both
    assert (tmp_path / "archive" / "tuning" / "seed1" / "control.jsonl").is_file()
    assert (tmp_path / "archive" / "tuning" / "kd_teacher.jsonl").is_file()
    shutil.rmtree(tmp_path / "runs")                                           # a new session's checkout
    results = claims.finished(args)["tuning"]
    assert [r["val"]["acc30"] for r in results["control"][1]] == [10.0, 50.0]
    launched = []

    def fake_subprocess_run(command, **kwargs):  # the teacher "trains": it writes its metrics and weights
        launched.append(command[1])
        out = Path(command[command.index("--output_dir") + 1])
        fake_run(out, [45.0, 82.0])
        (out / "model_best.pth").write_bytes(b"weights")
    monkeypatch.setattr(claims.subprocess, "run", fake_subprocess_run)
    claims.run("control", args, "tuning", 1)                                   # archived: nothing to do
    claims.run("kd_teacher", args, "tuning", 1)                                # archived and no student asks
    assert launched == []
    claims.run("kd_teacher", args, "tuning", 1, need_checkpoint=True)          # a student needs its weights
    assert launched == ["training.py"]
    assert [r["val"]["acc30"] for r in claims.finished(args)["tuning"]["kd_teacher"][1]] == [45.0, 82.0]
    claims.run("kd_teacher", args, "tuning", 1, need_checkpoint=True)          # now on disk: not again
    assert launched == ["training.py"]


def test_the_targets_pair_seeds_and_a_6_epoch_target_must_hold_at_every_epoch_from_epoch_5(tmp_path):
    args = argparse.Namespace(out=str(tmp_path / "runs"), archive=str(tmp_path / "archive"), seeds=[1, 2, 3],
                              epochs=6, student_epochs=2, teacher_epochs=2, teacher_seed=1)
    runs = tmp_path / "runs" / "tuning"
    fake_run(runs / "seed1" / "control", [10, 20, 30, 40, 50, 60])
    fake_run(runs / "seed2" / "control", [10, 20, 30, 40, 52, 62])
    fake_run(runs / "seed1" / "teacher", [10, 20, 30, 40, 58, 66])   # +8 and +6 at epochs 5 and 6
    fake_run(runs / "seed2" / "teacher", [10, 20, 30, 40, 54, 70])   # +2 and +8: mean +5 at epoch 5, +7 at 6
    fake_run(runs / "seed3" / "teacher", [90, 90, 90, 90, 90, 90])   # no control of seed 3: not paired
    fake_run(runs / "seed1" / "baseline", [10, 20, 30, 40, 47, 60])  # -3 at epoch 5, level at the last
    fake_run(runs / "seed1" / "pose", [40, 50])
    fake_run(runs / "seed1" / "crd", [40, 52])
    fake_run(runs / "seed2" / "pose", [40, 50])
    fake_run(runs / "seed2" / "crd", [40, 56])
    lines = {tuple(c.strip() for c in line.split("|")[1:5]): line for line in claims.target_lines(claims.finished(args))
             if line.startswith("| ")}
    assert "| +7.0 ± 1.4 | +5.0 | yes |" in lines[("teacher - control", "+5", "tuning", "2")]
    assert "| +0.0 | -3.0 | no |" in lines[("image-only network - control", "-1", "tuning", "1")]
    assert "| +4.0 ± 2.8 |  | yes |" in lines[("student: CRD, memory negatives - pose loss only", "+3", "tuning", "2")]
    assert not any(key[0].startswith("student: CRD, memory negatives + KL") for key in lines)  # no KL runs: no row


def test_the_long_budget_rows_are_shared_by_the_seeds_and_paired_with_the_students_teacher(tmp_path):
    args = argparse.Namespace(out=str(tmp_path / "runs"), archive=str(tmp_path / "archive"), seeds=[1, 2],
                              epochs=2, student_epochs=1, teacher_epochs=6, teacher_seed=1)
    assert claims.run_dir(args, "tuning", 2, "control_long") == claims.run_dir(args, "tuning", 1, "control_long")
    command = claims.command_of("teacher_residual_random_long", args, "tuning", 2)
    assert command[command.index("--n_epoch") + 1] == "6" and command[command.index("--seed") + 1] == "1"
    assert "--random" in command and command[command.index("--fusion") + 1] == "residual"
    runs = tmp_path / "runs" / "tuning"
    fake_run(runs / "kd_teacher", [10, 20, 30, 40, 60, 70])
    fake_run(runs / "control_long", [10, 20, 30, 40, 50, 68])        # +10 at epoch 5, +2 at epoch 6
    lines = {tuple(c.strip() for c in line.split("|")[1:5]): line for line in claims.target_lines(claims.finished(args))
             if line.startswith("| ")}
    assert "| +2.0 | +2.0 | no |" in lines[("the students' teacher - control, the long budget", "+5", "tuning", "1")]
