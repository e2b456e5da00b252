"""What flows through the passes: left-padded prompts with their images, and generated completions with their mask
(the same types for every family; a family adds its per-row inputs in ``PromptBatch.row_inputs``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch


@dataclass
class PromptBatch:
    """Left-padded prompts with their images, one row per prompt.

    ``pixel_values`` stacks every row's image patches/tiles along dim 0, ``patches_per_row`` says how
    many belong to each row; ``row_inputs`` are other per-row model inputs (dim 0 = rows).
    """

    input_ids: torch.Tensor  # [P, Lp]
    attention_mask: torch.Tensor  # [P, Lp]
    pixel_values: torch.Tensor  # [sum patches, ...]
    patches_per_row: list[int]
    row_inputs: dict[str, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def model_inputs(self) -> dict[str, torch.Tensor]:
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask,
                "pixel_values": self.pixel_values, **self.row_inputs}

    def repeat(self, times: int) -> PromptBatch:
        """Each row repeated ``times`` times consecutively (the order of a GRPO group)."""
        chunks = torch.split(self.pixel_values, self.patches_per_row)
        return PromptBatch(
            input_ids=self.input_ids.repeat_interleave(times, dim=0),
            attention_mask=self.attention_mask.repeat_interleave(times, dim=0),
            pixel_values=torch.cat([c for c in chunks for _ in range(times)]),
            patches_per_row=[n for n in self.patches_per_row for _ in range(times)],
            row_inputs={k: v.repeat_interleave(times, dim=0) for k, v in self.row_inputs.items()},
        )

    def take(self, indices: Sequence[int]) -> PromptBatch:
        """The given rows with their images (micro-batches, or a subset of the rollout)."""
        offsets = [0]
        for n in self.patches_per_row:
            offsets.append(offsets[-1] + n)
        index = torch.tensor(list(indices), dtype=torch.long, device=self.input_ids.device)
        patch_index = torch.tensor([p for i in indices for p in range(offsets[i], offsets[i + 1])],
                                   dtype=torch.long, device=self.pixel_values.device)
        return PromptBatch(
            input_ids=self.input_ids[index], attention_mask=self.attention_mask[index],
            pixel_values=self.pixel_values[patch_index],
            patches_per_row=[self.patches_per_row[i] for i in indices],
            row_inputs={k: v[index] for k, v in self.row_inputs.items()},
        )

    def select(self, rows: slice) -> PromptBatch:
        """A contiguous slice of rows with their images."""
        return self.take(range(*rows.indices(len(self))))


@dataclass
class Completions:
    """Generated tokens, right-padded after the stop token, with their mask."""

    ids: torch.Tensor  # [B, Tc]
    mask: torch.Tensor  # [B, Tc] 1 for completion tokens (stop token included)

    def take(self, indices: Sequence[int]) -> Completions:
        index = torch.tensor(list(indices), dtype=torch.long, device=self.ids.device)
        return Completions(self.ids[index], self.mask[index])

    def select(self, rows: slice) -> Completions:
        return Completions(self.ids[rows], self.mask[rows])

    def trim(self) -> Completions:
        """Without the padding columns after the longest completion (a micro-batch of short rows should
        not compute the rollout's longest width); log-probs of the kept columns are unchanged."""
        width = max(int(self.mask.sum(dim=1).max()), 1) if self.mask.numel() else 1
        return Completions(self.ids[:, :width], self.mask[:, :width])

    @staticmethod
    def concat(parts: Sequence[Completions], pad_id: int) -> Completions:
        """Rows of several generate calls, right-padded (mask 0) to the longest."""
        if len(parts) == 1:
            return parts[0]
        width = max(p.ids.shape[1] for p in parts)
        pad = lambda t, value: torch.nn.functional.pad(t, (0, width - t.shape[1]), value=value)
        return Completions(torch.cat([pad(p.ids, pad_id) for p in parts]), torch.cat([pad(p.mask, 0) for p in parts]))
