"""Does the teacher read its shape? The paper's premise on the many-category set, against the control.

    python scripts/shape_claims.py                           # or: make reproduce-shape
    python scripts/shape_claims.py --seeds 1 --sets tuning --only novel_image novel_cloud_film_random

Each row is one run at one CPU budget (resnet18, input 32, batch 32, Adam 1e-3 with L2 weight decay 5e-4,
cosine decay to 0, no augmentation, ``--epochs`` epochs, default 6) on two sets: ``tuning``
(data/SyntheticMany, generator seed 0) and ``heldout`` (data/SyntheticManyHeldout, generator seed 1: other
categories, never tuned on). Zero-shot rows (``novel_*``) train on the 100 base categories and are scored on the
20 novel ones, where the image alone cannot know a category's canonical frame; the supervised rows train and
score on all 120. The rows: the control (``benchmarks/plain_loop.py``), the image-only network, and teachers that
read a point cloud or multi-view renders (``views_*``), with the linear fusion, FiLM (the shape scales and shifts
the image feature) or the correlation fusion (image and shape scored against each other per azimuth bin), with
and without canonical-frame randomisation (``--random``). After each teacher, ``scripts/shape_reliance.py`` scores
it with its own shape, another instance's, another category's and its own turned with the label (by 30 degrees;
views by the ring's step). Students
(``student_*``) distil a zero-shot teacher on the base categories and are scored on them and, by ``testing.py``, on
the novel ones; the 10-shot rows (``shot10_*``) fine-tune zero-shot runs on 10 images of every category and are
scored on the novel ones.

The tables (docs/shape_claims.md: per row the mean per-class val Acc30 after every epoch, mean over the seeds
finished, and the reliance probe; then the issue's targets as paired per-seed differences) are rewritten after
every run. Rerunning skips finished runs and resumes an interrupted one; finished runs' metrics and probes are
copied to ``--archive`` (docs/runs/shape, committed), so that the seeds add up over sessions and
``--table_only`` rewrites the tables from the archive alone.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from auxiliary.files import atomic_write_text  # noqa: E402
from run_archive import finished_records, has_checkpoint  # noqa: E402

SETS = {"tuning": ("data/SyntheticMany", 0), "heldout": ("data/SyntheticManyHeldout", 1)}
BUDGET = ["--dataset", "SyntheticMany", "--input_dim", "32", "--batch_size", "32", "--lr", "1e-3", "--workers", "2"]
OURS = ["--img_encoder", "resnet18", "--augment", "none", "--schedule", "cosine", "--warmup", "0",
        "--print_freq", "0"]
IMAGE = OURS + ["--shape", "None"]
CLOUD = OURS + ["--shape", "PointCloud", "--img_feature_dim", "256", "--shape_feature_dim", "256",
                "--point_num", "250"]
# multi-view shapes at a point cloud's cost: the 12 renders resized to the image's 32 px and read by a small CNN,
# 128-d a view (the correlation fusion gets 2 rings x 128 = 256 channels a direction, as the cloud's 256)
VIEWS = OURS + ["--shape", "MultiView", "--img_feature_dim", "256", "--view_encoder", "small", "--view_feature_dim",
                "128", "--view_size", "32"]
CONTROL = ["--schedule", "cosine"]
NOVEL = ["--novel"]
# students (§2 of the issue): image only, trained on the base categories of the zero-shot split and scored on
# them (``--eval_base``) by their curve, then zero-shot on the novel ones by ``testing.py``; ``{teacher}`` is the
# run directory of the row they distil (its model_best.pth)
STUDENT = ["--student_encoder", "resnet18", "--augment", "none", "--schedule", "cosine", "--warmup", "0",
           "--print_freq", "0", "--novel", "--eval_base", "--teacher_model", "{teacher}/model_best.pth"]
NO_KL = ["--alpha", "1", "--gamma", "0", "--embed_kl", "0"]
KL = ["--alpha", "0.25", "--gamma", "0.75", "--kd_T", "1", "--embed_kl", "0.75"]  # the reference's KL recipe
KL_A1 = ["--alpha", "1", *KL[2:]]  # the same KL terms beside the pose loss at full weight
CRD = ["--crd", "--crd_negatives", "batch", "--tau", "0.5", "--weighting", "linear"]  # pinned, whatever the default
# the paper's 10-shot protocol: a zero-shot run (``{init}``) fine-tuned on 10 training images of every category and
# scored on the novel ones (``--eval_novel``); the students distil the 10-shot teacher
SHOT = ["--shot", "10", "--eval_novel"]
SHOT_STUDENT = [*STUDENT[:STUDENT.index("--novel")], *SHOT, "--teacher_model", "{teacher}/model_best.pth",
                "--student_model", "{init}/best_student.pt"]

# key -> (label, script, flags beyond BUDGET); a key that starts with ``novel_`` is a zero-shot row
RUNS = {
    "novel_image": ("image-only network", "training.py", IMAGE + NOVEL),
    "novel_cloud_film_random": ("teacher, point cloud, FiLM fusion, `--random`", "training.py",
                                CLOUD + ["--fusion", "film", "--random"] + NOVEL),
    "novel_control": ("control: plain torchvision resnet18", "benchmarks/plain_loop.py", CONTROL + NOVEL),
    "novel_cloud_film": ("teacher, point cloud, FiLM fusion", "training.py", CLOUD + ["--fusion", "film"] + NOVEL),
    "novel_cloud_linear_random": ("teacher, point cloud, linear fusion, `--random`", "training.py",
                                  CLOUD + ["--fusion", "linear", "--random"] + NOVEL),
    "novel_cloud_linear": ("teacher, point cloud, linear fusion", "training.py",
                           CLOUD + ["--fusion", "linear"] + NOVEL),
    "image": ("image-only network", "training.py", IMAGE),
    "cloud_film_random": ("teacher, point cloud, FiLM fusion, `--random`", "training.py",
                          CLOUD + ["--fusion", "film", "--random"]),
    "control": ("control: plain torchvision resnet18", "benchmarks/plain_loop.py", CONTROL),
    "cloud_film": ("teacher, point cloud, FiLM fusion", "training.py", CLOUD + ["--fusion", "film"]),
    "cloud_linear_random": ("teacher, point cloud, linear fusion, `--random`", "training.py",
                            CLOUD + ["--fusion", "linear", "--random"]),
    "cloud_linear": ("teacher, point cloud, linear fusion", "training.py", CLOUD + ["--fusion", "linear"]),
    # one change at a time from the zero-shot FiLM `--random` teacher: clouds centred in the unit ball
    "novel_cloud_film_random_sphere": ("teacher, FiLM, `--random`, clouds centred in the unit ball", "training.py",
                                       CLOUD + ["--fusion", "film", "--random", "--point_norm", "sphere"] + NOVEL),
    # the image path at 64 px (the set's own size; a later --input_dim overrides the budget's): the control, the
    # image-only network with the control's recipe, and with the demo's (light augmentation, 1 epoch of warm-up)
    "control_64": ("control, input 64", "benchmarks/plain_loop.py", CONTROL + ["--input_dim", "64"]),
    "image_64": ("image-only network, input 64", "training.py", IMAGE + ["--input_dim", "64"]),
    "image_64_light": ("image-only network, input 64, light augmentation and 1 epoch of warm-up", "training.py",
                       IMAGE + ["--input_dim", "64", "--augment", "light", "--warmup", "1"]),
    "image_64_direct_ow01": ("image-only network, input 64, no 200-d layer, offset loss weight 0.1", "training.py",
                             IMAGE + ["--input_dim", "64", "--head", "direct", "--offset_weight", "0.1"]),
    # the teacher at 64 px: the correlation teacher at this budget's sizes and at the paper's (1024-d image and shape
    # features, 1024 points, the sizes of the slow teacher the issue found), and the linear fusion at this budget's
    "cloud_64": ("teacher, point cloud, correlation fusion, input 64", "training.py",
                 CLOUD + ["--fusion", "correlation", "--input_dim", "64"]),
    "cloud_64_paper": ("teacher, point cloud, correlation fusion, input 64, 1024-d features, 1024 points",
                       "training.py", CLOUD + ["--fusion", "correlation", "--input_dim", "64", "--img_feature_dim",
                                               "1024", "--shape_feature_dim", "1024", "--point_num", "1024"]),
    "cloud_64_linear": ("teacher, point cloud, linear fusion, input 64", "training.py",
                        CLOUD + ["--fusion", "linear", "--input_dim", "64"]),
    # how the shape enters: the image compared with the cloud turned to each azimuth bin (logits that turn with it)
    "novel_cloud_corr": ("teacher, point cloud, correlation fusion", "training.py",
                         CLOUD + ["--fusion", "correlation"] + NOVEL),
    "novel_cloud_corr_random": ("teacher, point cloud, correlation fusion, `--random`", "training.py",
                                CLOUD + ["--fusion", "correlation", "--random"] + NOVEL),
    "cloud_corr": ("teacher, point cloud, correlation fusion", "training.py", CLOUD + ["--fusion", "correlation"]),
    # students of the zero-shot correlation teacher (and, as the control that separates 3D knowledge from a
    # stronger teacher, of the zero-shot image-only network)
    "student_pose": ("student, pose loss only", "trainingKD.py", STUDENT + NO_KL + ["--beta", "0"]),
    "student_kl": ("student, KL (the reference's recipe)", "trainingKD.py", STUDENT + KL),
    "student_crd": ("student, CRD alone", "trainingKD.py", STUDENT + CRD + NO_KL),
    "student_crd_kl": ("student, CRD + KL", "trainingKD.py", STUDENT + CRD + KL),
    "student_crd_kl_of_image": ("student, CRD + KL, of the image-only network", "trainingKD.py", STUDENT + CRD + KL),
    # the control of a teacher of equal accuracy, the other way round: no image-only network reaches the
    # correlation teacher's accuracy at this budget, so the correlation teacher is stopped early (``EPOCHS``: its
    # cosine decay spans 2 epochs), where it is about as accurate on the base categories as the image-only network
    "novel_cloud_corr_2ep": ("teacher, point cloud, correlation fusion, 2 epochs", "training.py",
                             CLOUD + ["--fusion", "correlation"] + NOVEL),
    "student_crd_kl_of_corr_2ep": ("student, CRD + KL, of the correlation teacher of 2 epochs", "trainingKD.py",
                                   STUDENT + CRD + KL),
    # one change from the three CRD + KL students above: the pose loss keeps its full weight (alpha 1 instead of the
    # reference's 0.25), so that a weak or unsure teacher cannot pull its student below the pose loss alone
    "student_crd_kl_a1": ("student, CRD + KL, alpha 1", "trainingKD.py", STUDENT + CRD + KL_A1),
    "student_crd_kl_a1_of_image": ("student, CRD + KL, alpha 1, of the image-only network", "trainingKD.py",
                                   STUDENT + CRD + KL_A1),
    "student_crd_kl_a1_of_corr_2ep": ("student, CRD + KL, alpha 1, of the correlation teacher of 2 epochs",
                                      "trainingKD.py", STUDENT + CRD + KL_A1),
    # the equal-accuracy control once more, with a teacher trained for the whole budget, so that it fits its training
    # images like the image-only network (the 2-epoch teacher did not): the correlation teacher given 8 points of its
    # cloud instead of 250, and its student
    "novel_cloud_corr_p8": ("teacher, point cloud, correlation fusion, 8 points", "training.py",
                            CLOUD + ["--fusion", "correlation", "--point_num", "8"] + NOVEL),
    "student_crd_kl_a1_of_corr_p8": ("student, CRD + KL, alpha 1, of the correlation teacher on 8 points",
                                     "trainingKD.py", STUDENT + CRD + KL_A1),
    # a student of the multi-view correlation teacher (``novel_views_corr``), the best zero-shot teacher once its
    # seeds were in: the students above distil the point-cloud correlation teacher, the best when they were run
    "student_crd_kl_of_views": ("student, CRD + KL, of the multi-view correlation teacher", "trainingKD.py",
                                STUDENT + CRD + KL),
    "shot10_image": ("image-only network", "training.py", IMAGE + SHOT + ["--model", "{init}/model_best.pth"]),
    "shot10_cloud_corr": ("teacher, point cloud, correlation fusion", "training.py",
                          CLOUD + ["--fusion", "correlation"] + SHOT + ["--model", "{init}/model_best.pth"]),
    "shot10_student_pose": ("student, pose loss only", "trainingKD.py",
                            SHOT_STUDENT + NO_KL + ["--beta", "0"]),
    "shot10_student_crd_kl": ("student, CRD + KL", "trainingKD.py", SHOT_STUDENT + CRD + KL),
    # one change: fine-tuning at the paper's 10-shot learning rate (1e-4) instead of the budget's 1e-3
    "shot10_image_low_lr": ("image-only network, lr 1e-4", "training.py",
                            IMAGE + SHOT + ["--model", "{init}/model_best.pth", "--lr", "1e-4"]),
    "shot10_cloud_corr_low_lr": ("teacher, point cloud, correlation fusion, lr 1e-4", "training.py",
                                 CLOUD + ["--fusion", "correlation"] + SHOT + ["--model", "{init}/model_best.pth",
                                                                               "--lr", "1e-4"]),
    # why the image-only network learns less per epoch than the control, one difference at a time (supervised)
    "image_no_offset": ("image-only network without the offset loss", "training.py",
                        IMAGE + ["--offset_weight", "0"]),
    "image_direct": ("image-only network, heads on the backbone's pooled feature (no 200-d layer)", "training.py",
                     IMAGE + ["--head", "direct"]),
    # both at once: the control's network (the heads on the pooled feature, the bin cross-entropies alone)
    "image_bare": ("image-only network, no 200-d layer and no offset loss (the control's network)", "training.py",
                   IMAGE + ["--head", "direct", "--offset_weight", "0"]),
    # the control's network with the offset loss at a tenth of its weight: can the offsets stay without the slow fit?
    "image_direct_ow01": ("image-only network, no 200-d layer, offset loss weight 0.1", "training.py",
                          IMAGE + ["--head", "direct", "--offset_weight", "0.1"]),
    # the offset loss at full weight on regressors that read the feature detached: the bins alone shape the feature
    "image_direct_detach": ("image-only network, no 200-d layer, offset regressors on the detached feature",
                            "training.py", IMAGE + ["--head", "direct", "--offset_detach"]),
    # the same light offset loss on the teacher (its fusion keeps the 200-d layer): does it fit faster too?
    "cloud_corr_ow01": ("teacher, point cloud, correlation fusion, offset loss weight 0.1", "training.py",
                        CLOUD + ["--fusion", "correlation", "--offset_weight", "0.1"]),
    # the other shape representation: multi-view renders, read through the correlation fusion (each ring's views
    # spread over the azimuth bins) and through the linear fusion (their features concatenated, as PoseFromShape)
    "novel_views_corr": ("teacher, multi-view, correlation fusion", "training.py",
                         VIEWS + ["--fusion", "correlation"] + NOVEL),
    "novel_views_corr_random": ("teacher, multi-view, correlation fusion, `--random`", "training.py",
                                VIEWS + ["--fusion", "correlation", "--random"] + NOVEL),
    "novel_views_linear": ("teacher, multi-view, linear fusion", "training.py", VIEWS + ["--fusion", "linear"] + NOVEL),
    "views_corr": ("teacher, multi-view, correlation fusion", "training.py", VIEWS + ["--fusion", "correlation"]),
    "views_linear": ("teacher, multi-view, linear fusion", "training.py", VIEWS + ["--fusion", "linear"]),
}
# the order of the work: zero-shot (where the shape should matter most) over every seed and set, then supervised,
# then the search rows and the image path at 64 px
SEARCH = ("novel_cloud_film_random_sphere", "novel_cloud_corr", "novel_cloud_corr_random", "cloud_corr", "control_64",
          "image_64", "image_64_light", "image_64_direct_ow01", "cloud_64", "cloud_64_paper", "cloud_64_linear",
          "image_no_offset", "image_direct", "image_bare", "image_direct_ow01", "image_direct_detach",
          "cloud_corr_ow01", "novel_cloud_corr_2ep", "novel_cloud_corr_p8", "novel_views_corr", "views_corr",
          "novel_views_corr_random", "novel_views_linear", "views_linear")
# student row -> the row it distils: ``..._of_image`` the image-only network, ``..._of_views`` the multi-view
# correlation teacher, ``..._of_corr_X`` the correlation teacher ``novel_cloud_corr_X``, any other the correlation
# teacher
STUDENTS = {k: "novel_image" if k.endswith("_of_image") else "novel_views_corr" if k.endswith("_of_views") else
            f"novel_cloud_corr_{k.rsplit('_of_corr_', 1)[1]}" if "_of_corr_" in k else "novel_cloud_corr"
            for k in RUNS if k.startswith("student_")}
# rows trained for another epoch count than ``--epochs`` (they belong to its budget: their students train for it)
EPOCHS = {"novel_cloud_corr_2ep": 2}
# teachers made as weak as the image-only network for the students' equal-accuracy control: never the best teacher
WEAKENED = ("novel_cloud_corr_2ep", "novel_cloud_corr_p8")
SHOTS = tuple(k for k in RUNS if k.startswith("shot10_"))
# row -> {placeholder of its flags: the row whose run directory fills it}; those runs come first
DEPENDS = {**{k: {"teacher": t} for k, t in STUDENTS.items()},
           "shot10_image": {"init": "novel_image"}, "shot10_cloud_corr": {"init": "novel_cloud_corr"},
           "shot10_image_low_lr": {"init": "novel_image"}, "shot10_cloud_corr_low_lr": {"init": "novel_cloud_corr"},
           "shot10_student_pose": {"teacher": "shot10_cloud_corr", "init": "student_pose"},
           "shot10_student_crd_kl": {"teacher": "shot10_cloud_corr", "init": "student_crd_kl"}}
GROUPS = (tuple(k for k in RUNS if k.startswith("novel_") and k not in SEARCH),
          tuple(k for k in RUNS if not k.startswith(("novel_", "student_", "shot10_")) and k not in SEARCH), SEARCH,
          tuple(STUDENTS), SHOTS)
TEACHERS = tuple(k for k in RUNS if ("cloud" in k or "views" in k) and k not in SHOTS)  # probed (the 10-shot ones are not)
DEFAULT_EPOCHS = 6
PROBE = ("own", "same class", "other class", "turned")

# the targets: (label, run or "best teacher", its yardstick, least difference, zero-shot)
TARGETS = (
    ("zero-shot: best teacher - image-only network", "best", "novel_image", 10.0),
    ("zero-shot: image-only network - control", "novel_image", "novel_control", -1.0),
    ("supervised: best teacher - image-only network", "best", "image", 3.0),
    ("supervised: image-only network - control", "image", "control", -1.0),
    ("base categories: student, CRD + KL - pose loss only", "student_crd_kl", "student_pose", 3.0),
    ("base categories: student, CRD alone - pose loss only", "student_crd", "student_pose", 2.0),
    ("base categories: student of the correlation teacher - of the image-only network (CRD + KL)", "student_crd_kl",
     "student_crd_kl_of_image", 0.0),
    ("base categories: student of the correlation teacher stopped at the image-only network's accuracy - of the "
     "image-only network (CRD + KL)", "student_crd_kl_of_corr_2ep", "student_crd_kl_of_image", 0.0),
    ("base categories: student of the correlation teacher - of the image-only network (CRD + KL, alpha 1)",
     "student_crd_kl_a1", "student_crd_kl_a1_of_image", 0.0),
    ("base categories: student of the correlation teacher stopped at the image-only network's accuracy - of the "
     "image-only network (CRD + KL, alpha 1)", "student_crd_kl_a1_of_corr_2ep", "student_crd_kl_a1_of_image", 0.0),
    ("base categories: student of the correlation teacher on 8 points (trained to the end) - of the image-only "
     "network (CRD + KL, alpha 1)", "student_crd_kl_a1_of_corr_p8", "student_crd_kl_a1_of_image", 0.0),
    ("base categories: student, CRD + KL, alpha 1 - pose loss only", "student_crd_kl_a1", "student_pose", 3.0),
    ("base categories: student of the multi-view teacher, CRD + KL - pose loss only", "student_crd_kl_of_views",
     "student_pose", 3.0),
    ("base categories: student of the multi-view teacher - of the image-only network (CRD + KL)",
     "student_crd_kl_of_views", "student_crd_kl_of_image", 0.0),
)


def stem(args, key: str) -> str:
    """A run's name: the row's key, tagged with its epoch count when that is not the default budget's (a run of
    15 epochs is not the first 6 epochs of a 6-epoch run: the cosine schedule spans the run)."""
    return key if args.epochs == DEFAULT_EPOCHS else f"{key}.e{args.epochs}"


def epochs_of(key: str, args) -> int:
    return EPOCHS.get(key, args.epochs)


def run_dir(args, name: str, seed: int, key: str) -> Path:
    return REPO / args.out / name / f"seed{seed}" / stem(args, key)


def archive_file(args, name: str, seed: int, key: str, suffix: str = ".jsonl") -> Path:
    return REPO / args.archive / name / f"seed{seed}" / f"{stem(args, key)}{suffix}"


def with_epochs(args, epochs: int) -> argparse.Namespace:
    """The same arguments at another epoch count (another budget's runs and archive files)."""
    return argparse.Namespace(**{**vars(args), "epochs": epochs})


def budgets(args) -> list[int]:
    """The epoch counts with a run on disk or in the archive, the default budget's first."""
    found = set()
    for root in (REPO / args.archive, REPO / args.out):
        for path in root.glob("*/seed*/*"):
            match = re.search(r"\.e(\d+)(\.jsonl|\.reliance\.json)?$", path.name)
            if match:
                found.add(int(match.group(1)))
    return [DEFAULT_EPOCHS] + sorted(found - {DEFAULT_EPOCHS})


def probe_flags(name: str, key: str) -> list[str]:
    """The probe's data flags: the row's set and split; the input size and cloud settings come from the checkpoint."""
    return ["--dataset", "SyntheticMany", "--data_dir", SETS[name][0], "--workers", "2", "--batch_size", "64",
            *(NOVEL if key.startswith("novel_") else [])]


def command_of(key: str, args, name: str, seed: int) -> list[str]:
    _, script, flags = RUNS[key]
    if key in DEPENDS:
        dirs = {slot: run_dir(args, name, seed, row) for slot, row in DEPENDS[key].items()}
        flags = [f.format(**dirs) for f in flags]
    return [script, *BUDGET, "--data_dir", SETS[name][0], *flags, "--seed", str(seed), "--n_epoch",
            str(epochs_of(key, args)), "--output_dir", str(run_dir(args, name, seed, key))]


def probe_command(key: str, args, name: str, seed: int) -> list[str]:
    return ["scripts/shape_reliance.py", *probe_flags(name, key), "--model",
            str(run_dir(args, name, seed, key) / "model_best.pth"), "--turn", "30",
            "--output", str(run_dir(args, name, seed, key) / "reliance.json")]


def zero_shot_command(key: str, args, name: str, seed: int) -> list[str]:
    """A student's score on the novel categories (its best checkpoint on the base ones)."""
    out = run_dir(args, name, seed, key)
    return ["testing.py", *probe_flags(name, "novel_"), "--shape", "None", "--model", str(out / "best_student.pt"),
            "--output_dir", str(out / "novel")]


def base_command(key: str, args, name: str, seed: int) -> list[str]:
    """A zero-shot teacher's score on the base categories (where its students train), at its best epoch."""
    out = run_dir(args, name, seed, key)
    return ["testing.py", *probe_flags(name, ""), "--eval_base", "--model", str(out / "model_best.pth"),
            "--output_dir", str(out / "base")]


def zero_shot_of(key: str, args, name: str, seed: int) -> dict | None:
    """A student's zero-shot table (its run directory's, copied to the archive; else the archive's)."""
    return kept_table(run_dir(args, name, seed, key) / "novel" / "results.json",
                      archive_file(args, name, seed, key, ".novel.json"))


def base_of(key: str, args, name: str, seed: int) -> dict | None:
    """A distilled teacher's base-category table (its run directory's, copied to the archive; else the archive's)."""
    return kept_table(run_dir(args, name, seed, key) / "base" / "results.json",
                      archive_file(args, name, seed, key, ".base.json"))


def kept_table(local: Path, kept: Path) -> dict | None:
    """A results file of a run directory, copied to the archive when new; else the archived copy; else None."""
    if local.is_file():
        text = local.read_text()
        if not kept.is_file() or kept.read_text() != text:
            kept.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(kept, text)
        return json.loads(text)
    return json.loads(kept.read_text()) if kept.is_file() else None


def records_of(key: str, args, name: str, seed: int) -> list[dict] | None:
    return finished_records(run_dir(args, name, seed, key), archive_file(args, name, seed, key), epochs_of(key, args))


def probe_of(key: str, args, name: str, seed: int) -> dict | None:
    """The teacher's reliance probe (its run directory's, copied to the archive; else the archive's)."""
    probe = kept_table(run_dir(args, name, seed, key) / "reliance.json",
                       archive_file(args, name, seed, key, ".reliance.json"))
    return probe["swaps"] if probe else None


def call(command: list[str], log: Path) -> None:
    print("+ " + " ".join(command), flush=True)
    with open(log, "a") as f:
        subprocess.run([sys.executable, *command], cwd=REPO, check=True, stdout=f, stderr=subprocess.STDOUT)


def run(key: str, args, name: str, seed: int, need_checkpoint: bool = False) -> None:
    """Train (or resume, or skip when finished) one row, after the rows it depends on (``DEPENDS``), then probe it
    when it is a teacher, or score it on the novel categories when it is a zero-shot student (and its teacher on the
    base ones). ``need_checkpoint``: another row is about to start from or distil its weights, so metrics kept from
    an earlier session are not enough, and a missing checkpoint is trained again (its new metrics then replace the
    archived ones)."""
    out = run_dir(args, name, seed, key)
    weights = "best_student.pt" if RUNS[key][1] == "trainingKD.py" else "model_best.pth"
    again = need_checkpoint and not has_checkpoint(out, epochs_of(key, args), weights)
    if again or records_of(key, args, name, seed) is None:
        for row in DEPENDS.get(key, {}).values():  # the runs whose weights it starts from or distils
            run(row, args, name, seed, need_checkpoint=True)
        out.mkdir(parents=True, exist_ok=True)
        call(command_of(key, args, name, seed), out.with_name(f"{out.name}.log"))
        records_of(key, args, name, seed)  # archives the finished run
    if key in TEACHERS and probe_of(key, args, name, seed) is None and (out / "model_best.pth").is_file():
        call(probe_command(key, args, name, seed), out.with_name(f"{out.name}.log"))
        probe_of(key, args, name, seed)
    if key in STUDENTS and zero_shot_of(key, args, name, seed) is None and (out / "best_student.pt").is_file():
        call(zero_shot_command(key, args, name, seed), out.with_name(f"{out.name}.log"))
        zero_shot_of(key, args, name, seed)
    teacher = run_dir(args, name, seed, STUDENTS[key]) if key in STUDENTS else None
    if teacher and base_of(STUDENTS[key], args, name, seed) is None and (teacher / "model_best.pth").is_file():
        call(base_command(STUDENTS[key], args, name, seed), teacher.with_name(f"{teacher.name}.log"))
        base_of(STUDENTS[key], args, name, seed)


def seeds_of(args) -> list[int]:
    """The seeds asked for and every seed with a run on disk or in the archive, so that a run of some seeds
    rewrites the table with all of them."""
    found = {int(p.name[4:]) for root in (REPO / args.archive, REPO / args.out) for p in root.glob("*/seed*")
             if p.name[4:].isdigit()}
    return sorted(found | set(args.seeds))


def finished(args) -> dict:
    """{set: {key: {seed: (records, probe or None)}}} of every finished run, on disk or archived, of every seed
    (``seeds_of``)."""
    results = {}
    for name in SETS:
        for key in RUNS:
            for seed in seeds_of(args):
                records = records_of(key, args, name, seed)
                if records is not None:
                    results.setdefault(name, {}).setdefault(key, {})[seed] = (records, probe_of(key, args, name, seed))
    return results


def spread(values, signed: bool = False) -> str:
    mean = f"{statistics.mean(values):{'+' if signed else ''}.1f}"
    return f"{mean} ± {statistics.stdev(values):.1f}" if len(values) > 1 else mean


def best_teacher(runs: dict, novel: bool) -> str | None:
    """The teacher row with the most seeds finished and, among those, the highest mean last-epoch Acc30 (zero-shot
    or supervised rows), so that one lucky seed of a new row does not displace a mean over three; not a teacher
    weakened for the equal-accuracy control (``WEAKENED``) nor one at another input size than the budget's (its
    yardstick, the image-only network, sees the budget's)."""
    keys = [k for k in TEACHERS if k.startswith("novel_") == novel and runs.get(k) and k not in WEAKENED
            and "--input_dim" not in RUNS[k][2]]
    return max(keys, key=lambda k: (len(runs[k]),
                                    statistics.mean(r[-1]["val"]["acc30"] for r, _ in runs[k].values())),
               default=None)


def chosen_teacher(results: dict, name: str, novel: bool) -> str | None:
    """The best teacher as chosen on the tuning set, for every set: the held-out set is scored, never tuned on (a
    teacher that is best there only is not picked); the set's own best where the tuning set has no teacher."""
    return best_teacher(results.get("tuning") or results[name], novel)


def table_lines(results: dict, args) -> list[str]:
    minutes = sum(r["time_s"] for runs in results.values() for seeds in runs.values()
                  for records, _ in seeds.values() for r in records) / 60
    lines = [f"Mean per-class val Acc30 after each epoch (1 to {args.epochs}), mean over the seeds finished (n); "
             "last column: the reliance probe of a teacher at its best epoch (Acc30 with its own shape / another "
             "instance's / another category's / its own turned with the label, by 30 degrees for a cloud and by the "
             "ring's step, 60 degrees, for views). Zero-shot rows: "
             "trained on the 100 base categories, scored on the 20 novel ones; supervised rows: all 120. Training Acc30: "
             "on the training images of the last epoch, as they were learnt (how well the network fits the categories "
             "it trains on). Budget: "
             f"resnet18, input 32, batch 32, Adam 1e-3, cosine decay, no augmentation; the runs took {minutes:.0f} "
             "min of training and evaluation (the sum of their epoch times; 2-core x86_64 CPUs, from 2026-12-03 on).", ""]
    for name, runs in results.items():
        lines += [f"**{name}** ({SETS[name][0]})", "",
                  "| run | n | Acc30 per epoch | Acc30, last | MedErr, last | training Acc30, last "
                  "| probe: own / instance / category / turned; a student's novel-category Acc30 and its "
                  "teacher's base-category Acc30 | flags |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for key, (label, script, flags) in RUNS.items():
            seeds = runs.get(key)
            if not seeds:
                continue
            epochs = min(len(r) for r, _ in seeds.values())
            curve = " ".join(f"{statistics.mean(r[e]['val']['acc30'] for r, _ in seeds.values()):.1f}"
                             for e in range(epochs))
            last = [r[-1]["val"] for r, _ in seeds.values()]
            probes = [p for _, p in seeds.values() if p]
            probe = " / ".join(spread([p[s]["acc30"] for p in probes]) for s in PROBE) if probes else ""
            if key in STUDENTS:
                scores = [zero_shot_of(key, args, name, seed) for seed in seeds]
                scores = [z["mean"]["acc30"] for z in scores if z]
                probe = f"novel: {spread(scores)}" if scores else ""
                bases = [base_of(STUDENTS[key], args, name, seed) for seed in seeds]
                bases = [b["mean"]["acc30"] for b in bases if b]
                probe += f"; its teacher on the base categories: {spread(bases)}" if bases else ""
            where = ("zero-shot" if key.startswith("novel_") else "base categories" if key in STUDENTS else
                     "10-shot, novel categories" if key in SHOTS else "supervised")
            fit = [r[-1]["train"]["acc30"] for r, _ in seeds.values() if "acc30" in r[-1].get("train", {})]
            lines.append(f"| {where}: {label} | {len(seeds)} | {curve} | {spread([v['acc30'] for v in last])} | "
                         f"{spread([v['mederr'] for v in last])} | {spread(fit) if fit else ''} | {probe} | "
                         f"`{Path(script).name} {' '.join(flags)}` |")
        lines.append("")
    gaps = [max(r["val"]["acc30"] for r in records) - records[-1]["val"]["acc30"]
            for runs in results.values() for key, seeds in runs.items()
            if key.startswith("novel_") and key in TEACHERS for records, probe in seeds.values() if probe]
    if gaps:
        lines += [f"A zero-shot teacher's best epoch (its probe, and the checkpoint its students distil) is chosen on "
                  f"the novel categories it is scored on, so its own-shape Acc30 in the probe is optimistic: the best "
                  f"epoch's val Acc30 is {min(gaps):.1f} to {max(gaps):.1f} points (mean {statistics.mean(gaps):.1f}) "
                  f"above the last epoch's over these {len(gaps)} probed runs. The Acc30 columns and the accuracy "
                  f"targets use the last epoch; the reliance target compares the probe's rows, all of one "
                  f"checkpoint.", ""]
    return lines + target_lines(results)


def target_lines(results: dict) -> list[str]:
    lines = ["Against the targets: paired per-seed differences of the last epoch's Acc30, mean ± sample standard "
             "deviation over the seeds both finished (n). The best teacher is the teacher row with the most seeds "
             "finished and, among those, the highest mean, chosen on the tuning set and scored as it is on both; "
             "its probe gives the loss with another category's shape (own - other category).", "",
             "| comparison | target | set | teacher | n | difference | met |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, runs in results.items():
        for label, key, base, target in TARGETS:
            novel = base.startswith("novel_")
            if key == "best":
                key = chosen_teacher(results, name, novel)
            if key is None or not runs.get(key) or not runs.get(base):
                continue
            seeds = sorted(set(runs[key]) & set(runs[base]))
            if not seeds:
                continue
            diffs = [runs[key][s][0][-1]["val"]["acc30"] - runs[base][s][0][-1]["val"]["acc30"] for s in seeds]
            met = "yes" if statistics.mean(diffs) >= target else "no"
            lines.append(f"| {label} | {target:+.0f} | {name} | {key if key in TEACHERS else ''} | {len(seeds)} | "
                         f"{spread(diffs, signed=True)} | {met} |")
        for novel in (True, False):
            key = chosen_teacher(results, name, novel)
            probes = [p for _, p in runs.get(key, {}).values() if p] if key else []
            if probes:
                losses = [p["own"]["acc30"] - p["other class"]["acc30"] for p in probes]
                met = "yes" if statistics.mean(losses) >= 10 else "no"
                lines.append(f"| {'zero-shot' if novel else 'supervised'}: best teacher, own shape - another "
                             f"category's | +10 | {name} | {key} | {len(probes)} | {spread(losses, signed=True)} | "
                             f"{met} |")
    return lines + [""]


def write_table(path: Path, results: dict, args) -> None:
    """The page: the default budget's tables, then one section per other epoch count that has runs."""
    lines = ["# Does the teacher read its shape? (generated)", "",
             "Written by `python scripts/shape_claims.py` (`--table_only` rewrites it from the archived runs in "
             "docs/runs/shape); do not edit by hand.", ""]
    for epochs in budgets(args):
        budget = with_epochs(args, epochs)
        runs = results if epochs == args.epochs else finished(budget)
        if epochs != DEFAULT_EPOCHS:
            if not runs:
                continue
            lines += [f"## {epochs} epochs", "",
                      f"The same rows and budget trained for {epochs} epochs (`--epochs {epochs}`; the cosine "
                      "decay spans the run).", ""]
        lines += table_lines(runs, budget)
    atomic_write_text(path, "\n".join(lines) + "\n")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--only", nargs="+", default=list(RUNS), choices=list(RUNS), help="runs to do")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS,
                        help="epochs per run; runs of another count are kept apart (their names end in "
                             ".e<N>) and get their own section of the table")
    parser.add_argument("--out", default="result/shape", help="run directories")
    parser.add_argument("--archive", default="docs/runs/shape",
                        help="finished runs' metrics and probes, committed, so that seeds add up over sessions")
    parser.add_argument("--table", default="docs/shape_claims.md")
    parser.add_argument("--table_only", action="store_true", help="rewrite the table from finished runs; run nothing")
    return parser


def main(argv=None):
    args = get_parser().parse_args(argv)
    table, start = REPO / args.table, time.time()
    if not args.table_only:
        from dataset.synthetic_many import ensure_many
        for name in args.sets:
            ensure_many(REPO / SETS[name][0], seed=SETS[name][1])
        for group in GROUPS:
            for seed in args.seeds:
                for name in args.sets:
                    for key in (k for k in group if k in args.only):
                        run(key, args, name, seed)
                        write_table(table, finished(args), args)
    write_table(table, finished(args), args)
    print(table.read_text())
    print(f"{(time.time() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
