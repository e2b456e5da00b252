"""VLM-R1 records (om-ai-lab/VLM-R1: grpo_jsonl.py conversations, and the REC files) -> all five types; export too.

Two layouts, told apart per record:

1. JSONL (README "For your own data"; loader ``src/open-r1-multimodal/src/open_r1/grpo_jsonl.py``)::

    {"id": 1, "image": "train2014/COCO_train2014_000000581857.jpg",   # relative to --image_folders
     "conversations": [{"from": "human", "value": "<image>question"}, {"from": "gpt", "value": "answer"}],
     "accu_reward_method": "mcq"}   # optional: else the run's --reward_method (read here as "default")

2. The REC files (``rec_jsons_processed/refcoco_train.json`` etc. of the Hugging Face dataset ``omlab/VLM-R1``,
   read by ``grpo_rec.py`` and ``src/eval/test_rec_r1.py``): a JSON list of ::

    {"image": "train2014/COCO_train2014_000000581857.jpg", "problem": "Please provide the bounding box
     coordinate of the region this sentence describes: ...", "solution": [x1, y1, x2, y2],  # original pixels
     "normalized_solution": [...]}   # the same box on a 0-1000 grid: not read

   ``problem`` is the question, ``solution`` the answer, read under the default method below.

The loader drops ``<image>`` from the question and ``<answer>`` tags from the answer (before its type is
decided: ``"<answer>[1, 2, 3, 4]</answer>"`` is a box), which may also be a JSON number or list. ``image`` may
be a list (several images: skipped) or absent (text-only: skipped).
Sample ids are ``vlm_r1-<file>-<id>``: the published files number their ids from 1 in each file, so an id is
only unique within its file (``<file>``: the file's path below the converted folder, or its stem); a record
without ``id`` takes its running number. The reward methods of ``accuracy_reward`` (grpo_jsonl.py) and our types:

- ``mcq`` -> multiple_choice: options parsed from the question's lettered lines, the answer a letter;
- ``yes_no`` -> yes_no; ``math`` -> chart when the answer is one plain number;
- ``llm`` (an LLM judges free text against the answer) -> open_ended;
- ``default`` (or none): a box ``[x1, y1, x2, y2]`` -> grounding, else the answer is read as R1-V's is
  (:func:`~mixed_r1.data.sources.r1_v.read_answer`: an option letter, yes/no, a number); ``all_match``
  (exact match) is read the same way, without boxes;
- ``map``, ``od_ap``, ``od_ap50``, ``odLength``, ``weighted_sum`` (detection: labelled box lists) have no
  sample type and are skipped; so is a method VLM-R1 does not define.

Grounding: VLM-R1 has no ``iou`` accuracy method. Its REC files (``rec_jsons_processed`` of the Hugging
Face dataset ``omlab/VLM-R1``; refcoco/+/g) give the box as the answer under the default method and
train with ``--task_type rec --is_reward_customized_from_vlm_module True``: the Qwen IoU reward
(``vlm_modules/qwen_module.py``) ``json.loads`` the box and compares it in ORIGINAL image pixels (the
model's box is rescaled from the resized input first), which is our frame. The InternVL files
(``rec_jsons_internvl``, scored without rescaling; by issue #11 their boxes are normalised to [0, 1000])
are not in that frame and must not be read here.

Export (:func:`export`) writes those fields and nothing else: mcq (options appended as lettered lines,
the letter as answer), yes_no, math (chart), llm (open_ended; VLM-R1 then needs its judge endpoint,
``OPENAI_API_BASE``), and default with the box as ``"[x1, y1, x2, y2]"`` in original pixels (grounding;
the rec task type replaces the accuracy reward for every record, so keep grounding in a file of its own).
"""
from __future__ import annotations

import json
from typing import Any, Iterator

from mixed_r1.data.schema import Sample
from mixed_r1.data.sources.base import Context, ExportContext, Skip, require
from mixed_r1.data.sources.r1_v import Typed, multiple_choice, problem_text, read_answer
from mixed_r1.data.sources.text import plain_number, yes_no

DETECTION_METHODS = ("map", "od_ap", "od_ap50", "odLength", "weighted_sum")
EXPORT_METHODS = {"multiple_choice": "mcq", "yes_no": "yes_no", "chart": "math", "open_ended": "llm",
                  "grounding": "default"}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _box(value: Any) -> list[float] | None:
    """A box given as a JSON list of 4 numbers (a string or the list itself), else None."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if isinstance(value, list) and len(value) == 4 and all(_is_number(v) for v in value):
        return [float(v) for v in value]
    return None


def _strip_answer_tags(value: Any) -> Any:
    """``value`` without VLM-R1's ``<answer>`` / ``</answer>`` tags when it is text (its loader strips them)."""
    return value.replace("<answer>", "").replace("</answer>", "").strip() if isinstance(value, str) else value


