"""IoU reward R_IoU: IoU of the predicted box with the ground-truth box, both in the model's frame."""
from __future__ import annotations

import math
import re
from typing import Sequence

from mixed_r1.rewards.extract import extract_answer

_NUM = r"[-+]?\d+(?:\.\d+)?"
# [x1, y1, x2, y2] — plain, inside JSON {"bbox_2d": [...]}, or InternVL's <box>[[...]]</box>
_BOX = re.compile(rf"\[\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*\]")
# (x1,y1),(x2,y2) — Qwen2-VL's <|box_start|> form
_POINTS = re.compile(rf"\(\s*({_NUM})\s*,\s*({_NUM})\s*\)\s*,?\s*\(\s*({_NUM})\s*,\s*({_NUM})\s*\)")


def parse_box(text: str) -> list[float] | None:
    """The first box in ``text`` in any of the forms above, or None (also for non-finite numbers)."""
    match = _BOX.search(text) or _POINTS.search(text)
    if match is None:
        return None
    box = [float(v) for v in match.groups()]
    return box if all(math.isfinite(v) for v in box) else None


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two ``[x1, y1, x2, y2]`` boxes; 0 for degenerate boxes."""
    if a[2] <= a[0] or a[3] <= a[1] or b[2] <= b[0] or b[3] <= b[1]:
        return 0.0
    inter_w = min(a[2], b[2]) - max(a[0], b[0])
    inter_h = min(a[3], b[3]) - max(a[1], b[1])
    if inter_w <= 0 or inter_h <= 0:
        return 0.0
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def iou_reward(text: str, box: Sequence[float]) -> float:
    """IoU between the box in the response's answer and ``box``.

    ``box`` must already be in the frame the model emits (Qwen2.5-VL: pixels of the
    processor-resized image); the model adapter converts ground truth before scoring.
    """
    reply = extract_answer(text)
    if not reply:
        return 0.0
    pred = parse_box(reply)
    return box_iou(pred, box) if pred is not None else 0.0
