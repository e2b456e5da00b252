"""Tiny random-weight reward models for the Table 4 open-ended ablations (sbert, modernbert, llm_judge).

Built from a ``tiny`` spec into the variant's ``path`` when nothing is there yet, so that the demo
and tests run every variant without a download. They reuse the tokenizer trainer of the tiny
policies (rewards may import models, never the reverse).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from transformers import PreTrainedTokenizerFast

from mixed_r1.models.tiny import QWEN_CHAT_TEMPLATE, QWEN_SPECIAL_TOKENS, train_bpe_tokenizer

ENCODER_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _encoder_tokenizer(corpus: Sequence[str], vocab_size: int) -> PreTrainedTokenizerFast:
    from tokenizers.processors import TemplateProcessing

    tokenizer = train_bpe_tokenizer(corpus, vocab_size, ENCODER_SPECIAL_TOKENS, eos_token="[SEP]", pad_token="[PAD]")
    cls_id, sep_id = tokenizer.convert_tokens_to_ids("[CLS]"), tokenizer.convert_tokens_to_ids("[SEP]")
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    tokenizer.cls_token, tokenizer.unk_token, tokenizer.mask_token = "[CLS]", "[UNK]", "[MASK]"
    return tokenizer


def build_tiny_modernbert(out_dir: str | Path, corpus: Sequence[str], spec: Mapping[str, Any], seed: int) -> Path:
    """A small ModernBERT encoder with random weights (the ``modernbert`` open-ended variant)."""
    from transformers import ModernBertConfig, ModernBertModel

    tokenizer = _encoder_tokenizer(corpus, spec["vocab_size"])
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ENCODER_SPECIAL_TOKENS}
    config = ModernBertConfig(
        vocab_size=len(tokenizer), hidden_size=spec["hidden_size"], intermediate_size=2 * spec["hidden_size"],
        num_hidden_layers=spec["num_hidden_layers"], num_attention_heads=spec["num_attention_heads"],
        max_position_embeddings=512, pad_token_id=ids["[PAD]"], bos_token_id=ids["[CLS]"],
        eos_token_id=ids["[SEP]"], cls_token_id=ids["[CLS]"], sep_token_id=ids["[SEP]"])
    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    ModernBertModel(config).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def build_tiny_sentence_transformer(out_dir: str | Path, corpus: Sequence[str], spec: Mapping[str, Any],
                                    seed: int) -> Path:
    """A sentence-transformers model (small BERT + mean pooling) with random weights (``sbert``)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel

    out_dir = Path(out_dir)
    encoder_dir = out_dir / "encoder"
    tokenizer = _encoder_tokenizer(corpus, spec["vocab_size"])
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=spec["hidden_size"],
                        intermediate_size=2 * spec["hidden_size"], num_hidden_layers=spec["num_hidden_layers"],
                        num_attention_heads=spec["num_attention_heads"], max_position_embeddings=512,
                        pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(encoder_dir)
    tokenizer.save_pretrained(encoder_dir)
    transformer = Transformer(str(encoder_dir), max_seq_length=256)
    model = SentenceTransformer(modules=[transformer, Pooling(transformer.get_embedding_dimension(), "mean")])
    model.save(str(out_dir))
    return out_dir


def build_tiny_causal_lm(out_dir: str | Path, corpus: Sequence[str], spec: Mapping[str, Any], seed: int) -> Path:
    """A small Qwen2 causal LM with a chat template and random weights (the ``llm_judge`` variant)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = train_bpe_tokenizer(corpus, spec["vocab_size"], QWEN_SPECIAL_TOKENS[:3],
                                    eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=spec["hidden_size"], intermediate_size=2 * spec["hidden_size"],
        num_hidden_layers=spec["num_hidden_layers"], num_attention_heads=spec["num_attention_heads"],
        num_key_value_heads=spec["num_attention_heads"], max_position_embeddings=1024, tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    Qwen2ForCausalLM(config).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


TINY_REWARD_BUILDERS = {"sbert": build_tiny_sentence_transformer, "modernbert": build_tiny_modernbert,
                        "llm_judge": build_tiny_causal_lm}
