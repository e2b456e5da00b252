"""The training recipe: compose data, model adapter, rewards and engine from config, then run the
(optional) supervised warm-up and the training loop of the algorithm ``algo.name`` picks from
:data:`ALGORITHMS`. ``train.py`` only calls :func:`run`."""
from __future__ import annotations

import copy
import gc
import json
import logging
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from omegaconf import OmegaConf, open_dict
from transformers.utils import logging as hf_logging

from mixed_r1.checkpoint import find_resume_checkpoint, kept_reference, load_rng_states, load_state, save_checkpoint
from mixed_r1.components import build_reward, check_data, check_reward, drop_long_prompts, log_data_counts, tiny_corpus
from mixed_r1.data.build import load_train_samples
from mixed_r1.data.sampler import PromptSampler, steps_for_epochs
from mixed_r1.data.schema import Sample
from mixed_r1.engine import Engine, build_engine, partitioned_loading, resolve_device, seed_everything
from mixed_r1.engine.distributed import (
    all_reduce,
    barrier,
    init_process_group,
    is_main,
    launched_world_size,
    main_first,
    rank,
    shard,
    world_size,
)
from mixed_r1.errors import ConfigError, TrainingDiverged
from mixed_r1.grpo.config import GRPOConfig
from mixed_r1.grpo.step import collect_rollout, grpo_update, rollout_metrics
from mixed_r1.metrics import MetricsLogger, read_metrics, reward_trend
from mixed_r1.models import ModelAdapter, build_adapter
from mixed_r1.progress import progress_bar
from mixed_r1.rollout import Rollout
from mixed_r1.sft import sft_step
from mixed_r1.sft.warmup import WarmupNoise, warmup_target

log = logging.getLogger("mixed_r1")


def completion_rows(rollout: Rollout, group_size: int, prompts: int) -> list[dict[str, Any]]:
    """The first ``prompts`` groups of a rollout as rows: image, question, completion, reward, advantage."""
    rows = []
    for i in range(min(len(rollout.samples), prompts * group_size)):
        sample = rollout.samples[i]
        rows.append({"id": sample.id, "type": sample.type, "image": sample.image, "problem": sample.problem,
                     "answer": sample.answer, "completion": rollout.texts[i],
                     "reward": float(rollout.rewards.total[i]), "advantage": float(rollout.advantages[i])})
    return rows


class BadStepGuard:
    """Counts consecutive skipped (non-finite) updates; ``check`` stops the run after ``limit`` in a row
    (called after the step is logged, so the step that trips it is in ``metrics.jsonl``)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.in_a_row = limit, 0

    def record(self, grad_norm: float | None, step: int) -> bool:
        """True when this step's update was skipped for a non-finite loss or gradient. ``None`` (no
        update was attempted: every group skipped) neither counts nor resets."""
        if grad_norm is None:
            return False
        if math.isfinite(grad_norm):
            self.in_a_row = 0
            return False
        self.in_a_row += 1
        log.warning("step %d: non-finite loss or reward, update skipped (%d in a row)", step, self.in_a_row)
        return True

    def check(self, step: int) -> None:
        """Raise :class:`TrainingDiverged` once ``limit`` updates in a row were skipped."""
        if self.in_a_row >= self.limit:
            raise TrainingDiverged(f"{self.in_a_row} steps in a row had a non-finite loss or reward (last: step "
                                   f"{step}); stopping. Lower trainer.lr or check the data and rewards "
                                   f"(trainer.max_bad_steps={self.limit}).")


def step_record(step: int, phase: str, metrics: dict[str, Any], engine: Engine, skipped: bool,
                seconds: float) -> dict[str, Any]:
    """One metrics line: every step of a phase carries the same keys."""
    reason = metrics.get("skip_reason") or ("non_finite" if skipped else None)
    return {"step": step, "phase": phase, **metrics, "lr": engine.lr, "skipped": reason is not None,
            "skip_reason": reason, "step_seconds": seconds}


def answer_target(sample: Sample, adapter: ModelAdapter) -> str:
    """The SFT baseline's target: the bare answer, in the form the model emits (boxes in its frame)."""
    if isinstance(sample.answer, list):
        return adapter.box_to_text(sample.answer, sample.image_size)
    return str(sample.answer)


