"""The DeepSpeed JSON, generated from config: nothing in it is hand-synchronised with the trainer."""
from __future__ import annotations

import math
from typing import Any

from mixed_r1.engine.distributed import rank_share
from mixed_r1.engine.settings import DeepSpeedSettings, TrainerSettings

_ZERO_KEYS = ("overlap_comm", "contiguous_gradients", "reduce_bucket_size", "allgather_bucket_size",
              "stage3_prefetch_bucket_size", "stage3_param_persistence_threshold", "stage3_max_live_parameters",
              "stage3_max_reuse_distance")


def deepspeed_config(ds: DeepSpeedSettings, trainer: TrainerSettings, sequences: int, prompts: int, dtype: str,
                     world: int) -> dict[str, Any]:
    """The training engine's DeepSpeed config for ZeRO stage ``ds.stage``.

    ``sequences`` per update (``prompts`` prompts x G samples for GRPO) are split evenly over the
    ranks; each rank trains on its share in micro-batches of ``trainer.micro_batch_size``, and the
    accumulation steps follow. The trainer marks the accumulation boundary itself (the number of
    micro-batches can vary by step), so ``gradient_accumulation_steps`` is the nominal count
    DeepSpeed checks the batch size with.
    """
    rank_share(prompts, world, "trainer.prompts_per_step")
    sequences = sequences // world
    micro = min(trainer.micro_batch_size or sequences, sequences)
    accumulation = math.ceil(sequences / micro)
    zero: dict[str, Any] = {"stage": ds.stage}
    zero.update({k: getattr(ds, k) for k in _ZERO_KEYS if getattr(ds, k) is not None})
    offload: dict[str, Any] = {}
    if ds.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
        # the engine hands DeepSpeed torch's AdamW, which then steps on the CPU copies; DeepSpeed refuses a client
        # optimizer with offload unless told (its DeepSpeedCPUAdam is faster but a compiled op)
        offload["zero_force_ds_cpu_optimizer"] = False
    if ds.offload_param:
        zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    if ds.stage == 3:  # the HF export of a checkpoint needs the full 16-bit weights
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    return {
        "train_micro_batch_size_per_gpu": micro,
        "gradient_accumulation_steps": accumulation,
        "train_batch_size": micro * accumulation * world,
        "gradient_clipping": trainer.grad_clip,
        "bf16": {"enabled": dtype == "bfloat16"},
        "fp16": {"enabled": False},
        "zero_optimization": zero,
        "zero_allow_untested_optimizer": True,  # torch's AdamW: no JIT-compiled fused op needed
        **offload,
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }


def reference_config(train_config: dict[str, Any]) -> dict[str, Any] | None:
    """Config of the frozen reference under ZeRO-3: partitioned like the policy, no optimizer.
    Under ZeRO-2 (parameters not partitioned) the reference is a plain replica: None."""
    zero = train_config["zero_optimization"]
    if zero["stage"] != 3:
        return None
    return {"train_micro_batch_size_per_gpu": train_config["train_micro_batch_size_per_gpu"],
            "gradient_accumulation_steps": train_config["gradient_accumulation_steps"],
            "train_batch_size": train_config["train_batch_size"],
            "bf16": train_config["bf16"], "fp16": {"enabled": False},
            "zero_optimization": {"stage": 3, "stage3_param_persistence_threshold":
                                  zero.get("stage3_param_persistence_threshold", 1e6),
                                  **({"offload_param": zero["offload_param"]} if "offload_param" in zero else {})},
            "steps_per_print": 10**9}
