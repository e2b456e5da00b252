"""Chunked log-probs (``model.logprob_chunk_tokens``, issue 24): the output head run on the last hidden states a
chunk of tokens at a time gives the unchunked pass's log-probs, entropies and gradients — both families,
shared prompts on and off, float32 — and never holds the ``[tokens, vocab]`` logits whole."""
from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from mixed_r1.models import passes
from tests.test_shared_prompt import _pass, _ragged_batch


def with_chunk(adapter, tokens: int):
    """The same adapter (tokenizer, processor) with ``model.logprob_chunk_tokens=tokens``."""
    chunked = copy.copy(adapter)
    chunked.settings = dataclasses.replace(adapter.settings, logprob_chunk_tokens=tokens)
    return chunked


@pytest.mark.parametrize("shared", [False, True], ids=["unshared", "shared_prompt"])
def test_chunked_logprobs_entropy_and_gradients_equal_the_unchunked_pass(family_adapter, samples, wide_sample, shared):
    torch.manual_seed(0)
    model = family_adapter.load_model()
    batch, completions, groups = _ragged_batch(family_adapter, samples, wide_sample)
    groups = groups if shared else None
    lp, ent, grads = _pass(family_adapter, model, batch, completions, groups)
    real = completions.mask.bool()
    for tokens in (1, 5, 4096):  # one token per chunk, chunks across rows, everything in one chunk
        lp_c, ent_c, grads_c = _pass(with_chunk(family_adapter, tokens), model, batch, completions, groups)
        assert torch.allclose(lp_c[real], lp[real], atol=1e-5, rtol=0), tokens
        assert torch.allclose(ent_c[real], ent[real], atol=1e-5, rtol=0), tokens
        assert (lp_c[~real] == 0).all() and (ent_c[~real] == 0).all()
        assert grads_c.keys() == grads.keys() and any("lm_head" in k or "embed_tokens" in k for k in grads)
        for name, grad in grads.items():
            assert torch.allclose(grads_c[name], grad, atol=1e-5, rtol=1e-4), (tokens, name)


def test_chunked_logprobs_without_gradients_equal_the_unchunked_pass(adapter, samples, wide_sample):
    """The reference and old-policy passes run under no_grad: no checkpointing, the same values."""
    model = adapter.load_model(trainable=False)
    batch, completions, _ = _ragged_batch(adapter, samples, wide_sample)
    with torch.no_grad():
        lp = passes.completion_logprobs(adapter, model, batch, completions)
        lp_c = passes.completion_logprobs(with_chunk(adapter, 3), model, batch, completions)
    real = completions.mask.bool()
    assert torch.allclose(lp_c[real], lp[real], atol=1e-5, rtol=0)


class LogitRows(torch.utils._python_dispatch.TorchDispatchMode):
    """The most vocabulary-wide rows any op creates in one tensor (shape ``[..., V]``, the head's own transposed
    ``[H, V]`` weight aside): the logits of every token at once, unchunked."""

    def __init__(self, vocab: int, hidden: int) -> None:
        super().__init__()
        self.vocab, self.hidden, self.rows = vocab, hidden, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in torch.utils._pytree.tree_leaves(out):
            if (isinstance(tensor, torch.Tensor) and tensor.dim() >= 2 and tensor.shape[-1] == self.vocab
                    and tuple(tensor.shape) != (self.hidden, self.vocab)):
                self.rows = max(self.rows, tensor.numel() // self.vocab)
        return out


def test_the_chunked_pass_never_creates_the_whole_logits(adapter, samples, wide_sample):
    """Forward and backward: with chunks of 2 tokens no tensor holds more than 2 vocabulary-wide rows (the model's
    forward runs with its head as the identity); unchunked, one holds a row per completion position."""
    model = adapter.load_model()
    batch, completions, _ = _ragged_batch(adapter, samples, wide_sample)
    vocab, hidden = model.get_output_embeddings().weight.shape
    rows = {}
    for chunk in (0, 2):
        with LogitRows(vocab, hidden) as probe:
            _pass(with_chunk(adapter, chunk), model, batch, completions, None)
        rows[chunk] = probe.rows
    assert rows[0] >= completions.ids.numel(), rows
    assert rows[2] == 2, rows  # one chunk at a time, and the forward itself computes no logits


@pytest.mark.parametrize("shared", [False, True], ids=["unshared", "shared_prompt"])
def test_a_grpo_update_is_the_same_with_chunked_logprobs(tiny_cfg, adapter, samples, shared):
    """The whole update — reference, policy and entropy passes, micro-batches of 2 rows — gives the same loss,
    KL, entropy and accumulated gradient with chunks of 3 tokens as with whole logits."""
    from mixed_r1.engine import TorchEngine
    from mixed_r1.grpo.step import grpo_update
    from tests.test_grpo_step import _rollout

    policy, reference, algo, rollout = _rollout(tiny_cfg, adapter, samples)
    algo = dataclasses.replace(algo, shared_prompt=shared)

    class GradientsSeen(TorchEngine):
        def step(self):
            self.grads = torch.cat([p.grad.flatten() for p in self.model.parameters() if p.grad is not None])
            return super().step()

    results, grads = [], []
    for chunk in (0, 3):
        engine = GradientsSeen(copy.deepcopy(policy), lr=0.0)
        results.append(grpo_update(engine.model, reference, with_chunk(adapter, chunk), engine, rollout, algo, 2))
        grads.append(engine.grads)
    for key in ("loss", "kl", "entropy", "grad_norm"):
        assert results[1][key] == pytest.approx(results[0][key], rel=1e-4, abs=1e-6), key
    assert grads[0].abs().max() > 0 and torch.allclose(grads[0], grads[1], rtol=1e-3, atol=1e-6)
