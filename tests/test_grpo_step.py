"""One GRPO step end to end on the tiny model: rollout, rewards, advantages, update."""
import copy

import torch

from mixed_r1.engine import TorchEngine
from mixed_r1.grpo.step import collect_rollout, grpo_update, rollout_metrics
from mixed_r1.recipe import build_reward


def test_one_grpo_step_changes_policy_not_reference(tiny_cfg, adapter, samples):
    torch.manual_seed(0)
    policy = adapter.load_model()
    reference = copy.deepcopy(policy).eval().requires_grad_(False)
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    ref_before = {k: v.clone() for k, v in reference.state_dict().items()}
    engine = TorchEngine(policy, lr=1e-3)
    algo = copy.deepcopy(tiny_cfg.algo)
    algo.max_new_tokens = 16
    reward_fn = build_reward(tiny_cfg, adapter, policy)
    rollout = collect_rollout(policy, adapter, reward_fn, samples[:2], algo)
    G = algo.group_size
    assert len(rollout.texts) == 2 * G and rollout.advantages.shape == (2 * G,)
    assert rollout.samples[G - 1] is samples[0] and rollout.samples[G] is samples[1]
    # give the rollout a non-zero advantage even if a random model scored every completion the same
    rollout.advantages = torch.linspace(-1, 1, 2 * G)
    metrics = grpo_update(policy, reference, adapter, engine, rollout, algo, micro_batch_size=5)
    assert metrics["grad_norm"] > 0 and abs(metrics["kl"]) < 1e-6  # policy == reference before the step
    assert metrics["ratio_mean"] == 1.0  # one update per rollout
    changed = [k for k, v in policy.state_dict().items() if not torch.equal(v, before[k])]
    assert any("visual" in k for k in changed) and any("language_model" in k for k in changed)
    assert all(torch.equal(v, ref_before[k]) for k, v in reference.state_dict().items())
    m = rollout_metrics(rollout, G)
    assert {"reward/mean", "reward/format", "completion_length", "zero_variance_fraction"} <= m.keys()


def test_micro_batching_gives_the_same_gradient(tiny_cfg, adapter, samples):
    torch.manual_seed(0)
    policy = adapter.load_model()
    reference = copy.deepcopy(policy).eval().requires_grad_(False)
    algo = copy.deepcopy(tiny_cfg.algo)
    algo.max_new_tokens = 10
    rollout = collect_rollout(policy, adapter, build_reward(tiny_cfg, adapter, policy), samples[:2], algo)
    rollout.advantages = torch.linspace(-1, 1, len(rollout.texts))
    norms = []
    for micro in (16, 3):
        engine = TorchEngine(copy.deepcopy(policy), lr=0.0)
        norms.append(grpo_update(engine.model, reference, adapter, engine, rollout, algo, micro)["grad_norm"])
    assert abs(norms[0] - norms[1]) < 1e-4 * max(1.0, norms[0])
