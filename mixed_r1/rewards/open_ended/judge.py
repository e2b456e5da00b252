"""LLM-as-judge open-ended reward (Table 4 ablation; VideoChat-R1's approach): a small instruct
model rates the response against the ground truth from 0 to 1."""
from __future__ import annotations

import math
import re
from typing import Sequence

import torch

_FRACTION = re.compile(r"(-?\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)")
_PERCENT = re.compile(r"(-?\d+(?:\.\d+)?)\s*%")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def parse_judge_score(text: str) -> float:
    """The judge's rating in [0, 1] from free text: '0.8', 'Score: 0.75', '80%', '4/5', '8 out of 10'.

    Values above 1 without a scale are read as a percentage when ≤ 100; anything else out of scale
    or unparseable is 0.
    """
    if not isinstance(text, str):
        return 0.0
    text = text[:2000].replace("out of", "/")
    value: float | None = None
    if m := _FRACTION.search(text):
        denominator = float(m.group(2))
        value = float(m.group(1)) / denominator if denominator > 0 else None
    elif m := _PERCENT.search(text):
        value = float(m.group(1)) / 100
    elif m := _NUMBER.search(text):
        value = float(m.group(0))
        value = value / 100 if 1 < value <= 100 else (value if value <= 1 else None)
    if value is None or not math.isfinite(value):
        return 0.0
    return min(1.0, max(0.0, value))


class LLMJudge:
    """Greedy-decodes a short rating per (response, truth) pair with a local causal LM."""

    def __init__(self, path: str, prompt: str, max_new_tokens: int = 8, device: str = "cpu",
                 batch_size: int = 16) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(path).to(device).eval()
        self.prompt, self.max_new_tokens, self.device, self.batch_size = prompt, max_new_tokens, device, batch_size

    def render(self, response: str, truth: str) -> str:
        message = self.prompt.format(response=response, truth=truth)
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template([{"role": "user", "content": message}], tokenize=False,
                                                      add_generation_prompt=True)
        return message

    @torch.no_grad()
    def __call__(self, responses: Sequence[str], truths: Sequence[str]) -> torch.Tensor:
        scores: list[float] = []
        prompts = [self.render(r, t) for r, t in zip(responses, truths)]
        for start in range(0, len(prompts), self.batch_size):
            enc = self.tokenizer(prompts[start:start + self.batch_size], return_tensors="pt", padding=True,
                                 add_special_tokens=False).to(self.device)
            out = self.model.generate(**enc, do_sample=False, max_new_tokens=self.max_new_tokens,
                                      pad_token_id=self.tokenizer.pad_token_id)
            texts = self.tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
            scores += [parse_judge_score(t) for t in texts]
        return torch.tensor(scores, dtype=torch.float32)
