"""SFT (the paper's baseline and the demo warm-up) through the shared micro-batching path."""
import copy
import dataclasses

import pytest
import torch

from mixed_r1.engine import TorchEngine
from mixed_r1.engine.microbatch import plan_micro_batches
from mixed_r1.models import passes
from mixed_r1.recipe import answer_target
from mixed_r1.sft import sft_loss, sft_step


class GradientRecorder(TorchEngine):
    """A TorchEngine that keeps a copy of the accumulated gradients at each step."""

    def step(self) -> float:
        self.grads = {n: p.grad.clone() for n, p in self.model.named_parameters() if p.grad is not None}
        return super().step()


@pytest.mark.parametrize("micro", [1, 2])
def test_sft_micro_batches_give_the_whole_batch_loss_and_gradient(adapter, samples, micro):
    """Targets of different lengths, so a token-weighted mean differs from a mean of micro-batch means."""
    torch.manual_seed(0)
    policy = adapter.load_model()
    batch = samples[:5]
    targets = [answer_target(s, adapter) + " extra words" * (i % 3) for i, s in enumerate(batch)]
    runs = {}
    for size in (0, micro):  # 0: the rank's whole share in one forward
        engine = GradientRecorder(copy.deepcopy(policy), lr=0.0)
        metrics = sft_step(engine.model, adapter, engine, batch, targets, micro_batch_size=size)
        runs[size] = (metrics, engine.grads)
    (whole, whole_grads), (split, split_grads) = runs[0], runs[micro]
    assert split["loss"] == pytest.approx(whole["loss"], rel=1e-5)
    assert split["grad_norm"] == pytest.approx(whole["grad_norm"], rel=1e-4)
    assert whole_grads.keys() == split_grads.keys() and whole_grads
    for name, grad in whole_grads.items():
        assert torch.allclose(split_grads[name], grad, rtol=1e-4, atol=1e-6), name
    # the loss is the token mean over the whole batch, computed directly
    with torch.no_grad():
        tokens = passes.encode_targets(adapter, targets)
        direct = sft_loss(passes.completion_logprobs(adapter, policy.train(), adapter.prompt_batch(batch), tokens), tokens.mask)
    assert whole["loss"] == pytest.approx(float(direct), rel=1e-5)


def test_micro_batch_plan_weights_are_global_shares():
    plan = plan_micro_batches([0, 1, 2, 3, 4], [1, 2, 3, 4, 10], size=2, aggregation="token")
    assert [m.rows for m in plan.batches] == [[0, 1], [2, 3], [4]]
    assert [m.weight for m in plan.batches] == pytest.approx([3 / 20, 7 / 20, 10 / 20])
    plan = plan_micro_batches([0, 1, 2, 3, 4], [1, 2, 3, 4, 10], size=2, aggregation="sequence")
    assert [m.weight for m in plan.batches] == pytest.approx([2 / 5, 2 / 5, 1 / 5])
    assert [m.token_weight for m in plan.batches] == pytest.approx([3 / 20, 7 / 20, 10 / 20])
    assert plan_micro_batches([], [5.0], size=4, aggregation="sequence").empty
    with pytest.raises(ValueError, match="aggregation"):
        plan_micro_batches([0], [1], size=1, aggregation="max")


def test_warmup_targets_live_with_sft_and_describe_synthetic_scenes(samples, adapter):
    import random

    from mixed_r1.errors import ConfigError
    from mixed_r1.sft.warmup import WarmupNoise, warmup_target

    rng = random.Random(0)
    clean = [warmup_target(s, rng, WarmupNoise(0.0, 0.0), adapter.box_to_text) for s in samples[:10]]
    assert all(t.startswith("<think>") and t.endswith("</answer>") for t in clean)
    answers = [t.split("<answer>")[1].removesuffix("</answer>") for t in clean]
    assert answers == [answer_target(s, adapter) for s in samples[:10]]  # clean targets answer correctly
    foreign = dataclasses.replace(samples[0], meta={})
    with pytest.raises(ConfigError, match="synthetic samples only"):
        warmup_target(foreign, rng, WarmupNoise(), adapter.box_to_text)
