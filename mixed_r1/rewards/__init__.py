"""Rewards of section 3.2: pure functions of strings (and embeddings), plus the mixed dispatch."""
from mixed_r1.rewards.bmas import bmas
from mixed_r1.rewards.chart import chart_reward
from mixed_r1.rewards.extract import extract_answer
from mixed_r1.rewards.format import format_reward
from mixed_r1.rewards.iou import box_iou, iou_reward
from mixed_r1.rewards.matching import matching_reward
from mixed_r1.rewards.mixed import MixedReward, RewardOutput

__all__ = [
    "bmas", "box_iou", "chart_reward", "extract_answer", "format_reward", "iou_reward",
    "matching_reward", "MixedReward", "RewardOutput",
]
