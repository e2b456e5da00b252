"""Components every recipe composes from config in the same way (training, the difficulty filter,
evaluation): the tiny models' corpus, the mixed reward, the start-up checks of data and reward
settings, and the long-prompt policy — one place, so the filter scores exactly as training does."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from mixed_r1.data.mix import mix_counts
from mixed_r1.data.schema import Sample
from mixed_r1.data.synthetic import corpus
from mixed_r1.engine import seed_everything
from mixed_r1.engine.distributed import init_process_group, is_main, launched_world_size
from mixed_r1.errors import ConfigError, DataError
from mixed_r1.models import ModelAdapter
from mixed_r1.rewards.bmas import REDUCTIONS
from mixed_r1.rewards.mixed import MixedReward, RewardContext
from mixed_r1.rewards.open_ended import OPEN_ENDED, build_open_ended

log = logging.getLogger("mixed_r1")


def tiny_corpus(cfg: Any) -> list[str]:
    """Texts the tiny models' tokenizers are trained on (the synthetic vocabulary)."""
    return corpus(cfg.data.get("synthetic", {}).get("image_size", 56))


def build_reward(cfg: Any, adapter: ModelAdapter, policy: torch.nn.Module) -> MixedReward:
    # BMAS reads the policy's *current* input-embedding table at each call
    open_ended = build_open_ended(cfg.reward, table=lambda: adapter.input_embeddings(policy),
                                  tokenize=adapter.token_ids, device=str(adapter.device),
                                  tiny_corpus=lambda: tiny_corpus(cfg), seed=cfg.seed)
    return MixedReward(
        open_ended=open_ended,
        box_to_model_frame=adapter.box_to_model_frame,
        format_weight=cfg.reward.format_weight,
        chart_tolerance=cfg.reward.chart.tolerance,
        chart_mode=cfg.reward.chart.mode,
    )



LONG_PROMPTS = ("skip", "error")


def check_data(data: Any) -> None:
    if data.long_prompts not in LONG_PROMPTS:
        raise ConfigError(f"data.long_prompts={data.long_prompts!r}; expected one of {', '.join(LONG_PROMPTS)}")
    if data.max_prompt_tokens is not None and data.max_prompt_tokens <= 0:
        raise ConfigError(f"data.max_prompt_tokens={data.max_prompt_tokens} must be > 0 (or null)")


def drop_long_prompts(samples: list[Sample], adapter: ModelAdapter, data: Any, max_new_tokens: int) -> list[Sample]:
    """Samples whose prompt (chat frame, question, image tokens) exceeds ``data.max_prompt_tokens`` —
    by default the model's context minus the completion budget — are reported (count, first ids) and
    skipped, or refused with ``data.long_prompts=error``: never a silent drop, never an OOM mid-run."""
    limit = data.max_prompt_tokens or adapter.context_length() - max_new_tokens
    lengths = adapter.prompt_lengths(samples)
    too_long = [(s.id, n) for s, n in zip(samples, lengths) if n > limit]
    if not too_long:
        return samples
    first = ", ".join(f"{sample_id} ({n} tokens)" for sample_id, n in too_long[:5])
    what = (f"{len(too_long)} of {len(samples)} samples have prompts longer than {limit} tokens "
            f"(data.max_prompt_tokens); first: {first}")
    if data.long_prompts == "error" or len(too_long) == len(samples):
        raise DataError(f"{what}; shorten them, raise data.max_prompt_tokens or set data.long_prompts=skip")
    log.warning("%s: skipped (data.long_prompts=skip)", what)
    return [s for s, n in zip(samples, lengths) if n <= limit]


def log_data_counts(samples: list[Sample], run_dir: Path) -> dict[str, dict[str, int]]:
    """The training samples per type and per source: printed at start-up and kept with the run
    (``data_counts.json``, and the logger's config), so a run says what it actually trained on."""
    counts = mix_counts(samples)
    log.info("data: %d samples; per type: %s; per source: %s", len(samples),
             ", ".join(f"{k} {v}" for k, v in counts["type"].items()),
             ", ".join(f"{k} {v}" for k, v in counts["source"].items()))
    if is_main():
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "data_counts.json").write_text(json.dumps(counts, indent=1) + "\n")
    return counts


def check_reward(reward: Any) -> None:
    """Reward settings that would fail late (some only when a model first answers), refused at start-up."""
    RewardContext(chart_tolerance=reward.chart.tolerance, chart_mode=reward.chart.mode)  # validates itself
    if reward.open_ended not in OPEN_ENDED:
        raise ConfigError(f"reward.open_ended={reward.open_ended!r}; expected one of {', '.join(sorted(OPEN_ENDED))}")
    if reward.bmas.reduction not in REDUCTIONS:
        raise ConfigError(f"reward.bmas.reduction={reward.bmas.reduction!r}; expected one of {', '.join(REDUCTIONS)}")


def start_inference_processes(cfg: Any) -> None:
    """What an inference recipe (the filter, evaluation) does first: join the launcher's process group when
    there is one (no DeepSpeed: every rank holds a whole model), leave warnings only to the other ranks,
    seed, and set the CPU threads."""
    if launched_world_size() > 1:
        init_process_group()
    if not is_main():
        log.setLevel(logging.WARNING)
    seed_everything(cfg.seed)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