def _question_and_answer(record: Any) -> tuple[str, Any]:
    """(question without ``<image>``, the raw answer value) of either layout (module docstring)."""
    if isinstance(record, dict) and "conversations" not in record and ("problem" in record or "solution" in record):
        problem = require(record, "problem").replace("<image>", "").strip()
        if not problem:
            raise Skip("malformed record", "the problem is only <image>")
        return problem, require(record, "solution", (str, int, float, list))
    return _turns(record)


def _turns(record: Any) -> tuple[str, Any]:
    """(question without ``<image>``, the raw answer value) of the first human/gpt pair."""
    turns = require(record, "conversations", list)
    if len(turns) < 2:
        raise Skip("malformed record", f"conversations has {len(turns)} turn(s); expected a human and a gpt turn")
    if len(turns) > 2:
        raise Skip("several turns", f"{len(turns)} turns; a sample is one question and its answer")
    human, gpt = turns
    if not (isinstance(human, dict) and isinstance(gpt, dict) and human.get("from") == "human" and gpt.get("from") == "gpt"):
        raise Skip("malformed record", "conversations must be a 'human' turn then a 'gpt' turn")
    problem = require(human, "value").replace("<image>", "").strip()
    if not problem:
        raise Skip("malformed record", "the question is only <image>")
    return problem, require(gpt, "value", (str, int, float, list))


def _typed(method: str, problem: str, raw: Any) -> Typed:
    if method in DETECTION_METHODS:
        raise Skip(f"reward method {method} has no sample type", "object detection: labelled lists of boxes")
    raw = _strip_answer_tags(raw)
    box = _box(raw) if method == "default" else None
    if box is not None:
        return Typed("grounding", problem, box)
    if isinstance(raw, list):
        raise Skip("malformed record", f"a list answer under reward method {method}: {raw!r}"[:120])
    answer = str(raw)
    if not answer:
        raise Skip("malformed record", "the answer is empty")
    if method == "mcq":
        return multiple_choice(problem, answer)
    if method == "yes_no":
        verdict = yes_no(answer)
        if verdict is None:
            raise Skip("answer is not yes/no", repr(answer[:80]))
        return Typed("yes_no", problem, verdict)
    if method == "math":
        number = plain_number(answer)
        if number is None:
            raise Skip("answer is not a number", repr(answer[:80]))
        return Typed("chart", problem, number)
    if method == "llm":
        return Typed("open_ended", problem, answer)
    if method in ("default", "all_match"):
        return read_answer(problem, answer)
    raise Skip("unknown reward method", repr(method))


def convert(record: Any, ctx: Context) -> Iterator[Sample | Skip]:
    problem, raw = _question_and_answer(record)
    method = record.get("accu_reward_method", "default")
    if not isinstance(method, str) or not method:
        raise Skip("malformed record", f"accu_reward_method is {method!r}")
    typed = _typed(method, problem, raw)
    record_id = record.get("id")
    if record_id is not None and (isinstance(record_id, bool) or not isinstance(record_id, (str, int))):
        raise Skip("malformed record", f"id is {type(record_id).__name__}")
    image, size = ctx.images.image(record.get("image"))  # a list of several or none: counted skips
    own = record_id if record_id is not None else ctx.index
    yield Sample(id=ctx.sample_id(ctx.file, own) if ctx.file else ctx.sample_id(own), image=image,
                 problem=typed.problem, answer=typed.answer, type=typed.type, source="vlm_r1", image_size=size,
                 options=typed.options, meta={"accu_reward_method": method})


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def export(sample: Sample, ctx: ExportContext) -> dict[str, Any]:
    """One VLM-R1 record with the accuracy method that scores the sample's type."""
    if sample.type not in EXPORT_METHODS:
        raise Skip("type has no VLM-R1 reward method", sample.type)
    if sample.type == "grounding":
        if not isinstance(sample.answer, list):
            raise Skip("malformed sample", f"grounding answer {sample.answer!r}")
        answer = "[" + ", ".join(_number_text(v) for v in sample.answer) + "]"
    else:
        answer = str(sample.answer)
    return {"id": sample.id, "image": ctx.image_path(sample),
            "conversations": [{"from": "human", "value": "<image>" + problem_text(sample)},
                              {"from": "gpt", "value": answer}],
            "accu_reward_method": EXPORT_METHODS[sample.type]}


SOURCES = {"vlm_r1": convert}
EXPORTS = {"vlm_r1": export}
