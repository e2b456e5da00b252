"""Validation during training (``eval.every_steps``): the policy, as it trains, scored greedily on samples held out of
the training mix (accuracy per sample type, format, reward) and on the first items of named benchmarks (each
benchmark's own score, with eval's generation settings).

Why a module of its own, beside the training recipe: it reuses the rollout (greedy samples scored by the mixed
reward) and the evaluation runner (benchmark items, predictions, scoring) rather than copying them, and keeps the
recipe's loop to a few lines: it asks :class:`Validator` for a result when
:meth:`~mixed_r1.eval.settings.Validation.due` says so, and logs it. Nothing here changes the training run: the
held-out split is fixed at start-up, and the RNG states are restored after each validation (evaluation reseeds
torch per chunk), so a run validates the same weights at the same steps whether or not it was interrupted.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, Sequence

import torch

from mixed_r1.data.schema import Sample
from mixed_r1.engine.distributed import barrier, broadcast_object, gather_objects, is_main, rank, world_size
from mixed_r1.errors import ConfigError
from mixed_r1.eval.benchmarks import EvalItem, benchmark
from mixed_r1.eval.runner import generate_predictions, load_items, score_benchmark
from mixed_r1.eval.settings import EvalConfig
from mixed_r1.models import ModelAdapter
from mixed_r1.rewards.mixed import MixedReward, RewardOutput, per_type_means
from mixed_r1.rollout import sample_and_score
from mixed_r1.shards import read_shards

log = logging.getLogger("mixed_r1")

PHASE = "validation"  # the ``phase`` of a validation line in metrics.jsonl (training lines keep their own)


# ----------------------------------------------------------------------------- the held-out split
def holdout_split(samples: Sequence[Sample], count: int, seed: int) -> tuple[list[Sample], list[Sample]]:
    """``(training, held_out)``: ``count`` samples taken out of training, both lists in file order.

    Stratified by sample type: every type is validated (one held-out sample each), and the rest are shared out in
    proportion to the types' sizes n_t by the Sainte-Laguë rule (the next one to the type with the highest
    n_t / (2·taken_t + 1); ties by name), so a type with a quarter of the data gets about a quarter of the split.
    Within a type, samples are taken in an order shuffled by ``seed`` and the type alone, so the split is a pure
    function of the samples, ``count`` and ``seed``, and a larger ``count`` holds out a superset. Each type keeps
    at least one training sample; a ``count`` that cannot satisfy all this is a ConfigError naming the key."""
    if count == 0:
        return list(samples), []
    by_type: dict[str, list[int]] = {}
    for index, sample in enumerate(samples):
        by_type.setdefault(sample.type, []).append(index)
    types = sorted(by_type)
    where = f"eval.validation.holdout={count}"
    if count < len(types):
        raise ConfigError(f"{where} cannot represent each of the {len(types)} sample types of the training data "
                          f"({', '.join(types)}): hold out at least {len(types)}")
    single = [t for t in types if len(by_type[t]) < 2]
    if single:
        raise ConfigError(f"{where}: type {', '.join(single)} has a single sample, which cannot be both trained on "
                          f"and held out; add samples of it or set eval.validation.holdout=0")
    spare = sum(len(by_type[t]) - 1 for t in types)
    if count > spare:
        raise ConfigError(f"{where} is more than the {spare} samples that can be held out of {len(samples)} while "
                          f"every type keeps a training sample")
    order = {t: random.Random(f"holdout:{seed}:{t}").sample(ix, len(ix)) for t, ix in by_type.items()}
    taken = dict.fromkeys(types, 1)
    for _ in range(count - len(types)):
        open_types = [t for t in types if taken[t] < len(by_type[t]) - 1]
        chosen_type = min(open_types, key=lambda t: (-len(by_type[t]) / (2 * taken[t] + 1), t))
        taken[chosen_type] += 1
    held = {i for t in types for i in order[t][:taken[t]]}
    return ([s for i, s in enumerate(samples) if i not in held], [s for i, s in enumerate(samples) if i in held])


def hold_out(samples: Sequence[Sample], count: int, seed: int) -> tuple[list[Sample], list[Sample]]:
    """:func:`holdout_split`, said in the log (count per type, first ids): what a run validates on is on record."""
    training, held_out = holdout_split(samples, count, seed)
    if held_out:
        per_type: dict[str, int] = {}
        for sample in held_out:
            per_type[sample.type] = per_type.get(sample.type, 0) + 1
        log.info("validation: %d of %d samples held out of training (eval.validation.holdout); per type: %s; "
                 "first ids: %s", len(held_out), len(samples), ", ".join(f"{t} {n}" for t, n in sorted(per_type.items())),
                 ", ".join(s.id for s in held_out[:5]))
    return training, held_out


def holdout_identity(held_out: Sequence[Sample]) -> dict[str, str]:
    """The held-out split as a checkpoint's run identity records it (nothing when none is held out, so a run without
    one keeps the identity it always had): resuming with another split would train on other samples, and is
    refused naming both values."""
    if not held_out:
        return {}
    digest = hashlib.sha256("\n".join(s.id for s in held_out).encode()).hexdigest()[:16]
    return {"eval.validation.holdout": f"{len(held_out)} samples (ids {digest})"}


# ----------------------------------------------------------------------------- validating
@dataclass
class ValidationResult:
    """One validation: its metrics (the same keys every time: ``val/...``), the held-out samples' rows in split order
    (id, type, image, problem, answer, completion, reward) and its wall-clock seconds."""

    metrics: dict[str, float | None]
    rows: list[dict[str, Any]]
    seconds: float


class Validator:
    """Validates the policy on the held-out samples and benchmark subsets (every rank calls :meth:`validate`
    together). Built once, when training starts after step ``after_step`` (a resume: the checkpoint's): the
    benchmark items are read and their images checked against the model's limits here, and the validation folders
    of later steps (an interrupted run's) removed."""

    def __init__(self, adapter: ModelAdapter, policy: torch.nn.Module, gathered: Callable[[], ContextManager[Any]],
                 reward_fn: MixedReward, held_out: Sequence[Sample], max_new_tokens: int, generation_batch_size: int,
                 evaluation: EvalConfig | None, template: str, seed: int, out_dir: Path, after_step: int) -> None:
        self.adapter, self.policy, self.gathered, self.reward_fn = adapter, policy, gathered, reward_fn
        self.held_out, self.max_new_tokens, self.generation_batch_size = list(held_out), max_new_tokens, generation_batch_size
        self.evaluation, self.template, self.seed, self.out_dir = evaluation, template, seed, out_dir
        if is_main():  # folders of steps after the one this run starts from: an interrupted run's, redone
            for stale in sorted(out_dir.glob("step_*")):
                if stale.name[len("step_"):].isdigit() and int(stale.name[len("step_"):]) > after_step:
                    shutil.rmtree(stale)
        barrier()
        self.items: dict[str, list[EvalItem]] = {}
        if evaluation is not None:
            for name in evaluation.benchmarks:
                self.items[name] = load_items(benchmark(name), Path(evaluation.data_root), evaluation.limit,
                                              adapter.image_problem)
            log.info("validation: benchmark subsets %s", ", ".join(f"{n} ({len(v)} items)" for n, v in self.items.items()))

    def validate(self, step: int) -> ValidationResult:
        """Greedy completions for this rank's share of the held-out samples and of each benchmark's chunks, inside
        one gather of the policy (ZeRO-3: every rank joins, whatever its share), scored; metrics over every rank.
        Files: ``<out_dir>/step_<N>/holdout.jsonl`` (every held-out completion) and the benchmarks' predictions."""
        start = time.perf_counter()
        folder = self.out_dir / f"step_{step:08d}"
        mine = self.held_out[rank()::world_size()]
        with _rng_kept(), self.gathered():
            self.policy.eval()
            scored = (sample_and_score(self.policy, self.adapter, self.reward_fn, mine, 1, 0.0, self.max_new_tokens,
                                       self.generation_batch_size, shared_prompt=False) if mine else None)
            for name, items in self.items.items():
                assert self.evaluation is not None  # items are read only with it
                generate_predictions(name, items, self.adapter, self.policy, self.evaluation, self.template, self.seed,
                                     folder / "shards" / name)
        metrics: dict[str, float | None] = {}
        rows: list[dict[str, Any]] = []
        if self.held_out:
            local = None if scored is None else (
                scored.rewards, scored.completions.mask.sum(dim=1).float().cpu(),
                [_row(s, t, r) for s, t, r in zip(scored.samples, scored.texts, _per_row(scored.rewards))])
            shares = gather_objects(local)  # rank r holds held_out[r::world]: interleaved back into split order
            rows = [shares[i % len(shares)][2][i // len(shares)] for i in range(len(self.held_out))]
            parts = [p for p in shares if p is not None]
            metrics.update(holdout_metrics(RewardOutput.concat([p[0] for p in parts]), torch.cat([p[1] for p in parts])))
            if is_main():
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "holdout.jsonl").write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows),
                                                      encoding="utf-8")
        barrier()
        if self.items:  # rank 0 scores; every rank returns the same metrics (the held-out ones: on the line's echo)
            metrics.update(broadcast_object(self._score_benchmarks(folder) if is_main() else None))
            log.info("validation after step %d: %s", step, " ".join(
                f"{name}={metrics[f'val/{name}/accuracy']:.3f}" for name in self.items))
        return ValidationResult(metrics, rows, time.perf_counter() - start)

    def _score_benchmarks(self, folder: Path) -> dict[str, float | None]:
        """``val/<benchmark>/accuracy``: each benchmark's score as eval.py computes it (its own rule and aggregate,
        e.g. MMBench circular), as a fraction; its predictions written to ``<folder>/predictions/``."""
        out: dict[str, float | None] = {}
        for name, items in self.items.items():
            result = score_benchmark(benchmark(name), items, read_shards(folder / "shards" / name), None, folder)
            out[f"val/{name}/accuracy"] = result.score / 100.0
        return out


def holdout_metrics(rewards: RewardOutput, lengths: torch.Tensor) -> dict[str, float | None]:
    """Held-out metrics over every held-out sample: accuracy per type (None for a type the split lacks: every
    validation logs the same keys) and over all, format, total reward, completion length in tokens."""
    return {**per_type_means(rewards.accuracy, rewards.types, "val/accuracy"),
            "val/accuracy/mean": float(rewards.accuracy.mean()),
            "val/format": float(rewards.format.mean()),
            "val/reward/mean": float(rewards.total.mean()),
            "val/completion_length": float(lengths.mean())}


def _per_row(rewards: RewardOutput) -> list[dict[str, float]]:
    return [{"reward": float(t), "accuracy": float(a), "format": float(f)}
            for t, a, f in zip(rewards.total, rewards.accuracy, rewards.format)]


def _row(sample: Sample, completion: str, scores: dict[str, float]) -> dict[str, Any]:
    """A held-out completion as ``completions.jsonl`` and ``holdout.jsonl`` keep it."""
    return {"phase": PHASE, "id": sample.id, "type": sample.type, "image": sample.image, "problem": sample.problem,
            "answer": sample.answer, "completion": completion, **scores}


@contextlib.contextmanager
def _rng_kept() -> Iterator[None]:
    """Every torch RNG state as it was before (evaluation seeds torch per chunk): validating leaves the training's
    random draws untouched."""
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        yield
