"""What every tiny random-weight twin is built with (each family's builder lives in its adapter module).

Why: tests and the demo need the real model classes and a real tokenizer without any download. The tokenizer
is a byte-level BPE trained in-process on a corpus, wrapped with the family's special tokens; everything is
saved and then loaded back through ``from_pretrained``, the same path a real checkpoint takes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

if TYPE_CHECKING:
    from transformers import PretrainedConfig

QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>",
)

# Qwen2.5-VL's chat template (images only), saved with the tiny tokenizer so that external tools
# (lmms-eval, vLLM) format prompts for a tiny checkpoint exactly as for a real one.
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def train_bpe_tokenizer(corpus: Sequence[str], vocab_size: int, special_tokens: Sequence[str],
                        eos_token: str, pad_token: str,
                        named_tokens: Mapping[str, str] | None = None) -> PreTrainedTokenizerFast:
    """A byte-level BPE (any text encodes; corpus words become single tokens) with ``special_tokens``;
    ``named_tokens`` (attribute -> token) are the names a family's processor looks them up by, as on the real
    tokenizer (InternVL's ``start_image_token`` ...)."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(special_tokens),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(corpus, trainer)
    named = {"extra_special_tokens": dict(named_tokens)} if named_tokens else {}
    return PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=eos_token, pad_token=pad_token, **named)


def instantiate_random(model_class: Any, config: PretrainedConfig, spec: Mapping[str, Any]) -> torch.nn.Module:
    """The random-weight model, initialised on ``spec['build_device']`` (GPU checks: seconds instead of
    minutes for 3B shapes) and cast to ``spec['build_dtype']`` (half the checkpoint to write and read)."""
    with torch.device(spec.get("build_device", "cpu")):
        model = model_class(config)
    dtype = spec.get("build_dtype")
    return model.to(getattr(torch, dtype)) if dtype else model
