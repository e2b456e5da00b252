"""Shared-prompt GRPO on a GPU: step time, tokens/s and peak memory with ``algo.shared_prompt`` on and off,
on a random-weight model with Qwen2.5-VL-3B's shapes (plain torch engine, bf16, sdpa).

    python tests/gpu/shared_prompt.py                  # qwen3b, 8 prompts x 8, 448-px images (256 image tokens), 128 new tokens
    python tests/gpu/shared_prompt.py --prompts 16 --new-tokens 256 --steps 3
    python tests/gpu/shared_prompt.py --smoke --device cpu --prompts 2 --group 2 --new-tokens 6   # the suite's run

One warm-up step per setting, then ``--steps`` steps alternating on/off (drift hits both); per setting the
median over its timed steps of: the step, its rollout (generation), reward, log-prob passes without
gradient (reference) and update (policy forward/backward + optimizer), generated and trained tokens/s and
peak GPU memory. First it checks both settings on one rollout: the largest log-prob difference between the
shared and the unshared pass (in the model's dtype). Random weights score all completions alike, so a
fixed ±1 advantage pattern makes the update exercise the whole gradient path: the figures are about
time and memory, not learning.
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

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "gpu"))

from real_shapes import REAL_SHAPES, build_real_shape  # noqa: E402

from mixed_r1.data.synthetic import SyntheticSpec, generate  # noqa: E402
from mixed_r1.grpo.step import collect_rollout, grpo_update  # noqa: E402
from mixed_r1.models import passes  # noqa: E402

SETTINGS = {"shared": True, "unshared": False}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen3b", choices=list(REAL_SHAPES))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default=None, help="default: bfloat16 on cuda, float32 on cpu")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--micro-batch", type=int, default=16, help="sequences per forward/backward")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per setting (after one warm-up each)")
    parser.add_argument("--smoke", action="store_true", help="shrunk widths/depths: the code path on a CPU")
    args = parser.parse_args()
    args.dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    device = torch.device(args.device)
    started = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        generate(work / "data", SyntheticSpec(num_samples=max(10, args.prompts), image_size=56 if args.smoke else 448))
        run = build_real_shape(args.model, args, work)
        adapter, engine, reference, base, samples, reward_fn = (run.adapter, run.engine, run.reference, run.algo,
                                                                run.samples, run.reward_fn)
        policy = engine.model
        ready_s = time.perf_counter() - started

        def step(shared: bool) -> dict[str, float]:
            algo = dataclasses.replace(base, shared_prompt=shared)
            synchronize(device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            rollout = collect_rollout(policy, adapter, reward_fn, samples, algo)
            synchronize(device)
            rollout_s = time.perf_counter() - start
            n = len(rollout.texts)
            rollout.advantages = torch.tensor([1.0, -1.0], device=rollout.advantages.device).repeat(n // 2 + 1)[:n]
            metrics = grpo_update(policy, reference, adapter, engine, rollout, algo, args.micro_batch)
            synchronize(device)
            step_s = time.perf_counter() - start
            return {"step": step_s, "rollout": rollout.seconds["rollout"], "reward": rollout.seconds["reward"],
                    "reference": metrics["time/reference"], "update": step_s - rollout_s - metrics["time/reference"],
                    "gen_tok_s": float(rollout.completions.mask.sum()) / rollout.seconds["rollout"],
                    "train_tok_s": metrics["tokens_per_second/train"],
                    "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan"),
                    "prompt_tokens": rollout.prompts.input_ids.shape[1]}

        # both passes on one rollout: how far apart are they in this dtype?
        algo = dataclasses.replace(base, shared_prompt=False)
        rollout = collect_rollout(policy, adapter, reward_fn, samples[: max(2, min(len(samples), 2))], algo)
        rows = list(range(min(len(rollout.texts), 2 * args.group)))
        prompts, completions = rollout.prompts.take(rows), rollout.completions.take(rows).trim()
        with torch.no_grad():
            plain = passes.completion_logprobs(adapter, policy, prompts, completions)
            shared = passes.completion_logprobs(adapter, policy, prompts, completions, groups=[r // args.group for r in rows])
        real = completions.mask.bool()
        max_diff = float((plain - shared)[real].abs().max())
        mean_diff = float((plain - shared)[real].abs().mean())

        runs: dict[str, list[dict[str, float]]] = {name: [] for name in SETTINGS}
        for flag in SETTINGS.values():  # warm-up (allocator, kernels)
            step(flag)
        for _ in range(args.steps):
            for name, flag in SETTINGS.items():
                runs[name].append(step(flag))
    total_s = time.perf_counter() - started

    print(f"\n{args.model}{' (smoke shapes)' if args.smoke else ''}: {args.prompts} prompts x {args.group} samples, "
          f"{runs['shared'][0]['prompt_tokens']} prompt tokens (padded), {args.new_tokens} new tokens, "
          f"micro-batch {args.micro_batch}, {args.dtype} on {args.device} "
          f"({torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}), median of {args.steps} steps each")
    print(f"shared vs unshared log-probs on one rollout ({args.dtype}): max |diff| {max_diff:.3g}, mean {mean_diff:.3g}\n")
    print("| setting | step s | rollout s | reward s | reference s | update s | gen tok/s | train tok/s | peak GiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    med = {name: {k: statistics.median(r[k] for r in rows) for k in rows[0]} for name, rows in runs.items()}
    for name, m in med.items():
        print(f"| {name} | {m['step']:.3f} | {m['rollout']:.3f} | {m['reward']:.3f} | {m['reference']:.3f} | "
              f"{m['update']:.3f} | {m['gen_tok_s']:.0f} | {m['train_tok_s']:.0f} | {m['peak_gib']:.1f} |")
    print(f"\nshared/unshared step time: {med['shared']['step'] / med['unshared']['step']:.2f}; "
          f"set-up {ready_s:.0f} s, whole script {total_s:.0f} s")


if __name__ == "__main__":
    main()
