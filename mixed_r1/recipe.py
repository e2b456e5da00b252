"""The training recipe: read the config once into frozen settings (:func:`train_settings`), compose data,
model adapter, rewards and engine from them, then run the (optional) supervised warm-up and the training loop
of the algorithm ``algo.name`` picks from :data:`ALGORITHMS`. ``train.py`` only calls :func:`run`."""
from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import logging
import math
import random
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from omegaconf import DictConfig
from transformers.utils import logging as hf_logging

from mixed_r1.checkpoint import (
    check_identity,
    complete_checkpoints,
    find_resume_checkpoint,
    kept_reference,
    load_rng_states,
    load_state,
    run_identity,
    save_checkpoint,
)
from mixed_r1.components import build_model_adapter, build_reward, drop_long_prompts, log_data_counts
from mixed_r1.data.build import load_train_samples
from mixed_r1.data.sampler import PromptSampler, steps_for_epochs, with_readable_images
from mixed_r1.data.schema import Sample
from mixed_r1.data.settings import DataSettings
from mixed_r1.engine import Engine, EngineSettings, build_engine, partitioned_loading, resolve_device, seed_everything
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
from mixed_r1.engine.settings import DeepSpeedSettings, TrainerSettings, check_optimizer
from mixed_r1.errors import ConfigError, Preempted, TrainingDiverged
from mixed_r1.eval.runner import check_evaluation_inputs
from mixed_r1.eval.settings import EvalConfig, Validation, validation_benchmarks
from mixed_r1.grpo.config import GRPOConfig
from mixed_r1.grpo.dynamic_sampling import fill_batch
from mixed_r1.grpo.step import (
    ReferencePolicy,
    grpo_update,
    rollout_metrics,
    score_groups,
    truncated_rows,
    with_advantages,
)
from mixed_r1.metrics import LoggerSettings, MetricsLogger, read_metrics, reward_trend
from mixed_r1.models import ModelAdapter, lora
from mixed_r1.models.settings import ModelSettings
from mixed_r1.progress import progress_bar
from mixed_r1.rewards.mixed import MixedReward
from mixed_r1.rollout import Rollout, ScoredSamples
from mixed_r1.run_folder import owned_by_this_run
from mixed_r1.settings import RunSettings, resolved, run_settings
from mixed_r1.sft import sft_step
from mixed_r1.sft.settings import WarmupSettings
from mixed_r1.sft.warmup import WarmupNoise, warmup_target
from mixed_r1.shards import weights_identity
from mixed_r1.typed import settings_from
from mixed_r1.validation import PHASE as VALIDATION
from mixed_r1.validation import Validator, hold_out, holdout_identity

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


class StopSignal:
    """SIGTERM (how SLURM preempts a job) asks the run to stop after the step in flight instead of dying in it:
    the loop then writes a checkpoint, says why and exits non-zero, so ``resume=auto`` continues from that step.
    Every rank asks the others (:meth:`requested`), so all stop after the same step."""

    def __init__(self) -> None:
        self.received: str | None = None
        self.previous: Any = None

    def __enter__(self) -> StopSignal:
        self.previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGTERM, self.previous)

    def _handle(self, signum: int, frame: object) -> None:
        self.received = signal.Signals(signum).name
        log.warning("%s received: stopping after the current step", self.received)

    def requested(self) -> bool:
        """Whether any rank was asked to stop (a collective: every rank calls it after the same step)."""
        return all_reduce([1.0 if self.received else 0.0], "max")[0] > 0


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


