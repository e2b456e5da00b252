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

.PHONY: install demo lint test clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)
	$(PY) train.py experiment=demo $(ARGS)

# static checks: ruff (lint + import order) and mypy (configured in pyproject.toml)
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

# two xdist workers on the 2 cores; the tests that launch processes run in order on one of them
test: lint
	$(PY) -m pytest -q -n 2 --dist loadgroup tests $(ARGS)

clean:
	rm -rf outputs multirun .pytest_cache
