"""Rewards of section 3.2: pure functions of strings (and embeddings), plus the mixed dispatch."""
from mixed_r1.rewards.bmas import bmas, bmas_batch
from mixed_r1.rewards.chart import chart_reward
from mixed_r1.rewards.extract import extract_answer
from mixed_r1.rewards.format import format_reward
from mixed_r1.rewards.iou import box_iou, iou_reward
from mixed_r1.rewards.matching import matching_reward, reply_matches
from mixed_r1.rewards.mixed import ACCURACY_BY_TYPE, MixedReward, RewardContext, RewardOutput
from mixed_r1.rewards.open_ended import OPEN_ENDED, build_open_ended

__all__ = [
    "ACCURACY_BY_TYPE", "OPEN_ENDED", "bmas", "bmas_batch", "box_iou", "build_open_ended", "chart_reward",
    "extract_answer", "format_reward", "iou_reward", "matching_reward", "MixedReward", "RewardContext", "RewardOutput",
    "reply_matches",
]
