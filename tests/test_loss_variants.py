"""Issue 25, the loss and advantage variants (each a config value, off by default), checked against values
derived by hand from their papers' formulas: clip-higher (DAPO), the sequence-level ratio (GSPO), the
Dr. GRPO normaliser, advantage scaling by group, batch or nothing, and truncated completions left out."""
from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch

from mixed_r1.engine import TorchEngine
from mixed_r1.errors import ConfigError
from mixed_r1.grpo.loss import advantages, grpo_loss
from mixed_r1.grpo.step import grpo_update, step_reward_mean_std, truncated_rows
from mixed_r1.models import Completions
from tests.conftest import compose_train, settings_of

# two completions: lengths 2 and 3 (the last column of row 0 is padding)
MASK = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
OLD = torch.zeros(2, 3)
ADV = torch.tensor([1.0, -1.0])


def test_the_default_loss_is_the_papers():
    """ratio e^0.3 = 1.3499 > 1.2 with A = +1 is clipped: the surrogate is 1.2 (no gradient through it)."""
    new = torch.tensor([[0.3, 0.0, 9.0], [0.0, 0.0, 0.0]], requires_grad=True)
    loss, metrics = grpo_loss(new, OLD, None, ADV, MASK, clip_eps=0.2, beta=0.0)
    # row 0: tokens (-1.2, -1.0) / 2; row 1: ratios 1 with A = -1: (+1 +1 +1) / 3
    assert loss.item() == pytest.approx(((-1.2 - 1.0) / 2 + 1.0) / 2)
    loss.backward()
    assert new.grad[0, 0] == 0 and new.grad[0, 1] == pytest.approx(-0.25)
    assert metrics["clip_fraction"] == pytest.approx(1 / 5)


def test_clip_higher_raises_only_the_upper_bound():
    """DAPO: with ε_high = 0.4 the ratio 1.3499 is inside [0.8, 1.4]: unclipped, its gradient flows; the lower
    bound stays 1 − ε_low (a ratio e^-0.3 = 0.741 with A = −1 is still clipped at 0.8)."""
    new = torch.tensor([[0.3, 0.0, 0.0], [-0.3, 0.0, 0.0]], requires_grad=True)
    loss, metrics = grpo_loss(new, OLD, None, ADV, MASK, clip_eps=0.2, beta=0.0, clip_eps_high=0.4)
    row0 = (-math.exp(0.3) - 1.0) / 2
    row1 = (0.8 + 1.0 + 1.0) / 3  # −min(r·A, clip(r)·A) with A = −1: max(r, clip(r)) = 0.8
    assert loss.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)
    loss.backward()
    assert new.grad[0, 0] == pytest.approx(-math.exp(0.3) / 4, rel=1e-6) and new.grad[1, 0] == 0
    symmetric, _ = grpo_loss(new, OLD, None, ADV, MASK, clip_eps=0.2, beta=0.0, clip_eps_high=0.2)
    plain, _ = grpo_loss(new, OLD, None, ADV, MASK, clip_eps=0.2, beta=0.0)
    assert symmetric.item() == plain.item()


def test_the_sequence_level_ratio_is_gspos():
    """GSPO: s_i = exp(mean_t(logπθ − logπold)) over the completion's own tokens, one ratio for all of them."""
    new = torch.tensor([[0.2, 0.0, 5.0], [0.1, 0.2, 0.3]], requires_grad=True)
    loss, metrics = grpo_loss(new, OLD, None, ADV, MASK, clip_eps=0.2, beta=0.0, importance_level="sequence")
    s0, s1 = math.exp(0.1), math.exp(0.2)  # the padding column (5.0) is not averaged in
    expected = (-min(s0, 1.2) + max(s1, 1.2)) / 2  # A = +1: −min(s, clip(s)); A = −1: +max(s, clip(s))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert metrics["ratio_mean"] == pytest.approx((2 * s0 + 3 * s1) / 5, rel=1e-6)
    loss.backward()  # d/dθ_t of s_i = s_i / |o_i|, the same for each of the sequence's tokens
    assert new.grad[0, 0] == pytest.approx(new.grad[0, 1]) and new.grad[0, 2] == 0
    assert new.grad[0, 0] == pytest.approx(-s0 / 2 / 2, rel=1e-6)


