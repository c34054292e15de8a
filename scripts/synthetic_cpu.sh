#!/usr/bin/env bash
# The README's CPU results on the synthetic data: a teacher, two CRD students (CRD's memory bank; in-batch
# negatives) and a pose-only student (same epochs, same seed), their evaluations and the figures in
# docs/figures. About an hour and a half on 2 CPU cores.
# Run from the repository root: bash scripts/synthetic_cpu.sh
set -euo pipefail
PY=${PY:-.venv/bin/python}
OUT=${OUT:-result}
FIG=${FIG:-docs/figures}
# (the figures were measured with the reference architecture: --fusion deform, --head mlp)
OPT="--dataset Synthetic --batch_size 64 --workers 2 --lr 2e-3 --schedule cosine --warmup 1 --augment light --print_freq 0"

$PY training.py $OPT --fusion deform --img_encoder resnet18 --input_dim 32 --img_feature_dim 256 --shape_feature_dim 256 \
    --point_num 250 --n_epoch 24 --output_dir $OUT/teacher_cpu
# (no KL terms, which were not the default when these students first ran, so that the students differ in CRD only)
KD="$OPT --head mlp --teacher_model $OUT/teacher_cpu/model_best.pth --student_encoder resnet18 --img_feature_dim 256 --n_epoch 20 --alpha 1 --gamma 0 --embed_kl 0"
$PY trainingKD.py $KD --crd --crd_negatives memory --nce_k 1024 --tau 0.5 --weighting linear --output_dir $OUT/student_crd_cpu
$PY trainingKD.py $KD --crd --crd_negatives batch --tau 0.5 --weighting linear --output_dir $OUT/student_crdbatch_cpu
$PY trainingKD.py $KD --output_dir $OUT/student_pose_cpu

$PY testing.py --dataset Synthetic --model $OUT/teacher_cpu/model_best.pth --workers 2 --output_dir $OUT/teacher_cpu/test
for run in student_crd_cpu student_crdbatch_cpu student_pose_cpu; do
    $PY testing.py --dataset Synthetic --shape None --model $OUT/$run/best_student.pt --workers 2 --output_dir $OUT/$run/test
done
LABELS=(teacher "student, CRD (memory bank)" "student, CRD (in-batch)" "student, pose loss only")
$PY -m auxiliary.summary $OUT/{teacher_cpu,student_crd_cpu,student_crdbatch_cpu,student_pose_cpu}/test/results.json \
    --labels "${LABELS[@]}"

# the figures: the teacher, the in-batch CRD student (the default negatives) and the pose-only student
mkdir -p $FIG
LABELS=(teacher "student, CRD (in-batch)" "student, pose loss only")
$PY -m auxiliary.plots curves $OUT/{teacher_cpu,student_crdbatch_cpu,student_pose_cpu} --labels "${LABELS[@]}" \
    --out $FIG/curves.png
$PY -m auxiliary.plots classes $OUT/{teacher_cpu,student_crdbatch_cpu,student_pose_cpu}/test/results.json \
    --labels "${LABELS[@]}" --out $FIG/per_class.png
$PY -m auxiliary.plots cdf $OUT/{teacher_cpu,student_crdbatch_cpu,student_pose_cpu}/test/predictions.csv \
    --labels "${LABELS[@]}" --out $FIG/error_cdf.png
$PY vis_tSNE.py --dataset Synthetic --model $OUT/teacher_cpu/model_best.pth \
    $OUT/{student_crdbatch_cpu,student_pose_cpu}/best_student.pt \
    --labels "${LABELS[@]}" --feature fused --color_by azimuth --workers 2 --output_dir $FIG
for feature in image shape; do
    $PY vis_tSNE.py --dataset Synthetic --model $OUT/teacher_cpu/model_best.pth --labels teacher \
        --feature $feature --color_by class --workers 2 --output_dir $FIG
done
$PY demo.py --image data/Synthetic/Images/car_val_00003.JPEG --bbox 20 40 67 67 \
    --model $OUT/teacher_cpu/model_best.pth --pointcloud data/Synthetic/pointcloud/car/04/compressed.ply \
    --overlay $FIG/demo_car.png