def step_batch(samples: list[Sample], indices: list[int], data: DataSettings, key: str,
               mine: slice | None = None) -> tuple[list[Sample], int]:
    """This rank's share of a step's global batch ``indices`` (``mine``, else :func:`shard`'s), and how many samples
    of the whole batch were skipped for an image changed since load (``data.changed_images=skip``: each replaced,
    named in the log, counted; ``stop``: none are, the prompt's image open stops the run with the sample's id)."""
    chosen = indices[mine] if mine is not None else shard(indices)
    if data.changed_images == "stop":
        return [samples[i] for i in chosen], 0
    batch, skipped = with_readable_images(samples, chosen, avoid=set(indices), key=f"{key}:{rank()}")
    for why in skipped:
        log.warning("%s: skipped and replaced (data.changed_images=skip)", why)
    return batch, int(all_reduce([float(len(skipped))])[0])


class PromptStream:
    """The training prompts as the steps draw them from the sampler: each step's batch, and the refills of DAPO's
    dynamic sampling (:mod:`mixed_r1.grpo.dynamic_sampling`), which take the stream's next prompts so a resume (the
    sampler's position) draws the same. Counts the images replaced in a step (``data/changed_images``)."""

    def __init__(self, samples: list[Sample], sampler: PromptSampler, data: DataSettings, seed: int) -> None:
        self.samples, self.sampler, self.data, self.seed = samples, sampler, data, seed
        self.step, self.refills, self.changed = 0, 0, 0

    def batch(self, step: int) -> list[Sample]:
        """This rank's share of step ``step``'s batch."""
        self.step, self.refills = step, 0
        batch, self.changed = step_batch(self.samples, self.sampler.next_batch(), self.data, f"{self.seed}:{step}")
        return batch

    def refill(self, total: int, mine: slice) -> list[Sample]:
        """The stream's next ``total`` prompts (every rank calls this together), this rank's slice ``mine``."""
        self.refills += 1
        batch, changed = step_batch(self.samples, self.sampler.take(total), self.data,
                                    f"{self.seed}:{self.step}:refill{self.refills}", mine)
        self.changed += changed
        return batch


def run_warmup(settings: TrainSettings, engine: Engine, adapter: ModelAdapter, samples: list[Sample],
               logger: MetricsLogger, stop: StopSignal) -> int:
    """Supervised warm-up on noisy synthetic targets so a random model emits the format (demo only; not
    checkpointed: a run killed here starts again; a changed image stops it whatever ``data.changed_images``
    says). Returns the last step number."""
    warm, seed = settings.warmup, settings.run.seed
    rng = random.Random(seed + 2)
    noise = WarmupNoise(warm.fake_scene_prob, warm.broken_format_prob)
    engine.reset_optimizer(warm.lr)
    sampler = PromptSampler(len(samples), warm.batch_size, seed=seed + 1)
    guard = BadStepGuard(settings.trainer.max_bad_steps)
    with progress_bar(warm.steps, desc="warm-up") as bar:
        for step in range(1, warm.steps + 1):
            start = time.perf_counter()
            batch = [samples[i] for i in sampler.next_batch()]
            # targets of the whole global batch on every rank (the same noise draws), then this rank's share
            targets = [warmup_target(s, rng, noise, adapter.box_to_text) for s in batch]
            metrics = sft_step(engine.model, adapter, engine, shard(batch), shard(targets),
                               settings.trainer.micro_batch_size)
            skipped = guard.record(metrics["grad_norm"], step)
            logger.log(step_record(step, "sft", metrics, engine, skipped, time.perf_counter() - start))
            guard.check(step)
            bar.update()
            if stop.requested():
                raise Preempted(f"stopped by {stop.received or 'SIGTERM'} in the warm-up (step {step} of {warm.steps}), "
                                f"which is not checkpointed: a restart begins it again")
    return warm.steps


# ----------------------------------------------------------------------------- algorithms by name
StepOutput = tuple[dict[str, Any], Rollout | None]
TrainStep = Callable[[list[Sample]], StepOutput]


@dataclass
class StepContext:
    """What an algorithm's step is built from."""

    settings: TrainSettings
    adapter: ModelAdapter
    engine: Engine
    reference_source: Path | None  # π_ref's checkpoint when it is not ``model.path`` (after a warm-up)
    prompts: PromptStream | None = None  # where a step that needs more prompts than its batch draws them (dynamic sampling)
    reward_fn: MixedReward | None = None  # the run's mixed reward, shared with validation (None: the step builds it)


