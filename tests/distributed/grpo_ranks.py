"""GRPO updates on a fixed global rollout under DeepSpeed, in however many processes torchrun starts.

    torchrun --nproc_per_node 2 tests/distributed/grpo_ranks.py OUT_DIR ENGINES [tiny_qwen|tiny_internvl]

ENGINES: none, zero2 or zero3, each optionally with +VARIANT (VARIANTS: unshared, offload, chunked), comma-separated
(none,zero3,zero3+unshared,zero3+offload+chunked).

Sampling differs by rank, so the rollout here is fixed: the same global batch of prompts, completion
tokens and rewards in any world size, each rank taking its share. Rank 0 writes one JSON line per
scenario to OUT_DIR/results_<stage>.jsonl: loss, gradient norm and a fingerprint of the updated weights. The
tests compare a 1-process and a 2-process launch (tests/test_distributed.py). The last prompt has a
wide image, so with 2 processes the ranks' micro-batches carry different numbers of image patches
(Qwen) or tiles (InternVL). An engine named with ``+unshared`` runs the same scenarios with
``algo.shared_prompt=false`` (one prompt copy per completion) instead of the default shared-prompt passes;
``+offload`` with the optimizer offloaded to the CPU, ``+chunked`` with chunked log-probs.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from mixed_r1.components import build_model_adapter
from mixed_r1.data.build import load_train_samples
from mixed_r1.engine import build_engine, partitioned_loading
from mixed_r1.engine.distributed import init_process_group, is_main, is_partitioned, main_first, rank, shard, world_size
from mixed_r1.grpo.loss import advantages
from mixed_r1.grpo.step import grpo_update
from mixed_r1.models import Completions
from mixed_r1.recipe import train_settings
from mixed_r1.rewards.mixed import RewardOutput
from mixed_r1.rollout import Rollout

PROMPTS, G, TC = 4, 4, 12
VARIANTS = {"unshared": "algo.shared_prompt=false",  # one prompt copy per completion
            "offload": "deepspeed.offload_optimizer=true",  # the optimizer state and step on the CPU
            "chunked": "model.logprob_chunk_tokens=5"}  # the head on hidden states, 5 tokens at a time


def config(out: Path, stage: str, model: str):
    root = Path(__file__).resolve().parents[2] / "conf"
    engine, *variants = stage.split("+")
    with initialize_config_dir(config_dir=str(root), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"model={model}", f"deepspeed={engine}",
                                                      f"trainer.prompts_per_step={PROMPTS}",
                                                      f"algo.group_size={G}", "trainer.micro_batch_size=3",
                                                      *(VARIANTS[v] for v in variants)])
    text = OmegaConf.to_yaml(cfg).replace("${hydra:runtime.output_dir}", str(out))
    return train_settings(OmegaConf.create(text))


def fixed_rollout(adapter, samples, rewards: torch.Tensor) -> Rollout:
    """The global rollout (identical on every rank), cut to this rank's prompts."""
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(10, len(adapter.tokenizer) - 20, (PROMPTS * G, TC), generator=g)
    lengths = torch.randint(3, TC + 1, (PROMPTS * G,), generator=g)
    mask = (torch.arange(TC).unsqueeze(0) < lengths.unsqueeze(1)).long()
    adv = advantages(rewards, G, 1e-4)
    mine = shard(list(range(PROMPTS)))
    rows = [p * G + j for p in mine for j in range(G)]
    batch = [samples[p] for p in mine]
    reward = RewardOutput(total=rewards[rows], format=torch.zeros(len(rows)), accuracy=rewards[rows],
                          types=[s.type for s in batch for _ in range(G)])
    return Rollout(samples=[s for s in batch for _ in range(G)], prompts=adapter.prompt_batch(batch).repeat(G),
                   completions=Completions(ids[rows], mask[rows]), texts=[""] * len(rows), rewards=reward,
                   advantages=adv[rows], seconds={"rollout": 0.0, "reward": 0.0})


