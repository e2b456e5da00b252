"""The settings every entry point composes (train, filter, eval), read from the composed config once.

Why: this module and the three composition roots (``recipe.run``, ``filter.run_filter``, ``eval.runner.run_eval``)
are the only places that read a config node. Each group becomes the frozen settings its code declares (checked by
:func:`mixed_r1.typed.settings_from`); everything below takes the settings it needs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from omegaconf import DictConfig, OmegaConf

from mixed_r1.data.settings import DataSettings
from mixed_r1.errors import ConfigError
from mixed_r1.models import adapter_class
from mixed_r1.models.settings import ModelSettings, PromptSettings
from mixed_r1.rewards.settings import RewardSettings
from mixed_r1.typed import settings_from


@dataclass(frozen=True)
class RunSettings:
    """The groups shared by training, the data filter and evaluation."""

    seed: int  # seeds Python, NumPy, torch, the data order, the synthetic data and the tiny model
    device: str  # auto | cpu | cuda | cuda:N
    num_threads: int  # torch CPU threads; 0 leaves torch's default
    model: ModelSettings  # the family's own settings class (``ModelAdapter.SETTINGS``)
    prompt: PromptSettings
    data: DataSettings
    reward: RewardSettings


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The composed config as plain values, every interpolation resolved; a required value left unset
    (``???``, e.g. ``data.mix.root``) is named before anything starts."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"missing required config value(s): {', '.join(missing)}; set them on the command line, "
                          f"e.g. {missing[0]}=...")
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    return {str(k): v for k, v in plain.items()}


def model_settings(config: Mapping[str, Any]) -> ModelSettings:
    """``model``, read into the settings class of the family ``model.adapter`` names."""
    model = config.get("model")
    if not isinstance(model, Mapping) or not isinstance(model.get("adapter"), str):
        raise ConfigError("model.adapter is missing: pick a model, e.g. model=qwen7b")
    return settings_from(adapter_class(model["adapter"]).SETTINGS, model, "model")


def run_settings(config: Mapping[str, Any]) -> RunSettings:
    """The shared groups of a resolved config (:func:`resolved`); the entry point's own groups are left to it."""
    shared = {f: config[f] for f in ("seed", "device", "num_threads", "prompt", "data", "reward") if f in config}
    return settings_from(RunSettings, {**shared, "model": model_settings(config)}, "")