def build_grpo_step(ctx: StepContext) -> TrainStep:
    """GRPO (section 3.2): rollout with the mixed reward, then μ clipped, KL-regularised updates."""
    settings, adapter, engine = ctx.settings, ctx.adapter, ctx.engine
    algo, trainer = settings.algo, settings.trainer
    assert isinstance(algo, GRPOConfig)
    reference = build_reference(ctx) if uses_reference(algo) else None  # β = 0: no KL term, no π_ref at all
    reward_fn = ctx.reward_fn or build_reward(settings.run, adapter, engine.model)

    aggregation = settings.run.reward.aggregation

    def score(batch: list[Sample]) -> ScoredSamples:
        return score_groups(engine.model, adapter, reward_fn, batch, algo, trainer.generation_batch_size,
                            gathered=engine.gathered)

    def step(batch: list[Sample]) -> StepOutput:
        scored, refill = score(batch), None
        sampled = scored.rewards
        if algo.dynamic_sampling:  # DAPO: zero-variance groups replaced by newly drawn ones
            if ctx.prompts is None:
                raise ValueError("algo.dynamic_sampling draws more prompts: build the step with a PromptStream")
            scored, sampled, refill = fill_batch(scored, ctx.prompts.refill, score, algo.group_size,
                                                 algo.max_resample_rounds, adapter.prompt_batch, adapter.pad_token_id)
        rollout = with_advantages(scored, algo, aggregation)
        update = grpo_update(engine.model, reference, adapter, engine, rollout, algo, trainer.micro_batch_size,
                             trainer.max_tokens_per_micro_batch)
        truncated = truncated_rows(rollout.completions, adapter.stop_token_id, algo.max_new_tokens)
        metrics = rollout_metrics(rollout, algo.group_size, sampled=sampled, truncated=truncated)
        return {**metrics, **(refill.metrics() if refill else {}), **update}, rollout

    return step


def uses_reference(algo: GRPOConfig) -> bool:
    """Whether GRPO's loss reads a reference policy: only a KL term with weight β > 0 does."""
    return algo.beta > 0


def build_reference(ctx: StepContext) -> ReferencePolicy:
    """π_ref. With LoRA: the policy itself with its adapter switched off — the base weights, no second copy.
    Else a frozen copy of ``model.path`` (or of the policy as GRPO began, after a warm-up), placed or
    partitioned by the engine."""
    if ctx.settings.run.model.lora.rank > 0:
        policy = ctx.engine.model
        return ReferencePolicy(policy, context=lambda: lora.adapter_disabled(policy))
    with partitioned_loading(ctx.settings.engine(), world_size()):
        source = str(ctx.reference_source) if ctx.reference_source else None
        return ReferencePolicy(ctx.engine.prepare_reference(ctx.adapter.load_model(trainable=False, path=source)))


def build_sft_step(ctx: StepContext) -> TrainStep:
    """Table 1's "+SFT baseline": the bare answers as targets, the same data, engine, loop and logs."""
    adapter, engine, micro_batch_size = ctx.adapter, ctx.engine, ctx.settings.trainer.micro_batch_size

    def step(batch: list[Sample]) -> StepOutput:
        targets = [answer_target(s, adapter) for s in batch]
        return sft_step(engine.model, adapter, engine, batch, targets, micro_batch_size), None

    return step


@dataclass(frozen=True)
class SFTSettings:
    """The SFT baseline has no settings of its own (``algo.name`` only): the trainer's batch and lr."""


