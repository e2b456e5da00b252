"""Components every recipe composes from its settings in the same way (training, the difficulty filter,
evaluation): the tiny models' corpus, the mixed reward and the long-prompt policy — one place, so the
filter scores exactly as training does."""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import torch

from mixed_r1.data.mix import mix_counts
from mixed_r1.data.schema import Sample
from mixed_r1.data.settings import DataSettings
from mixed_r1.data.synthetic import SyntheticSpec, corpus
from mixed_r1.engine import seed_everything
from mixed_r1.engine.distributed import init_process_group, is_main, launched_world_size, main_first
from mixed_r1.errors import DataError
from mixed_r1.models import ModelAdapter, build_adapter
from mixed_r1.rewards.mixed import MixedReward
from mixed_r1.rewards.open_ended import build_open_ended
from mixed_r1.settings import RunSettings
from mixed_r1.shards import weights_identity

log = logging.getLogger("mixed_r1")


def tiny_corpus(data: DataSettings) -> list[str]:
    """Texts the tiny models' tokenizers are trained on (the synthetic vocabulary)."""
    return corpus((data.synthetic or SyntheticSpec()).image_size)


def build_reward(run: RunSettings, adapter: ModelAdapter, policy: torch.nn.Module) -> MixedReward:
    # BMAS reads the policy's *current* input-embedding table at each call
    open_ended = build_open_ended(run.reward, table=lambda: adapter.input_embeddings(policy),
                                  tokenize=adapter.token_ids, device=str(adapter.device),
                                  tiny_corpus=lambda: tiny_corpus(run.data), seed=run.seed)
    return MixedReward(
        open_ended=open_ended,
        box_to_model_frame=adapter.box_to_model_frame,
        format_weight=run.reward.format_weight,
        chart_tolerance=run.reward.chart.tolerance,
        chart_mode=run.reward.chart.mode,
    )


def drop_long_prompts(samples: list[Sample], adapter: ModelAdapter, data: DataSettings,
                      max_new_tokens: int) -> list[Sample]:
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


def build_model_adapter(run: RunSettings, device: torch.device) -> ModelAdapter:
    """The run's model adapter; rank 0 first (it may build the tiny model the others then load)."""
    return main_first(lambda: build_adapter(run.model, run.prompt, device, tiny_corpus=lambda: tiny_corpus(run.data),
                                            seed=run.seed))


def start_inference_processes(run: RunSettings) -> None:
    """What an inference recipe (the filter, evaluation) does first: join the launcher's process group when
    there is one (no DeepSpeed: every rank holds a whole model), leave warnings only to the other ranks,
    seed, and set the CPU threads."""
    if launched_world_size() > 1:
        init_process_group()
    if not is_main():
        log.setLevel(logging.WARNING)
    seed_everything(run.seed)
    if run.num_threads:
        torch.set_num_threads(run.num_threads)


# model settings that do not change what a model generates: left out of a run's identity
NOT_IDENTITY = ("build_dir", "gradient_checkpointing", "attn_implementation", "logprob_chunk_tokens", "freeze_vision",
                "freeze_projector", "lora")


def model_identity(run: RunSettings) -> dict[str, Any]:
    """What decides a model's outputs, for an output folder's record of what produced it
    (:func:`mixed_r1.shards.claim_folder`): the family's settings (path, dtype, pixel limits, system prompt …)
    and its weights' identity, never where a tiny model happens to be built."""
    fields = {k: v for k, v in dataclasses.asdict(run.model).items() if k not in NOT_IDENTITY}
    return {**fields, "weights": weights_identity(run.model.path)}
