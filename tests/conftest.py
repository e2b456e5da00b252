"""Shared fixtures and helpers: tiny checkpoints built once per session, small synthetic data, config
composition, and the three ways a test runs training (in-process, ``train.py``, ``torchrun``)."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
# Under pytest-xdist two workers share the 2 cores: one torch thread each (two 2-thread processes on 2
# cores spin-wait into each other, ~14x slower). Subprocesses get the same through THREADS.
THREADS = 1 if os.environ.get("PYTEST_XDIST_WORKER") else 2
torch.set_num_threads(THREADS)
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", "PYTHONPATH": str(ROOT),
       "OMP_NUM_THREADS": str(THREADS)}
TINY_FAMILIES = ["tiny_qwen", "tiny_internvl"]


def compose_train(overrides: list[str] | None = None, run_dir: Path | None = None, config_name: str = "train") -> DictConfig:
    """The config `train.py` (or the entry point of ``config_name``) would see, with ``${hydra:...}``
    paths replaced by ``run_dir``."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides or [])
    if run_dir is not None:  # outside a Hydra run, point run-folder paths at run_dir
        text = OmegaConf.to_yaml(cfg).replace("${hydra:runtime.output_dir}", str(run_dir))
        cfg = OmegaConf.create(text)
        OmegaConf.set_struct(cfg, True)
    return cfg


def settings_of(cfg: DictConfig):
    """The frozen settings ``train.py`` reads the config into (``recipe.train_settings``)."""
    from mixed_r1.recipe import train_settings

    return train_settings(cfg)


def model_and_prompt(cfg: DictConfig):
    """Only the ``model`` and ``prompt`` groups as settings (a config whose run folder is not set yet)."""
    from mixed_r1.models.settings import PromptSettings
    from mixed_r1.settings import model_settings
    from mixed_r1.typed import settings_from

    model = model_settings({"model": OmegaConf.to_container(cfg.model, resolve=True)})
    return model, settings_from(PromptSettings, OmegaConf.to_container(cfg.prompt, resolve=True), "prompt")