@dataclass(frozen=True)
class Algorithm:
    """A training algorithm: the settings class its ``algo`` group is read into, and its step."""

    settings: type[AlgoSettings]  # ``algo`` (less ``name``) is read into it at start-up
    build_step: Callable[[StepContext], TrainStep]
    sequences_per_prompt: Callable[[Any], int]  # sequences one prompt trains on (GRPO: G)
    completion_tokens: Callable[[Any], int]  # the longest completion it trains on (0: not sampled)
    warmup: bool  # whether the demo's supervised warm-up runs first (``warmup.steps`` > 0)
    reference: Callable[[Any], bool]  # whether its steps read a frozen reference policy (GRPO: when β > 0)
    rewarded: bool  # whether its steps log rewards (``reward/mean``): the closing reward trend and Fig. 4 read them


# The one place that knows the algorithms by name: everything else asks the entry it was given.
AlgoSettings = GRPOConfig | SFTSettings  # what ``algo`` is read into: one per algorithm below
ALGORITHMS: dict[str, Algorithm] = {
    "grpo": Algorithm(GRPOConfig, build_grpo_step, sequences_per_prompt=lambda s: s.group_size,
                      completion_tokens=lambda s: s.max_new_tokens, warmup=True, rewarded=True,
                      reference=uses_reference),
    "sft": Algorithm(SFTSettings, build_sft_step, sequences_per_prompt=lambda s: 1, completion_tokens=lambda s: 0,
                     warmup=False, rewarded=False, reference=lambda s: False),
}


# ----------------------------------------------------------------------------- settings
EVAL_MODES = ("thinking", "direct")  # eval.after_training: our <think>/<answer> prompt, or each benchmark's own
TRAINED = "trained.json"  # written after the final export: a restarted run goes straight to its evaluation


@dataclass(frozen=True)
class TrainSettings:
    """Everything a training run reads, built and validated once from the composed config (:func:`train_settings`)."""

    run: RunSettings
    algorithm: str  # algo.name: a key of ALGORITHMS
    algo: AlgoSettings  # that algorithm's settings (``ALGORITHMS[algorithm].settings``)
    trainer: TrainerSettings
    deepspeed: DeepSpeedSettings
    logger: LoggerSettings
    warmup: WarmupSettings
    resume: str | None  # null: fresh | auto: newest checkpoint in the run folder | a checkpoint path
    after_training: tuple[str, ...]  # evaluation modes to score the final checkpoint in
    evaluation: EvalConfig | None  # the eval settings, when after_training asks for any
    validation: Validation  # validation during training (eval.every_steps, eval.validation)
    resolved: dict[str, Any]  # the resolved config as plain values: logged with the run (wandb), never read

    def __post_init__(self) -> None:
        check_lora(self)
        check_optimizer(self.trainer, self.deepspeed)  # refused here, before any data or model loads
        if self.validation.holdout and self.validation_tokens() <= 0:
            raise ConfigError(f"eval.validation.max_new_tokens=null takes algo.max_new_tokens, which algo={self.algorithm} "
                              f"does not have: set eval.validation.max_new_tokens")

    @property
    def entry(self) -> Algorithm:
        return ALGORITHMS[self.algorithm]

    def validation_tokens(self) -> int:
        """The completion budget of the held-out samples: ``eval.validation.max_new_tokens``, else the algorithm's."""
        return self.validation.validation.max_new_tokens or self.entry.completion_tokens(self.algo)

    def engine(self) -> EngineSettings:
        return EngineSettings(self.trainer, self.deepspeed, self.run.model.dtype,
                              self.entry.sequences_per_prompt(self.algo))


def check_lora(settings: TrainSettings) -> None:
    """LoRA (``model.lora.rank`` > 0) takes π_ref from the base weights (the adapter switched off), so it cannot
    follow a warm-up that moves π_ref away from them. Every engine runs it (plain torch, ZeRO-2, ZeRO-3: tested).
    The freeze flags are accepted and change nothing under LoRA: every base weight, vision tower and projector
    included, is frozen already."""
    rank, entry = settings.run.model.lora.rank, settings.entry
    if rank > 0 and entry.warmup and settings.warmup.steps > 0 and entry.reference(settings.algo):
        raise ConfigError(f"model.lora.rank={rank} with warmup.steps={settings.warmup.steps}: LoRA's reference policy "
                          f"is the base model (adapter off), but after a warm-up it must be the warmed-up policy; set "
                          f"warmup.steps=0 (real checkpoints need no warm-up) or algo.beta=0")


