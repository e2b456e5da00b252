"""``model.freeze_vision`` / ``model.freeze_projector``: the family's vision tower and projector take no
gradient and hold no optimizer state, on both tiny families; the trainable-parameter count says so."""
import copy
import dataclasses
import logging

import pytest
import torch

from mixed_r1.engine import TorchEngine
from mixed_r1.models.base import trainable_parameters
from mixed_r1.recipe import answer_target
from mixed_r1.sft import sft_step
from tests.conftest import SHORT, read_metrics

# where each family's vision side lives in transformers' own classes (the adapters' hooks must cover it all)
VISION_PREFIXES = {"qwen2_5_vl": ("model.visual.",), "internvl": ("model.vision_tower.", "model.multi_modal_projector.")}
PARTS = {"vision": dict(freeze_vision=True), "projector": dict(freeze_projector=True),
         "both": dict(freeze_vision=True, freeze_projector=True)}


def with_settings(adapter, **changes):
    """The session's adapter with other model settings (tokenizer and processor shared)."""
    other = copy.copy(adapter)
    other.settings = dataclasses.replace(adapter.settings, **changes)
    return other


def names_of(model, modules) -> set[str]:
    ids = {id(p) for m in modules for p in m.parameters()}
    return {name for name, p in model.named_parameters() if id(p) in ids}


def test_vision_tower_and_projector_split_the_vision_side(family_adapter):
    """The hooks name disjoint, non-empty parts whose union is every vision parameter and nothing of the
    language model."""
    model = family_adapter.load_model()
    tower = names_of(model, family_adapter.vision_tower(model))
    projector = names_of(model, family_adapter.projector(model))
    vision = {n for n, _ in model.named_parameters() if n.startswith(VISION_PREFIXES[family_adapter.MODEL_TYPE])}
    assert tower and projector and not tower & projector
    assert tower | projector == vision


@pytest.mark.parametrize("part", sorted(PARTS))
def test_one_update_leaves_frozen_parameters_untouched_and_without_optimizer_state(family_adapter, samples, part,
                                                                                   caplog):
    adapter = with_settings(family_adapter, **PARTS[part])
    caplog.set_level(logging.INFO, logger="mixed_r1")
    model = adapter.load_model()
    frozen = names_of(model, adapter.frozen_parts(model))
    full_trained, total = trainable_parameters(family_adapter.load_model())
    trained, same_total = trainable_parameters(model)
    frozen_size = sum(p.numel() for n, p in model.named_parameters() if n in frozen)
    assert frozen and total == same_total and trained == full_trained - frozen_size
    assert f"trainable parameters: {trained:,} of {total:,}" in caplog.text

    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    engine = TorchEngine(model, lr=1e-3)
    batch = samples[:4]
    out = sft_step(model, adapter, engine, batch, [answer_target(s, adapter) for s in batch])
    assert out["grad_norm"] > 0 and engine.updates == 1
    params = dict(model.named_parameters())
    changed = {n for n, p in params.items() if not torch.equal(p, before[n])}
    assert not changed & frozen  # bit-identical
    assert changed == set(params) - frozen  # everything else moved
    with_state = {id(p) for p in engine.optimizer.state}
    assert with_state and not with_state & {id(params[n]) for n in frozen}
    assert {id(p) for g in engine.optimizer.param_groups for p in g["params"]} == {
        id(p) for n, p in params.items() if n not in frozen}


def test_a_frozen_vision_run_trains_the_language_model_only(tmp_path, run_training, tiny_checkpoints, caplog):
    """End to end (warm-up and GRPO through the recipe): the exported policy's vision tower and projector
    are the base model's, bit for bit; the language model moved."""
    from transformers import AutoModelForImageTextToText

    caplog.set_level(logging.INFO, logger="mixed_r1")
    run_training(tmp_path, "trainer.max_steps=2", *SHORT, "model.freeze_vision=true", "model.freeze_projector=true")
    assert [r["phase"] for r in read_metrics(tmp_path)] == ["sft", "sft", "grpo", "grpo"]
    assert "trainable parameters:" in caplog.text
    base, trained = (dict(AutoModelForImageTextToText.from_pretrained(path).named_parameters())
                     for path in (tiny_checkpoints["tiny_qwen"], tmp_path / "checkpoint"))
    vision = [k for k in base if k.startswith("model.visual.")]
    text = [k for k in base if k.startswith("model.language_model.")]
    assert vision and all(torch.equal(base[k], trained[k]) for k in vision)
    assert any(not torch.equal(base[k], trained[k]) for k in text)
