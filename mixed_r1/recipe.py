"""The training recipe: compose data, model adapter, rewards and engine from config, then run
the (optional) supervised warm-up and the GRPO loop. ``train.py`` only calls :func:`run`."""
from __future__ import annotations

import copy
import logging
import math
import random
import time
from pathlib import Path
from typing import Any, Callable

import torch
from omegaconf import OmegaConf

from mixed_r1.checkpoint import find_resume_checkpoint, load_state, save_checkpoint, set_rng_states
from mixed_r1.data.build import load_train_samples
from mixed_r1.data.sampler import PromptSampler
from mixed_r1.data.synthetic import WarmupNoise, corpus, warmup_target
from mixed_r1.engine import TorchEngine, resolve_device, seed_everything
from mixed_r1.errors import TrainingDiverged
from mixed_r1.grpo.step import collect_rollout, grpo_update, rollout_metrics
from mixed_r1.metrics import MetricsLogger, read_metrics, reward_trend
from mixed_r1.models import ModelAdapter, build_adapter
from mixed_r1.rewards.mixed import MixedReward
from mixed_r1.rewards.open_ended import build_open_ended
from mixed_r1.sft import sft_step

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


def make_engine(cfg: Any, model: torch.nn.Module, lr: float, warmup_steps: int = 0) -> TorchEngine:
    trainer = cfg.trainer
    return TorchEngine(model, lr=lr, weight_decay=trainer.weight_decay, betas=tuple(trainer.betas),
                       grad_clip=trainer.grad_clip, warmup_steps=warmup_steps)


def completion_rows(rollout: Any, group_size: int, prompts: int) -> list[dict[str, Any]]:
    """The first ``prompts`` groups of a rollout as rows: image, question, completion, reward, advantage."""
    rows = []
    for i in range(min(len(rollout.samples), prompts * group_size)):
        sample = rollout.samples[i]
        rows.append({"id": sample.id, "type": sample.type, "image": sample.image, "problem": sample.problem,
                     "answer": sample.answer, "completion": rollout.texts[i],
                     "reward": float(rollout.rewards.total[i]), "advantage": float(rollout.advantages[i])})
    return rows


class BadStepGuard:
    """Counts consecutive skipped (non-finite) updates and stops the run after ``limit`` in a row."""

    def __init__(self, limit: int) -> None:
        self.limit, self.in_a_row = limit, 0

    def record(self, grad_norm: float, step: int) -> bool:
        """True when this step's update was skipped; raises after ``limit`` skips in a row."""
        if math.isfinite(grad_norm):
            self.in_a_row = 0
            return False
        self.in_a_row += 1
        log.warning("step %d: non-finite loss or reward, update skipped (%d in a row)", step, self.in_a_row)
        if self.in_a_row >= self.limit:
            raise TrainingDiverged(f"{self.in_a_row} steps in a row had a non-finite loss or reward (last: step "
                                   f"{step}); stopping. Lower trainer.lr or check the data and rewards "
                                   f"(trainer.max_bad_steps={self.limit}).")
        return True


def answer_target(sample: Any, adapter: ModelAdapter) -> str:
    """The SFT baseline's target: the bare answer, in the form the model emits (boxes in its frame)."""
    if isinstance(sample.answer, list):
        return adapter.box_to_text(sample.answer, sample.image_size)
    return str(sample.answer)


def run_sft(cfg: Any, policy: torch.nn.Module, adapter: ModelAdapter, samples: list, logger: MetricsLogger,
            targets: Callable[[list], list[str]], steps: int, lr: float, batch_size: int, seed: int,
            first_step: int = 1) -> int:
    """Supervised steps on ``targets(batch)``; returns the last step number. Both the demo's warm-up
    and the SFT baseline run here."""
    engine = make_engine(cfg, policy, lr)
    sampler = PromptSampler(len(samples), batch_size, seed=seed)
    step = first_step - 1
    for step in range(first_step, first_step + steps):
        start = time.perf_counter()
        batch = [samples[i] for i in sampler.next_batch()]
        metrics = sft_step(policy, adapter, engine, batch, targets(batch))
        logger.log({"step": step, "phase": "sft", **metrics, "step_seconds": time.perf_counter() - start})
    return step


def run_warmup(cfg: Any, policy: torch.nn.Module, adapter: ModelAdapter, samples: list, logger: MetricsLogger) -> int:
    """Supervised warm-up on noisy synthetic targets so a random model emits the format (demo only)."""
    warm = cfg.warmup
    rng = random.Random(cfg.seed + 2)
    noise = WarmupNoise(warm.fake_scene_prob, warm.broken_format_prob)
    return run_sft(cfg, policy, adapter, samples, logger,
                   targets=lambda batch: [warmup_target(s, rng, noise, adapter.box_to_text) for s in batch],
                   steps=warm.steps, lr=warm.lr, batch_size=warm.batch_size, seed=cfg.seed + 1)


