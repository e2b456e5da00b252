"""The passes every model family runs the same way, given its adapter: sampling (with one prefill per GRPO
group), the log-prob passes of the policy, old policy and reference (unshared, or with each group's prompt encoded
once), and supervised targets as completions.

Why a module of its own: the adapter keeps only what differs per family (processor, chat frame, image placeholders,
per-row inputs, rotary positions, box frame, checkpoint preparation); these passes read those hooks and are written
once. A new family implements the hooks and gets every pass, tested on both tiny families.
"""
from __future__ import annotations

from typing import Any, Literal, Sequence, overload

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
    the same values as the unshared pass (``groups=None``).
    """
    if groups is None:
        logits = unshared_logits(adapter, model, batch, completions)
    else:
        logits = shared_prompt_logits(adapter, model, batch, completions, groups)
    logits = logits.float() / temperature  # [B, Tc, V]
    # log-softmax at the taken token only: no second [B, Tc, V] tensor
    log_norm = torch.logsumexp(logits, dim=-1)  # [B, Tc]
    logprobs = logits.gather(-1, completions.ids.unsqueeze(-1)).squeeze(-1) - log_norm
    if not return_entropy:
        return logprobs
    with torch.no_grad():  # H = log Z − Σ p·logit
        entropy = log_norm - (torch.softmax(logits, dim=-1) * logits).sum(dim=-1)
    return logprobs, entropy


def unshared_logits(adapter: ModelAdapter, model: torch.nn.Module, batch: PromptBatch,
                    completions: Completions) -> torch.Tensor:
    """``[B, Tc, V]``: position t predicts completion token t, every row with its own prompt copy."""
    n_completion = completions.ids.shape[1]
    out = model(
        input_ids=torch.cat([batch.input_ids, completions.ids], dim=1),
        attention_mask=torch.cat([batch.attention_mask, completions.mask.to(batch.attention_mask.dtype)], dim=1),
        pixel_values=batch.pixel_values, **adapter.completion_row_inputs(batch, completions),
        logits_to_keep=n_completion + 1, use_cache=False)
    return out.logits[:, :-1]  # the last Tc+1 positions minus the final one


def shared_prompt_logits(adapter: ModelAdapter, model: torch.nn.Module, batch: PromptBatch, completions: Completions,
                         groups: Sequence[int]) -> torch.Tensor:
    """``[B, Tc, V]`` like :func:`unshared_logits`, from one packed row per group: its prompt once, then one
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
    out = model(
        input_ids=torch.cat([prompts.input_ids, slots.ids], dim=1),
        position_ids=adapter.shared_position_ids(model, prompts, layout),
        pixel_values=prompts.pixel_values, **adapter.completion_row_inputs(prompts, slots),
        logits_to_keep=layout.logit_positions().to(device), use_cache=False, shared_prompt=layout)
    logits = out.logits.unflatten(1, (k, Tc))  # [U, k, Tc, V]
    return logits[packed_row, slot]  # [B, Tc, V]


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
