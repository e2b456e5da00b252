"""Advantages and the GRPO loss against hand-computed values."""
import math

import pytest
import torch

from mixed_r1.grpo import advantages, grpo_loss


def test_advantages_by_hand():
    # group [1, 3]: mean 2, sample std sqrt(2); group [2, 8, 5]: mean 5, sample std 3
    adv = advantages(torch.tensor([1.0, 3.0]), group_size=2, eps=0.0)
    assert adv.tolist() == pytest.approx([-1 / math.sqrt(2.0), 1 / math.sqrt(2.0)])
    adv = advantages(torch.tensor([2.0, 8.0, 5.0]), group_size=3, eps=1.0)
    assert adv.tolist() == pytest.approx([-3 / 4, 3 / 4, 0.0])


def test_zero_variance_group_gets_zero_advantage():
    adv = advantages(torch.tensor([0.7] * 4 + [0.0, 1.0, 0.0, 1.0]), group_size=4)
    assert adv[:4].tolist() == [0.0] * 4
    s = torch.tensor([0.0, 1.0, 0.0, 1.0]).std().item()  # unbiased
    assert adv[4:].tolist() == pytest.approx([-0.5 / (s + 1e-4), 0.5 / (s + 1e-4)] * 2, rel=1e-6)


def test_advantages_reject_ragged_groups():
    with pytest.raises(ValueError, match="group_size"):
        advantages(torch.zeros(5), group_size=2)


def _loss(lp, old, ref, adv, mask, **kw):
    return grpo_loss(torch.tensor(lp), torch.tensor(old), torch.tensor(ref), torch.tensor(adv), torch.tensor(mask), **kw)


def test_ratio_one_and_equal_reference_gives_minus_advantage():
    loss, m = _loss([[-1.0, -2.0]], [[-1.0, -2.0]], [[-1.0, -2.0]], [0.5], [[1.0, 1.0]])
    assert loss.item() == pytest.approx(-0.5) and m["kl"] == pytest.approx(0.0) and m["clip_fraction"] == 0.0


def test_positive_advantage_clips_above():
    # ratio = e ≈ 2.718 > 1.2 → surrogate uses 1.2 · A = 1.2; loss = −1.2 (no KL: beta=0)
    loss, m = _loss([[0.0]], [[-1.0]], [[0.0]], [1.0], [[1.0]], beta=0.0)
    assert loss.item() == pytest.approx(-1.2) and m["clip_fraction"] == 1.0
    # ratio = e^-1 ≈ 0.368 with A > 0: min(0.368, 0.8) = 0.368 — not clipped
    loss, m = _loss([[-1.0]], [[0.0]], [[-1.0]], [1.0], [[1.0]], beta=0.0)
    assert loss.item() == pytest.approx(-math.exp(-1)) and m["clip_fraction"] == 0.0


def test_negative_advantage_clips_below():
    # ratio = e^-1 with A = -1: min(-0.368, -0.8) = -0.8 → loss 0.8, clipped
    loss, m = _loss([[-1.0]], [[0.0]], [[-1.0]], [-1.0], [[1.0]], beta=0.0)
    assert loss.item() == pytest.approx(0.8) and m["clip_fraction"] == 1.0
    # ratio = e with A = -1: min(-e, -1.2) = -e → loss e, not clipped (pessimistic bound)
    loss, m = _loss([[0.0]], [[-1.0]], [[0.0]], [-1.0], [[1.0]], beta=0.0)
    assert loss.item() == pytest.approx(math.e) and m["clip_fraction"] == 0.0


def test_k3_kl_value_and_sequence_mean_aggregation():
    # seq 0: two tokens, ref − lp = 1 and 0 → k3 = e − 2 and 0; seq 1: one token (second masked), k3 = e^-1
    lp = [[-2.0, -1.0], [0.0, 5.0]]
    ref = [[-1.0, -1.0], [-1.0, 9.0]]
    beta = 0.5
    loss, m = _loss(lp, lp, ref, [0.0, 0.0], [[1.0, 1.0], [1.0, 0.0]], beta=beta)
    k3 = lambda d: math.exp(d) - d - 1
    seq0 = (k3(1.0) + k3(0.0)) / 2
    seq1 = k3(-1.0)
    assert loss.item() == pytest.approx(beta * (seq0 + seq1) / 2)
    assert m["kl"] == pytest.approx((k3(1.0) + k3(0.0) + k3(-1.0)) / 3)  # logged: mean over completion tokens


def test_loss_gradient_pushes_up_positive_advantage_tokens():
    lp = torch.tensor([[-1.0, -1.0]], requires_grad=True)
    loss, _ = grpo_loss(lp, lp.detach(), lp.detach(), torch.tensor([2.0]), torch.ones(1, 2))
    loss.backward()
    assert (lp.grad < 0).all()  # minimising the loss raises log-probs of positively rewarded tokens
    assert lp.grad[0].tolist() == pytest.approx([-1.0, -1.0])  # d/dlp of −ratio·A/2 at ratio 1


def test_token_aggregation_weights_long_sequences_more():
    # per-token loss = −A (ratio 1, no KL): seq 0 has A=1 over 3 tokens, seq 1 has A=−1 over 1 token
    lp = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    mask = [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]
    seq, _ = _loss(lp, lp, lp, [1.0, -1.0], mask, beta=0.0, aggregation="sequence")
    tok, _ = _loss(lp, lp, lp, [1.0, -1.0], mask, beta=0.0, aggregation="token")
    assert seq.item() == pytest.approx((-1.0 + 1.0) / 2)
    assert tok.item() == pytest.approx((-3.0 + 1.0) / 4)
    with pytest.raises(ValueError, match="aggregation"):
        _loss(lp, lp, lp, [1.0, -1.0], mask, aggregation="batch")


