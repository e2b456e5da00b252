"""Shared-prompt log-prob passes (mixed_r1/models/shared_prompt.py): each group's prompt and image encoded
once, with the log-probs, entropies and gradients of the unshared pass (one prompt copy per completion)."""
import copy
import dataclasses

import pytest
import torch

from mixed_r1.engine import TorchEngine
from mixed_r1.engine.microbatch import pack_by_length, padded_tokens
from mixed_r1.grpo.step import grpo_update
from mixed_r1.models import Completions, passes
from mixed_r1.models.shared_prompt import SharedPromptLayout

G = 3


def _ragged_batch(adapter, samples, wide_sample):
    """Two prompts of different lengths (left padding), the second with a wide image (several InternVL
    tiles, a non-square Qwen resize), G completions each with ragged lengths (a stop token, padding after)."""
    batch = adapter.prompt_batch([samples[0], wide_sample]).repeat(G)
    rows, width = len(batch), 9
    ids = torch.randint(10, len(adapter.tokenizer) - 20, (rows, width), generator=torch.Generator().manual_seed(3))
    lengths = [9, 2, 5, 1, 7, 4]
    for row, n in enumerate(lengths):
        ids[row, n - 1] = adapter.stop_token_id if n < width else ids[row, n - 1]
        ids[row, n:] = adapter.pad_token_id
    completions = Completions(ids, adapter.stop_mask(ids))
    assert completions.mask.sum(dim=1).tolist() == lengths
    assert (batch.attention_mask == 0).any()  # the shorter prompt is left-padded
    return batch, completions, [row // G for row in range(rows)]


def _pass(adapter, model, batch, completions, groups):
    model.zero_grad()
    logprobs, entropy = passes.completion_logprobs(adapter, model, batch, completions, temperature=0.7,
                                                   return_entropy=True, groups=groups)
    ((logprobs * completions.mask).sum() + (logprobs.exp() * completions.mask).sum()).backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return logprobs.detach(), entropy, grads


def _assert_same(adapter, model, batch, completions, groups):
    """Shared and unshared passes agree on every completion token and every parameter's gradient."""
    lp, ent, grads = _pass(adapter, model, batch, completions, None)
    lp_s, ent_s, grads_s = _pass(adapter, model, batch, completions, groups)
    real = completions.mask.bool()
    assert torch.allclose(lp_s[real], lp[real], atol=2e-5, rtol=0)
    assert torch.allclose(ent_s[real], ent[real], atol=2e-5, rtol=0)
    assert grads.keys() == grads_s.keys() and any("visual" in k or "vision" in k for k in grads)
    for name, grad in grads.items():
        assert torch.allclose(grads_s[name], grad, atol=2e-5, rtol=1e-4), name


def test_shared_pass_equals_unshared_pass(family_adapter, samples, wide_sample):
    """Both families (Qwen's 3-D rotary positions, InternVL's 1-D and its tiles), ragged completions,
    padded prompts; then rows in another order with one group split (a slot left empty)."""
    torch.manual_seed(0)
    model = family_adapter.load_model()
    batch, completions, groups = _ragged_batch(family_adapter, samples, wide_sample)
    _assert_same(family_adapter, model, batch, completions, groups)
    order = [4, 0, 5, 2]  # group 1 rows 4 and 5 around group 0's rows 0 and 2
    _assert_same(family_adapter, model, batch.take(order), completions.take(order).trim(),
                 [groups[r] for r in order])


def test_shared_pass_equals_unshared_pass_with_eager_attention_and_checkpointing(tiny_cfg, samples, wide_sample):
    """Eager attention as the loaded implementation (the shared pass hands over to it when called without a
    layout) and activation checkpointing (the layout travels into the recomputed forward)."""
    from omegaconf import OmegaConf

    from tests.conftest import _build_adapter

    cfg = OmegaConf.merge(tiny_cfg, {"model": {"attn_implementation": "eager", "gradient_checkpointing": True}})
    adapter = _build_adapter(cfg)
    torch.manual_seed(0)
    model = adapter.load_model()
    model.train()  # checkpointing recomputes only in training mode
    assert model.is_gradient_checkpointing
    batch, completions, groups = _ragged_batch(adapter, samples, wide_sample)
    _assert_same(adapter, model, batch, completions, groups)


def test_shared_pass_with_key_value_heads_expanded_as_on_gpus(adapter, samples, wide_sample, monkeypatch):
    """On CUDA the shared attention expands grouped key/value heads instead of SDPA's enable_gqa (which
    falls back to the math kernel with a mask there): the same values."""
    from mixed_r1.models import shared_prompt

    monkeypatch.setattr(shared_prompt, "masked_gqa_is_fused", lambda device: False)
    torch.manual_seed(0)
    model = adapter.load_model()
    assert model.config.text_config.num_key_value_heads < model.config.text_config.num_attention_heads
    _assert_same(adapter, model, *_ragged_batch(adapter, samples, wide_sample))


def test_vision_tower_runs_once_per_group(family_adapter, samples, wide_sample):
    model = family_adapter.load_model(trainable=False)
    tower = getattr(model.model, "visual", None) or model.model.vision_tower
    seen = []

    def count(module, args, kwargs):  # the patches (Qwen) or tiles (InternVL) the tower encodes
        pixels = args[0] if args else next(v for v in kwargs.values() if isinstance(v, torch.Tensor))
        seen.append(pixels.shape[0])

    tower.register_forward_pre_hook(count, with_kwargs=True)
    batch, completions, groups = _ragged_batch(family_adapter, samples, wide_sample)
    with torch.no_grad():
        passes.completion_logprobs(family_adapter, model, batch, completions)
        unshared, seen[:] = sum(seen), []
        passes.completion_logprobs(family_adapter, model, batch, completions, groups=groups)
    assert unshared == batch.pixel_values.shape[0] and sum(seen) * G == unshared


def test_generation_after_install_is_unchanged(adapter, samples):
    """Installing the shared-prompt attention changes nothing for calls without a layout: greedy tokens and
    log-probs are those of a model loaded without it."""
    from transformers import AutoModelForImageTextToText

    model = adapter.load_model(trainable=False)
    plain = AutoModelForImageTextToText.from_pretrained(adapter.settings.path, attn_implementation="sdpa").eval()
    assert model.config.text_config._attn_implementation != plain.config.text_config._attn_implementation
    batch = adapter.prompt_batch(samples[:2])
    a = passes.generate(adapter, model, batch, temperature=0, max_new_tokens=6)
    b = passes.generate(adapter, plain, batch, temperature=0, max_new_tokens=6)
    assert torch.equal(a.ids, b.ids)


def test_logit_positions_predict_each_slot_token():
    layout = SharedPromptLayout(prompt_len=4, slots=2, slot_len=3, prompt_mask=torch.ones(1, 4, dtype=torch.bool))
    # slot 1 = columns 4..6, slot 2 = 7..9; the prompt's last column (3) predicts both slots' first tokens
    assert layout.logit_positions().tolist() == [3, 4, 5, 3, 7, 8]
    assert layout.width == 10


def test_packing_keeps_groups_together_within_the_budget():
    prompt = 10
    lengths = [prompt + n for n in (5, 20, 3, 4, 4, 4, 30, 1, 2)]
    groups = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    chunks = pack_by_length(range(9), lengths, max_tokens=80, groups=groups, prompt_len=prompt)
    assert sorted(r for c in chunks for r in c) == list(range(9))
    assert all(padded_tokens(c, lengths, groups, prompt) <= 80 or len(c) == 1 for c in chunks)
    # group 2 (longest row 30) first, then group 0 (20), then group 1; rows of a group stay adjacent and a
    # group is split only where the budget forces it: [6, 8] = 10 + 2 x 30; [7, 1] = 2 groups x (10 + 20)
    assert chunks == [[6, 8], [7, 1], [0, 2, 3, 4, 5]]
    # one packed row per group: prompt + its rows x longest completion
    assert padded_tokens([3, 4, 5], lengths, groups, prompt) == prompt + 3 * 4
    assert padded_tokens([3, 4, 5], lengths) == 3 * (prompt + 4)


@pytest.mark.parametrize("micro, budget", [(16, 0), (2, 0), (0, 60)])
def test_grpo_update_is_the_same_with_and_without_shared_prompts(tiny_cfg, adapter, samples, micro, budget):
    """Loss, metrics and the accumulated gradient of a whole update: whole groups per micro-batch, groups
    split over micro-batches (2 rows of 8), and groups packed under a token budget."""
    from tests.test_grpo_step import _rollout

    policy, reference, algo, rollout = _rollout(tiny_cfg, adapter, samples)
    assert algo.shared_prompt  # the default

    class GradientsSeen(TorchEngine):
        def step(self):
            self.grads = torch.cat([p.grad.flatten() for p in self.model.parameters() if p.grad is not None])
            return super().step()

    results, grads = [], []
    for shared in (False, True):
        engine = GradientsSeen(copy.deepcopy(policy), lr=0.0)
        step_algo = dataclasses.replace(algo, shared_prompt=shared)
        budget_tokens = budget and rollout.prompts.input_ids.shape[1] + budget
        results.append(grpo_update(engine.model, reference, adapter, engine, rollout, step_algo, micro, budget_tokens))
        grads.append(engine.grads)
    unshared, shared = results
    for key in ("loss", "kl", "entropy", "grad_norm"):
        assert shared[key] == pytest.approx(unshared[key], rel=1e-4, abs=1e-6), key
    assert grads[0].abs().max() > 0 and torch.allclose(grads[0], grads[1], rtol=1e-3, atol=1e-6)


def test_generation_prefills_each_prompt_once_with_the_same_samples(family_adapter, samples, wide_sample):
    """``generate(prompts, group_size=G)``: one prefill per prompt (the vision tower sees each image once),
    its cache repeated G times; with the same seed it samples exactly the tokens of ``generate(prompts.repeat(G))``
    — prompts of different lengths (left padding), a multi-tile image, Qwen's per-prompt rotary offsets."""
    model = family_adapter.load_model(trainable=False)
    tower = getattr(model.model, "visual", None) or model.model.vision_tower
    encoded = []
    tower.register_forward_pre_hook(
        lambda module, args, kwargs: encoded.append((args[0] if args else next(iter(kwargs.values()))).shape[0]),
        with_kwargs=True)
    prompts = family_adapter.prompt_batch([samples[0], wide_sample])
    torch.manual_seed(11)
    unshared = passes.generate(family_adapter, model, prompts.repeat(G), temperature=1.0, max_new_tokens=10)
    patches, encoded[:] = sum(encoded), []
    torch.manual_seed(11)
    shared = passes.generate(family_adapter, model, prompts, temperature=1.0, max_new_tokens=10, group_size=G)
    assert torch.equal(shared.ids, unshared.ids) and torch.equal(shared.mask, unshared.mask)
    assert len({tuple(row) for row in shared.ids.tolist()}) == 2 * G  # really sampled: every row differs
    assert sum(encoded) * G == patches == prompts.repeat(G).pixel_values.shape[0]


def test_sliding_window_layers_are_refused_with_the_key_to_change():
    from mixed_r1.errors import ConfigError
    from mixed_r1.models.shared_prompt import shared_prompt_attention

    layout = SharedPromptLayout(prompt_len=2, slots=1, slot_len=2, prompt_mask=torch.ones(1, 2, dtype=torch.bool))
    q = torch.zeros(1, 2, 4, 8)
    with pytest.raises(ConfigError, match="algo.shared_prompt=false"):
        shared_prompt_attention(torch.nn.Module(), q, q, q, None, shared_prompt=layout, sliding_window=4)
