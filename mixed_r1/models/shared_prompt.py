"""Shared-prompt log-prob passes (Prefix Grouper, arXiv 2506.05433): each GRPO group's prompt — its image
tokens and question — is encoded once, and its completions follow it in the same packed row.

A packed row is ``[prompt (Lp, left-padded) | slot 1 (Tc) | … | slot k (Tc)]``: one slot per completion of
the group, right-padded to the micro-batch's longest completion (a group with fewer completions than
``k`` leaves slots empty). The attention computes what the unshared pass computes:

- prompt queries attend causally to the prompt's real tokens (the unshared pass's prompt part);
- the queries of slot j attend to the prompt's real tokens and to slot j's own causal past only.

so every completion token sees exactly the keys (and, with the family's positions restarting after the
prompt in every slot, exactly the rotary positions) it sees in the unshared pass: log-probs, entropies and
gradients are the same up to float rounding, while the prompt's projections, MLPs and the vision tower run
once per group instead of G times. The prompt's hidden states receive the sum of the G completions'
gradients, as the G copies do in the unshared pass.

The attention is a function registered with transformers' ``AttentionInterface`` and set on the text
model only (:func:`install`); called without a :class:`SharedPromptLayout` (generation, the unshared pass)
it hands over to the implementation the model was loaded with, so installing it changes nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from mixed_r1.errors import ConfigError

#: registered attention names are this prefix + the implementation the model was loaded with
NAME_PREFIX = "mixed_r1_shared_prompt:"


@dataclass(frozen=True)
class SharedPromptLayout:
    """Where the prompt and the completion slots sit in each packed row (the same for every row)."""

    prompt_len: int  # Lp: prompt columns (left-padded)
    slots: int  # k: completion slots per row
    slot_len: int  # Tc: columns per slot
    prompt_mask: torch.Tensor  # [U, Lp] bool: True at real (not padding) prompt tokens

    @property
    def width(self) -> int:
        return self.prompt_len + self.slots * self.slot_len

    def logit_positions(self) -> torch.Tensor:
        """``[k*Tc]`` the packed positions whose logits predict slot tokens, slot by slot: the prompt's last
        position predicts every slot's first token, then each slot's own positions predict the next."""
        Lp, k, Tc = self.prompt_len, self.slots, self.slot_len
        starts = Lp + torch.arange(k) * Tc  # [k] first column of each slot
        within = torch.arange(Tc)  # [Tc]
        positions = starts[:, None] + within[None, :] - 1  # [k, Tc]: position t-1 predicts token t
        positions[:, 0] = Lp - 1
        return positions.flatten()


def masked_gqa_is_fused(device: torch.device) -> bool:
    """Whether SDPA with a mask and ``enable_gqa`` runs a fused kernel here: on CPU yes; on CUDA it falls back
    to the math kernel, which materialises every attention matrix (transformers' ``use_gqa_in_sdpa``)."""
    return device.type == "cpu"


def shared_prompt_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                            attention_mask: torch.Tensor | None, scaling: float | None = None, dropout: float = 0.0,
                            shared_prompt: SharedPromptLayout | None = None, **kwargs: Any
                            ) -> tuple[torch.Tensor, None]:
    """Attention over packed rows (``query`` ``[U, Hq, L, D]``, ``key``/``value`` ``[U, Hkv, L, D]``) →
    ``[U, L, Hq, D]``; without a layout, the loaded implementation's attention."""
    if shared_prompt is None:
        return loaded_attention(module)(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout,
                                        **kwargs)
    if kwargs.get("sliding_window") is not None:
        raise ConfigError("this model has sliding-window attention layers, which shared-prompt passes do not "
                          "implement: set algo.shared_prompt=false")
    layout = shared_prompt
    U, Hq, L, D = query.shape
    Lp, k, Tc = layout.prompt_len, layout.slots, layout.slot_len
    if layout.width != L:
        raise ValueError(f"packed rows are {L} wide but the layout says {layout.width}")
    device = query.device
    gqa = key.shape[1] != Hq
    if gqa and not masked_gqa_is_fused(device):  # expand the key/value heads to keep a fused kernel
        from transformers.integrations.sdpa_attention import repeat_kv

        key, value, gqa = repeat_kv(key, Hq // key.shape[1]), repeat_kv(value, Hq // value.shape[1]), False
    real = layout.prompt_mask.to(device)  # [U, Lp]

    # prompt: causal over its real tokens (a padding query sees itself only, so no row is empty)
    causal = torch.ones(Lp, Lp, dtype=torch.bool, device=device).tril()
    eye = torch.eye(Lp, dtype=torch.bool, device=device)
    prompt_mask = (causal & real[:, None, :]) | eye  # [U, Lp, Lp]
    out_prompt = F.scaled_dot_product_attention(
        query[:, :, :Lp], key[:, :, :Lp], value[:, :, :Lp], attn_mask=prompt_mask[:, None],
        dropout_p=dropout, scale=scaling, enable_gqa=gqa)  # [U, Hq, Lp, D]

    # slots: [prompt keys ; own keys], the prompt's real tokens plus the slot's causal past
    def per_slot(x: torch.Tensor) -> torch.Tensor:  # [U, H, k*Tc, D] -> [U*k, H, Tc, D]
        return x.unflatten(2, (k, Tc)).transpose(1, 2).flatten(0, 1)

    def prompt_copies(x: torch.Tensor) -> torch.Tensor:  # [U, H, Lp, D] -> [U*k, H, Lp, D]
        return x[:, :, :Lp].unsqueeze(1).expand(-1, k, -1, -1, -1).flatten(0, 1)

    slot_keys = torch.cat([prompt_copies(key), per_slot(key[:, :, Lp:])], dim=2)  # [U*k, Hkv, Lp+Tc, D]
    slot_values = torch.cat([prompt_copies(value), per_slot(value[:, :, Lp:])], dim=2)
    own = torch.ones(Tc, Tc, dtype=torch.bool, device=device).tril()
    slot_mask = torch.cat([real[:, None, None, :].expand(U, k, Tc, Lp),
                           own.expand(U, k, Tc, Tc)], dim=-1).flatten(0, 1)  # [U*k, Tc, Lp+Tc]
    out_slots = F.scaled_dot_product_attention(
        per_slot(query[:, :, Lp:]), slot_keys, slot_values, attn_mask=slot_mask[:, None],
        dropout_p=dropout, scale=scaling, enable_gqa=gqa)  # [U*k, Hq, Tc, D]
    out_slots = out_slots.unflatten(0, (U, k)).transpose(1, 2).flatten(2, 3)  # [U, Hq, k*Tc, D]
    return torch.cat([out_prompt, out_slots], dim=2).transpose(1, 2).contiguous(), None  # [U, L, Hq, D]


def loaded_attention(module: torch.nn.Module) -> Any:
    """The attention function of the implementation the model was loaded with (eager lives in the model's
    own modeling file, the others in transformers' registry)."""
    import sys

    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    name = module.config._attn_implementation.removeprefix(NAME_PREFIX)
    if name == "eager":
        return sys.modules[type(module).__module__].eager_attention_forward
    return ALL_ATTENTION_FUNCTIONS[name]


def install(model: torch.nn.Module) -> None:
    """Route the text model's attention through :func:`shared_prompt_attention`, keeping the implementation
    it was loaded with (sdpa, eager, flash-attention) for every call without a layout."""
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    text_config = model.config.text_config
    loaded = text_config._attn_implementation
    if loaded.startswith(NAME_PREFIX):
        return
    name = NAME_PREFIX + loaded
    ALL_ATTENTION_FUNCTIONS.register(name, shared_prompt_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(name, ALL_MASK_ATTENTION_FUNCTIONS[loaded])
    model.set_attn_implementation({"text_config": name})