def test_the_dr_grpo_normaliser_is_the_generation_budget():
    """Dr. GRPO: Σ_i Σ_t ℓ_t / (B · max_new_tokens), whatever the lengths."""
    new = torch.zeros(2, 3, requires_grad=True)
    loss, _ = grpo_loss(new, OLD, None, ADV, MASK, beta=0.0, aggregation="dr_grpo", max_length=8)
    assert loss.item() == pytest.approx((-2.0 + 3.0) / (2 * 8))
    with pytest.raises(ValueError, match="max_length"):
        grpo_loss(new, OLD, None, ADV, MASK, beta=0.0, aggregation="dr_grpo")


def test_advantages_scaled_by_group_batch_or_nothing():
    rewards = torch.tensor([0.0, 1.0, 0.0, 3.0])  # groups of 2: (0, 1) and (0, 3)
    group = advantages(rewards, 2, eps=0.0)
    assert group.tolist() == pytest.approx([-0.5 / math.sqrt(0.5), 0.5 / math.sqrt(0.5),  # sample stds √0.5, √4.5
                                            -1.5 / math.sqrt(4.5), 1.5 / math.sqrt(4.5)])
    assert advantages(rewards, 2, scale="none").tolist() == [-0.5, 0.5, -1.5, 1.5]
    mean, std = step_reward_mean_std(rewards)  # one process: the plain mean and sample std
    assert (mean, std) == pytest.approx((float(rewards.mean()), float(rewards.std())))
    batch = advantages(rewards, 2, eps=0.0, scale="batch", batch_std=std)
    assert batch.tolist() == pytest.approx([v / std for v in (-0.5, 0.5, -1.5, 1.5)])
    with pytest.raises(ValueError, match="batch_std"):
        advantages(rewards, 2, scale="batch")


def test_truncated_rows_are_those_that_used_the_budget_without_stopping():
    stop = 7
    ids = torch.tensor([[1, 2, 3], [1, stop, 0], [1, 2, stop], [1, 0, 0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 1, 1], [1, 0, 0]])
    assert truncated_rows(Completions(ids, mask), stop, 3).tolist() == [True, False, False, False]


def test_mask_truncated_leaves_a_cut_off_completion_out_of_the_update(tiny_cfg, adapter, samples):
    """With algo.mask_truncated, the gradient is the one of the rollout without its truncated rows' tokens:
    giving those rows a different advantage changes nothing; without the switch it does."""
    from tests.test_grpo_step import _rollout

    policy, reference, algo, rollout = _rollout(tiny_cfg, adapter, samples)
    ids = rollout.completions.ids.clone()
    ids[::2, 3] = adapter.stop_token_id  # every other completion stops at its 4th token, the rest run to the cap
    rollout.completions = Completions(ids, adapter.stop_mask(ids))
    cut = truncated_rows(rollout.completions, adapter.stop_token_id, algo.max_new_tokens)
    assert cut.tolist() == [i % 2 == 1 for i in range(len(cut))]

    def grad_norm(switch: bool, advantages: torch.Tensor) -> float:
        changed = copy.copy(rollout)
        changed.advantages = advantages
        engine = TorchEngine(copy.deepcopy(policy), lr=0.0)
        return grpo_update(engine.model, reference, adapter, engine, changed,
                           dataclasses.replace(algo, mask_truncated=switch), 0)["grad_norm"]

    other = rollout.advantages.clone()
    other[cut] = 5.0
    assert grad_norm(True, rollout.advantages) == pytest.approx(grad_norm(True, other), rel=1e-6)
    assert grad_norm(False, rollout.advantages) != pytest.approx(grad_norm(False, other), rel=1e-3)


