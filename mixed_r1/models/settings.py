"""The ``model`` and ``prompt`` groups as frozen settings. A family adds its own options by subclassing
:class:`ModelSettings` in its adapter module (``QwenVLSettings``: the image budget; ``InternVLSettings``: tiles)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DType = Literal["float32", "bfloat16", "float16"]


@dataclass(frozen=True)
class ModelSettings:
    """What every family reads from the ``model`` group (``conf/model/*.yaml``)."""

    adapter: str  # the family: a key of models.ADAPTERS
    path: str  # a local checkpoint folder or a hub id
    dtype: DType
    attn_implementation: str  # auto | sdpa | eager | flash_attention_2
    gradient_checkpointing: bool
    system_prompt: str
    build_dir: str | None = None  # where a tiny model is built (only when ``path`` is this folder and empty)
    tiny: dict[str, int | str] | None = None  # a tiny random-weight twin's shape (CPU demo, tests)


@dataclass(frozen=True)
class PromptSettings:
    """The ``prompt`` group: our wording of the fixed reasoning instruction and the per-type answer hints."""

    thinking: bool  # false: the paper's "no thinking" baseline prompt
    template: str  # "{problem} {hint} ..." with the <think>/<answer> instruction
    no_thinking_template: str
    hints: dict[str, str] = field(default_factory=dict)  # sample type -> answer-format hint
