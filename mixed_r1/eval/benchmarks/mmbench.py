"""MMBench (English, dev split): single-image multiple choice, scored by option-letter matching with
circular evaluation (a question counts only when every rotation of its options is answered right).

Layout read: ``lmms-lab/MMBench``, config ``en``, split ``dev`` (4,329 rows), as ``hf download
lmms-lab/MMBench --repo-type dataset --include "en/*" --local-dir <data_root>/mmbench`` lays it out:
``<folder>/en/dev-00000-of-00001.parquet``. Any parquet/arrow file below the folder whose name (or a
folder name on its path) carries ``dev`` is read; when some lie in an ``en`` folder only those are
(a full download also holds the ``cn`` and ``cc`` configs). Fields: ``index`` (int64, or a string in
some revisions of the ``en`` config), ``question``, ``hint`` (None when absent), ``A``..``D`` (None
for a missing option; the published features have no ``E``, read when present), ``answer`` (the
letter), ``category``, ``image`` (embedded ``{"bytes", "path"}``), ``source``, ``L2-category`` (spelt
``l2-category`` in ``lmms-lab/MMBench_EN``), ``comment``, ``split``. Rotated copies of one question
have indices that differ by multiples of 1,000,000.

Prompt: lmms-eval ``lmms_eval/tasks/mmbench/en_utils.py`` (``mmbench_doc_to_text``) with
``mmbench_evals.py`` (``create_options_prompt``) and ``_default_template_mmbench_en_yaml``:
``"{hint} {question} There are several options:\\nA. ..\\nB. .."`` (no hint part when the hint is
absent), then ``"\\n"`` and the post prompt ``"\\nAnswer with the option's letter from the given
choices directly."``.

Scoring rule: VLMEvalKit ``vlmeval/utils/matching_util.py`` (``can_infer`` = ``can_infer_option``,
else ``can_infer_text``; commit e8e78f05, Aug 2026), the official MMBench matcher, and the circular
grouping of ``vlmeval/dataset/utils/multiple_choice.py`` (``mcq_circular_eval``: ``index % 1e6``; a
group is a hit only if every copy in it is). ``can_infer_option``: the text with ``.()[],:;!*#{}``
turned to spaces is split into words; exactly one option letter standing as a word, among the last
four words, is the answer; otherwise ``answer is <letter>`` names it; a refusal phrase or a lone
``Z`` names no option. ``can_infer_text``: the one option whose text (lower-cased) occurs in the
answer, when the answer is at most twice as long as all option texts together.

Deviations: no GPT fallback — an answer these rules cannot read is unparseable (``parsed`` None) and
wrong, as VLMEvalKit's ``exact_matching`` mode scores it (it reads as ``Z``, which is never the
answer); refusals and ``Z`` are reported unparseable too. The ``answer is <letter>`` pattern takes a
capital letter standing alone (VLMEvalKit's is case-insensitive, so "the answer is a dog" would read
as A). An empty option text never matches (every answer contains ""). Groups are formed from every
record scored (VLMEvalKit ignores a group whose unrotated copy, ``index < 1e6``, is absent).
"""
from __future__ import annotations

import math
import random
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

from mixed_r1.eval.benchmarks.base import Benchmark, EvalItem, Judgement, mean_percent, read_rows, split_shards
from mixed_r1.eval.benchmarks.parsing import infer_choice
from mixed_r1.eval.benchmarks.tiny_sets import IMAGE, INT64, STRING, Columns, Row, Shard, bar_choice, hf_image, shape_choice
from mixed_r1.rewards.matching import option_letters

SPLIT = "dev"
SUBSET = "en"
OPTION_COLUMNS = "ABCDE"
GROUP_STRIDE = 1_000_000  # rotated copies of one question: index + k * 1e6
HINT = "Answer with the option's letter from the given choices."
POST_PROMPT = "\nAnswer with the option's letter from the given choices directly."
OPTIONS_HEADER = "There are several options:"

# ----------------------------------------------------------------------------- the record
def _present(value: Any) -> bool:
    """An option cell that holds an option: not None, NaN, the string 'nan' or blank."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return str(value).strip() not in ("", "nan")


def options(record: Mapping[str, Any]) -> dict[str, str]:
    """The record's options in letter order, letter -> text (absent columns and None cells skipped)."""
    return {letter: str(record[letter]) for letter in OPTION_COLUMNS if letter in record and _present(record[letter])}


def judge(record: dict[str, Any], answer: str) -> Judgement:
    """Right when the letter the answer names (by ``infer_choice``) is the record's ``answer``."""
    parsed = infer_choice(answer, options(record))
    truth = str(record.get("answer") or "").strip().upper()
    return Judgement(parsed is not None and parsed == truth, parsed)


def prompt_text(record: Mapping[str, Any]) -> str:
    """lmms-eval's mmbench_en question: hint, question and the lettered options, space-joined."""
    listed = "\n".join(f"{letter}. {text}" for letter, text in options(record).items())
    body = f"{record.get('question', '')} {OPTIONS_HEADER}\n{listed}".rstrip("\n")
    hint = record.get("hint")
    return f"{hint} {body}" if _present(hint) else body


# ----------------------------------------------------------------------------- loading
def _item(record: dict[str, Any]) -> EvalItem:
    image = record.get("image")
    question = prompt_text(record)
    return EvalItem(id=str(record.get("index")), record={k: v for k, v in record.items() if k != "image"},
                    images=(image,) if image is not None else (), question=question, hint=HINT,
                    direct_prompt=f"{question}\n{POST_PROMPT}")


