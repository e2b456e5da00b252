"""A few GRPO steps of a random-weight Qwen2.5-VL-3B-shaped model through ``train.py`` with DeepSpeed
ZeRO-3, on one GPU: prints step time, tokens/s (rollout and update) and peak GPU memory.

    python tests/gpu/zero3_step.py                       # 3B shapes, bf16, cuda, 3 steps
    python tests/gpu/zero3_step.py --prompts 8 --new-tokens 512 --steps 4
    python tests/gpu/zero3_step.py --nproc 8 --prompts 64  # train.py under torchrun on 8 GPUs

``--smoke`` shrinks the shapes and runs on the CPU (float32), so the suite runs the same path. Random
weights score every completion alike, so advantages (and most of the gradient) are zero: the figures
are about time and memory, not learning.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "gpu"))

from real_shapes import REAL_SHAPES, SMOKE  # noqa: E402

from mixed_r1.data.synthetic import SyntheticSpec, corpus, generate  # noqa: E402
from mixed_r1.models.qwen_vl import build_tiny_qwen2_5_vl  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=4, help="prompts per step (x8 samples)")
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--micro-batch", type=int, default=8)
    parser.add_argument("--nproc", type=int, default=1, help="processes (GPUs) for torchrun")
    parser.add_argument("--smoke", action="store_true", help="shrunk shapes, CPU, float32")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads per process (--smoke)")
    args = parser.parse_args()
    _, shape = REAL_SHAPES["qwen3b"]
    spec = {**shape, **(SMOKE if args.smoke else {}), "vocab_size": 512}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        build_tiny_qwen2_5_vl(work / "model", corpus(), spec, 0)
        generate(work / "data", SyntheticSpec(num_samples=max(16, args.prompts * args.steps),
                                              image_size=56 if args.smoke else 448))
        overrides = [
            "model=qwen3b", f"model.path={work / 'model'}", "data=jsonl", f"data.train_file={work / 'data/train.jsonl'}",
            "deepspeed=zero3", f"trainer.max_steps={args.steps}", f"trainer.prompts_per_step={args.prompts}",
            f"trainer.micro_batch_size={args.micro_batch}", "trainer.generation_batch_size=0", "trainer.save_every=0",
            f"algo.max_new_tokens={args.new_tokens}", f"hydra.run.dir={work / 'run'}", "logger=none"]
        if args.smoke:
            overrides += ["device=cpu", "model.dtype=float32", f"model.max_pixels={spec['max_pixels']}",
                          "model.gradient_checkpointing=true", f"num_threads={args.threads}"]
        launcher = [sys.executable] if args.nproc == 1 else [
            sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(args.nproc)]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", "PYTHONPATH": str(ROOT)}
        proc = subprocess.run([*launcher, str(ROOT / "train.py"), *overrides], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"train.py failed:\n{proc.stderr[-4000:]}")
        records = [json.loads(x) for x in (work / "run" / "metrics.jsonl").read_text().splitlines()]
    print(f"\nQwen2.5-VL-3B shapes{' (smoke)' if args.smoke else ''}, ZeRO-3, {args.nproc} process(es), "
          f"{args.prompts} prompts x 8 samples, {args.new_tokens} new tokens, micro-batch {args.micro_batch}\n")
    print("| step | step s | rollout s | update s | gen tokens/s | train tokens/s | completion len | peak GiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in records:
        print(f"| {r['step']} | {r['step_seconds']:.2f} | {r['time/rollout']:.2f} | {r['time/update']:.2f} "
              f"| {r['tokens_per_second/rollout']:.0f} | {r['tokens_per_second/train']:.0f} "
              f"| {r['completion_length']:.0f} | {r.get('memory/peak_gib', float('nan')):.1f} |")


if __name__ == "__main__":
    main()