def run_warmup(cfg: Any, engine: Engine, adapter: ModelAdapter, samples: list[Sample], logger: MetricsLogger) -> int:
    """Supervised warm-up on noisy synthetic targets so a random model emits the format (demo only; not
    checkpointed: a run killed here starts again). Returns the last step number."""
    warm = cfg.warmup
    rng = random.Random(cfg.seed + 2)
    noise = WarmupNoise(warm.fake_scene_prob, warm.broken_format_prob)
    engine.reset_optimizer(warm.lr)
    sampler = PromptSampler(len(samples), warm.batch_size, seed=cfg.seed + 1)
    guard = BadStepGuard(cfg.trainer.max_bad_steps)
    with progress_bar(warm.steps, desc="warm-up") as bar:
        for step in range(1, warm.steps + 1):
            start = time.perf_counter()
            batch = [samples[i] for i in sampler.next_batch()]
            # targets of the whole global batch on every rank (the same noise draws), then this rank's share
            targets = [warmup_target(s, rng, noise, adapter.box_to_text) for s in batch]
            metrics = sft_step(engine.model, adapter, engine, shard(batch), shard(targets),
                               cfg.trainer.micro_batch_size)
            skipped = guard.record(metrics["grad_norm"], step)
            logger.log(step_record(step, "sft", metrics, engine, skipped, time.perf_counter() - start))
            guard.check(step)
            bar.update()
    return warm.steps


# ----------------------------------------------------------------------------- algorithms by name
StepOutput = tuple[dict[str, Any], Rollout | None]
TrainStep = Callable[[list[Sample]], StepOutput]


@dataclass
class StepContext:
    """What an algorithm's step is built from."""

    cfg: Any
    adapter: ModelAdapter
    engine: Engine
    settings: Any  # the algorithm's validated settings (``Algorithm.settings`` of ``cfg.algo``)
    reference_source: Path | None  # π_ref's checkpoint when it is not ``model.path`` (after a warm-up)


def build_grpo_step(ctx: StepContext) -> TrainStep:
    """GRPO (section 3.2): rollout with the mixed reward, then μ clipped, KL-regularised updates."""
    cfg, adapter, engine, algo = ctx.cfg, ctx.adapter, ctx.engine, ctx.settings
    with partitioned_loading(cfg, world_size(), algo.group_size):
        source = str(ctx.reference_source) if ctx.reference_source else None
        reference = engine.prepare_reference(adapter.load_model(trainable=False, path=source))
    reward_fn = build_reward(cfg, adapter, engine.model)
    trainer = cfg.trainer

    def step(batch: list[Sample]) -> StepOutput:
        rollout = collect_rollout(engine.model, adapter, reward_fn, batch, algo, trainer.generation_batch_size,
                                  gathered=engine.gathered)
        update = grpo_update(engine.model, reference, adapter, engine, rollout, algo, trainer.micro_batch_size,
                             trainer.max_tokens_per_micro_batch)
        return {**rollout_metrics(rollout, algo.group_size), **update}, rollout

    return step


def build_sft_step(ctx: StepContext) -> TrainStep:
    """Table 1's "+SFT baseline": the bare answers as targets, the same data, engine, loop and logs."""
    cfg, adapter, engine = ctx.cfg, ctx.adapter, ctx.engine

    def step(batch: list[Sample]) -> StepOutput:
        targets = [answer_target(s, adapter) for s in batch]
        return sft_step(engine.model, adapter, engine, batch, targets, cfg.trainer.micro_batch_size), None

    return step


@dataclass(frozen=True)
class Algorithm:
    """A training algorithm: its settings, read and validated at start-up, and its step."""

    settings: Callable[[Any], Any]  # the ``algo`` node -> validated settings
    build_step: Callable[[StepContext], TrainStep]
    sequences_per_prompt: Callable[[Any], int]  # sequences one prompt trains on (GRPO: G)
    warmup: bool  # whether the demo's supervised warm-up runs first (``warmup.steps`` > 0)
    rewarded: bool  # whether its steps log rewards (``reward/mean``): the closing reward trend and Fig. 4 read them