def train_settings(cfg: DictConfig) -> TrainSettings:
    """The composed config, read once: every value that cannot run is refused here (one line naming the key),
    before any model loads."""
    config = resolved(cfg)
    algo = config["algo"]
    name = algo.get("name") if isinstance(algo, dict) else None
    if name not in ALGORITHMS:
        raise ConfigError(f"algo.name={name!r}; expected one of {', '.join(sorted(ALGORITHMS))}")
    evaluation = config["eval"]
    modes = tuple(evaluation.get("after_training") or ())
    unknown = [m for m in modes if m not in EVAL_MODES]
    if unknown:
        raise ConfigError(f"eval.after_training={list(modes)}: {unknown} not among {', '.join(EVAL_MODES)}")
    if modes and not evaluation.get("data_root"):
        raise ConfigError(f"eval.after_training={list(modes)} needs eval.data_root (the folder of the benchmarks)")
    algo_settings = settings_from(ALGORITHMS[name].settings, algo, "algo", ignore=("name", *other_algorithms_keys(name)))
    return settings_from(TrainSettings, {
        **{key: config.get(key) for key in ("trainer", "deepspeed", "logger", "warmup", "resume")},
        "run": run_settings(config), "algorithm": name, "algo": algo_settings, "after_training": list(modes),
        "evaluation": settings_from(EvalConfig, evaluation, "eval", ignore=("after_training",)) if modes else None,
        "validation": validation_settings(evaluation), "resolved": config}, "")


def validation_settings(evaluation: dict[str, Any]) -> Validation:
    """``eval.every_steps`` and ``eval.validation`` read and checked together; with benchmarks, eval's own settings
    for them (its generation settings and ``data_root``, on validation's benchmarks and limit)."""
    validation = settings_from(Validation, {key: evaluation.get(key) for key in ("every_steps", "validation", "data_root")},
                               "eval")
    if not (validation.every_steps and validation.validation.benchmarks):
        return validation
    benchmarks = validation_benchmarks(settings_from(EvalConfig, evaluation, "eval", ignore=("after_training",)),
                                       validation.validation)
    return dataclasses.replace(validation, evaluation=benchmarks)


def other_algorithms_keys(name: str) -> set[str]:
    """Keys only other algorithms read: an overlay that sets GRPO's ``algo.max_new_tokens`` (the tiny preset) still
    composes with ``algo=sft``; a key that no algorithm reads is refused as a typo."""
    own = {f.name for f in dataclasses.fields(ALGORITHMS[name].settings)}
    return {f.name for a in ALGORITHMS.values() for f in dataclasses.fields(a.settings)} - own


# ----------------------------------------------------------------------------- start-up
def start_processes(deepspeed: DeepSpeedSettings) -> None:
    """Join the launcher's process group when DeepSpeed runs; plain torch is one process only."""
    if deepspeed.stage is not None:
        init_process_group()
    elif launched_world_size() > 1:
        raise ConfigError(f"deepspeed=none trains in one process, but {launched_world_size()} were launched; "
                          f"add deepspeed=zero2 or deepspeed=zero3")
    if not is_main():  # one console: the other ranks only warn
        log.setLevel(logging.WARNING)


def evaluation_dir(run_dir: Path, mode: str) -> Path:
    return run_dir / "eval" / mode


