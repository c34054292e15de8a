#!/usr/bin/env bash
# Pascal3D+ (12 classes) teacher and student with the original README's settings and the paper's architecture
# (--fusion deform, --head mlp), then Pix3D (evaluation only)
# of both Pascal3D+ models. Needs data/Pascal3D and data/Pix3D prepared (README, Data). Reported figures: the
# best val epoch (results_best.json) and testing.py's tables.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}

$PY training.py --fusion deform --dataset Pascal3D --shape PointCloud --shape_dir pointcloud --shape_feature_dim 1024 \
    --img_feature_dim 1024 --batch_size 160 --lr 1e-4 --n_epoch 300 --decrease 200 --random \
    --output_dir result/Pascal3D/teacher
$PY trainingKD.py --head mlp --dataset Pascal3D --shape PointCloud --shape_dir pointcloud --batch_size 46 --lr 1e-4 \
    --n_epoch 60 --decrease 44 --crd --tau 0.5 --weighting linear \
    --teacher_model result/Pascal3D/teacher/model_best.pth --output_dir result/Pascal3D/student
$PY testing.py --dataset Pascal3D --model result/Pascal3D/teacher/model_best.pth --output_dir result/Pascal3D/teacher/test
$PY testing.py --dataset Pascal3D --shape None --model result/Pascal3D/student/best_student.pt \
    --output_dir result/Pascal3D/student/test

# Pix3D: the Pascal3D+ models on Pix3D's 9 classes (the teacher with Pix3D's own CAD point clouds)
$PY testing.py --dataset Pix3D --model result/Pascal3D/teacher/model_best.pth --output_dir result/Pix3D/teacher
$PY testing.py --dataset Pix3D --shape None --model result/Pascal3D/student/best_student.pt \
    --output_dir result/Pix3D/student
