# Each target creates the virtual environment on first use, so one command works on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: test demo data clean-venv

# The demo's small, CPU-sized settings; the scripts' own defaults are the paper's full-size ones.
DEMO_EPOCHS ?= 5
DEMO_FLAGS := --dataset Synthetic --img_encoder resnet18 --input_dim 32 --img_feature_dim 256 \
	--shape_feature_dim 256 --point_num 500 --batch_size 32 --workers 2 --lr 1e-3 --print_freq 0

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	touch $@

test: $(VENV)/.installed
	$(PY) -m pytest

demo: $(VENV)/.installed
	$(PY) training.py $(DEMO_FLAGS) --shape PointCloud --n_epoch $(DEMO_EPOCHS) --decrease $(DEMO_EPOCHS) \
		--output_dir result/demo/teacher
	$(PY) testing.py --dataset Synthetic --workers 2 --model result/demo/teacher/model_best.pth \
		--output_dir result/demo/teacher/test

data: $(VENV)/.installed
	$(PY) -m dataset.synthetic --out data/Synthetic

clean-venv:
	rm -rf $(VENV)
