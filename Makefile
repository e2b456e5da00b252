# `make demo` and `make test` work on a fresh machine: they create .venv and install what is needed.
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build on machines without CUDA (this one is on local disk); on a GPU machine pick your build,
# e.g. `make install TORCH_SPEC="torch==2.6.0"`. Torch already present in the venv is kept.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export WANDB_MODE := disabled
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo data-demo lint test clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)
	$(PY) train.py experiment=demo $(ARGS)

# The real-data path on synthetic data (README, "Real data"): raw files in two published layouts -> convert ->
# validate -> mix (conf/data/demo_mix.yaml) -> filter with a tiny model -> a few training steps. CPU, ~2 minutes.
DATA_DEMO ?= outputs/data-demo
data-demo: $(STAMP)
	rm -rf $(DATA_DEMO)/raw $(DATA_DEMO)/sources $(DATA_DEMO)/filter $(DATA_DEMO)/train
	$(PY) -m mixed_r1.data.demo $(DATA_DEMO)/raw
	$(PY) -m mixed_r1.data convert r1_v --input $(DATA_DEMO)/raw/r1_v.jsonl --output $(DATA_DEMO)/sources/r1_v.jsonl
	$(PY) -m mixed_r1.data convert vlm_r1 --input $(DATA_DEMO)/raw/vlm_r1.jsonl --output $(DATA_DEMO)/sources/vlm_r1.jsonl
	$(PY) -m mixed_r1.data validate $(DATA_DEMO)/sources/r1_v.jsonl $(DATA_DEMO)/sources/vlm_r1.jsonl
	@# the filter needs a model whose rewards can differ: the tiny model after the demo's warm-up (made once)
	test -f $(DATA_DEMO)/model/checkpoint/config.json || $(PY) train.py warmup.steps=150 warmup.batch_size=16 \
		trainer.max_steps=0 hydra.run.dir=$(DATA_DEMO)/model
	$(PY) filter_data.py data=demo_mix data.mix.root=$(DATA_DEMO)/sources model.path=$(DATA_DEMO)/model/checkpoint \
		hydra.run.dir=$(DATA_DEMO)/filter
	$(PY) -m mixed_r1.data validate $(DATA_DEMO)/filter/kept.jsonl
	$(PY) train.py data=jsonl data.train_file=$(DATA_DEMO)/filter/kept.jsonl model.path=$(DATA_DEMO)/model/checkpoint \
		warmup.steps=0 trainer.max_steps=5 hydra.run.dir=$(DATA_DEMO)/train

# static checks: ruff (lint + import order) and mypy (configured in pyproject.toml)
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

# two xdist workers on the 2 cores; the tests that launch processes run in order on one of them
test: lint
	$(PY) -m pytest -q -n 2 --dist loadgroup tests $(ARGS)

clean:
	rm -rf outputs multirun .pytest_cache
