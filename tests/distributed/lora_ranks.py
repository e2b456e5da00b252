"""LoRA GRPO updates on a fixed global rollout under each engine, in however many processes torchrun starts.

    torchrun --nproc_per_node 2 tests/distributed/lora_ranks.py OUT_DIR ENGINES

ENGINES: none, zero2, zero3, comma-separated. Each engine loads the tiny Qwen2.5-VL with ``model.lora.rank=4``,
takes π_ref from the recipe (the policy with its adapter off), runs GRPO updates on the fixed rollout of
``grpo_ranks.py``, then saves a checkpoint (merged export + adapter, engine state), resumes it into a fresh policy
and engine, and takes one more update with both. Rank 0 writes one JSON line per scenario to
OUT_DIR/results_<engine>.jsonl (loss, gradient norm, KL, fingerprints of the weights and of the merged export);
``tests/test_lora.py`` compares the engines and the resumed update with the uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from mixed_r1.components import build_model_adapter
from mixed_r1.data.build import load_train_samples
from mixed_r1.engine import build_engine, partitioned_loading
from mixed_r1.engine.distributed import barrier, is_main, main_first, world_size
from mixed_r1.grpo.step import grpo_update
from mixed_r1.recipe import StepContext, build_reference, train_settings
from tests.distributed.grpo_ranks import PROMPTS, G, fingerprint, fixed_rollout, run_stages, with_wide_last_image

RANK = 4


def config(out: Path, stage: str):
    root = Path(__file__).resolve().parents[2] / "conf"
    with initialize_config_dir(config_dir=str(root), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[
            "model=tiny_qwen", f"deepspeed={stage}", f"model.lora.rank={RANK}", "warmup.steps=0",
            f"trainer.prompts_per_step={PROMPTS}", f"algo.group_size={G}", "trainer.micro_batch_size=3"])
    text = OmegaConf.to_yaml(cfg).replace("${hydra:runtime.output_dir}", str(out))
    return train_settings(OmegaConf.create(text))


def load_engine(cfg, adapter, path: Path | None):
    """The LoRA policy (a checkpoint's adapter when ``path``) in the configured engine, at lr 1e-3; the same
    adapter initialisation on every rank and under every engine."""
    torch.manual_seed(0)
    with partitioned_loading(cfg.engine(), world_size()):
        policy = adapter.load_model(path=str(path) if path else None)
    engine = build_engine(cfg.engine(), policy, world_size(), torch.device("cpu"))
    engine.reset_optimizer(1e-3)
    return engine


def merged_fingerprint(folder: Path) -> float:
    """A weighted sum of the merged export's weights, read back with ``from_pretrained`` (rank 0)."""
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(folder)
    return float(sum((p.detach().double() * (i % 7 + 1)).sum() for i, p in enumerate(model.parameters())))


def run_stage(out: Path, stage: str) -> list[dict]:
    torch.manual_seed(0)
    cfg = config(out, stage)
    samples = main_first(lambda: with_wide_last_image(load_train_samples(cfg.run.data), out))
    adapter = build_model_adapter(cfg.run, torch.device("cpu"))
    results: list[dict] = []

    def update(name: str, engine, rewards: torch.Tensor, **algo_changes) -> None:
        reference = build_reference(StepContext(cfg, adapter, engine, None))  # the policy, adapter off
        rollout = fixed_rollout(adapter, samples, rewards)
        metrics = grpo_update(engine.model, reference, adapter, engine, rollout,
                              dataclasses.replace(cfg.algo, **algo_changes), 3)
        results.append({"scenario": name, "world": world_size(),
                        **{k: metrics.get(k) for k in ("loss", "grad_norm", "kl", "clip_fraction")},
                        "fingerprint": fingerprint(engine.model), "updates": engine.updates})

    engine = load_engine(cfg, adapter, None)
    results.append({"scenario": "start", "fingerprint": fingerprint(engine.model)})
    varied = torch.linspace(0.0, 2.0, PROMPTS * G)
    update("plain", engine, varied)
    update("second", engine, varied.flip(0))  # π_θ has left π_ref: the KL term is real now
    update("mu2", engine, varied, num_iterations=2)
    checkpoint = out / stage
    engine.export(adapter, engine.model, checkpoint / "policy")
    engine.save_state(checkpoint / "engine")
    barrier()
    if is_main():
        results.append({"scenario": "merged_export", "fingerprint": merged_fingerprint(checkpoint / "policy")})
    resumed = load_engine(cfg, adapter, checkpoint / "policy")
    resumed.load_state(checkpoint / "engine")
    update("after_resume", resumed, varied)
    update("uninterrupted", engine, varied)
    return results


def main() -> None:
    out, stages = Path(sys.argv[1]), sys.argv[2]
    run_stages(out, stages, lambda stage: run_stage(out, stage))


if __name__ == "__main__":
    main()
