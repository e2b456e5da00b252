"""One GRPO step end to end on the tiny model: rollout, rewards, advantages, update."""
import copy
import dataclasses

import pytest
import torch

from mixed_r1.components import build_reward
from mixed_r1.engine import TorchEngine
from mixed_r1.grpo.step import UPDATE_KEYS, collect_rollout, grpo_update, rollout_metrics
from tests.conftest import settings_of


def test_one_grpo_step_changes_policy_not_reference(tiny_cfg, adapter, samples):
    torch.manual_seed(0)
    policy = adapter.load_model()
    reference = copy.deepcopy(policy).eval().requires_grad_(False)
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    ref_before = {k: v.clone() for k, v in reference.state_dict().items()}
    engine = TorchEngine(policy, lr=1e-3)
    settings = settings_of(tiny_cfg)
    algo = dataclasses.replace(settings.algo, max_new_tokens=16)
    reward_fn = build_reward(settings.run, adapter, policy)
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


def _rollout(tiny_cfg, adapter, samples, **algo_overrides):
    torch.manual_seed(0)
    policy = adapter.load_model()
    reference = copy.deepcopy(policy).eval().requires_grad_(False)
    settings = settings_of(tiny_cfg)
    algo = dataclasses.replace(settings.algo, max_new_tokens=10, **algo_overrides)
    rollout = collect_rollout(policy, adapter, build_reward(settings.run, adapter, policy), samples[:2], algo)
    rollout.advantages = torch.linspace(-1, 1, len(rollout.texts))
    return policy, reference, algo, rollout


@pytest.mark.parametrize("aggregation", ["sequence", "token", "dr_grpo"])
def test_micro_batching_gives_the_same_gradient(tiny_cfg, adapter, samples, aggregation):
    policy, reference, algo, rollout = _rollout(tiny_cfg, adapter, samples, loss_aggregation=aggregation)
    norms = []
    for micro in (16, 3):
        engine = TorchEngine(copy.deepcopy(policy), lr=0.0)
        norms.append(grpo_update(engine.model, reference, adapter, engine, rollout, algo, micro)["grad_norm"])
    assert abs(norms[0] - norms[1]) < 1e-4 * max(1.0, norms[0])


def test_several_iterations_per_rollout_make_the_clipped_ratio_real(tiny_cfg, adapter, samples):
    policy, reference, algo, rollout = _rollout(tiny_cfg, adapter, samples, clip_eps=0.01)
    once = grpo_update(copy.deepcopy(policy), reference, adapter,
                       TorchEngine(copy.deepcopy(policy), lr=1e-2), rollout, algo, 8)
    assert once["clip_fraction"] == 0.0 and once["ratio_mean"] == 1.0
    algo = dataclasses.replace(algo, num_iterations=2)
    model = copy.deepcopy(policy)
    twice = grpo_update(model, reference, adapter, TorchEngine(model, lr=1e-2), rollout, algo, 8)
    # the second step sees a policy the first step moved: ratios leave [1 − ε, 1 + ε] on some tokens
    assert twice["clip_fraction"] > 0.0 and twice["ratio_mean"] != 1.0


def test_zero_variance_groups_can_be_dropped_from_the_loss(tiny_cfg, adapter, samples):
    policy, reference, algo, rollout = _rollout(tiny_cfg, adapter, samples, skip_zero_variance_groups=True)
    G = algo.group_size
    rollout.rewards.total = torch.tensor([1.0] * G + [0.0, 1.0] * (G // 2))  # group 0: all equal
    rollout.advantages = torch.cat([torch.zeros(G), torch.linspace(-1, 1, G)])
    model = copy.deepcopy(policy)
    kept = grpo_update(model, reference, adapter, TorchEngine(model, lr=0.0), rollout, algo, 100)
    algo = dataclasses.replace(algo, skip_zero_variance_groups=False)
    model = copy.deepcopy(policy)
    full = grpo_update(model, reference, adapter, TorchEngine(model, lr=0.0), rollout, algo, 100)
    # group 0 contributes nothing but its share of the mean: dropping it doubles the loss gradient
    assert kept["grad_norm"] == pytest.approx(2 * full["grad_norm"], rel=1e-4)
    rollout.rewards.total = torch.ones(2 * G)
    algo = dataclasses.replace(algo, skip_zero_variance_groups=True)
    before = [p.clone() for p in model.parameters()]
    out = grpo_update(model, reference, adapter, TorchEngine(model, lr=1.0), rollout, algo, 100)
    # no update: the same keys as any step, the loss side null (never a misleading 0), and the reason
    assert set(out) == set(kept) and out["skip_reason"] == "all_groups_zero_variance"
    assert all(out[k] is None for k in UPDATE_KEYS)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_non_finite_step_is_skipped_and_repeats_stop_the_run(tiny_cfg, adapter, samples):
    from mixed_r1.errors import TrainingDiverged
    from mixed_r1.recipe import BadStepGuard

    policy, reference, algo, rollout = _rollout(tiny_cfg, adapter, samples)
    rollout.advantages[3] = float("nan")  # a NaN reward upstream makes a NaN advantage
    model = copy.deepcopy(policy)
    engine = TorchEngine(model, lr=1.0)
    before = [p.clone() for p in model.parameters()]
    out = grpo_update(model, reference, adapter, engine, rollout, algo, 8)
    assert out["grad_norm"] != out["grad_norm"]  # NaN: reported, not applied
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters())) and engine.updates == 0
    assert all(p.grad is None for p in model.parameters())

    guard = BadStepGuard(limit=2)
    assert guard.record(float("nan"), 1) is True and guard.record(0.5, 2) is False  # a good step resets
    guard.record(float("inf"), 3)
    guard.check(3)
    assert guard.record(None, 4) is False  # no update attempted (all groups skipped): neither bad nor good
    assert guard.record(float("nan"), 5) is True
    with pytest.raises(TrainingDiverged, match="2 steps in a row"):
        guard.check(5)


