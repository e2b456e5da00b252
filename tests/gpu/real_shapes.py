"""One rollout + one GRPO update on random-weight models with the REAL 3B / 7B / 4B shapes.

Run on a lent GPU (prints a table of time and peak memory per model):

    python tests/gpu/real_shapes.py                       # qwen3b qwen7b internvl4b, bf16 on cuda
    python tests/gpu/real_shapes.py --models qwen7b --prompts 4 --group 8 --new-tokens 256
    python tests/gpu/real_shapes.py --models qwen3b qwen7b --memory-switches   # the README's "what fits" rows

``--switch NAME=KEY=VALUE[,KEY=VALUE...]`` (repeatable) runs each model once per switch, config overrides such as
``model.lora.rank=16`` or ``model.logprob_chunk_tokens=1024``; ``--memory-switches`` is issue 24's set (the full
fine-tune, chunked log-probs, a frozen vision tower, beta = 0, LoRA, and LoRA + chunked + beta = 0). The
reference policy is built as the recipe builds it (a frozen copy; the LoRA policy with its adapter off; none
at beta = 0), so each row's peak is what that switch holds.

``--smoke`` shrinks every width and depth (keeping the real vocabularies) so the same code path runs on
a CPU in seconds; the test suite runs it that way. Weights are random and the tokenizer is the tiny
one (real-size embedding tables, so ids beyond it decode to nothing): the figures are about shapes,
memory and speed, not text. No hub access is needed.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from mixed_r1.components import build_reward  # noqa: E402
from mixed_r1.data import load_samples  # noqa: E402
from mixed_r1.data.synthetic import SyntheticSpec, corpus, generate  # noqa: E402
from mixed_r1.engine import TorchEngine, seed_everything  # noqa: E402
from mixed_r1.grpo.config import GRPOConfig  # noqa: E402
from mixed_r1.grpo.step import ReferencePolicy, collect_rollout, grpo_update  # noqa: E402
from mixed_r1.models import build_adapter  # noqa: E402
from mixed_r1.models.internvl import build_tiny_internvl  # noqa: E402
from mixed_r1.models.qwen_vl import build_tiny_qwen2_5_vl  # noqa: E402
from mixed_r1.recipe import StepContext, build_reference, train_settings, uses_reference  # noqa: E402

QWEN_VISION = dict(vision_depth=32, vision_hidden_size=1280, vision_intermediate_size=3420, vision_num_heads=16,
                   fullatt_block_indexes=[7, 15, 23, 31], min_pixels=3136, max_pixels=1003520)
# Shapes of the public config.json files (Qwen2.5-VL-3B/7B-Instruct; InternVL2.5-4B = InternViT-300M + Qwen2.5-3B).
REAL_SHAPES: dict[str, tuple[str, dict[str, Any]]] = {
    "qwen3b": ("tiny_qwen", dict(QWEN_VISION, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
                                 num_attention_heads=16, num_key_value_heads=2, model_vocab_size=151936,
                                 rope_theta=1e6, tie_word_embeddings=True, max_position_embeddings=128000)),
    "qwen7b": ("tiny_qwen", dict(QWEN_VISION, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                                 num_attention_heads=28, num_key_value_heads=4, model_vocab_size=152064,
                                 rope_theta=1e6, tie_word_embeddings=False, max_position_embeddings=128000)),
    "internvl4b": ("tiny_internvl", dict(vision_depth=24, vision_hidden_size=1024, vision_intermediate_size=4096,
                                         vision_num_heads=16, tile_size=448, max_num_tiles=6, hidden_size=2048,
                                         intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
                                         num_key_value_heads=2, model_vocab_size=151674, rope_theta=1e6,
                                         tie_word_embeddings=True, max_position_embeddings=32768)),
}
SMOKE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
             vision_depth=1, vision_hidden_size=32, vision_intermediate_size=64, vision_num_heads=2,
             fullatt_block_indexes=[0], tile_size=56, max_pixels=12544)


@dataclass
class RealShapeRun:
    """A random-weight model of a real shape, ready for GRPO steps (plain torch engine on one device)."""

    adapter: Any
    engine: TorchEngine
    reference: ReferencePolicy | None  # as the recipe builds it (none at beta = 0)
    algo: GRPOConfig
    samples: list
    reward_fn: Any


MEMORY_SWITCHES = ["full=", "chunked=model.logprob_chunk_tokens=1024",
                   "frozen_vision=model.freeze_vision=true,model.freeze_projector=true", "beta0=algo.beta=0",
                   "lora=model.lora.rank=16", "lean=model.lora.rank=16,algo.beta=0,model.logprob_chunk_tokens=1024"]


def build_real_shape(name: str, args: argparse.Namespace, work: Path, overrides: list[str] | None = None) -> RealShapeRun:
    """``name``'s shapes (``--smoke``: shrunk) built on ``args.device`` in ``args.dtype`` into ``work/name`` and
    loaded back through the adapter (``from_pretrained``), with a frozen reference copy and the synthetic
    samples of ``work/data``; ``args`` carries device, dtype, group, new_tokens, prompts and smoke."""
    tiny_config, shape = REAL_SHAPES[name]
    spec = {**shape, **(SMOKE if args.smoke else {}), "vocab_size": 512, "build_device": args.device,
            "build_dtype": args.dtype}
    model_dir = work / name
    internvl = tiny_config == "tiny_internvl"
    if not (model_dir / "config.json").is_file():  # built once per model, whatever the switches
        (build_tiny_internvl if internvl else build_tiny_qwen2_5_vl)(model_dir, corpus(), spec, 0)
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()  # the builder's copy
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[
            f"model={tiny_config}", f"model.build_dir={model_dir}", f"model.dtype={args.dtype}", f"device={args.device}",
            f"algo.group_size={args.group}", f"algo.max_new_tokens={args.new_tokens}", "warmup.steps=0",
            "data=jsonl", f"data.train_file={work / 'data' / 'train.jsonl'}",
            f"model.max_num_tiles={spec.get('max_num_tiles', 4)}" if internvl else
            f"model.max_pixels={spec.get('max_pixels', 12544)}", *(overrides or [])])
    # outside a Hydra run: the run folder's paths point into work/run
    settings = train_settings(OmegaConf.create(OmegaConf.to_yaml(cfg).replace("${hydra:runtime.output_dir}",
                                                                              str(work / "run"))))
    seed_everything(0)
    device = torch.device(args.device)
    adapter = build_adapter(settings.run.model, settings.run.prompt, device)
    engine = TorchEngine(adapter.load_model(), lr=settings.trainer.lr, device=device)
    assert isinstance(settings.algo, GRPOConfig)
    reference = build_reference(StepContext(settings, adapter, engine, None)) if uses_reference(settings.algo) else None
    return RealShapeRun(adapter, engine, reference, settings.algo, load_samples(settings.run.data.train_file)[: args.prompts],
                        build_reward(settings.run, adapter, engine.model))


def run_one(name: str, args: argparse.Namespace, work: Path, overrides: list[str]) -> dict[str, float]:
    run = build_real_shape(name, args, work, overrides)
    adapter, engine, reference, algo, samples, reward_fn = (run.adapter, run.engine, run.reference, run.algo,
                                                            run.samples, run.reward_fn)
    policy = engine.model
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    rollout = collect_rollout(policy, adapter, reward_fn, samples, algo)
    if device.type == "cuda":
        torch.cuda.synchronize()
    rollout_s = time.perf_counter() - start
    # random weights score every completion alike (zero advantages, zero gradient): a fixed +/-1 pattern
    # makes the update exercise the whole gradient path
    rollout.advantages = torch.tensor([1.0, -1.0]).repeat(len(rollout.texts) // 2 + 1)[: len(rollout.texts)]
    start = time.perf_counter()
    metrics = grpo_update(policy, reference, adapter, engine, rollout, algo, args.micro_batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    update_s = time.perf_counter() - start
    tokens = int(rollout.completions.mask.sum())
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    result = {"params_b": sum(p.numel() for p in policy.parameters()) / 1e9,
              "trainable_m": sum(p.numel() for p in policy.parameters() if p.requires_grad) / 1e6, "rollout_s": rollout_s,
              "update_s": update_s, "gen_tok_s": tokens / rollout_s, "peak_gib": peak,
              "grad_norm": metrics["grad_norm"]}
    del policy, reference, engine, rollout
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(REAL_SHAPES), choices=list(REAL_SHAPES))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default=None, help="default: bfloat16 on cuda, float32 on cpu")
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--micro-batch", type=int, default=4, help="sequences per forward/backward")
    parser.add_argument("--smoke", action="store_true", help="shrunk widths/depths: the code path on a CPU")
    parser.add_argument("--switch", action="append", default=[], metavar="NAME=OVERRIDES",
                        help="a configuration to run each model with (repeatable; default: the config as is)")
    parser.add_argument("--memory-switches", action="store_true", help=f"the switches {MEMORY_SWITCHES}")
    args = parser.parse_args()
    switches = [parse_switch(text) for text in (args.switch + (MEMORY_SWITCHES if args.memory_switches else [])
                                                or ["-="])]
    args.dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        generate(work / "data", SyntheticSpec(num_samples=max(10, args.prompts), image_size=56 if args.smoke else 448))
        rows = {(name, switch): run_one(name, args, work, overrides) for name in args.models
                for switch, overrides in switches}
    listed = "; ".join(f"{n}: {' '.join(o) or '-'}" for n, o in switches)
    print(f"\n{args.prompts} prompts x {args.group} samples, {args.new_tokens} new tokens, {args.dtype} on {args.device}"
          f"{' (smoke shapes)' if args.smoke else ''}; switches: {listed}\n")
    print("| model | switch | params (B) | trainable (M) | rollout s | gen tokens/s | update s | peak GiB | grad norm |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for (name, switch), r in rows.items():
        print(f"| {name} | {switch} | {r['params_b']:.2f} | {r['trainable_m']:.3f} | {r['rollout_s']:.2f} "
              f"| {r['gen_tok_s']:.0f} | {r['update_s']:.2f} | {r['peak_gib']:.1f} | {r['grad_norm']:.3g} |")


def parse_switch(text: str) -> tuple[str, list[str]]:
    """``NAME=KEY=VALUE[,KEY=VALUE...]`` (``NAME=``: no override) -> (name, overrides)."""
    name, _, rest = text.partition("=")
    return name, [o for o in rest.split(",") if o]


if __name__ == "__main__":
    main()
