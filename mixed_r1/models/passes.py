"""The passes every model family runs the same way, given its adapter: sampling (with one prefill per GRPO
group), the log-prob passes of the policy, old policy and reference (unshared, or with each group's prompt encoded
once), and supervised targets as completions.

Why a module of its own: the adapter keeps only what differs per family (processor, chat frame, image placeholders,
per-row inputs, rotary positions, box frame, checkpoint preparation); these passes read those hooks and are written
once. A new family implements the hooks and gets every pass, tested on both tiny families.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Literal, Sequence, overload

import torch
from transformers import GenerationConfig

from mixed_r1.models.base import ModelAdapter
from mixed_r1.models.batch import Completions, PromptBatch
from mixed_r1.models.shared_prompt import SharedPromptLayout


def sampling_config(adapter: ModelAdapter, temperature: float, max_new_tokens: int) -> GenerationConfig:
    """Pure sampling at ``temperature`` (0: greedy decoding, evaluation's default): explicit, so a
    checkpoint's ``generation_config.json`` (top-k, top-p, repetition penalty) cannot change the
    distribution GRPO assumes or the answer a benchmark scores."""
    if temperature == 0:
        return GenerationConfig(
            do_sample=False, repetition_penalty=1.0, max_new_tokens=max_new_tokens, eos_token_id=adapter.stop_token_id,
            pad_token_id=adapter.pad_token_id, suppress_tokens=adapter.suppressed_ids or None)
    return GenerationConfig(
        do_sample=True, temperature=temperature, top_k=0, top_p=1.0, repetition_penalty=1.0,
        max_new_tokens=max_new_tokens, eos_token_id=adapter.stop_token_id, pad_token_id=adapter.pad_token_id,
        suppress_tokens=adapter.suppressed_ids or None)


def generate(adapter: ModelAdapter, model: torch.nn.Module, batch: PromptBatch, temperature: float,
             max_new_tokens: int, group_size: int = 1) -> Completions:
    """Sample ``group_size`` completions per row of ``batch``: rows ``i*G … i*G+G-1`` are prompt i's.

    With ``group_size`` > 1 each prompt — its vision tower and prefill — is encoded once, and its KV
    cache repeated for the G samples (:func:`prefilled_cache`); the unshared way is
    ``generate(batch.repeat(G), …)`` (never ``num_return_sequences``: generate's own expansion repeats
    flat ``pixel_values`` row-wise, which misassigns multi-tile images).
    """
    config = sampling_config(adapter, temperature, max_new_tokens)
    with torch.no_grad():
        if group_size == 1:
            out = model.generate(**batch.model_inputs(), generation_config=config)
        else:
            cache = prefilled_cache(adapter, model, batch, group_size)
            repeated = batch.repeat(group_size)
            inputs = {k: v for k, v in repeated.model_inputs().items() if k != "pixel_values"}  # in the cache
            out = model.generate(**inputs, cache=cache, generation_config=config)
    ids = out[:, batch.input_ids.shape[1]:]  # [B*G, Tc]
    return Completions(ids=ids, mask=adapter.stop_mask(ids))


def prefilled_cache(adapter: ModelAdapter, model: torch.nn.Module, batch: PromptBatch, group_size: int) -> Any:
    """The KV cache of every prompt but its last token, computed once per prompt and repeated
    ``group_size`` times; ``generate`` then feeds only the last token (the first sampling step), so
    the images are not encoded again. Sampled tokens equal the unshared way's (tested)."""
    inputs = batch.model_inputs()
    prefix = {k: v[:, :-1] if k in adapter.PER_TOKEN_INPUTS else v for k, v in inputs.items()}
    cache = model(**prefix, use_cache=True).cache
    cache.batch_repeat_interleave(group_size)
    adapter.repeat_generation_state(model, group_size)
    return cache


@overload
def completion_logprobs(adapter: ModelAdapter, model: torch.nn.Module, batch: PromptBatch, completions: Completions,
                        temperature: float = ..., return_entropy: Literal[False] = ...,
                        groups: Sequence[int] | None = ...) -> torch.Tensor: ...


@overload
def completion_logprobs(adapter: ModelAdapter, model: torch.nn.Module, batch: PromptBatch, completions: Completions,
                        temperature: float = ..., *, return_entropy: Literal[True],
                        groups: Sequence[int] | None = ...) -> tuple[torch.Tensor, torch.Tensor]: ...


def completion_logprobs(adapter: ModelAdapter, model: torch.nn.Module, batch: PromptBatch, completions: Completions,
                        temperature: float = 1.0, return_entropy: bool = False,
                        groups: Sequence[int] | None = None
                        ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probs ``[B, Tc]`` of ``completions`` given the (already repeated) prompts;
    with ``return_entropy`` also the policy's per-token entropy ``[B, Tc]`` (no gradient).

    ``groups`` (a group id per row; rows of a group share their prompt) selects the shared-prompt
    pass (:mod:`mixed_r1.models.shared_prompt`): each group's prompt and image are encoded once, with
    the same values as the unshared pass (``groups=None``). With ``model.logprob_chunk_tokens`` > 0 the
    output head runs on the last hidden states a chunk of tokens at a time (:func:`chunked_token_logprobs`):
    the same values and gradients without the ``[B, Tc, V]`` logits (at Qwen's 151,936-token vocabulary,
    0.6 MB per token in float32); positions outside ``completions.mask`` are then 0.
    """
    chunk = adapter.settings.logprob_chunk_tokens
    states = completion_states(adapter, model, batch, completions, groups, logits=chunk == 0)  # [B, Tc, V or H]
    if chunk:
        return chunked_token_logprobs(model.get_output_embeddings(), states, completions, temperature, chunk,
                                      return_entropy)
    return token_logprobs(states, completions.ids, temperature, return_entropy)


def token_logprobs(logits: torch.Tensor, ids: torch.Tensor, temperature: float, return_entropy: bool
                   ) -> Any:
    """log softmax(``logits`` / T) at ``ids`` (``[..., V]`` → ``[...]``), and with ``return_entropy`` the entropy of
    the same distribution (no gradient). Computed in float32 whatever the model's dtype."""
    logits = logits.float() / temperature
    # log-softmax at the taken token only: no second [..., V] tensor
    log_norm = torch.logsumexp(logits, dim=-1)
    logprobs = logits.gather(-1, ids.unsqueeze(-1)).squeeze(-1) - log_norm
    if not return_entropy:
        return logprobs
    with torch.no_grad():  # H = log Z − Σ p·logit
        entropy = log_norm - (torch.softmax(logits, dim=-1) * logits).sum(dim=-1)
    return logprobs, entropy


def chunked_token_logprobs(head: torch.nn.Module, hidden: torch.Tensor, completions: Completions, temperature: float,
                           chunk: int, return_entropy: bool) -> Any:
    """:func:`token_logprobs` of ``head(hidden)`` (``hidden`` ``[B, Tc, H]``) at the real completion tokens
    (``completions.mask``; the other positions hold 0), ``chunk`` tokens at a time (:class:`ChunkedHeadLogprobs`:
    a chunk's ``[chunk, V]`` logits exist only while it is computed, in forward and again in backward).

    The head is called once, as itself (:func:`call_as`), whatever the number of chunks: under ZeRO-3 its
    weight is gathered once per pass on every rank — ranks whose token counts differ would otherwise run
    different numbers of gathers and wait on each other forever."""
    real = completions.mask.bool()  # [B, Tc]
    states, ids = hidden[real], completions.ids[real]  # [N, H], [N]

    def chunked(part: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return ChunkedHeadLogprobs.apply(part, head.weight, head.bias, ids, temperature, chunk, return_entropy)

    logprobs, entropy = call_as(head, chunked, states)
    outputs = (torch.zeros(real.shape, dtype=torch.float32, device=hidden.device).index_put((real,), logprobs),
               torch.zeros(real.shape, dtype=torch.float32, device=hidden.device).index_put((real,), entropy))
    return outputs if return_entropy else outputs[0]


def call_as(module: torch.nn.Module, forward: Callable[..., Any], *args: Any) -> Any:
    """``forward(*args)`` run as ``module``'s own call, inside its hooks (DeepSpeed ZeRO-3 gathers the module's
    weights before the call and again for its backward)."""
    with forward_replaced(module, forward):
        return module(*args)


@contextlib.contextmanager
def forward_replaced(module: torch.nn.Module, forward: Callable[..., Any]) -> Iterator[None]:
    """``module`` computing ``forward`` instead of its own, its hooks kept (an instance attribute shadows the
    class's ``forward`` until the block ends)."""
    module.forward = forward
    try:
        yield
    finally:
        del module.forward


class ChunkedHeadLogprobs(torch.autograd.Function):
    """log softmax(``states @ weight.T + bias`` / T) at ``ids`` and the entropy of that distribution, ``chunk``
    rows at a time; backward recomputes each chunk's logits: with g the log-probs' gradient and p the
    softmax, d logp / d logits = (onehot(id) − p) / T, so grad_logits = g · (onehot − p) / T, then
    grad_states = grad_logits @ weight and grad_weight = grad_logits.T @ states (both accumulated in the
    inputs' dtypes, as autograd accumulates them)."""

    @staticmethod
    def forward(ctx: Any, states: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, ids: torch.Tensor,
                temperature: float, chunk: int, with_entropy: bool) -> tuple[torch.Tensor, torch.Tensor]:
        logprobs = torch.empty(len(ids), dtype=torch.float32, device=states.device)
        entropy = torch.zeros(len(ids), dtype=torch.float32, device=states.device)  # stays 0 without with_entropy
        for start in range(0, len(ids), chunk):
            end = start + chunk
            logits = torch.nn.functional.linear(states[start:end], weight, bias)
            if with_entropy:
                logprobs[start:end], entropy[start:end] = token_logprobs(logits, ids[start:end], temperature, True)
            else:
                logprobs[start:end] = token_logprobs(logits, ids[start:end], temperature, False)
        ctx.save_for_backward(states, weight, bias, ids)
        ctx.temperature, ctx.chunk = temperature, chunk
        ctx.mark_non_differentiable(entropy)
        return logprobs, entropy

    @staticmethod
    def backward(ctx: Any, grad_logprobs: torch.Tensor, _: torch.Tensor) -> tuple[Any, ...]:
        states, weight, bias, ids = ctx.saved_tensors
        grad_states = torch.zeros_like(states)
        grad_weight = torch.zeros_like(weight)
        grad_bias = torch.zeros_like(bias) if bias is not None else None
        for start in range(0, len(ids), ctx.chunk):
            end = start + ctx.chunk
            part = states[start:end]
            logits = torch.nn.functional.linear(part, weight, bias).float() / ctx.temperature
            grad = torch.softmax(logits, dim=-1).mul_(-grad_logprobs[start:end, None])  # −g·p
            grad.scatter_add_(-1, ids[start:end, None], grad_logprobs[start:end, None])  # + g·onehot
            grad = grad.div_(ctx.temperature).to(weight.dtype)  # [c, V] d loss / d logits
            grad_states[start:end] = grad @ weight
            grad_weight.addmm_(grad.t(), part)
            if grad_bias is not None:
                grad_bias += grad.sum(dim=0)
        return grad_states, grad_weight, grad_bias, None, None, None, None


def completion_states(adapter: ModelAdapter, model: torch.nn.Module, batch: PromptBatch, completions: Completions,
                      groups: Sequence[int] | None, logits: bool) -> torch.Tensor:
    """``[B, Tc, V]`` logits (``logits``) or ``[B, Tc, H]`` last hidden states: position t predicts completion
    token t. The hidden states come out of the model's own forward (the engine's, so DeepSpeed and PEFT see
    an ordinary call) with a single logits column kept, the head left to the caller."""
    if groups is None:
        return unshared_states(adapter, model, batch, completions, logits)
    return shared_prompt_states(adapter, model, batch, completions, groups, logits)


def forward_states(model: torch.nn.Module, inputs: dict[str, Any], keep: int | torch.Tensor,
                   logits: bool) -> torch.Tensor:
    """The model's logits at ``keep`` (the last ``keep`` positions, or these positions), or the last hidden
    states there: what its output head would read, taken by making the head the identity for this forward
    (``output_hidden_states`` would keep every layer's states alive, a copy per layer in a no-grad pass)."""
    if logits:
        return model(**inputs, logits_to_keep=keep, use_cache=False).logits
    with forward_replaced(model.get_output_embeddings(), identity):
        return model(**inputs, logits_to_keep=keep, use_cache=False).logits


def identity(hidden: torch.Tensor) -> torch.Tensor:
    return hidden


def unshared_states(adapter: ModelAdapter, model: torch.nn.Module, batch: PromptBatch, completions: Completions,
                    logits: bool) -> torch.Tensor:
    """``[B, Tc, V or H]``, every row with its own prompt copy."""
    n_completion = completions.ids.shape[1]
    inputs = dict(
        input_ids=torch.cat([batch.input_ids, completions.ids], dim=1),
        attention_mask=torch.cat([batch.attention_mask, completions.mask.to(batch.attention_mask.dtype)], dim=1),
        pixel_values=batch.pixel_values, **adapter.completion_row_inputs(batch, completions))
    return forward_states(model, inputs, n_completion + 1, logits)[:, :-1]  # the last Tc+1 positions minus the final


def shared_prompt_states(adapter: ModelAdapter, model: torch.nn.Module, batch: PromptBatch, completions: Completions,
                         groups: Sequence[int], logits: bool) -> torch.Tensor:
    """``[B, Tc, V or H]`` like :func:`unshared_states`, from one packed row per group: its prompt once, then one
    slot of ``Tc`` columns per completion (:class:`SharedPromptLayout`)."""
    if len(groups) != len(batch):
        raise ValueError(f"{len(groups)} group ids for {len(batch)} rows")
    members: dict[int, list[int]] = {}
    for row, group in enumerate(groups):
        members.setdefault(group, []).append(row)
    packed = list(members.values())  # rows of each packed row, in slot order
    prompts = batch.take([rows[0] for rows in packed])  # [U, Lp] one prompt (and image) per group
    U, Tc = len(packed), completions.ids.shape[1]
    k = max(len(rows) for rows in packed)
    device = completions.ids.device
    slot_ids = torch.full((U, k, Tc), adapter.pad_token_id, dtype=completions.ids.dtype, device=device)
    slot_mask = torch.zeros((U, k, Tc), dtype=completions.mask.dtype, device=device)
    place = {row: (u, s) for u, rows in enumerate(packed) for s, row in enumerate(rows)}
    packed_row = torch.tensor([place[row][0] for row in range(len(batch))], device=device)  # [B]
    slot = torch.tensor([place[row][1] for row in range(len(batch))], device=device)  # [B]
    slot_ids[packed_row, slot] = completions.ids
    slot_mask[packed_row, slot] = completions.mask
    slots = Completions(slot_ids.flatten(1), slot_mask.flatten(1))  # [U, k*Tc]
    layout = SharedPromptLayout(prompts.input_ids.shape[1], k, Tc, prompts.attention_mask.bool())
    inputs = dict(
        input_ids=torch.cat([prompts.input_ids, slots.ids], dim=1),
        position_ids=adapter.shared_position_ids(model, prompts, layout),
        pixel_values=prompts.pixel_values, **adapter.completion_row_inputs(prompts, slots), shared_prompt=layout)
    states = forward_states(model, inputs, layout.logit_positions().to(device), logits)
    return states.unflatten(1, (k, Tc))[packed_row, slot]  # [U, k*Tc, ·] -> [U, k, Tc, ·] -> [B, Tc, ·]


def encode_targets(adapter: ModelAdapter, texts: Sequence[str]) -> Completions:
    """Supervised targets as completions (stop token appended), for SFT."""
    rows = [ids + [adapter.stop_token_id] for ids in adapter.token_ids(texts)]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), adapter.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return Completions(ids=ids.to(adapter.device), mask=mask.to(adapter.device))
