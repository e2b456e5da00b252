"""The sample types, each registered once: its answer check, its accuracy reward and its synthetic questions.

:data:`REGISTRY` holds one :class:`SampleType` per type. Everything that depends on a sample's type looks it
up there: the schema validates the ground truth with ``check_answer`` (:mod:`mixed_r1.data.schema`),
:class:`~mixed_r1.rewards.mixed.MixedReward` scores a reply with ``accuracy``, and the synthetic generator,
the demo's warm-up targets and the tiny benchmark sets ask ``synthetic`` questions
(:mod:`mixed_r1.data.synthetic`). Its order is the types' order everywhere (default synthetic weights,
per-type metrics).

Adding a type:

1. its questions for the synthetic generator: a :class:`~mixed_r1.data.scenes.Questions` class in
   :mod:`mixed_r1.data.scenes` (and a scene kind there if it asks about a new kind of image);
2. one ``SampleType`` entry in :data:`REGISTRY` below, naming an answer check and an accuracy reward (write
   them here when none of the existing ones fits);
3. its answer-format hint in ``conf/train.yaml`` (``prompt.hints``), which is configuration.

Layering: the schema imports this module, so it sits below the schema. It imports only the pure reward
functions (``mixed_r1/rewards/{matching,chart,iou}.py``, which import nothing of the project; the rewards
package loads ``MixedReward`` on first use for this reason) and the synthetic scenes; ``Sample`` is named
for type checking only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, cast

from mixed_r1.data.scenes import (
    CaptionQuestions,
    ChartQuestions,
    GroundingQuestions,
    MultipleChoiceQuestions,
    Questions,
    YesNoQuestions,
)
from mixed_r1.errors import ConfigError
from mixed_r1.rewards.chart import chart_reward, check_chart_mode, exact_tolerance
from mixed_r1.rewards.iou import iou_reward
from mixed_r1.rewards.matching import matching_reward

if TYPE_CHECKING:
    from mixed_r1.data.schema import Sample


# --------------------------------------------------------------------------- answer checks (the schema's part)
# (type, the record's answer, its options, (width, height) of the image) -> the answer as stored;
# a ValueError names the field. Options and image size are already checked when it runs.
AnswerCheck = Callable[[str, object, list[str] | None, tuple[int, int]], str | list[float]]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def text_answer(sample_type: str, answer: object, options: list[str] | None, size: tuple[int, int]) -> str:
    """A non-empty string (a number is taken as its text), stripped."""
    if not (isinstance(answer, str) or _is_number(answer)):
        raise ValueError(f"field 'answer' must be a string for type {sample_type}, got {answer!r}")
    text = str(answer).strip()
    if not text:
        raise ValueError("field 'answer' is empty")
    return text


def letter_answer(sample_type: str, answer: object, options: list[str] | None, size: tuple[int, int]) -> str:
    """The letter of one of at least two options (``A`` is ``options[0]``), upper-cased."""
    text = text_answer(sample_type, answer, options, size)
    if options is None or len(options) < 2:
        raise ValueError(f"a {sample_type} sample needs 'options': a list of at least 2 strings")
    letters = [chr(ord("A") + i) for i in range(len(options))]
    if text.upper() not in letters:
        raise ValueError(f"field 'answer' is {text!r}; expected one of the option letters {letters}")
    return text.upper()


def box_answer(sample_type: str, answer: object, options: list[str] | None, size: tuple[int, int]) -> list[float]:
    """A box ``[x1, y1, x2, y2]`` of finite numbers with x2 > x1 and y2 > y1, inside the image."""
    if not isinstance(answer, (list, tuple)) or len(answer) != 4 or not all(_is_number(v) for v in answer):
        raise ValueError(f"field 'answer': a grounding answer must be a list of 4 numbers [x1, y1, x2, y2], "
                         f"got {answer!r}")
    box = [float(v) for v in answer]
    if not all(math.isfinite(v) for v in box):
        raise ValueError("field 'answer': a grounding box must hold finite numbers")
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"field 'answer': a grounding box needs x2 > x1 and y2 > y1, got {box}")
    width, height = size
    if box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height:
        raise ValueError(f"field 'answer': the box {box} lies outside the {width}x{height} image")
    return box


# --------------------------------------------------------------------------- accuracy rewards (MixedReward's part)
# (box in original pixels, (width, height)) -> box in the frame the model emits
BoxFrameFn = Callable[[list[float], tuple[int, int]], list[float]]


def _same_frame(box: list[float], image_size: tuple[int, int]) -> list[float]:
    return box


@dataclass(frozen=True)
class RewardContext:
    """What accuracy functions need beyond the text and the sample: the run's reward settings.

    Checked when built, so a bad ``reward.chart`` setting fails at start, not when a model first answers.
    """

    chart_tolerance: float = 1e-2
    chart_mode: str = "absolute"
    box_to_model_frame: BoxFrameFn = _same_frame

    def __post_init__(self) -> None:
        try:
            check_chart_mode(self.chart_mode)
            exact_tolerance(self.chart_tolerance)
        except ValueError as err:
            raise ConfigError(str(err)) from None


# (the completion's text, its sample, the run's reward settings) -> accuracy; never raises on model output
AccuracyFn = Callable[[str, "Sample", RewardContext], float]


def matching_accuracy(text: str, sample: Sample, ctx: RewardContext) -> float:
    """Yes/no and multiple choice, with the sample's options when it has them (a yes/no reply may
    then name the option: 'A' or 'yes'); see :func:`~mixed_r1.rewards.matching.reply_matches`."""
    return matching_reward(text, str(sample.answer), sample.options)


def chart_accuracy(text: str, sample: Sample, ctx: RewardContext) -> float:
    return chart_reward(text, str(sample.answer), ctx.chart_tolerance, ctx.chart_mode)


def grounding_accuracy(text: str, sample: Sample, ctx: RewardContext) -> float:
    """IoU against the ground-truth box converted into the frame the model emits."""
    box = cast(list[float], sample.answer)  # a grounding answer is a box (checked at load time)
    return iou_reward(text, ctx.box_to_model_frame(list(box), sample.image_size))


# --------------------------------------------------------------------------- the registry
@dataclass(frozen=True)
class SampleType:
    """Everything the project knows about one sample type."""

    name: str
    check_answer: AnswerCheck  # the schema's check of the ground truth at load time
    # the accuracy reward; None: scored with the batch's other such replies by the configured open-ended
    # scorer (``reward.open_ended``, BMAS by default), on the extracted answers
    accuracy: AccuracyFn | None
    synthetic: Questions  # how the synthetic generator asks it


REGISTRY: dict[str, SampleType] = {t.name: t for t in (
    SampleType("yes_no", check_answer=text_answer, accuracy=matching_accuracy, synthetic=YesNoQuestions()),
    SampleType("multiple_choice", check_answer=letter_answer, accuracy=matching_accuracy,
               synthetic=MultipleChoiceQuestions()),
    SampleType("chart", check_answer=text_answer, accuracy=chart_accuracy, synthetic=ChartQuestions()),
    SampleType("grounding", check_answer=box_answer, accuracy=grounding_accuracy, synthetic=GroundingQuestions()),
    SampleType("open_ended", check_answer=text_answer, accuracy=None, synthetic=CaptionQuestions()),
)}


def registered(name: str) -> SampleType:
    """The registered type ``name``; a ValueError lists the registered ones."""
    if name not in REGISTRY:
        raise ValueError(f"unknown sample type {name!r}; expected one of {', '.join(REGISTRY)}")
    return REGISTRY[name]
