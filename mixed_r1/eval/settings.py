"""The ``eval`` group as frozen settings (``conf/train.yaml``'s ``eval:``), validated once at start-up."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from mixed_r1.errors import ConfigError
from mixed_r1.eval.benchmarks import NAMES
from mixed_r1.eval.extractor import EXTRACTORS

BACKENDS = ("native", "lmms_eval")


@dataclass(frozen=True)
class ValidationSettings:
    """``eval.validation``: what validation during training scores every ``eval.every_steps`` GRPO steps (read by
    training only; ``eval.py`` accepts and ignores it). Why beside :class:`EvalConfig`: the benchmark subsets are
    generated and scored with eval's own settings (``eval.temperature``, ``max_new_tokens``, ``thinking``)."""

    holdout: int = 0  # training samples held out of training, stratified by type, validated greedily (0: none)
    max_new_tokens: int | None = None  # for the held-out samples; null: algo.max_new_tokens
    benchmarks: tuple[str, ...] = ()  # benchmarks below eval.data_root validated on their first ``limit`` items
    limit: int | None = 16  # items of each benchmark (null: all)
    log_completions: int = 4  # validation completions written to completions.jsonl (and wandb) each time

    def __post_init__(self) -> None:
        unknown = [b for b in self.benchmarks if b not in NAMES]
        checks = [
            (self.holdout >= 0, "holdout", "must be >= 0 (0: no held-out split)"),
            (self.max_new_tokens is None or self.max_new_tokens > 0, "max_new_tokens",
             "must be > 0 or null (algo.max_new_tokens)"),
            (not unknown, "benchmarks", f"names {unknown}: expected some of {', '.join(NAMES)}"),
            (len(set(self.benchmarks)) == len(self.benchmarks), "benchmarks", "names a benchmark twice"),
            (self.limit is None or self.limit >= 1, "limit", "must be >= 1 or null (every item)"),
            (self.log_completions >= 0, "log_completions", "must be >= 0"),
        ]
        for ok, key, why in checks:
            if not ok:
                raise ConfigError(f"eval.validation.{key}={getattr(self, key)!r} {why}")


def check_validation(every_steps: int, validation: ValidationSettings, data_root: str | None) -> None:
    """The keys of validation during training that only make sense together: an interval that validates
    something, and benchmarks with the folder they live in. A ConfigError naming the key, at start-up."""
    if every_steps < 0:
        raise ConfigError(f"eval.every_steps={every_steps} must be >= 0 (0: no validation during training)")
    if every_steps and not validation.holdout and not validation.benchmarks:
        raise ConfigError(f"eval.every_steps={every_steps} validates nothing: set eval.validation.holdout > 0 "
                          f"(held-out training samples) and/or eval.validation.benchmarks")
    if every_steps and validation.benchmarks and not data_root:
        raise ConfigError(f"eval.validation.benchmarks={list(validation.benchmarks)} needs eval.data_root (the "
                          f"folder of the benchmarks; README, 'Evaluation')")


@dataclass(frozen=True)
class EvalConfig:
    """The ``eval`` config node, validated once."""

    benchmarks: tuple[str, ...]
    thinking: bool  # the paper's <think>/<answer> prompt; false: each benchmark's own direct-answer prompt
    data_root: str
    temperature: float  # 0: greedy (the default)
    max_new_tokens: int
    batch_size: int  # items per generate call: the unit of sharding, writing and resuming
    limit: int | None  # the first N items of each benchmark only (smoke runs)
    extractor: str  # how MathVista answers are extracted: rules | local (a local LLM at extractor_path)
    extractor_path: str | None
    backend: str
    method: str  # the Method column of the Markdown row
    output_dir: str
    # outputs in output_dir from another model or other settings: refused (false) or removed to start over (true)
    overwrite: bool = False
    # validation during training (training reads these into :class:`Validation`; eval.py only checks them)
    every_steps: int = 0
    validation: ValidationSettings = field(default_factory=ValidationSettings)

    def __post_init__(self) -> None:
        unknown = [b for b in self.benchmarks if b not in NAMES]
        checks = [
            (not unknown and len(self.benchmarks) > 0, "benchmarks", f"must name some of {', '.join(NAMES)}"),
            (self.temperature >= 0, "temperature", "must be >= 0 (0: greedy)"),
            (self.max_new_tokens > 0, "max_new_tokens", "must be > 0"),
            (self.batch_size >= 1, "batch_size", "must be >= 1"),
            (self.limit is None or self.limit >= 1, "limit", "must be >= 1 or null"),
            (self.extractor in EXTRACTORS, "extractor", f"must be one of {', '.join(EXTRACTORS)}"),
            (self.extractor != "local" or bool(self.extractor_path), "extractor_path",
             "must name a local causal LM when eval.extractor=local"),
            (self.backend in BACKENDS, "backend", f"must be one of {', '.join(BACKENDS)}"),
        ]
        for ok, key, why in checks:
            if not ok:
                raise ConfigError(f"eval.{key}={getattr(self, key)!r} {why}")
        check_validation(self.every_steps, self.validation, self.data_root)


@dataclass(frozen=True)
class Validation:
    """Validation during training as the training recipe runs it: after every ``every_steps``-th GRPO step and
    after the last (0: never, and nothing is held out), on ``settings``' held-out samples and benchmark subsets;
    ``evaluation`` is eval's config for the benchmarks (their generation settings and ``data_root``; None when no
    benchmark is validated)."""

    every_steps: int = 0
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    data_root: str | None = None
    evaluation: EvalConfig | None = None

    def __post_init__(self) -> None:
        check_validation(self.every_steps, self.validation, self.data_root)

    @property
    def holdout(self) -> int:
        """Samples held out of training: none while validation is off."""
        return self.validation.holdout if self.every_steps else 0

    def due(self, phase_step: int, total_steps: int) -> bool:
        """Whether validation runs after GRPO step ``phase_step`` of ``total_steps``: every ``every_steps``-th
        step and the last one. A function of the step counter alone, so a resumed run validates where an
        uninterrupted one does."""
        return self.every_steps > 0 and (phase_step % self.every_steps == 0 or phase_step == total_steps)


def validation_benchmarks(evaluation: EvalConfig, validation: ValidationSettings) -> EvalConfig:
    """eval's settings as validation during training uses them: its generation settings (``temperature``,
    ``max_new_tokens``, ``thinking``, ``batch_size``) and ``data_root``, on validation's ``benchmarks`` and ``limit``;
    generated natively and read by each benchmark's rules (lmms-eval or a local extractor LLM would load a second
    model beside the policy in training)."""
    return dataclasses.replace(evaluation, benchmarks=validation.benchmarks, limit=validation.limit, backend="native",
                               extractor="rules", extractor_path=None)
