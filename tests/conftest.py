"""Shared fixtures: a tiny Qwen2.5-VL built once per session, small synthetic data, config composition."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

torch.set_num_threads(2)


def compose_train(overrides: list[str] | None = None, run_dir: Path | None = None) -> DictConfig:
    """The config `train.py` would see, with ``${hydra:...}`` paths replaced by ``run_dir``."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides or [])
    if run_dir is not None:  # outside a Hydra run, point run-folder paths at run_dir
        text = OmegaConf.to_yaml(cfg).replace("${hydra:runtime.output_dir}", str(run_dir))
        cfg = OmegaConf.create(text)
        OmegaConf.set_struct(cfg, True)
    return cfg


@pytest.fixture(scope="session")
def synthetic_file(tmp_path_factory) -> Path:
    from mixed_r1.data.synthetic import SyntheticSpec, generate

    return generate(tmp_path_factory.mktemp("syn"), SyntheticSpec(num_samples=60, image_size=56, seed=3))


@pytest.fixture(scope="session")
def samples(synthetic_file):
    from mixed_r1.data import load_samples

    return load_samples(synthetic_file)


@pytest.fixture(scope="session")
def tiny_cfg(tmp_path_factory) -> DictConfig:
    return compose_train(run_dir=tmp_path_factory.mktemp("tiny"))


def _build_adapter(cfg: DictConfig):
    from mixed_r1.data.synthetic import corpus
    from mixed_r1.models import build_adapter

    return build_adapter(cfg.model, cfg.prompt, torch.device("cpu"), tiny_corpus=corpus, seed=0)


@pytest.fixture(scope="session")
def adapter(tiny_cfg):
    """The tiny Qwen2.5-VL adapter (the demo's default model)."""
    return _build_adapter(tiny_cfg)


TINY_FAMILIES = ["tiny_qwen", "tiny_internvl"]


@pytest.fixture(scope="session", params=TINY_FAMILIES)
def family_adapter(request, tmp_path_factory):
    """Each tiny model family in turn: the family-independent adapter contract runs over all of them."""
    cfg = compose_train([f"model={request.param}"], run_dir=tmp_path_factory.mktemp(request.param))
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
