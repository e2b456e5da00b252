"""One GRPO step with DAPO's dynamic sampling, in however many processes torchrun starts.

    torchrun --nproc_per_node 2 tests/distributed/dynamic_sampling_ranks.py OUT_DIR ENGINES [MAX_ROUNDS]

ENGINES: none, zero2 or zero3, comma-separated. The reward is planted by prompt (sampling differs by rank, a planted
reward does not): the first prompt of the step's batch and the first prompt the refill draws have all-equal rewards
(a flat group), every other prompt's G completions are rewarded 0, 1, ..., G-1 by position. So the step drops one
group, draws one prompt (flat again), draws another (kept): two rounds, two prompts resampled. With 2 processes
rank 0 holds the flat groups and rank 1 lacks nothing: it draws no prompt in either round yet must join the weight
gathering rank 0's generation does (ZeRO-3). Rank 0 writes one JSON line per engine to OUT_DIR/results_<stage>.jsonl:
the prompts each rank trained on, the refill metrics, the sampler's position and the loss.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch

import mixed_r1.recipe as recipe
from mixed_r1.data.build import load_train_samples
from mixed_r1.data.sampler import PromptSampler
from mixed_r1.engine import build_engine, partitioned_loading
from mixed_r1.engine.distributed import gather_objects, main_first, world_size
from mixed_r1.rewards.mixed import RewardOutput
from tests.distributed.grpo_ranks import PROMPTS, G, config, run_stages


def planted_reward(flat: set[str], group_size: int):
    """``recipe.build_reward`` in its place: a flat group for the prompts in ``flat``, 0..G-1 by position else."""
    def build(run: Any, adapter: Any, policy: Any):
        def score(samples: list, texts: list[str]) -> RewardOutput:
            values = torch.tensor([0.0 if s.id in flat else float(i % group_size) for i, s in enumerate(samples)])
            return RewardOutput(total=values, format=torch.zeros(len(samples)), accuracy=values,
                                types=[s.type for s in samples])
        return score
    return build


def run_stage(out: Path, stage: str, max_rounds: int,
              install: Callable[[Callable[..., Any]], None] = lambda build: setattr(recipe, "build_reward", build)
              ) -> list[dict]:
    """The step under one engine; ``install`` puts the planted reward in ``recipe.build_reward``'s place (a test
    in its own process passes pytest's monkeypatch)."""
    torch.manual_seed(0)
    cfg = config(out, stage, "tiny_qwen")
    algo = dataclasses.replace(cfg.algo, dynamic_sampling=True, max_resample_rounds=max_rounds, max_new_tokens=6)
    cfg = dataclasses.replace(cfg, algo=algo)
    samples = main_first(lambda: load_train_samples(cfg.run.data))
    seed = cfg.run.seed
    probe = PromptSampler(len(samples), PROMPTS, seed)  # the stream the step will draw: plant on its prompts
    first, refills = probe.next_batch(), probe.take(2)
    install(planted_reward({samples[first[0]].id, samples[refills[0]].id}, G))
    adapter = recipe.build_model_adapter(cfg.run, torch.device("cpu"))
    with partitioned_loading(cfg.engine(), world_size()):
        policy = adapter.load_model()
    engine = build_engine(cfg.engine(), policy, world_size(), torch.device("cpu"))
    engine.reset_optimizer(1e-3)
    sampler = PromptSampler(len(samples), PROMPTS, seed)
    stream = recipe.PromptStream(samples, sampler, cfg.run.data, seed)
    step = recipe.build_grpo_step(recipe.StepContext(cfg, adapter, engine, None, stream))
    metrics, rollout = step(stream.batch(1))
    assert rollout is not None
    trained = gather_objects([s.id for s in rollout.samples[::G]])  # each rank's prompts, in rank order
    return [{"world": world_size(), "trained": trained, "first": [samples[i].id for i in first],
             "refills": [samples[i].id for i in refills], "sampler": sampler.state_dict(),
             **{k: metrics.get(k) for k in ("rounds", "resampled_groups", "unfilled_groups", "zero_variance_fraction",
                                            "reward/mean", "loss", "grad_norm")}}]


def main() -> None:
    out, stages = Path(sys.argv[1]), sys.argv[2]
    max_rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    run_stages(out, stages, lambda stage: run_stage(out, stage, max_rounds))


if __name__ == "__main__":
    main()