def _loop_loss(lp, old, ref, adv, mask, clip_eps, beta, aggregation):
    """The GRPO objective written token by token in plain Python (torch scalars keep the gradient)."""
    per_sequence, total, count = [], 0.0, 0.0
    for i in range(lp.shape[0]):
        seq_sum, n = 0.0, 0.0
        for t in range(lp.shape[1]):
            if mask[i][t] == 0:
                continue
            ratio = torch.exp(lp[i, t] - old[i, t])
            surrogate = torch.minimum(ratio * adv[i], torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv[i])
            d = ref[i, t] - lp[i, t]
            kl = torch.exp(d) - d - 1
            token = -(surrogate - beta * kl)
            seq_sum, n = seq_sum + token, n + 1
            total, count = total + token, count + 1
        per_sequence.append(seq_sum / n if n else torch.zeros(()))
    if aggregation == "sequence":
        return sum(per_sequence) / len(per_sequence)
    return total / max(count, 1.0)


@pytest.mark.parametrize("aggregation", ["sequence", "token"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_loss_equals_a_per_token_loop_on_ragged_masks(aggregation, seed):
    g = torch.Generator().manual_seed(seed)
    B, T = 5, 7
    lengths = torch.randint(0, T + 1, (B,), generator=g)
    lengths[0] = T  # at least one full row; other rows ragged, possibly empty
    mask = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)).double()
    lp = (torch.randn(B, T, generator=g, dtype=torch.float64) - 2).requires_grad_()
    old = lp.detach() + 0.3 * torch.randn(B, T, generator=g, dtype=torch.float64)  # ratios on both sides of the clip
    ref = lp.detach() + 0.5 * torch.randn(B, T, generator=g, dtype=torch.float64)
    adv = torch.randn(B, generator=g, dtype=torch.float64)
    loss, _ = grpo_loss(lp, old, ref, adv, mask, clip_eps=0.2, beta=0.04, aggregation=aggregation)
    (grad,) = torch.autograd.grad(loss, lp)
    expected = _loop_loss(lp, old, ref, adv, mask.tolist(), 0.2, 0.04, aggregation)
    (expected_grad,) = torch.autograd.grad(expected, lp)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12, abs=1e-12)
    assert torch.allclose(grad, expected_grad, rtol=1e-10, atol=1e-12)
    assert (grad[mask == 0] == 0).all()  # padding never receives a gradient


def test_a_categorical_policy_learns_the_rewarded_action():
    """The sign conventions learn, independent of any model: a softmax policy over 4 actions, reward 1 for
    action 2, trained with the project's group advantages and GRPO loss, puts its mass on action 2."""
    torch.manual_seed(0)
    logits = torch.zeros(4, requires_grad=True)
    reference = torch.zeros(4)
    optimizer = torch.optim.SGD([logits], lr=0.5)
    G, prompts = 8, 4
    start = torch.softmax(logits.detach(), 0)[2].item()
    for _ in range(60):
        with torch.no_grad():
            actions = torch.multinomial(torch.softmax(logits, 0), prompts * G, replacement=True)  # [P*G]
        rewards = (actions == 2).double()
        adv = advantages(rewards, G)
        logprobs = torch.log_softmax(logits, 0)[actions].unsqueeze(1)  # [P*G, 1]: one-token "completions"
        ref = torch.log_softmax(reference, 0)[actions].unsqueeze(1)
        loss, _ = grpo_loss(logprobs, logprobs.detach(), ref, adv, torch.ones_like(logprobs))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    end = torch.softmax(logits.detach(), 0)
    assert start == pytest.approx(0.25) and end[2] > 0.9 and end.argmax().item() == 2


def test_without_a_reference_the_loss_is_a_zero_weight_kl_term():
    """β = 0 loads no reference: leaving the KL term out gives today's β = 0 loss and gradient bit for bit,
    and no ``kl`` metric (the step reports null, not 0); a KL weight without a reference is refused."""
    torch.manual_seed(0)
    old, ref = torch.randn(3, 5), torch.randn(3, 5)
    adv, mask = torch.tensor([1.0, -0.5, 2.0]), torch.tensor([[1.0] * 5, [1.0] * 3 + [0.0] * 2, [1.0] * 4 + [0.0]])
    results = []
    for reference in (ref, None):
        lp = (old + 0.3 * torch.randn(3, 5, generator=torch.Generator().manual_seed(1))).requires_grad_(True)
        loss, metrics = grpo_loss(lp, old, reference, adv, mask, beta=0.0)
        loss.backward()
        results.append((loss.detach(), lp.grad, metrics))
    (with_ref, grad_ref, m_ref), (without, grad, m) = results
    assert torch.equal(with_ref, without) and torch.equal(grad_ref, grad) and grad.abs().sum() > 0
    assert "kl" in m_ref and "kl" not in m and m["clip_fraction"] == m_ref["clip_fraction"] > 0
    with pytest.raises(ValueError, match="reference"):
        grpo_loss(old.clone(), old, None, adv, mask, beta=0.04)