def evaluate_after_training(settings: TrainSettings, run_dir: Path) -> None:
    """Score the run's final ``checkpoint/`` once per mode into ``<run>/eval/<mode>/`` (a finished mode is
    not redone; an interrupted one resumes)."""
    from mixed_r1.eval.runner import evaluate

    for mode in settings.after_training:
        out = evaluation_dir(run_dir, mode)
        if (out / "results.json").is_file():
            continue
        assert settings.evaluation is not None  # after_training asks for it
        run = dataclasses.replace(settings.run, model=dataclasses.replace(settings.run.model,
                                                                          path=str(run_dir / "checkpoint")))
        evaluation = dataclasses.replace(settings.evaluation, thinking=mode == "thinking", output_dir=str(out),
                                         method=run_dir.name)
        log.info("evaluating %s (%s) into %s", run_dir / "checkpoint", mode, out)
        evaluate(run, evaluation)


def run(cfg: DictConfig, run_dir: str | Path) -> dict[str, float]:
    """Train as configured, writing ``metrics.jsonl``, ``checkpoints/`` and the final ``checkpoint/`` into
    ``run_dir``, then evaluate it as ``eval.after_training`` asks. A run whose evaluations all exist is
    finished and starting it again does nothing; one trained but not evaluated goes straight to its
    evaluation. Under a multi-process launch every rank runs this; rank 0 writes the files."""
    run_dir = Path(run_dir)
    settings = train_settings(cfg)  # every value that cannot run is refused here, before any model loads
    modes = settings.after_training
    if modes and all((evaluation_dir(run_dir, m) / "results.json").is_file() for m in modes):
        log.info("%s is finished (its evaluation exists): nothing to do", run_dir)
        return {}
    if settings.evaluation is not None:  # the benchmarks (and lmms-eval, an extractor) a finished run will need
        check_evaluation_inputs(settings.run, settings.evaluation)
    if settings.validation.evaluation is not None:  # the benchmark subsets validated during training
        check_evaluation_inputs(settings.run, settings.validation.evaluation)
    start_processes(settings.deepspeed)
    with owned_by_this_run(run_dir):  # a second run into this folder is refused, not interleaved
        trained = run_dir / TRAINED
        earlier = json.loads(trained.read_text()) if modes and trained.is_file() else None
        asked = budget_asked(settings.trainer)
        if earlier is not None and earlier.get("budget", {}).get("asked") == asked:
            log.info("%s was trained earlier (%s): evaluating it", run_dir, TRAINED)
            summary = earlier["summary"]
        else:
            summary, budget = train(settings, run_dir)
            if is_main():
                trained.write_text(json.dumps({"budget": budget, "summary": summary}) + "\n")
            barrier()
        gc.collect()  # the training engine is gone: its memory goes back before the evaluation loads a model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        evaluate_after_training(settings, run_dir)
    return summary


def trained_state_identity(model: ModelSettings, trainer: TrainerSettings) -> dict[str, str]:
    """What shapes a checkpoint's trained parameters and optimizer state beyond the paper's full fine-tune with
    AdamW: LoRA's adapters, frozen parts, another optimizer. Each is recorded only when set, so the identity of
    a default run is what it always was; resuming with any of them changed is refused naming both values
    instead of failing inside the optimizer's state."""
    lora = model.lora
    identity = {"model.lora": f"rank={lora.rank} alpha={lora.alpha} targets={','.join(lora.target_modules)}"
                if lora.rank else None,
                "model.freeze": ",".join(name for name, on in (("vision", model.freeze_vision),
                                                               ("projector", model.freeze_projector)) if on) or None,
                "trainer.optimizer": trainer.optimizer if trainer.optimizer != "adamw" else None}
    return {key: value for key, value in identity.items() if value is not None}


def budget_asked(trainer: TrainerSettings) -> dict[str, Any]:
    """What the config asks for: a step count, or passes over the data."""
    return {"max_steps": trainer.max_steps} if trainer.max_steps is not None else {"epochs": float(trainer.epochs)}