def run(cfg: Any, run_dir: str | Path) -> dict[str, float]:
    """Train as configured; writes ``metrics.jsonl`` and ``checkpoint/`` into ``run_dir``."""
    run_dir = Path(run_dir)
    seed_everything(cfg.seed)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    device = resolve_device(cfg.device)

    samples = load_train_samples(cfg.data)
    adapter = build_adapter(cfg.model, cfg.prompt, device, tiny_corpus=lambda: tiny_corpus(cfg), seed=cfg.seed)
    checkpoint = find_resume_checkpoint(cfg.resume, run_dir / "checkpoints")
    state = load_state(checkpoint) if checkpoint else None
    policy = adapter.load_model(path=str(checkpoint / "policy") if checkpoint else None)
    logger = MetricsLogger(run_dir, resume_after=state["step"] if state else None, logger_cfg=cfg.logger,
                           config=OmegaConf.to_container(cfg, resolve=True))
    if cfg.algo.name == "sft":  # Table 1's "+SFT baseline": the same data, model and engine
        run_sft(cfg, policy, adapter, samples, logger, targets=lambda b: [answer_target(s, adapter) for s in b],
                steps=cfg.trainer.max_steps, lr=cfg.trainer.lr, batch_size=cfg.trainer.prompts_per_step,
                seed=cfg.seed)
        logger.close()
        adapter.save(policy, str(run_dir / "checkpoint"))
        return {}
    engine = make_engine(cfg, policy, cfg.trainer.lr, cfg.trainer.lr_warmup_steps)
    sampler = PromptSampler(len(samples), cfg.trainer.prompts_per_step, seed=cfg.seed)
    if state:  # continue the same run: weights, optimizer, data position and RNG as they were
        reference = adapter.load_model(trainable=False, path=str(checkpoint / "reference"))
        engine.optimizer.load_state_dict(state["optimizer"])
        engine.updates = state["updates"]
        sampler.load_state_dict(state["sampler"])
        set_rng_states(state["rng"])
        step, grpo_step = state["step"], state["grpo_step"]
        records = [r for r in read_metrics(logger.path) if r.get("phase") == "grpo"]
        log.info("resumed from %s (step %d)", checkpoint, step)
    else:
        step = run_warmup(cfg, policy, adapter, samples, logger) if cfg.warmup.steps > 0 else 0
        # π_ref is the policy as GRPO starts (after any warm-up), frozen.
        reference = copy.deepcopy(policy).eval().requires_grad_(False)
        grpo_step, records = 0, []
    guard = BadStepGuard(cfg.trainer.max_bad_steps)
    reward_fn = build_reward(cfg, adapter, policy)
    micro = cfg.trainer.micro_batch_size or cfg.trainer.prompts_per_step * cfg.algo.group_size
    while grpo_step < cfg.trainer.max_steps:
        step, grpo_step = step + 1, grpo_step + 1
        start = time.perf_counter()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        batch = [samples[i] for i in sampler.next_batch()]
        rollout = collect_rollout(policy, adapter, reward_fn, batch, cfg.algo)
        metrics = {**rollout_metrics(rollout, cfg.algo.group_size),
                   **grpo_update(policy, reference, adapter, engine, rollout, cfg.algo, micro)}
        skipped = guard.record(metrics.get("grad_norm", 0.0), step)
        record = {"step": step, "phase": "grpo", **metrics, "lr": engine.lr, "skipped": skipped,
                  "step_seconds": time.perf_counter() - start}
        if device.type == "cuda":
            record["memory/peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
        logger.log(record)
        records.append(record)
        if cfg.trainer.log_completions_every and grpo_step % cfg.trainer.log_completions_every == 0:
            logger.log_completions(step, completion_rows(rollout, cfg.algo.group_size,
                                                         cfg.trainer.log_completions_prompts))
        if cfg.trainer.save_every and grpo_step % cfg.trainer.save_every == 0:
            save_checkpoint(run_dir / "checkpoints", step, grpo_step, adapter, policy, reference, engine, sampler,
                            cfg.trainer.keep_last)
    logger.close()

    adapter.save(policy, str(run_dir / "checkpoint"))
    first, last = reward_trend(records, cfg.trainer.trend_fraction)
    summary = {"reward_first": first, "reward_last": last, "reward_gain": last - first}
    log.info("GRPO mean reward: first %d%% of steps %.3f -> last %d%% %.3f (gain %+.3f)",
             round(100 * cfg.trainer.trend_fraction), first, round(100 * cfg.trainer.trend_fraction), last, last - first)
    return summary
