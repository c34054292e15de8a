# Each target creates the virtual environment on first use, so one command works on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: test demo bench reproduce-synthetic reproduce-shape learning tables data data-heldout data-many data-many-heldout clean-venv

# The demo's small, CPU-sized settings (8 to 12 min on 2 cores with the environment and data in place); the scripts'
# own defaults are the paper's full-size ones.
DEMO_TEACHER_EPOCHS ?= 7
DEMO_STUDENT_EPOCHS ?= 5
DEMO_OPT := --dataset Synthetic --batch_size 64 --workers 2 --lr 2e-3 --schedule cosine --warmup 1 \
	--augment light --print_freq 0
DEMO := result/demo

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	touch $@

test: $(VENV)/.installed
	$(PY) -m pytest

demo: $(VENV)/.installed
	$(PY) training.py $(DEMO_OPT) --img_encoder resnet18 --input_dim 32 --img_feature_dim 256 \
		--shape_feature_dim 256 --point_num 250 --n_epoch $(DEMO_TEACHER_EPOCHS) --output_dir $(DEMO)/teacher
	$(PY) trainingKD.py $(DEMO_OPT) --teacher_model $(DEMO)/teacher/model_best.pth --student_encoder resnet18 \
		--img_feature_dim 256 --crd --tau 0.5 --weighting linear --n_epoch $(DEMO_STUDENT_EPOCHS) \
		--output_dir $(DEMO)/student
	$(PY) testing.py --dataset Synthetic --workers 2 --model $(DEMO)/teacher/model_best.pth --output_dir $(DEMO)/teacher/test
	$(PY) testing.py --dataset Synthetic --workers 2 --shape None --model $(DEMO)/student/best_student.pt \
		--output_dir $(DEMO)/student/test
	$(PY) vis_tSNE.py --dataset Synthetic --workers 2 --model $(DEMO)/teacher/model_best.pth \
		$(DEMO)/student/best_student.pt --labels teacher "student (CRD + KL)" --feature fused --color_by azimuth --output_dir $(DEMO)
	@echo
	@$(PY) -m auxiliary.summary $(DEMO)/teacher/test/results.json $(DEMO)/student/test/results.json \
		--labels "teacher (image + point cloud)" "student (image only, CRD + KL)"
	@echo "figures: $(DEMO)/tSNE_Synthetic_val_fused_azimuth.png, $(DEMO)/*/curves.png, $(DEMO)/*/test/*.png"

# Throughput of the loader, the model step, the full step and evaluation, for both stages (README,
# "Speed"); BENCH_OPT adds flags, e.g. BENCH_OPT="--device cuda --batch_size 160 --amp --channels_last".
BENCH_OPT ?=
bench: $(VENV)/.installed
	$(PY) benchmarks/throughput.py $(BENCH_OPT)

# The claim tables on both synthetic sets (control, image-only network, teachers with the linear and the residual
# fusion, with and without --random, four students, zero-shot; 3 seeds; resumable, also across sessions through
# the metrics archived in docs/runs/claims; generates a missing set itself) -> docs/synthetic_claims.md
reproduce-synthetic: $(VENV)/.installed
	$(PY) scripts/synthetic_claims.py

# Does the teacher read its shape? Zero-shot and supervised teachers on the many-category sets against the control
# and the image-only network, with the reliance probe; resumable, archived in docs/runs/shape -> docs/shape_claims.md
reproduce-shape: $(VENV)/.installed
	$(PY) scripts/shape_claims.py

# Every results table of the README and docs/, rewritten from the archived runs (make tables; --check in the tests)
tables: $(VENV)/.installed
	$(PY) scripts/tables.py

# How fast our networks learn against the control (benchmarks/plain_loop.py), one change at a time, on the
# tuning set and the held-out set -> docs/learning_ablation.md
learning: $(VENV)/.installed
	$(PY) scripts/learning_ablation.py

data: $(VENV)/.installed
	$(PY) -m dataset.synthetic --out data/Synthetic

# The held-out synthetic set: another generator seed, so other instances, colours and images; never tuned on
data-heldout: $(VENV)/.installed
	$(PY) -m dataset.synthetic --out data/SyntheticHeldout --seed 1

# The many-category set (120 procedural categories, 20 novel; docs/shape_data.md) and its never-tuned twin
data-many: $(VENV)/.installed
	$(PY) -m dataset.synthetic_many --out data/SyntheticMany

data-many-heldout: $(VENV)/.installed
	$(PY) -m dataset.synthetic_many --out data/SyntheticManyHeldout --seed 1

clean-venv:
	rm -rf $(VENV)