# The one place that knows the algorithms by name: everything else asks the entry it was given.
ALGORITHMS: dict[str, Algorithm] = {
    "grpo": Algorithm(GRPOConfig.from_config, build_grpo_step, lambda s: s.group_size, warmup=True, rewarded=True),
    "sft": Algorithm(lambda algo: None, build_sft_step, lambda s: 1, warmup=False, rewarded=False),
}


# ----------------------------------------------------------------------------- start-up
def check_trainer(trainer: Any) -> None:
    """Trainer values that cannot run, refused before anything is loaded (one line naming the key)."""
    checks = [
        (trainer.lr > 0, "lr", "must be > 0"),
        (trainer.prompts_per_step > 0, "prompts_per_step", "must be > 0"),
        (trainer.micro_batch_size >= 0, "micro_batch_size", "must be >= 0 (0: a rank's whole share at once)"),
        (trainer.generation_batch_size >= 0, "generation_batch_size", "must be >= 0 (0: a rank's whole share)"),
        (trainer.max_tokens_per_micro_batch >= 0, "max_tokens_per_micro_batch", "must be >= 0 (0: off)"),
        (trainer.max_steps is None or trainer.max_steps >= 0, "max_steps", "must be >= 0 (or null: trainer.epochs)"),
        (trainer.max_steps is not None or trainer.epochs > 0, "epochs", "must be > 0 (or set trainer.max_steps)"),
        (trainer.max_bad_steps >= 1, "max_bad_steps", "must be >= 1"),
    ]
    for ok, key, why in checks:
        if not ok:
            raise ConfigError(f"trainer.{key}={trainer[key]!r} {why}")


def algorithm_of(cfg: Any) -> tuple[Algorithm, Any]:
    """The algorithm ``algo.name`` names and its validated settings."""
    name = cfg.algo.name
    if name not in ALGORITHMS:
        raise ConfigError(f"algo.name={name!r}; expected one of {', '.join(sorted(ALGORITHMS))}")
    algorithm = ALGORITHMS[name]
    return algorithm, algorithm.settings(cfg.algo)


def start_processes(cfg: Any) -> None:
    """Join the launcher's process group when DeepSpeed runs; plain torch is one process only."""
    if cfg.deepspeed.stage is not None:
        init_process_group()
    elif launched_world_size() > 1:
        raise ConfigError(f"deepspeed=none trains in one process, but {launched_world_size()} were launched; "
                          f"add deepspeed=zero2 or deepspeed=zero3")
    if not is_main():  # one console: the other ranks only warn
        log.setLevel(logging.WARNING)


EVAL_MODES = ("thinking", "direct")  # eval.after_training: our <think>/<answer> prompt, or each benchmark's own
TRAINED = "trained.json"  # written after the final export: a restarted run goes straight to its evaluation


def check_evaluation(cfg: Any) -> list[str]:
    """The evaluations ``eval.after_training`` asks for, validated at start-up (not after hours of training)."""
    from mixed_r1.eval.runner import EvalConfig

    modes = list(cfg.eval.after_training)
    unknown = [m for m in modes if m not in EVAL_MODES]
    if unknown:
        raise ConfigError(f"eval.after_training={modes}: {unknown} not among {', '.join(EVAL_MODES)}")
    if modes and not cfg.eval.data_root:
        raise ConfigError(f"eval.after_training={modes} needs eval.data_root (the folder of the benchmarks)")
    if modes:
        EvalConfig.from_config(cfg.eval)  # validates every eval value
    return modes


def evaluation_dir(run_dir: Path, mode: str) -> Path:
    return run_dir / "eval" / mode


def evaluate_after_training(cfg: Any, run_dir: Path, modes: list[str]) -> None:
    """Score the run's final ``checkpoint/`` once per mode into ``<run>/eval/<mode>/`` (a finished mode is
    not redone; an interrupted one resumes)."""
    from mixed_r1.eval.runner import run_eval

    for mode in modes:
        out = evaluation_dir(run_dir, mode)
        if (out / "results.json").is_file():
            continue
        eval_cfg = copy.deepcopy(cfg)
        with open_dict(eval_cfg):
            eval_cfg.model.path = str(run_dir / "checkpoint")
            eval_cfg.eval.thinking = mode == "thinking"
            eval_cfg.eval.output_dir = str(out)
            eval_cfg.eval.method = run_dir.name
        log.info("evaluating %s (%s) into %s", run_dir / "checkpoint", mode, out)
        run_eval(eval_cfg)