def _build_adapter(cfg: DictConfig, device: str = "cpu"):
    from mixed_r1.data.synthetic import corpus
    from mixed_r1.models import build_adapter

    model, prompt = model_and_prompt(cfg)
    return build_adapter(model, prompt, torch.device(device), tiny_corpus=corpus, seed=0)


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Each tiny family's random-weight checkpoint, built once per session (the same spec and seed
    train.py builds from); runs take it by ``model.path=`` instead of building their own."""
    paths = {}
    for family in TINY_FAMILIES:
        folder = tmp_path_factory.mktemp(family) / "base_model"
        _build_adapter(compose_train([f"model={family}", f"model.build_dir={folder}"]))  # built there
        paths[family] = folder
    return paths


@pytest.fixture(scope="session")
def synthetic_file(tmp_path_factory) -> Path:
    from mixed_r1.data.synthetic import SyntheticSpec, generate

    return generate(tmp_path_factory.mktemp("syn"), SyntheticSpec(num_samples=60, image_size=56, seed=3))


@pytest.fixture(scope="session")
def samples(synthetic_file):
    from mixed_r1.data import load_samples

    return load_samples(synthetic_file)


@pytest.fixture(scope="session")
def tiny_cfg(tmp_path_factory, tiny_checkpoints) -> DictConfig:
    return compose_train([f"model.path={tiny_checkpoints['tiny_qwen']}"], run_dir=tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def adapter(tiny_cfg):
    """The tiny Qwen2.5-VL adapter (the demo's default model)."""
    return _build_adapter(tiny_cfg)


@pytest.fixture(scope="session", params=TINY_FAMILIES)
def family_adapter(request, tmp_path_factory, tiny_checkpoints):
    """Each tiny model family in turn: the family-independent adapter contract runs over all of them."""
    cfg = compose_train([f"model={request.param}", f"model.path={tiny_checkpoints[request.param]}"],
                        run_dir=tmp_path_factory.mktemp(request.param))
    return _build_adapter(cfg)


@pytest.fixture(scope="session")
def wide_sample(tmp_path_factory):
    """A non-square image of odd size (several InternVL tiles, a non-trivial Qwen resize)."""
    from PIL import Image

    from mixed_r1.data import Sample

    folder = tmp_path_factory.mktemp("wide")
    Image.new("RGB", (151, 61), (30, 60, 220)).save(folder / "wide.png")
    return Sample(id="wide", image=str(folder / "wide.png"), problem="Is the shape blue? Answer yes or no.",
                  answer="yes", type="yes_no", source="test", image_size=(151, 61))


# ----------------------------------------------------------------------------- running training
# a short GRPO run on the tiny model: 2 warm-up steps, 2 prompts x 4 samples of 10 tokens, 20 samples
SHORT = ["warmup.steps=2", "warmup.batch_size=4", "trainer.prompts_per_step=2", "algo.group_size=4",
         "algo.max_new_tokens=10", "data.synthetic.num_samples=20"]


@pytest.fixture
def run_training(tiny_checkpoints):
    """``run_training(run_dir, *overrides, model="tiny_qwen")``: ``recipe.run`` in this process on the
    session's tiny checkpoint — train.py's code path minus the interpreter start (the CLI itself is
    covered by the subprocess tests)."""
    from mixed_r1.recipe import run

    def go(run_dir: Path, *overrides: str, model: str = "tiny_qwen") -> dict[str, float]:
        cfg = compose_train([f"model={model}", f"model.path={tiny_checkpoints[model]}", "num_threads=0",
                             *overrides], run_dir=run_dir)
        return run(cfg, run_dir)

    return go


def train_cli(*args: str, timeout: int = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python train.py ARGS`` as a user runs it (Hydra's parser wants the overrides in one run: the thread
    count goes before them, or after flags such as ``--cfg job``)."""
    threads = f"num_threads={THREADS}"
    args = (*args, threads) if args and args[0].startswith("--") else (threads, *args)
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=ROOT,
                          env={**ENV, **(env or {})}, capture_output=True, text=True, timeout=timeout)


def torchrun(nproc: int, port: int, *args: str, timeout: int = 600, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess:
    """train.py in ``nproc`` processes (torchrun, gloo on CPU), one torch thread each; each test passes
    its own port."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port", str(port),
           str(ROOT / "train.py"), "num_threads=1", *args]
    return subprocess.run(cmd, cwd=ROOT, env={**ENV, "OMP_NUM_THREADS": "1", **(env or {})}, capture_output=True,
                          text=True, timeout=timeout)


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def without_timings(record: dict) -> dict:
    """A metrics record without wall-clock values (the only part of a run that may differ)."""
    return {k: v for k, v in record.items()
            if k != "step_seconds" and not k.startswith(("time/", "tokens_per_second/"))}



def launches_processes(test):
    """Marks a test that launches several training processes (torchrun, deepspeed): ``slow``, and under
    pytest-xdist (``make test``: 2 workers) in one group that runs in order on one worker — two of them
    side by side would put 4 busy ranks on 2 cores, each several times slower. A test that launches one
    process is only ``slow``."""
    return pytest.mark.slow(pytest.mark.xdist_group("processes")(test))


def graded_by_length(build_reward):
    """``recipe.build_reward`` (to monkeypatch in its place) whose reward adds a deterministic share for shorter
    completions. Why: a random tiny model scores 0 on every completion, so every advantage would be 0 and a
    resume would be compared on weights and optimizer state that never move."""
    def build(run, adapter, policy):
        real = build_reward(run, adapter, policy)

        def score(samples, texts):
            out = real(samples, texts)
            return dataclasses.replace(out, total=out.total + torch.tensor([1.0 / (1 + len(t)) for t in texts]))

        return score

    return build