def training_budget(trainer: TrainerSettings, num_samples: int) -> dict[str, Any]:
    """The run's budget, as the report shows it: what was asked, the steps it makes and the passes they are."""
    per_epoch = num_samples // trainer.prompts_per_step
    steps = (trainer.max_steps if trainer.max_steps is not None
             else steps_for_epochs(trainer.epochs, num_samples, trainer.prompts_per_step))
    return {"asked": budget_asked(trainer), "steps": steps, "samples": num_samples,
            "prompts_per_step": trainer.prompts_per_step, "epochs": steps / per_epoch if per_epoch else None}


def build_validator(settings: TrainSettings, adapter: ModelAdapter, engine: Engine, reward_fn: MixedReward,
                    held_out: list[Sample], run_dir: Path, after_step: int) -> Validator:
    """Validation during training on the held-out samples and benchmark subsets, writing into ``<run>/validation/``,
    scored with the step's mixed reward (an open-ended scorer with a model of its own is loaded once)."""
    return Validator(adapter, engine.model, engine.gathered, reward_fn, held_out,
                     settings.validation_tokens(), settings.trainer.generation_batch_size, settings.validation.evaluation,
                     settings.run.prompt.template, settings.run.seed, run_dir / "validation", after_step)


def train(settings: TrainSettings, run_dir: Path) -> tuple[dict[str, float], dict[str, Any]]:
    """The training itself (:func:`run` checks, then evaluates); its summary and its budget."""
    if not sys.stderr.isatty():  # a log file gets log lines, not transformers' per-file progress bars
        hf_logging.disable_progress_bar()
    common, algorithm, trainer = settings.run, settings.entry, settings.trainer
    checkpoint = find_resume_checkpoint(settings.resume, run_dir / "checkpoints")
    earlier = complete_checkpoints(run_dir / "checkpoints")
    if checkpoint is None and earlier:  # a fresh run must not mix its checkpoints with an earlier run's
        raise ConfigError(f"{run_dir / 'checkpoints'} holds an earlier run's checkpoints (newest {earlier[-1].name}): "
                          f"continue it with resume=auto, or start this run in its own folder (hydra.run.dir=...)")
    seed_everything(common.seed)
    if common.num_threads:
        torch.set_num_threads(common.num_threads)
    device = resolve_device(common.device)

    adapter = build_model_adapter(common, device)  # rank 0 may build the tiny model ...
    # ... and generate the synthetic file; every image is checked against the model's limits
    # rank 0 decodes every image; the others (run after it) read the file it has validated
    samples = main_first(lambda: load_train_samples(common.data, model_check=adapter.image_problem,
                                                    check_images=is_main()))
    samples = drop_long_prompts(samples, adapter, common.data, algorithm.completion_tokens(settings.algo))
    samples, held_out = hold_out(samples, settings.validation.holdout, common.seed)  # validated, never trained on
    data_counts = log_data_counts(samples, run_dir)
    budget = training_budget(trainer, len(samples))
    total_steps = budget["steps"]
    log.info("budget: %d steps of %d prompts = %s passes over %d samples (trainer.%s)", total_steps,
             budget["prompts_per_step"], f"{budget['epochs']:.2f}" if budget["epochs"] is not None else "n/a",
             len(samples), next(iter(budget["asked"])))
    weights = weights_identity(common.model.path)  # the base weights, wherever the folder now is (a hub id: itself)
    identity = run_identity({"model.adapter": common.model.adapter,
                             "model.weights": (hashlib.sha256(json.dumps(weights, sort_keys=True).encode()).hexdigest()[:16]
                                               if weights else common.model.path),
                             "algo.name": settings.algorithm, "trainer.prompts_per_step": str(trainer.prompts_per_step),
                             "seed": str(common.seed), "processes": str(world_size()),
                             **trained_state_identity(common.model, trainer), **holdout_identity(held_out)},
                            Path(common.data.train_file))
    state = load_state(checkpoint) if checkpoint else None
    if checkpoint is not None and state is not None:  # before loading its weights into another family's model
        check_identity(checkpoint, state, identity)
    group_size = algorithm.sequences_per_prompt(settings.algo)
    with partitioned_loading(settings.engine(), world_size()):
        policy = adapter.load_model(path=str(checkpoint / "policy") if checkpoint else None)
    engine = build_engine(settings.engine(), policy, world_size(), device)
    if rank() > 0:  # each rank samples its own completions
        seed_everything(common.seed + 104729 * rank())
    logger = MetricsLogger(run_dir, resume_after=state["step"] if state else None, logger=settings.logger,
                           config={**settings.resolved, "data_counts": data_counts, "budget": budget},
                           enabled=is_main())
    phase = settings.algorithm
    sampler = PromptSampler(len(samples), trainer.prompts_per_step, seed=common.seed)
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
        if algorithm.warmup and settings.warmup.steps > 0:
            with StopSignal() as stop:
                step = run_warmup(settings, engine, adapter, samples, logger, stop)
            if algorithm.reference(settings.algo):  # π_ref is the policy as GRPO starts
                reference_source = run_dir / "reference"
                engine.export(adapter, engine.model, reference_source)
        engine.reset_optimizer(trainer.lr, trainer.lr_warmup_steps)

    stream = PromptStream(samples, sampler, common.data, common.seed)
    # one mixed reward for the steps and the validation (BMAS reads the live policy's embeddings)
    reward_fn = (build_reward(common, adapter, engine.model)
                 if algorithm.rewarded or settings.validation.every_steps else None)
    train_step = algorithm.build_step(StepContext(settings, adapter, engine, reference_source, stream, reward_fn))
    guard = BadStepGuard(trainer.max_bad_steps)
    validator = (build_validator(settings, adapter, engine, reward_fn, held_out, run_dir, step)
                 if settings.validation.every_steps and reward_fn is not None else None)
    with progress_bar(total_steps, initial=phase_step, desc=phase) as bar, StopSignal() as stop:
        while phase_step < total_steps:
            step, phase_step = step + 1, phase_step + 1
            start = time.perf_counter()
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            metrics, rollout = train_step(stream.batch(step))
            skipped = guard.record(metrics.get("grad_norm"), step)
            record = step_record(step, phase, metrics, engine, skipped, time.perf_counter() - start)
            if common.data.changed_images == "skip":
                record["data/changed_images"] = stream.changed
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
            if validator is not None and settings.validation.due(phase_step, total_steps):  # before the checkpoint
                result = validator.validate(step)  # of this step: a resume from it never redoes nor skips it
                logger.log({"step": step, "phase": VALIDATION, **result.metrics, "validation_seconds": result.seconds})
                logger.log_completions(step, result.rows[:settings.validation.validation.log_completions],
                                       table="val/completions")
            saved = None
            if trainer.save_every and phase_step % trainer.save_every == 0:
                saved = save_checkpoint(run_dir / "checkpoints", step, phase_step, adapter, engine, reference_source,
                                        sampler, trainer.keep_last, identity)
            if stop.requested():  # preempted: this step is done; keep it and say how to go on
                saved = saved or save_checkpoint(run_dir / "checkpoints", step, phase_step, adapter, engine,
                                                 reference_source, sampler, trainer.keep_last, identity)
                logger.close()
                raise Preempted(f"stopped by {stop.received or 'SIGTERM'} after step {step}: checkpoint {saved}; "
                                f"continue with resume=auto (same run folder and number of processes)")
    logger.close()

    engine.export(adapter, engine.model, run_dir / "checkpoint")
    if not algorithm.rewarded:
        return {}, budget
    first, last = reward_trend(records, trainer.trend_fraction)
    summary = {"reward_first": first, "reward_last": last, "reward_gain": last - first}
    log.info("GRPO mean reward: first %d%% of steps %.3f -> last %d%% %.3f (gain %+.3f)",
             round(100 * trainer.trend_fraction), first, round(100 * trainer.trend_fraction), last, last - first)
    return summary, budget