def run(cfg: Any, run_dir: str | Path) -> dict[str, float]:
    """Train as configured, writing ``metrics.jsonl``, ``checkpoints/`` and the final ``checkpoint/`` into
    ``run_dir``, then evaluate it as ``eval.after_training`` asks. A run whose evaluations all exist is
    finished and starting it again does nothing; one trained but not evaluated goes straight to its
    evaluation. Under a multi-process launch every rank runs this; rank 0 writes the files."""
    run_dir = Path(run_dir)
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:  # e.g. data=mixed45k without data.mix.root: say so before anything starts
        raise ConfigError(f"missing required config value(s): {', '.join(missing)}; set them on the command line, "
                          f"e.g. {missing[0]}=...")
    check_trainer(cfg.trainer)  # every value that cannot run is refused here, before any model loads
    check_reward(cfg.reward)
    check_data(cfg.data)
    modes = check_evaluation(cfg)
    if modes and all((evaluation_dir(run_dir, m) / "results.json").is_file() for m in modes):
        log.info("%s is finished (its evaluation exists): nothing to do", run_dir)
        return {}
    algorithm, settings = algorithm_of(cfg)
    start_processes(cfg)
    trained = run_dir / TRAINED
    earlier = json.loads(trained.read_text()) if modes and trained.is_file() else None
    asked = budget_asked(cfg.trainer)
    if earlier is not None and earlier.get("budget", {}).get("asked") == asked:
        log.info("%s was trained earlier (%s): evaluating it", run_dir, TRAINED)
        summary = earlier["summary"]
    else:
        summary, budget = train(cfg, run_dir, algorithm, settings)
        if is_main():
            trained.write_text(json.dumps({"budget": budget, "summary": summary}) + "\n")
        barrier()
    gc.collect()  # the training engine is gone: its memory goes back before the evaluation loads a model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    evaluate_after_training(cfg, run_dir, modes)
    return summary


def budget_asked(trainer: Any) -> dict[str, Any]:
    """What the config asks for: a step count, or passes over the data."""
    return {"max_steps": trainer.max_steps} if trainer.max_steps is not None else {"epochs": float(trainer.epochs)}


def training_budget(trainer: Any, num_samples: int) -> dict[str, Any]:
    """The run's budget, as the report shows it: what was asked, the steps it makes and the passes they are."""
    per_epoch = num_samples // trainer.prompts_per_step
    steps = (trainer.max_steps if trainer.max_steps is not None
             else steps_for_epochs(trainer.epochs, num_samples, trainer.prompts_per_step))
    return {"asked": budget_asked(trainer), "steps": steps, "samples": num_samples,
            "prompts_per_step": trainer.prompts_per_step, "epochs": steps / per_epoch if per_epoch else None}


