"""The GRPO update alone (reference pass + policy forward/backward + optimizer step) on a fixed rollout with
ragged completion lengths, under each way of cutting it: fixed micro-batches or packing by length
(``trainer.max_tokens_per_micro_batch``), each with shared prompts or not (``algo.shared_prompt``).

    python bench/update_passes.py                        # realistic shape, lengths uniform in [16, 256]
    python bench/update_passes.py --prompts 4 --min-len 8 --max-len 512 --micro-batch 8 --repeats 5

A real policy's completions vary in length (a random tiny model's are nearly all full length, so
bench/grpo_step.py cannot show what packing buys); here the lengths are drawn, seeded, uniformly between
``--min-len`` and ``--max-len``. The model is the realistic shape of bench/grpo_step.py (hidden 256, 4
layers, 448-px images: 256 image tokens per prompt). Every configuration computes the same loss and
gradient (tests/test_shared_prompt.py; the grad-norm column shows it); the table gives the median over
``--repeats`` of the update's time, the tokens its forwards compute (padding included) and its largest
micro-batch. The learning rate is 0, so every repeat and configuration updates the same weights.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from mixed_r1.components import tiny_corpus  # noqa: E402
from mixed_r1.data import load_samples  # noqa: E402
from mixed_r1.data.synthetic import SyntheticSpec, generate  # noqa: E402
from mixed_r1.engine import TorchEngine, seed_everything  # noqa: E402
from mixed_r1.engine.microbatch import padded_tokens, plan_micro_batches  # noqa: E402
from mixed_r1.grpo.config import GRPOConfig  # noqa: E402
from mixed_r1.grpo.step import grpo_update  # noqa: E402
from mixed_r1.models import Completions, build_adapter  # noqa: E402
from mixed_r1.recipe import train_settings  # noqa: E402
from mixed_r1.rewards.mixed import RewardOutput  # noqa: E402
from mixed_r1.rollout import Rollout  # noqa: E402

REALISTIC = ["model.max_pixels=200704", "model.tiny.hidden_size=256", "model.tiny.intermediate_size=512",
             "model.tiny.num_hidden_layers=4", "model.tiny.vision_hidden_size=128", "model.tiny.vision_num_heads=2"]


def ragged_rollout(adapter, samples, group: int, min_len: int, max_len: int) -> Rollout:
    """G completions per prompt of seeded random tokens and lengths (stop token last, padding after)."""
    g = torch.Generator().manual_seed(0)
    rows = len(samples) * group
    lengths = torch.randint(min_len, max_len + 1, (rows,), generator=g)
    ids = torch.randint(10, len(adapter.tokenizer) - 20, (rows, max_len), generator=g)
    for row, n in enumerate(lengths.tolist()):
        ids[row, n - 1] = adapter.stop_token_id
        ids[row, n:] = adapter.pad_token_id
    completions = Completions(ids, adapter.stop_mask(ids))
    rewards = torch.rand(rows, generator=g)
    reward = RewardOutput(total=rewards, format=torch.zeros(rows), accuracy=rewards,
                          types=[s.type for s in samples for _ in range(group)])
    advantages = torch.tensor([1.0, -1.0]).repeat(rows // 2 + 1)[:rows]
    return Rollout(samples=[s for s in samples for _ in range(group)],
                   prompts=adapter.prompt_batch(samples).repeat(group), completions=completions,
                   texts=[""] * rows, rewards=reward, advantages=advantages, seconds={"rollout": 0.0, "reward": 0.0})


def plan_cost(rollout: Rollout, algo: GRPOConfig, micro: int, budget: int) -> tuple[int, int]:
    """(tokens the forwards compute, padding included; the largest micro-batch's) for this way of cutting."""
    G = algo.group_size
    tokens = rollout.completions.mask.sum(dim=1).tolist()
    width = rollout.prompts.input_ids.shape[1]
    lengths = [width + n for n in tokens]
    groups = [r // G for r in range(len(tokens))]
    shared = groups if algo.shared_prompt else None
    plan = plan_micro_batches(range(len(tokens)), tokens, micro, algo.loss_aggregation, max_tokens=budget,
                              lengths=lengths, groups=shared, prompt_len=width)
    costs = [padded_tokens(m.rows, lengths, shared, width) for m in plan.batches]
    return sum(costs), max(costs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--min-len", type=int, default=16)
    parser.add_argument("--max-len", type=int, default=256)
    parser.add_argument("--micro-batch", type=int, default=8, help="rows per micro-batch (fixed), row cap (packed)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            cfg = compose("train", overrides=["model=tiny_qwen", f"model.build_dir={work / 'model'}", *REALISTIC])
        settings = train_settings(OmegaConf.create(OmegaConf.to_yaml(cfg).replace("${hydra:runtime.output_dir}", str(work))))
        seed_everything(0)
        adapter = build_adapter(settings.run.model, settings.run.prompt, torch.device("cpu"),
                                tiny_corpus=lambda: tiny_corpus(settings.run.data))
        policy = adapter.load_model()
        reference = adapter.load_model(trainable=False)
        samples = load_samples(generate(work / "data", SyntheticSpec(num_samples=args.prompts, image_size=448)))
        rollout = ragged_rollout(adapter, samples[: args.prompts], args.group, args.min_len, args.max_len)
        assert isinstance(settings.algo, GRPOConfig)
        base = dataclasses.replace(settings.algo, group_size=args.group)
        width = rollout.prompts.input_ids.shape[1]
        # the packing budget: what a fixed micro-batch of full-length rows would compute
        budget = args.micro_batch * (width + args.max_len)
        configs = [(f"fixed {args.micro_batch} rows", 0), (f"packed <= {budget} tokens", budget)]
        results = []
        for shared in (False, True):
            algo = dataclasses.replace(base, shared_prompt=shared)
            for label, max_tokens in configs:
                seconds, references = [], []
                for _ in range(args.repeats):
                    engine = TorchEngine(policy, lr=0.0)
                    start = time.perf_counter()
                    metrics = grpo_update(policy, reference, adapter, engine, rollout, algo, args.micro_batch, max_tokens)
                    seconds.append(time.perf_counter() - start)
                    references.append(metrics["time/reference"])
                computed, largest = plan_cost(rollout, algo, args.micro_batch, max_tokens)
                results.append((("shared" if shared else "unshared") + ", " + label, statistics.median(seconds),
                                statistics.median(references), computed, largest, metrics["grad_norm"]))
    real = int(rollout.completions.mask.sum())
    print(f"\n{args.prompts} prompts x G={args.group}, prompt {width} tokens (256 image tokens), completions "
          f"{args.min_len}-{args.max_len} tokens ({real} in all), {args.threads} threads, median of {args.repeats}\n")
    print("| passes, micro-batches | update s | of which reference s | tokens computed | largest micro-batch | grad norm |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, update_s, reference_s, computed, largest, grad_norm in results:
        print(f"| {label} | {update_s:.3f} | {reference_s:.3f} | {computed:,} | {largest:,} | {grad_norm:.6g} |")


if __name__ == "__main__":
    main()
