"""Answer extraction by a local language model — MathVista's official pipeline asks GPT to pull the
answer out of a free-form response; ``eval.extractor=local`` gives that step to a causal LM on disk
(no paid API), while ``rules`` (the default) uses the benchmark's rule-based extraction. Which one
scored is recorded per benchmark."""
from __future__ import annotations

import importlib
from typing import Any, Callable

import torch

from mixed_r1.eval.benchmarks.base import Judgement

EXTRACTORS = ("rules", "local")
# benchmark -> module providing extraction_prompt(record, response) and judge_extracted(record, text)
LOCAL_EXTRACTION = ("mathvista",)
MAX_EXTRACTION_TOKENS = 64


class Extractor:
    """A local causal LM that answers the benchmark's extraction prompt greedily."""

    def __init__(self, path: str, device: torch.device) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path, self.device = path, device
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path).to(device).eval()

    def supports(self, benchmark: str) -> bool:
        return benchmark in LOCAL_EXTRACTION

    def _module(self, benchmark: str) -> Any:
        return importlib.import_module(f"mixed_r1.eval.benchmarks.{benchmark}")

    def extract(self, benchmark: str, record: dict[str, Any], response: str) -> str:
        prompt: Callable[[dict[str, Any], str], str] = self._module(benchmark).extraction_prompt
        enc = self.tokenizer(prompt(record, response), return_tensors="pt").to(self.device)
        room = getattr(self.model.config, "max_position_embeddings", None)
        if room is not None and enc["input_ids"].shape[1] > room - MAX_EXTRACTION_TOKENS:  # keep the end: the reply
            keep = room - MAX_EXTRACTION_TOKENS
            enc = {k: v[:, -keep:] for k, v in enc.items()}
        with torch.no_grad():
            out = self.model.generate(**enc, do_sample=False, max_new_tokens=MAX_EXTRACTION_TOKENS,
                                      pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        text = self.tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        return text.strip().splitlines()[0].strip() if text.strip() else ""

    def judge(self, benchmark: str, record: dict[str, Any], extracted: str) -> Judgement:
        judge: Callable[[dict[str, Any], str], Judgement] = self._module(benchmark).judge_extracted
        return judge(record, extracted)

    def describe(self) -> str:
        return f"local:{self.path}"


def build_extractor(kind: str, path: str | None, device: torch.device) -> Extractor | None:
    """None for ``rules``; the local extractor for ``local``."""
    return Extractor(str(path), device) if kind == "local" else None