def with_wide_last_image(samples: list, out: Path) -> list:
    """The last prompt gets a 151x61 image: more patches / tiles than the others."""
    from PIL import Image

    wide = out / "wide.png"
    if not wide.is_file():
        Image.new("RGB", (151, 61), (30, 160, 40)).save(wide)
    samples = list(samples)
    samples[PROMPTS - 1] = dataclasses.replace(samples[PROMPTS - 1], image=str(wide), image_size=(151, 61))
    return samples


def fingerprint(model: torch.nn.Module) -> float:
    import deepspeed

    params = list(model.parameters())
    with deepspeed.zero.GatheredParameters(params, enabled=is_partitioned(model)):
        return float(sum((p.detach().double() * (i % 7 + 1)).sum() for i, p in enumerate(params)))


def run_stage(out: Path, stage: str, model: str) -> list[dict]:
    """Every scenario under one engine (``none``, ``zero2`` or ``zero3``), from the same initial weights."""
    torch.manual_seed(0)
    cfg = config(out, stage, model)
    samples = main_first(lambda: with_wide_last_image(load_train_samples(cfg.run.data), out))
    adapter = build_model_adapter(cfg.run, torch.device("cpu"))
    with partitioned_loading(cfg.engine(), world_size()):  # ZeRO-3: built inside zero.Init, as train.py does
        policy, reference = adapter.load_model(), adapter.load_model(trainable=False)
    engine = build_engine(cfg.engine(), policy, world_size(), torch.device("cpu"))
    engine.reset_optimizer(1e-3)
    reference = engine.prepare_reference(reference)
    algo = cfg.algo
    results = []

    def update(name: str, rewards: torch.Tensor, **algo_changes) -> None:
        step_algo = dataclasses.replace(algo, **algo_changes)
        rollout = fixed_rollout(adapter, samples, rewards)
        metrics = grpo_update(engine.model, reference, adapter, engine, rollout, step_algo, 3)
        results.append({"scenario": name, "world": world_size(), "rows_on_rank": len(rollout.samples),
                        **{k: metrics.get(k) for k in ("loss", "grad_norm", "kl", "clip_fraction",
                                                       "skip_reason")},
                        "fingerprint": fingerprint(engine.model), "updates": engine.updates})

    # BMAS reads the embedding table inside the rollout's gather: full, whatever the engine
    with engine.gathered():
        table = adapter.input_embeddings(engine.model)
        results.append({"scenario": "embedding_table", "shape": list(table.shape),
                        "fingerprint": float(table.double().abs().sum())})
    varied = torch.linspace(0.0, 2.0, PROMPTS * G)
    update("plain", varied)
    update("token_aggregation", varied.flip(0), loss_aggregation="token")
    # the second half of the prompts (rank 1's share with 2 processes) has all-equal rewards: with
    # skipping, that rank has no rows left and must still join every collective
    half = varied.clone()
    half[PROMPTS * G // 2:] = 1.0
    update("rank_without_rows", half, skip_zero_variance_groups=True)
    bad = varied.clone()
    bad[-1] = float("nan")  # a NaN reward on the last rank only: the update is skipped everywhere
    update("nan_reward", bad)
    update("after_nan", varied)
    update("mu2", varied, num_iterations=2)
    return results


def main() -> None:
    """``STAGES`` is one engine or several, comma-separated (``none,zero3``): run one after the other in
    the same processes, each from the same initial weights (one launch instead of several)."""
    out, stages = Path(sys.argv[1]), (sys.argv[2] if len(sys.argv) > 2 else "zero3")
    model = sys.argv[3] if len(sys.argv) > 3 else "tiny_qwen"
    run_stages(out, stages, lambda stage: run_stage(out, stage, model))


def run_stages(out: Path, stages: str, run: Callable[[str], list[dict]]) -> None:
    """Each comma-separated stage in turn in this launch; rank 0 writes ``out/results_<stage>.jsonl``."""
    init_process_group()
    for stage in stages.split(","):
        results = run(stage)
        if is_main():
            with (out / f"results_{stage}.jsonl").open("w") as handle:
                for record in results:
                    handle.write(json.dumps(record) + "\n")
    print(f"rank {rank()} done", flush=True)


if __name__ == "__main__":
    main()