def shard_files(folder: Path) -> list[Path]:
    """The shards ``load`` reads below ``folder`` (``Benchmark.files``)."""
    return split_shards(folder, SPLIT, SUBSET)


# what every published row must hold (Benchmark.columns): read_rows names a file or row without it
COLUMNS = ("index", "question", "answer", "image")


def load(folder: Path) -> list[EvalItem]:
    """Every row of the en dev split below ``folder``, rotated copies included (circular evaluation
    needs them all)."""
    items: list[EvalItem] = []
    for _, record in read_rows(shard_files(folder), COLUMNS):
        items.append(_item(record))
    return items


# ----------------------------------------------------------------------------- circular aggregation
def _index(record: Mapping[str, Any]) -> int | None:
    """The record's published index as an int (it is a string in some revisions), else None."""
    value = record.get("index")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d{1,18}\s*", value):
        return int(value)
    return None


def _l2(record: Mapping[str, Any]) -> Any:
    return record.get("L2-category", record.get("l2-category"))


def aggregate(records: Sequence[dict[str, Any]], scores: Sequence[float]) -> dict[str, float]:
    """Circular accuracy in percent: records grouped by ``index % 1_000_000``; a group counts when every
    copy in it is right. Extras: the plain per-record accuracy, the group count, and the circular
    accuracy per category and per L2 category (of each group's unrotated copy when present)."""
    hits: dict[Any, bool] = {}
    labels: dict[Any, tuple[Any, Any, bool]] = {}  # group -> (category, l2 category, from the unrotated copy)
    for position, (record, score) in enumerate(zip(records, scores)):
        index = _index(record)
        key: Any = index % GROUP_STRIDE if index is not None else ("record", position)  # no index: its own group
        hits[key] = hits.get(key, True) and score >= 1.0
        main = index is not None and index < GROUP_STRIDE
        if key not in labels or (main and not labels[key][2]):
            labels[key] = (record.get("category"), _l2(record), main)
    out = {"score": 100.0 * sum(hits.values()) / len(hits) if hits else float("nan"),
           "per_record": mean_percent(records, scores)["score"], "groups": float(len(hits))}
    for name, field in (("category", 0), ("l2_category", 1)):
        by_label: dict[str, list[bool]] = defaultdict(list)
        for key, hit in hits.items():
            if labels[key][field] is not None:
                by_label[str(labels[key][field])].append(hit)
        out.update({f"{name}/{label}": 100.0 * sum(v) / len(v) for label, v in sorted(by_label.items())})
    return out


# ----------------------------------------------------------------------------- the tiny synthetic set
PUBLISHED_COLUMNS: Columns = (
    ("index", INT64), ("question", STRING), ("hint", STRING), ("answer", STRING), ("A", STRING), ("B", STRING),
    ("C", STRING), ("D", STRING), ("category", STRING), ("image", IMAGE), ("source", STRING), ("L2-category", STRING),
    ("comment", STRING), ("split", STRING),
)
SYNTHETIC_HINT = "The picture shows a single shape or a bar chart on a white background."


def _synthetic_copies(index: int, rng: random.Random) -> list[Row]:
    """Question ``index`` once per option: copy ``k`` has its options rotated by ``k`` and index ``index + k * 1e6``."""
    asked = shape_choice(rng) if index % 2 == 0 else bar_choice(rng, 4)
    image = hf_image(asked.scenes[0], f"{index}.png")
    hint = SYNTHETIC_HINT if index % 3 == 1 else None
    category = "attribute_recognition" if index % 2 == 0 else "image_scene"
    l2 = "finegrained_perception (instance-level)" if index % 2 == 0 else "coarse_perception"
    copies = []
    for k in range(len(asked.options)):
        rotated = asked.options[k:] + asked.options[:k]
        letters = option_letters(len(rotated))
        columns = {letter: (rotated[i] if i < len(rotated) else None) for i, letter in enumerate("ABCD")}
        copies.append({"index": index + k * GROUP_STRIDE, "question": asked.text, "hint": hint,
                       "answer": letters[rotated.index(asked.answer)], **columns, "category": category, "image": image,
                       "source": "synthetic", "L2-category": l2, "comment": None, "split": "dev"})
    return copies


def synthetic_shards(rng: random.Random, count: int) -> list[Shard]:
    """``count`` circular groups as ``en/dev-00000-of-00001.parquet`` (config ``en``): each question, a colour or
    shape (three options, ``D`` None) or a bar's value (four), is written once per option, copy ``k`` with its
    options rotated by ``k`` and index ``base + k * GROUP_STRIDE`` (VLMEvalKit's circular layout), so the loader
    returns three or four items per question and the aggregate's ``groups`` is ``count``."""
    groups = [_synthetic_copies(i, rng) for i in range(count)]
    rounds = max(len(g) for g in groups)
    rows = [g[k] for k in range(rounds) for g in groups if k < len(g)]  # originals first, then each rotation
    return [Shard("en/dev-00000-of-00001.parquet", PUBLISHED_COLUMNS, rows)]


BENCHMARK = Benchmark(
    name="mmbench",
    column="MMBench",
    lmms_task="mmbench_en_dev",
    hf_id="lmms-lab/MMBench",
    split=SPLIT,
    folder="mmbench",
    load=load,
    judge=judge,
    synthetic=synthetic_shards,
    aggregate=aggregate,
    rule_source="VLMEvalKit vlmeval/utils/matching_util.py (can_infer) and vlmeval/dataset/utils/multiple_choice.py "
                "(mcq_circular_eval); prompt: lmms-eval lmms_eval/tasks/mmbench/en_utils.py",
    columns=COLUMNS,
    files=shard_files,
)
