# `make demo` and `make test` work on a fresh machine: they create .venv and install what is needed, every package at
# the exact version in requirements-lock.txt (README, "Installs").
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCK := requirements-lock.txt
# where the lock's CPU torch build (torch==2.13.0+cpu) comes from: this machine's wheel folder, else PyTorch's CPU index
TORCH_CPU_SOURCE ?= $(if $(wildcard /opt/wheels/torch-*+cpu-*.whl),--find-links /opt/wheels,--extra-index-url https://download.pytorch.org/whl/cpu)
# the interpreter and platform the lock files are compiled for (stated in their headers)
LOCK_PYTHON ?= 3.11
LOCK_PLATFORM ?= x86_64-manylinux_2_28

export HF_HUB_OFFLINE := 1
export WANDB_MODE := disabled
export TOKENIZERS_PARALLELISM := false

.PHONY: install install-gpu lock demo data-demo lint test test-latest clean table1 table2 table3 table4 variants report tiny-inputs

install: $(STAMP)

# --no-deps: the lock is the whole set, so nothing outside it can come in; pip check proves the set is consistent.
# --build-constraint: a source distribution (deepspeed) is built with the lock's setuptools, not the newest release
$(STAMP): $(LOCK)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q "$$(grep '^pip==' $(LOCK))"
	$(PY) -m pip install -q --no-deps --build-constraint $(LOCK) $(TORCH_CPU_SOURCE) -r $(LOCK)
	$(PY) -m pip check
	touch $(STAMP)

# A GPU machine: the same packages under constraints-gpu.txt (CUDA torch, flash-attn compiled against it last)
install-gpu:
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q "$$(grep '^pip==' constraints-gpu.txt)"
	$(PY) -m pip install -q -c constraints-gpu.txt -r requirements.txt -r requirements-dev.txt \
		$$(grep -v -e '^#' -e '^flash-attn' -e '^$$' requirements-gpu.txt)
	$(PY) -m pip install -q --no-build-isolation -c constraints-gpu.txt flash-attn
	$(PY) -m pip check
	touch $(STAMP)

# Regenerate both lock files from the ranges (requirements*.txt) and the torch pins (constraints-cpu.txt,
# requirements-gpu.txt) with today's newest releases; then `make test` (and `make test-latest` shows what moved).
lock:
	test -x $(VENV)/bin/uv || { test -x $(PY) || python3 -m venv $(VENV); \
		$(PY) -m pip install -q "$$(grep -o '^uv==[^ ]*' requirements-dev.txt)"; }
	UV_FIND_LINKS=$(if $(wildcard /opt/wheels),/opt/wheels,) $(VENV)/bin/uv pip compile --quiet \
		requirements.txt requirements-dev.txt -c constraints-cpu.txt $(if $(wildcard /opt/wheels),,--index-strategy \
		unsafe-best-match --extra-index-url https://download.pytorch.org/whl/cpu) \
		--python-version $(LOCK_PYTHON) --python-platform $(LOCK_PLATFORM) -o $(LOCK)
	$(VENV)/bin/uv pip compile --quiet requirements.txt requirements-dev.txt requirements-gpu.txt \
		--python-version $(LOCK_PYTHON) --python-platform $(LOCK_PLATFORM) -o constraints-gpu.txt

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

# ----------------------------------------------------------------------------- the paper's tables
# README, "Reproducing the paper". Each target trains its sweep (conf/experiment/tableN*.yaml), evaluates every
# run after training, and evaluates the base model where the table has a base row. Re-running a target skips
# finished runs (their evaluation exists) and resumes unfinished ones (resume=auto).
# every table's run folders (on a cluster: a filesystem all nodes share)
RUNS ?= runs
export MIXED_R1_RUNS := $(abspath $(RUNS))
# tiny: the whole pipeline on a CPU in minutes (tiny models, synthetic data)
PRESET ?=
# local: torchrun on this node | slurm: Hydra's submitit launcher
LAUNCHER ?= local
# processes (GPUs) per node
GPUS ?= 8
# nodes per run (slurm)
NODES ?= 1
# converted, filtered source files (data.mix.root)
DATA ?= /data/mixed_r1/filtered
# the six benchmarks' downloads (eval.data_root)
BENCH ?= /data/bench
# more launcher settings, e.g. hydra.launcher.partition=gpu hydra.launcher.timeout_min=4320
SLURM_ARGS ?=

ifeq ($(PRESET),tiny)
PAPER_INPUTS := tiny-inputs
RUN_ARGS := preset=tiny num_threads=2
MODEL_table3b := model=tiny_internvl
MODEL_default := model=tiny_qwen
TRAIN := $(PY) train.py
EVAL := $(PY) eval.py hydra.mode=RUN
else
PAPER_INPUTS :=
RUN_ARGS := data.mix.root=$(DATA) eval.data_root=$(BENCH)
MODEL_table3b :=
MODEL_default :=
ifeq ($(LAUNCHER),slurm)
LAUNCH_ARGS := hydra/launcher=submitit_slurm hydra.launcher.nodes=$(NODES) hydra.launcher.tasks_per_node=$(GPUS) \
	hydra.launcher.gpus_per_node=$(GPUS) $(SLURM_ARGS)
TRAIN := $(PY) train.py $(LAUNCH_ARGS)
EVAL := $(PY) eval.py hydra.mode=MULTIRUN hydra.sweeper.params={} $(LAUNCH_ARGS)
else
TRAIN := torchrun --nproc_per_node $(GPUS) train.py
EVAL := torchrun --nproc_per_node $(GPUS) eval.py hydra.mode=RUN
endif
endif
model_of = $(if $(filter table3b,$(1)),$(MODEL_table3b),$(MODEL_default))

# $(call sweep,EXPERIMENT): train and evaluate every point of the experiment's sweep
sweep = $(TRAIN) experiment=$(1) $(call model_of,$(1)) $(RUN_ARGS)
# $(call base_eval,EXPERIMENT,MODE): the untrained model, evaluated into <runs>/EXPERIMENT/base/eval/MODE (once)
base_eval = test -f $(MIXED_R1_RUNS)/$(1)/base/eval/$(2)/results.json || $(EVAL) experiment=$(1) \
	$(call model_of,$(1)) $(RUN_ARGS) eval.thinking=$(if $(filter thinking,$(2)),true,false) \
	eval.output_dir=$(MIXED_R1_RUNS)/$(1)/base/eval/$(2) eval.method=base hydra.run.dir=$(MIXED_R1_RUNS)/$(1)/base

tiny-inputs: $(STAMP)
	test -f $(MIXED_R1_RUNS)/tiny/sources/allava.jsonl || $(PY) -m mixed_r1.data.demo $(MIXED_R1_RUNS)/tiny/sources \
		--paper-sources --num-samples 24
	test -f $(MIXED_R1_RUNS)/tiny/bench/ai2d/data/test-00001-of-00002.parquet || $(PY) -m mixed_r1.eval.synthetic \
		$(MIXED_R1_RUNS)/tiny/bench --items 4

table1: $(STAMP) $(PAPER_INPUTS)
	$(call base_eval,table1_qwen3b,direct)
	$(call base_eval,table1_qwen3b,thinking)
	$(call sweep,table1_qwen3b)
	$(call base_eval,table1_qwen7b,direct)
	$(call base_eval,table1_qwen7b,thinking)
	$(call sweep,table1_qwen7b)

table2: $(STAMP) $(PAPER_INPUTS)
	$(call base_eval,table2,direct)
	$(call sweep,table2)

table3: $(STAMP) $(PAPER_INPUTS)
	$(call sweep,table3a)
	$(call base_eval,table3b,direct)
	$(call sweep,table3b)

table4: $(STAMP) $(PAPER_INPUTS)
	$(call sweep,table4)

# GRPO variants beyond the paper (conf/variant/) on its 3B setting; make report sets them beside the GRPO row
variants: $(STAMP) $(PAPER_INPUTS)
	$(call sweep,variants)

# Tables 1-4 as the paper lays them out, the paper's numbers beside ours, and Fig. 4's curves
report: $(STAMP)
	$(PY) report.py --runs $(MIXED_R1_RUNS) --out $(MIXED_R1_RUNS)/report

# static checks: ruff (lint + import order) and mypy (configured in pyproject.toml)
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

# two xdist workers on the 2 cores; the tests that launch processes run in order on one of them
test: lint
	$(PY) -m pytest -q -n 2 --dist loadgroup tests $(ARGS)

# The newest releases the ranges allow, in a fresh venv of their own, before a user meets them: the fast suite plus
# the ZeRO-3 tests (where upstream breaks have hit). torch stays at the CPU build of constraints-cpu.txt (the newest
# PyPI torch is a multi-GB CUDA build); LATEST_TORCH="" lifts that. Prints what differs from the lock first.
LATEST_VENV ?= .venv-latest
LATEST_TORCH ?= -c constraints-cpu.txt
test-latest:
	rm -rf $(LATEST_VENV) && python3 -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install -q --upgrade pip
	$(LATEST_VENV)/bin/python -m pip install -q --upgrade --upgrade-strategy eager $(TORCH_CPU_SOURCE) $(LATEST_TORCH) \
		-r requirements.txt -r requirements-dev.txt
	$(LATEST_VENV)/bin/python -m pip check
	$(LATEST_VENV)/bin/python -m tests.lockfile $(LOCK)
	$(LATEST_VENV)/bin/python -m pytest -q -n 2 --dist loadgroup -m "not slow and not installed_from_lock" tests $(ARGS)
	$(LATEST_VENV)/bin/python -m pytest -q tests/test_distributed.py $(ARGS)

clean:
	rm -rf outputs multirun runs .pytest_cache $(LATEST_VENV)
