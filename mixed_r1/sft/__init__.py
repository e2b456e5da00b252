"""Supervised fine-tuning: the demo's warm-up now, the paper's SFT baseline later."""
from mixed_r1.sft.step import sft_loss, sft_step

__all__ = ["sft_loss", "sft_step"]
