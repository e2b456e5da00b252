"""LoRA through PEFT (``model.lora.rank`` > 0): the one module that touches ``peft``.

Why LoRA at all: the paper fine-tunes the whole model on 8x80 GB; with LoRA the optimizer holds only the adapters'
state and the reference policy is the same weights with the adapter switched off, so a 7B run fits one GPU.

- :func:`attach` wraps a loaded policy with ``get_peft_model``: adapters on the language model's projections only
  (the family's adapter names the language model; the vision tower and projector stay as loaded, frozen like the
  rest of the base). LoRA's standard init (B = 0) makes the wrapped policy equal the base model at the start.
- :func:`adapter_disabled` is π_ref: ``disable_adapter()`` of the policy itself — no second copy of the weights.
- :func:`save` writes a *merged* model (``merge_and_unload`` on a copy: the live policy is untouched, so the
  base weights stay bit-identical) that ``from_pretrained`` and ``eval.py`` read like any checkpoint, and the
  adapter alone in its ``adapter/`` folder, from which :func:`load_adapter` resumes a run exactly.
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, ContextManager

import torch

from mixed_r1.errors import ConfigError
from mixed_r1.models.settings import LoraSettings

if TYPE_CHECKING:
    from peft import PeftModel

ADAPTER_FOLDER = "adapter"  # inside an export: the adapter weights and config PEFT wrote (resume reads them)


def target_names(model: torch.nn.Module, language_model: torch.nn.Module, settings: LoraSettings) -> list[str]:
    """Full names of the modules inside ``language_model`` whose last name part is one of
    ``lora.target_modules``: scoped by name, so a vision block's ``mlp.gate_proj`` never matches."""
    prefix = next(name for name, module in model.named_modules() if module is language_model)
    names = [f"{prefix}.{name}" for name, module in language_model.named_modules()
             if name.rsplit(".", 1)[-1] in settings.target_modules and isinstance(module, torch.nn.Linear)]
    if not names:
        raise ConfigError(f"model.lora.target_modules={list(settings.target_modules)}: no linear layer of the language "
                          f"model ({prefix}) has one of these names")
    return names


def attach(model: torch.nn.Module, language_model: torch.nn.Module, settings: LoraSettings) -> PeftModel:
    """``model`` with zero-initialised LoRA adapters on ``language_model``'s target projections; every base
    parameter frozen (PEFT's ``get_peft_model``)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=target_names(model, language_model, settings), init_lora_weights=True)
    return get_peft_model(model, config)


def load_adapter(model: PeftModel, folder: str | Path) -> None:
    """The adapter weights :func:`save` wrote into ``folder/adapter``, loaded into ``model`` (a resume)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    weights = load_file(str(Path(folder) / ADAPTER_FOLDER / "adapter_model.safetensors"))
    result: Any = set_peft_model_state_dict(model, weights)  # load_state_dict's (missing, unexpected)
    missing = [k for k in result.missing_keys if "lora_" in k]
    if missing or result.unexpected_keys:
        raise ConfigError(f"{folder}/{ADAPTER_FOLDER} does not fit this run's model.lora settings (missing "
                          f"{missing[:3]}, unexpected {list(result.unexpected_keys)[:3]})")


def peft_of(model: torch.nn.Module) -> PeftModel | None:
    """The PEFT wrapper of a policy (inside an engine's ``.module`` too); None without LoRA."""
    peft = sys.modules.get("peft")  # never imported: nothing is wrapped (and a run without LoRA never imports it)
    if peft is None:
        return None
    model = getattr(model, "module", model)
    return model if isinstance(model, peft.PeftModel) else None


def adapter_disabled(model: torch.nn.Module) -> ContextManager[None]:
    """The policy as its base model, for the reference pass: every LoRA layer switched off inside."""
    wrapped = peft_of(model)
    assert wrapped is not None, "adapter_disabled needs a LoRA policy"
    return wrapped.disable_adapter()


def merged(model: PeftModel) -> torch.nn.Module:
    """A copy of the policy with its adapter folded into the base weights (a plain transformers model)."""
    return copy.deepcopy(model).merge_and_unload()


def save(model: PeftModel, out_dir: str | Path) -> None:
    """The merged model (``from_pretrained`` reads it) and, in ``adapter/``, the adapter alone (resume)."""
    merged(model).save_pretrained(str(out_dir))
    model.save_pretrained(str(Path(out_dir) / ADAPTER_FOLDER))
