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

.PHONY: install demo test clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)
	$(PY) train.py $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q tests $(ARGS)

clean:
	rm -rf outputs multirun .pytest_cache
