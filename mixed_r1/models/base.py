"""The model-adapter seam: everything that differs between model families lives behind it."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from mixed_r1.data.schema import Sample


@dataclass
class PromptBatch:
    """Left-padded prompts plus the family's vision inputs (one row per prompt)."""

    input_ids: torch.Tensor  # [P, Lp]
    attention_mask: torch.Tensor  # [P, Lp]
    vision: dict[str, torch.Tensor] = field(default_factory=dict)  # family-specific tensors

    def __len__(self) -> int:
        return self.input_ids.shape[0]


@dataclass
class Completions:
    """Generated tokens, right-padded after the stop token, with their mask."""

    ids: torch.Tensor  # [B, Tc]
    mask: torch.Tensor  # [B, Tc] 1 for completion tokens (stop token included)


def question_text(sample: Sample, prompt: Any) -> str:
    """The user text: the problem, the per-type answer hint and the paper's fixed reasoning instruction.

    ``prompt`` is the ``prompt`` config node (``template``, ``no_thinking_template``, ``thinking``,
    ``hints``). ``thinking=false`` gives the paper's "no thinking" baseline prompt.
    """
    template = prompt.template if prompt.thinking else prompt.no_thinking_template
    options = ""
    if sample.options and "Options:" not in sample.problem:
        options = " Options: " + " ".join(f"{chr(ord('A') + i)}. {o}" for i, o in enumerate(sample.options))
    hint = prompt.hints.get(sample.type, "") if prompt.hints else ""
    text = template.format(problem=sample.problem + options, hint=hint)
    return " ".join(text.split())


class ModelAdapter(ABC):
    """One per model family: loading, prompts, image budget, box frames, log-probs, embeddings."""

    tokenizer: Any

    @abstractmethod
    def load_model(self, trainable: bool = True) -> torch.nn.Module:
        """Load the policy (or a frozen reference copy) with ``from_pretrained`` from the configured path."""

    @abstractmethod
    def prompt_batch(self, samples: Sequence[Sample]) -> PromptBatch:
        """Chat-formatted, left-padded prompts with their images."""

    @abstractmethod
    def repeat(self, batch: PromptBatch, times: int) -> PromptBatch:
        """Each prompt repeated ``times`` times consecutively (the order of ``num_return_sequences``)."""

    @abstractmethod
    def select(self, batch: PromptBatch, rows: slice) -> PromptBatch:
        """A contiguous slice of rows (with their images): the micro-batches of a step."""

    @abstractmethod
    def generate(self, model: torch.nn.Module, batch: PromptBatch, num_samples: int,
                 temperature: float, max_new_tokens: int) -> Completions:
        """Sample ``num_samples`` completions per prompt; rows are grouped by prompt."""

    @abstractmethod
    def completion_logprobs(self, model: torch.nn.Module, batch: PromptBatch, completions: Completions,
                            temperature: float = 1.0) -> torch.Tensor:
        """Per-token log-probs ``[B, Tc]`` of ``completions`` given the (already repeated) prompts."""

    @abstractmethod
    def encode_targets(self, texts: Sequence[str]) -> Completions:
        """Tokenise supervised targets as completions (stop token appended) for SFT."""

    @abstractmethod
    def decode(self, completions: Completions) -> list[str]:
        """Completion texts, cut at the stop token, special tokens kept (they are the policy's output)."""

    @abstractmethod
    def input_embeddings(self, model: torch.nn.Module) -> torch.Tensor:
        """The policy's input-embedding table ``[V, d]`` (BMAS reads it; no gradient)."""

    @abstractmethod
    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of plain texts (responses and ground truths for BMAS), no special tokens added."""

    @abstractmethod
    def box_to_model_frame(self, box: Sequence[float], image_size: tuple[int, int]) -> list[float]:
        """A box in original-image pixels converted to the frame this family emits."""

    @abstractmethod
    def box_to_text(self, box: Sequence[float], image_size: tuple[int, int]) -> str:
        """How this family writes a box (original pixels in) inside ``<answer>``."""

    @abstractmethod
    def save(self, model: torch.nn.Module, out_dir: str) -> None:
        """Write an HF-format checkpoint (model, tokenizer, image processor) that ``from_pretrained`` loads."""