def test_the_variants_are_config_values_and_a_bad_one_is_named(tmp_path):
    algo = settings_of(compose_train(["algo.clip_eps_high=0.28", "algo.importance_level=sequence",
                                      "algo.scale_rewards=none", "algo.mask_truncated=true",
                                      "algo.loss_aggregation=dr_grpo"], run_dir=tmp_path)).algo
    assert (algo.clip_eps_high, algo.importance_level, algo.scale_rewards, algo.mask_truncated,
            algo.loss_aggregation) == (0.28, "sequence", "none", True, "dr_grpo")
    default = settings_of(compose_train([], run_dir=tmp_path)).algo
    assert (default.clip_eps_high, default.importance_level, default.scale_rewards, default.mask_truncated) == (
        None, "token", "group", False)
    with pytest.raises(ConfigError, match="algo.scale_rewards='std'"):
        settings_of(compose_train(["algo.scale_rewards=std"], run_dir=tmp_path))
    with pytest.raises(ConfigError, match="algo.clip_eps_high=-0.1"):
        settings_of(compose_train(["algo.clip_eps_high=-0.1"], run_dir=tmp_path))


def test_the_soft_over_length_penalty_is_dapos():
    """L_max = 10, L_cache = 4: no penalty up to 6 tokens, then linear to −1 at the cap (times the factor)."""
    from mixed_r1.grpo.loss import overlong_penalty

    lengths = torch.tensor([3, 6, 7, 8, 10])
    assert overlong_penalty(lengths, 10, 4).tolist() == pytest.approx([0.0, 0.0, -0.25, -0.5, -1.0])
    assert overlong_penalty(lengths, 10, 4, factor=0.5).tolist() == pytest.approx([0.0, 0.0, -0.125, -0.25, -0.5])
    with pytest.raises(ValueError, match="buffer"):
        overlong_penalty(lengths, 10, 11)


def test_the_over_length_penalty_enters_the_reward_and_the_logged_metrics(tiny_cfg, adapter, samples):
    """algo.overlong_buffer > 0: the rollout's rewards (and so its advantages) carry the penalty of each
    completion's length, logged as reward/overlong; off, neither exists."""
    from mixed_r1.components import build_reward
    from mixed_r1.grpo.loss import overlong_penalty
    from mixed_r1.grpo.step import collect_rollout, rollout_metrics

    settings = settings_of(tiny_cfg)
    policy = adapter.load_model(trainable=False)
    reward_fn = build_reward(settings.run, adapter, policy)
    results = {}
    for buffer in (0.0, 0.6):  # 6 of 10 tokens
        torch.manual_seed(0)
        algo = dataclasses.replace(settings.algo, max_new_tokens=10, overlong_buffer=buffer)
        results[buffer] = collect_rollout(policy, adapter, reward_fn, samples[:2], algo)
    plain, penalised = results[0.0], results[0.6]
    assert torch.equal(plain.completions.ids, penalised.completions.ids)  # the same samples, seeded
    penalty = overlong_penalty(penalised.completions.mask.sum(dim=1), 10, 6)
    assert penalty.min() < 0
    assert torch.allclose(penalised.rewards.total, plain.rewards.total + penalty)
    assert torch.equal(penalised.rewards.overlong, penalty) and plain.rewards.overlong is None
    assert rollout_metrics(penalised, algo.group_size)["reward/overlong"] == pytest.approx(float(penalty.mean()))
    assert "reward/overlong" not in rollout_metrics(plain, algo.group_size)


