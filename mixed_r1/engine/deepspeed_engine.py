"""DeepSpeed ZeRO-2/3 behind the same seam as :class:`TorchEngine` — the only module that calls
DeepSpeed. The GRPO step stays the same: ``backward`` per micro-batch, one ``step`` per update.

- Gradients are reduced by DeepSpeed (averaged over ranks); the step weights each micro-batch so the
  average equals the single-process loss over the global batch.
- The trainer marks the accumulation boundary itself, because the number of micro-batches per
  update varies (zero-variance groups can be skipped).
- A non-finite loss on *any* rank skips the update on every rank: its gradients are dropped.
- The rollout gathers the full ZeRO-3 policy once (DeepSpeed's own ``unwrap_model_for_generation``:
  weights gathered, partition hooks off) and generates with it, instead of gathering per token.
"""
from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any, Iterator

import torch

from mixed_r1.engine.distributed import all_reduce, barrier, is_main, is_partitioned, world_size
from mixed_r1.engine.optimizer import build_optimizer, set_lr
from mixed_r1.engine.protocol import LrSchedule

# DeepSpeed's own collectives call torch APIs that warn on every step; the warning is not ours to fix
warnings.filterwarnings("ignore", message=r".*torch\.distributed\.(all_gather_into_tensor|reduce_scatter_tensor)",
                        category=FutureWarning)

TAG = "zero"  # DeepSpeed's checkpoint tag inside a checkpoint's engine/ folder


class DeepSpeedEngine:
    """ZeRO stage 2 or 3 over every rank of the process group, with torch's AdamW (no compiled ops; the 8-bit
    optimizer is refused under ZeRO: ``settings.check_optimizer``)."""

    def __init__(self, model: torch.nn.Module, config: dict[str, Any], reference_config: dict[str, Any] | None,
                 lr: float, weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.999),
                 warmup_steps: int = 0) -> None:
        import deepspeed

        self.config, self.reference_config = config, reference_config
        self.stage = config["zero_optimization"]["stage"]
        self.schedule = LrSchedule(lr, warmup_steps)
        optimizer = build_optimizer("adamw", [p for p in model.parameters() if p.requires_grad], lr, weight_decay,
                                    (betas[0], betas[1]))
        self.ds, self.optimizer, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, config=config)
        # forwards must go through DeepSpeed's engine (it counts micro-steps there: called on the bare
        # module, every micro-batch would overwrite the accumulated gradients); it passes generate,
        # get_input_embeddings and the rest through to the model
        self.model = self.ds
        self._finite = True

    def reset_optimizer(self, lr: float, warmup_steps: int = 0) -> None:
        """Zero moments and update count at ``lr`` (a new training phase); the weights stay."""
        self.schedule = LrSchedule(lr, warmup_steps)
        inner = getattr(self.optimizer, "optimizer", self.optimizer)  # ZeRO wraps torch's AdamW
        inner.state.clear()

    @property
    def lr(self) -> float:
        return self.schedule.lr

    @property
    def updates(self) -> int:
        return self.schedule.updates

    def backward(self, loss: torch.Tensor, boundary: bool = True) -> None:
        """``loss`` is this rank's micro-batch share of the global loss; DeepSpeed averages gradients
        over ranks, so it is scaled by the world size to make the reduced gradient the global sum."""
        self._finite &= bool(torch.isfinite(loss.detach()).all())
        self.ds.set_gradient_accumulation_boundary(boundary)
        self.ds.backward(loss * world_size(), scale_wrt_gas=False)  # the step already weights micro-batches

    def step(self) -> float:
        """Clip and update on every rank; returns the global pre-clip gradient norm (NaN when skipped)."""
        finite = all_reduce([0.0 if self._finite else 1.0], "max")[0] == 0.0
        self._finite = True
        if not finite:
            self.optimizer.zero_grad()  # drops the reduced (partitioned) gradients of this update
            self.ds.zero_grad()
            return float("nan")
        set_lr(self.optimizer, self.lr)
        self.ds.step()
        norm = self.ds.get_global_grad_norm()
        self.schedule.updates += 1
        return float(norm) if norm is not None else float("nan")

    @contextlib.contextmanager
    def gathered(self) -> Iterator[torch.nn.Module]:
        """The full policy on every rank for the rollout phase (ZeRO-3: gathered once, released after)."""
        if self.stage != 3:
            yield self.model
            return
        from deepspeed.runtime.zero.stage3 import unwrap_model_for_generation

        with unwrap_model_for_generation(self.ds):
            yield self.model

    def prepare_reference(self, reference: torch.nn.Module) -> torch.nn.Module:
        """ZeRO-3: the frozen reference partitioned like the policy (inference only); else a replica on
        the policy's device."""
        if self.reference_config is None:
            return reference.to(self.ds.device)
        import deepspeed

        engine, *_ = deepspeed.initialize(model=reference, config=self.reference_config)
        return engine.module.eval()  # no backward: the bare module (its partition hooks fetch weights)

    def export(self, adapter: Any, model: torch.nn.Module, out_dir: str | Path) -> None:
        """HF-format export from rank 0; under ZeRO-3 the weights are gathered first (every rank joins)."""
        import deepspeed

        module = getattr(model, "module", model)  # the HF model inside a DeepSpeed engine
        params = list(module.parameters())
        with deepspeed.zero.GatheredParameters(params, modifier_rank=None, enabled=is_partitioned(module)):
            if is_main():
                adapter.save(module, str(out_dir))
        barrier()

    def save_state(self, out_dir: str | Path) -> None:
        """Weights, fp32 master copy and optimizer state, each rank its own partition."""
        self.ds.save_checkpoint(str(out_dir), tag=TAG, client_state={"updates": self.updates}, save_latest=False)

    def load_state(self, in_dir: str | Path) -> None:
        _, client = self.ds.load_checkpoint(str(in_dir), tag=TAG, load_optimizer_states=True,
                                            load_lr_scheduler_states=False)
        self.schedule.updates = client["updates"]
