"""The ``model`` and ``prompt`` groups as frozen settings. A family adds its own options by subclassing
:class:`ModelSettings` in its adapter module (``QwenVLSettings``: the image budget; ``InternVLSettings``: tiles)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mixed_r1.errors import ConfigError

DType = Literal["float32", "bfloat16", "float16"]


@dataclass(frozen=True)
class LoraSettings:
    """``model.lora``: low-rank adapters through PEFT (``mixed_r1/models/lora.py``); rank 0 trains the whole model,
    as the paper does."""

    rank: int  # 0: off
    alpha: int  # the adapter's output is scaled by alpha / rank
    dropout: float  # on the adapter's input
    target_modules: tuple[str, ...]  # last name parts of the language model's linear layers that get an adapter

    def __post_init__(self) -> None:
        if self.rank < 0:
            raise ConfigError(f"model.lora.rank={self.rank} must be >= 0 (0: no LoRA, the whole model trains)")
        if self.alpha <= 0:
            raise ConfigError(f"model.lora.alpha={self.alpha} must be > 0")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"model.lora.dropout={self.dropout} must be in [0, 1)")
        if self.rank > 0 and not self.target_modules:
            raise ConfigError("model.lora.target_modules is empty: name the language model's layers to adapt")


@dataclass(frozen=True)
class ModelSettings:
    """What every family reads from the ``model`` group (``conf/model/*.yaml``)."""

    adapter: str  # the family: a key of models.ADAPTERS
    path: str  # a local checkpoint folder or a hub id
    dtype: DType
    attn_implementation: str  # auto | sdpa | eager | flash_attention_2
    gradient_checkpointing: bool
    system_prompt: str
    # > 0: log-probs and entropy from the last hidden states in chunks of this many completion tokens, so the
    # [tokens, vocab] logits never exist whole (models/passes.py: chunked_token_logprobs); 0: one logits tensor
    logprob_chunk_tokens: int
    # train without the vision tower / the projector into the language model: no gradients, no optimizer state
    # (which modules those are is the family's business: ``ModelAdapter.vision_tower`` / ``projector``)
    freeze_vision: bool
    freeze_projector: bool
    lora: LoraSettings  # rank > 0: train LoRA adapters on the language model instead of the whole model
    build_dir: str | None = None  # where a tiny model is built (only when ``path`` is this folder and empty)
    tiny: dict[str, int | str] | None = None  # a tiny random-weight twin's shape (CPU demo, tests)

    def __post_init__(self) -> None:
        if self.logprob_chunk_tokens < 0:
            raise ConfigError(f"model.logprob_chunk_tokens={self.logprob_chunk_tokens} must be >= 0 (0: unchunked)")


@dataclass(frozen=True)
class PromptSettings:
    """The ``prompt`` group: our wording of the fixed reasoning instruction and the per-type answer hints."""

    thinking: bool  # false: the paper's "no thinking" baseline prompt
    template: str  # "{problem} {hint} ..." with the <think>/<answer> instruction
    no_thinking_template: str
    hints: dict[str, str] = field(default_factory=dict)  # sample type -> answer-format hint