def train(cfg: Any, run_dir: Path, algorithm: Algorithm, settings: Any) -> tuple[dict[str, float], dict[str, Any]]:
    """The training itself (:func:`run` checks, then evaluates); its summary and its budget."""
    if not sys.stderr.isatty():  # a log file gets log lines, not transformers' per-file progress bars
        hf_logging.disable_progress_bar()
    seed_everything(cfg.seed)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    device = resolve_device(cfg.device)

    adapter = main_first(lambda: build_adapter(cfg.model, cfg.prompt, device, tiny_corpus=lambda: tiny_corpus(cfg),
                                               seed=cfg.seed))  # rank 0 may build the tiny model
    # ... and generate the synthetic file; every image is checked against the model's limits
    # rank 0 decodes every image; the others (run after it) read the file it has validated
    samples = main_first(lambda: load_train_samples(cfg.data, model_check=adapter.image_problem,
                                                    check_images=is_main()))
    samples = drop_long_prompts(samples, adapter, cfg.data, cfg.algo.get("max_new_tokens", 0))
    data_counts = log_data_counts(samples, run_dir)
    budget = training_budget(cfg.trainer, len(samples))
    total_steps = budget["steps"]
    log.info("budget: %d steps of %d prompts = %s passes over %d samples (trainer.%s)", total_steps,
             budget["prompts_per_step"], f"{budget['epochs']:.2f}" if budget["epochs"] is not None else "n/a",
             len(samples), next(iter(budget["asked"])))
    checkpoint = find_resume_checkpoint(cfg.resume, run_dir / "checkpoints")
    state = load_state(checkpoint) if checkpoint else None
    group_size = algorithm.sequences_per_prompt(settings)
    with partitioned_loading(cfg, world_size(), group_size):
        policy = adapter.load_model(path=str(checkpoint / "policy") if checkpoint else None)
    engine = build_engine(cfg, policy, world_size(), device, group_size)
    if rank() > 0:  # each rank samples its own completions
        seed_everything(cfg.seed + 104729 * rank())
    logger = MetricsLogger(run_dir, resume_after=state["step"] if state else None, logger_cfg=cfg.logger,
                           config={**OmegaConf.to_container(cfg, resolve=True), "data_counts": data_counts,
                                   "budget": budget},
                           enabled=is_main())
    trainer, phase = cfg.trainer, cfg.algo.name
    sampler = PromptSampler(len(samples), trainer.prompts_per_step, seed=cfg.seed)
    if checkpoint is not None and state is not None:  # continue the same run: weights, optimizer, data, RNG
        engine.reset_optimizer(trainer.lr, trainer.lr_warmup_steps)
        engine.load_state(checkpoint / "engine")
        sampler.load_state_dict(state["sampler"])
        load_rng_states(checkpoint)
        step, phase_step = state["step"], state["phase_step"]
        reference_source = kept_reference(checkpoint, run_dir)
        records = [r for r in read_metrics(logger.path) if r.get("phase") == phase] if is_main() else []
        log.info("resumed from %s (step %d)", checkpoint, step)
    else:
        step, phase_step, records, reference_source = 0, 0, [], None
        if algorithm.warmup and cfg.warmup.steps > 0:
            step = run_warmup(cfg, engine, adapter, samples, logger)
            reference_source = run_dir / "reference"  # π_ref is the policy as GRPO starts
            engine.export(adapter, engine.model, reference_source)
        engine.reset_optimizer(trainer.lr, trainer.lr_warmup_steps)

    train_step = algorithm.build_step(StepContext(cfg, adapter, engine, settings, reference_source))
    guard = BadStepGuard(trainer.max_bad_steps)
    with progress_bar(total_steps, initial=phase_step, desc=phase) as bar:
        while phase_step < total_steps:
            step, phase_step = step + 1, phase_step + 1
            start = time.perf_counter()
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            batch = [samples[i] for i in shard(sampler.next_batch())]  # this rank's prompts of the global batch
            metrics, rollout = train_step(batch)
            skipped = guard.record(metrics.get("grad_norm"), step)
            record = step_record(step, phase, metrics, engine, skipped, time.perf_counter() - start)
            if device.type == "cuda":
                record["memory/peak_gib"] = all_reduce([torch.cuda.max_memory_allocated() / 2**30], "max")[0]
            logger.log(record)
            guard.check(step)
            records.append(record)
            bar.set_postfix({k.split("/")[-1]: record[k] for k in ("reward/mean", "loss")
                             if isinstance(record.get(k), float)}, refresh=False)
            bar.update()
            if (rollout is not None and trainer.log_completions_every
                    and phase_step % trainer.log_completions_every == 0):
                logger.log_completions(step, completion_rows(rollout, group_size, trainer.log_completions_prompts))
            if trainer.save_every and phase_step % trainer.save_every == 0:
                save_checkpoint(run_dir / "checkpoints", step, phase_step, adapter, engine, reference_source,
                                sampler, trainer.keep_last)
    logger.close()

    engine.export(adapter, engine.model, run_dir / "checkpoint")
    if not algorithm.rewarded:
        return {}, budget
    first, last = reward_trend(records, cfg.trainer.trend_fraction)
    summary = {"reward_first": first, "reward_last": last, "reward_gain": last - first}
    log.info("GRPO mean reward: first %d%% of steps %.3f -> last %d%% %.3f (gain %+.3f)",
             round(100 * cfg.trainer.trend_fraction), first, round(100 * cfg.trainer.trend_fraction), last, last - first)
    return summary, budget
