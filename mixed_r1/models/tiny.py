"""Tiny random-weight twins of the real architectures, built from config and saved to a folder.

Why: tests and the demo need a real Qwen2.5-VL model class and a real tokenizer without any
download. The tokenizer is a byte-level BPE trained in-process on a corpus, wrapped with the
family's special tokens; everything is saved and then loaded back through ``from_pretrained``,
the same path a real checkpoint takes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

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
                        eos_token: str, pad_token: str) -> PreTrainedTokenizerFast:
    """A byte-level BPE (any text encodes; corpus words become single tokens) with ``special_tokens``."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(special_tokens),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=eos_token, pad_token=pad_token)


def build_tiny_qwen2_5_vl(out_dir: str | Path, corpus: Sequence[str], spec: Mapping[str, Any], seed: int) -> Path:
    """Build a Qwen2.5-VL (transformers' own classes, random weights) from ``spec`` and save it with its
    tokenizer and image processor to ``out_dir``. Small specs give the CPU twin; optional keys
    (``model_vocab_size``, ``vision_intermediate_size``, ``fullatt_block_indexes``, ``rope_theta``,
    ``tie_word_embeddings``) give the real 3B/7B shapes for GPU checks."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    out_dir = Path(out_dir)
    tokenizer = train_bpe_tokenizer(corpus, spec["vocab_size"], QWEN_SPECIAL_TOKENS,
                                    eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in QWEN_SPECIAL_TOKENS}
    special = dict(bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])
    head_dim = spec["hidden_size"] // spec["num_attention_heads"]
    tie = spec.get("tie_word_embeddings", True)
    vision_depth = spec["vision_depth"]
    config = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=max(len(tokenizer), spec.get("model_vocab_size", 0)),
            hidden_size=spec["hidden_size"], intermediate_size=spec["intermediate_size"],
            num_hidden_layers=spec["num_hidden_layers"], num_attention_heads=spec["num_attention_heads"],
            num_key_value_heads=spec["num_key_value_heads"], max_position_embeddings=spec["max_position_embeddings"],
            # mrope sections (temporal, height, width) must sum to head_dim / 2
            rope_parameters={"rope_type": "default", "rope_theta": spec.get("rope_theta", 10000.0),
                             "mrope_section": _mrope_section(head_dim)},
            tie_word_embeddings=tie, **special),
        vision_config=dict(
            depth=vision_depth, hidden_size=spec["vision_hidden_size"],
            intermediate_size=spec.get("vision_intermediate_size", 2 * spec["vision_hidden_size"]),
            num_heads=spec["vision_num_heads"], out_hidden_size=spec["hidden_size"],
            fullatt_block_indexes=list(spec.get("fullatt_block_indexes", [vision_depth - 1])),
            patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=tie, **special,
    )
    torch.manual_seed(seed)
    model = _instantiate(Qwen2_5_VLForConditionalGeneration, config, spec)
    image_processor = Qwen2VLImageProcessorPil(min_pixels=spec["min_pixels"], max_pixels=spec["max_pixels"])
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    image_processor.save_pretrained(out_dir)
    return out_dir


def _instantiate(model_class: Any, config: Any, spec: Mapping[str, Any]) -> torch.nn.Module:
    """The random-weight model, initialised on ``spec['build_device']`` (GPU checks: seconds instead of
    minutes for 3B shapes) and cast to ``spec['build_dtype']`` (half the checkpoint to write and read)."""
    with torch.device(spec.get("build_device", "cpu")):
        model = model_class(config)
    dtype = spec.get("build_dtype")
    return model.to(getattr(torch, dtype)) if dtype else model


def _mrope_section(head_dim: int) -> list[int]:
    half = head_dim // 2
    temporal = half // 4
    height = (half - temporal) // 2
    return [temporal, height, half - temporal - height]


INTERNVL_SPECIAL_TOKENS = QWEN_SPECIAL_TOKENS[:3] + ("<img>", "</img>", "<IMG_CONTEXT>", "<ref>", "</ref>",
                                                    "<box>", "</box>")


def build_tiny_internvl(out_dir: str | Path, corpus: Sequence[str], spec: Mapping[str, Any], seed: int) -> Path:
    """Build a small InternVL (transformers' native classes, Qwen2 text model, random weights) and save it
    with its tokenizer and tiling image processor to ``out_dir``."""
    from transformers import InternVLConfig, InternVLForConditionalGeneration
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    out_dir = Path(out_dir)
    tokenizer = train_bpe_tokenizer(corpus, spec["vocab_size"], INTERNVL_SPECIAL_TOKENS,
                                    eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE.replace("<|vision_start|><|image_pad|><|vision_end|>", "<image>\n")
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in INTERNVL_SPECIAL_TOKENS}
    tile = spec["tile_size"]
    config = InternVLConfig(
        vision_config=dict(hidden_size=spec["vision_hidden_size"], num_hidden_layers=spec["vision_depth"],
                           num_attention_heads=spec["vision_num_heads"],
                           intermediate_size=spec.get("vision_intermediate_size", 2 * spec["vision_hidden_size"]),
                           image_size=[tile, tile], patch_size=[14, 14]),
        text_config=dict(model_type="qwen2", vocab_size=max(len(tokenizer), spec.get("model_vocab_size", 0)),
                         hidden_size=spec["hidden_size"],
                         intermediate_size=spec["intermediate_size"], num_hidden_layers=spec["num_hidden_layers"],
                         num_attention_heads=spec["num_attention_heads"],
                         num_key_value_heads=spec["num_key_value_heads"],
                         max_position_embeddings=spec["max_position_embeddings"],
                         tie_word_embeddings=spec.get("tie_word_embeddings", True),
                         rope_parameters={"rope_type": "default", "rope_theta": spec.get("rope_theta", 10000.0)},
                         eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
                         bos_token_id=ids["<|endoftext|>"]),
        image_token_id=ids["<IMG_CONTEXT>"], downsample_ratio=0.5, image_seq_length=(tile // 14) ** 2 // 4,
        tie_word_embeddings=spec.get("tie_word_embeddings", True))
    torch.manual_seed(seed)
    model = _instantiate(InternVLForConditionalGeneration, config, spec)
    image_processor = GotOcr2ImageProcessorPil(size={"height": tile, "width": tile}, crop_to_patches=True,
                                               min_patches=1, max_patches=spec["max_num_tiles"])
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    image_processor.save_pretrained(out_dir)
    return out_dir


TINY_BUILDERS = {"qwen2_5_vl": build_tiny_qwen2_5_vl, "internvl": build_tiny_internvl}