def test_lr_warmup_is_linear_then_constant():
    model = torch.nn.Linear(2, 1)
    engine = TorchEngine(model, lr=1.0, warmup_steps=4)
    seen = []
    for _ in range(6):
        seen.append(engine.lr)
        model(torch.ones(1, 2)).sum().backward()
        engine.step()
        assert engine.optimizer.param_groups[0]["lr"] == seen[-1]
    assert seen == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert TorchEngine(model, lr=0.1).lr == 0.1


def test_packing_by_length_respects_the_budget_and_covers_every_row_once():
    from mixed_r1.engine.microbatch import pack_by_length, plan_micro_batches

    lengths = [30, 5, 12, 12, 40, 7, 9, 3]
    chunks = pack_by_length(range(8), lengths, max_tokens=36)
    assert sorted(r for c in chunks for r in c) == list(range(8))
    assert all(len(c) * max(lengths[r] for r in c) <= 36 or len(c) == 1 for c in chunks)
    assert chunks[0] == [4] and chunks[1] == [0]  # longer than half the budget: alone, longest first
    assert all(lengths[c[0]] == max(lengths[r] for r in c) for c in chunks)
    assert max(len(c) for c in pack_by_length(range(8), lengths, max_tokens=1000, size=3)) == 3
    plan = plan_micro_batches(range(8), [float(n) for n in lengths], 0, "token", max_tokens=36, lengths=lengths)
    assert sum(m.weight for m in plan.batches) == pytest.approx(1.0)


@pytest.mark.parametrize("aggregation", ["sequence", "token"])
def test_packing_by_length_gives_the_same_loss_and_gradient(tiny_cfg, adapter, samples, aggregation):
    """Rows sorted by length and packed under a token budget (trainer.max_tokens_per_micro_batch), each
    micro-batch cut to its own longest completion: the same update as fixed micro-batches."""
    policy, reference, algo, rollout = _rollout(tiny_cfg, adapter, samples, loss_aggregation=aggregation)
    class GradientsSeen(TorchEngine):
        def step(self):  # the accumulated gradient, before the optimizer uses and clears it
            self.grads = torch.cat([p.grad.flatten() for p in self.model.parameters() if p.grad is not None])
            return super().step()

    results, grads = [], []
    for micro, budget in ((16, 0), (0, rollout.prompts.input_ids.shape[1] * 3)):
        engine = GradientsSeen(copy.deepcopy(policy), lr=0.0)
        results.append(grpo_update(engine.model, reference, adapter, engine, rollout, algo, micro, budget))
        grads.append(engine.grads)
    fixed, packed = results
    assert packed["loss"] == pytest.approx(fixed["loss"], rel=1e-4, abs=1e-6)
    assert packed["grad_norm"] == pytest.approx(fixed["grad_norm"], rel=1e-4)
    assert grads[0].abs().max() > 0 and torch.allclose(grads[0], grads[1], rtol=1e-3, atol=1e-6)


def test_beta_zero_runs_no_reference_pass_and_gives_the_same_update(tiny_cfg, adapter, samples):
    """β = 0 without a reference: the same loss, gradient norm and updated weights as with a reference present
    (its KL term weighted 0); ``kl`` is null instead of a number, the keys are the same."""
    policy, reference, algo, rollout = _rollout(tiny_cfg, adapter, samples, beta=0.0)
    outs, weights = [], []
    for ref in (reference, None):
        model = copy.deepcopy(policy)
        outs.append(grpo_update(model, ref, adapter, TorchEngine(model, lr=1e-3), rollout, algo, 5))
        weights.append(model.state_dict())
    with_ref, without = outs
    assert set(with_ref) == set(without) and with_ref["kl"] is not None and without["kl"] is None
    assert with_ref["loss"] == without["loss"] and with_ref["grad_norm"] == without["grad_norm"] > 0
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert any(not torch.equal(weights[1][k], v) for k, v in policy.state_dict().items())  # it did update
    with pytest.raises(ValueError, match="reference"):
        grpo_update(copy.deepcopy(policy), None, adapter, TorchEngine(copy.deepcopy(policy), lr=0.0), rollout,
                    dataclasses.replace(algo, beta=0.04), 5)


def test_beta_zero_loads_the_model_once(tmp_path, run_training, monkeypatch):
    """A run with β = 0 loads only the policy (no reference, no exported π_ref after the warm-up) and logs the
    same keys as a β > 0 run, ``kl`` null."""
    from mixed_r1.models import ModelAdapter
    from tests.conftest import SHORT, read_metrics

    loads: list[bool] = []
    load_model = ModelAdapter.load_model

    def counted(self, trainable=True, path=None):
        loads.append(trainable)
        return load_model(self, trainable, path)

    monkeypatch.setattr(ModelAdapter, "load_model", counted)
    run_training(tmp_path / "kl", "trainer.max_steps=2", *SHORT)
    assert loads == [True, False]  # the policy, then π_ref
    loads.clear()
    run_training(tmp_path / "no_kl", "trainer.max_steps=2", *SHORT, "algo.beta=0")
    assert loads == [True] and not (tmp_path / "no_kl" / "reference").exists()
    kl, no_kl = read_metrics(tmp_path / "kl"), read_metrics(tmp_path / "no_kl")
    assert [set(r) for r in kl] == [set(r) for r in no_kl]
    grpo = [r for r in no_kl if r["phase"] == "grpo"]
    assert grpo and all(r["kl"] is None and r["loss"] is not None for r in grpo)
    assert all(isinstance(r["kl"], float) for r in kl if r["phase"] == "grpo")