def test_a_masked_truncated_row_still_counts_its_whole_length_when_packing(tiny_cfg, adapter, samples, monkeypatch):
    """mask_truncated takes a row's tokens out of the loss, not out of its forward: packing by
    trainer.max_tokens_per_micro_batch must see the row's real length, or a micro-batch overruns its budget."""
    import mixed_r1.grpo.step as step
    from tests.test_grpo_step import _rollout

    policy, reference, algo, rollout = _rollout(tiny_cfg, adapter, samples, mask_truncated=True)
    seen = {}
    planned = step.plan_micro_batches

    def spy(rows, tokens_per_row, *args, **kwargs):
        seen.update(tokens=list(tokens_per_row), lengths=list(kwargs["lengths"]))
        return planned(rows, tokens_per_row, *args, **kwargs)

    monkeypatch.setattr(step, "plan_micro_batches", spy)
    engine = TorchEngine(copy.deepcopy(policy), lr=0.0)
    width = rollout.prompts.input_ids.shape[1]
    grpo_update(engine.model, reference, adapter, engine, rollout, algo, 0, width + 20)
    real = rollout.completions.mask.sum(dim=1).tolist()
    cut = truncated_rows(rollout.completions, adapter.stop_token_id, algo.max_new_tokens).tolist()
    assert any(cut)
    assert seen["lengths"] == [width + n for n in real]  # the forward's length, truncated or not
    assert seen["tokens"] == [0 if c else n for n, c in zip(real, cut)]  # the loss's tokens


def test_normalize_then_sum_normalises_each_term_in_its_group_then_the_sum_over_the_batch():
    """GDPO / TRL's normalize_then_sum, by hand. Two groups of 2, terms (accuracy, format) with weights (1, 0.5):
    group 1 gains accuracy only (format constant: its term adds 0), group 2 gains both. Each term normalised in its
    group is ±1/√2 (a constant term 0); sums s = (∓0.7071) and (∓1.0607); over the batch mean 0, sample std
    √(3.25/3). The plain sum normalised per group gives both groups ±0.7071: the second term's gain is lost."""
    from mixed_r1.grpo.loss import normalized_sum_advantages

    terms = torch.tensor([[0.0, 1.0], [1.0, 1.0], [0.2, 0.0], [0.6, 1.0]])
    adv = normalized_sum_advantages(terms, [1.0, 0.5], group_size=2)
    h = 1 / math.sqrt(2)
    sums = [-h, h, -h - 0.5 * h, h + 0.5 * h]
    assert adv.tolist() == pytest.approx([s / math.sqrt(3.25 / 3) for s in sums], rel=1e-3)
    plain = advantages(terms @ torch.tensor([1.0, 0.5]), 2)
    assert plain.tolist() == pytest.approx([-h, h, -h, h], rel=1e-3)
    with pytest.raises(ValueError, match=r"\[N, 2\]"):
        normalized_sum_advantages(terms[:3], [1.0, 0.5], group_size=2)


def test_the_reward_aggregation_is_a_config_value_that_reaches_the_advantages(tiny_cfg, adapter, samples, tmp_path):
    """reward.aggregation=normalize_then_sum: the rollout's advantages are those of its reward terms (accuracy,
    format × format_weight, over-length) normalised one by one; a misspelt value is refused naming the key."""
    from mixed_r1.components import build_reward
    from mixed_r1.grpo.loss import normalized_sum_advantages
    from mixed_r1.grpo.step import collect_rollout, reward_terms

    settings = settings_of(compose_train(["reward.aggregation=normalize_then_sum", "reward.format_weight=0.5"],
                                         run_dir=tmp_path))
    assert settings.run.reward.aggregation == "normalize_then_sum"
    policy = adapter.load_model(trainable=False)
    reward_fn = build_reward(settings.run, adapter, policy)
    algo = dataclasses.replace(settings_of(tiny_cfg).algo, max_new_tokens=10, overlong_buffer=0.6)
    torch.manual_seed(0)
    rollout = collect_rollout(policy, adapter, reward_fn, samples[:2], algo, aggregation="normalize_then_sum")
    terms, weights = reward_terms(rollout.rewards)
    assert weights == [1.0, 0.5, 1.0] and terms.shape == (len(rollout.samples), 3)
    assert torch.allclose(rollout.advantages, normalized_sum_advantages(terms, weights, algo.group_size, algo.adv_eps))
    with pytest.raises(ConfigError, match="reward.aggregation='sum'"):
        settings_of(compose_train(["reward.aggregation=sum"], run_dir=tmp_path))
