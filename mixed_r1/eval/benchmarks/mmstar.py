"""MMStar (val, 1,500 questions): vision-indispensable multiple choice, scored by option-letter matching
and reported as the mean of the six categories' accuracies.

Layout read: ``Lin-Chen/MMStar``, split ``val``, published as one file ``mmstar.parquet`` at the
repository root (``hf download Lin-Chen/MMStar mmstar.parquet --repo-type dataset --local-dir
<data_root>/mmstar``). Any parquet/arrow file below the folder whose name (or a folder name on its path)
carries ``val`` is read; when none does, every parquet/arrow file (so ``mmstar.parquet`` itself, and
the Hub's ``refs/convert/parquet`` layout ``val/0000.parquet``). Fields: ``index``, ``question``
(options inline: ``"...\\nOptions: A: x, B: y, C: z, D: w"``, or for questions taken from MathVista
``"Hint: ...\\nQuestion: ...\\nChoices:\\n(A) x\\n(B) y"``), ``image`` (embedded ``{"bytes", "path"}``),
``answer`` (the letter), ``category``, ``l2_category``, ``meta_info`` (a struct: source, split,
image_path); the TSV release adds ``bench``.

Prompt: lmms-eval ``lmms_eval/tasks/mmstar/utils.py`` (``mmstar_doc_to_text``) with
``_default_template_yaml``: the stripped question, " Please answer yes or no." removed, then the post
prompt ``"\\nAnswer with the option's letter from the given choices directly"`` (no final period).

Scoring rule: VLMEvalKit scores MMStar as a plain (non-circular) multiple-choice set with the MMBench
matcher ``can_infer`` (``vlmeval/utils/matching_util.py``, see :mod:`.mmbench`), the options being the
ones inlined in the question. When it reads no letter, the official MMStar scorer's own readings
(``MMStar-Benchmark/MMStar`` ``eval/vlmeval/evaluate/mmstar.py``: the lower-cased answer begins with the
letter, with ``(``, ``option `` or ``the answer is ``) are tried, restricted to a letter standing alone
(the official rule takes any first character, so "a dog" would answer A and "Answer: B" would answer A).
Aggregate: the official scorer reports each category's accuracy and a final score; with its fixed 250
questions a category the final score is the mean of the category accuracies, which is what is reported
here (it differs from the plain mean only on a subset). Extras: each category's and L2 category's
accuracy and the plain per-record mean. lmms-eval's ``average`` is instead the mean over the 18 L2
categories (reported as the extra ``l2_category_mean``).

Deviations: no GPT fallback (VLMEvalKit's ``exact_matching`` mode): an answer no rule reads is
unparseable (``parsed`` None) and wrong. A question whose options cannot be parsed accepts the letters
A-D, with no option texts to match.
"""
from __future__ import annotations

import random
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

from mixed_r1.data.sources.text import index_letter, split_options
from mixed_r1.eval.benchmarks.base import Benchmark, EvalItem, Judgement, mean_percent, read_rows, split_shards
from mixed_r1.eval.benchmarks.parsing import NO_OPTION, read_choice
from mixed_r1.eval.benchmarks.tiny_sets import IMAGE, INT64, STRING, Columns, Row, Shard, bar_choice, hf_image, shape_choice
from mixed_r1.rewards.matching import option_letters

SPLIT = "val"
HINT = "Answer with the option's letter from the given choices."
POST_PROMPT = "\nAnswer with the option's letter from the given choices directly"
YES_NO_PROMPT = " Please answer yes or no."  # lmms-eval drops it: the post prompt asks for a letter
DEFAULT_LETTERS = "ABCD"
# an inline option marker: "A: " at the start, after a comma or on a new line ("Options: A: x, B: y")
_INLINE_MARK = re.compile(r"(?:^|,[ \t]*|\n\s*)([A-Z]):[ \t]*")
# the official MMStar readings of a lower-cased answer, the letter standing alone
_MMSTAR_PREFIX = re.compile(r"(?:\(|option |the answer is )?([a-z])(?:$|[.,:;)\]])")


def _inline_options(question: str) -> list[str] | None:
    """The option texts after the last 'Options:' ('A: x, B: y, ...'; texts may hold commas), markers
    taken in letter order; None with fewer than two."""
    _, sep, body = question.rpartition("Options:")
    if not sep:
        return None
    marks: list[re.Match[str]] = []
    for mark in _INLINE_MARK.finditer(body.strip()):
        if mark.group(1) == index_letter(len(marks)):
            marks.append(mark)
    if len(marks) < 2:
        return None
    body = body.strip()
    ends = [mark.start() for mark in marks[1:]] + [len(body)]
    return [body[mark.end():end].strip() for mark, end in zip(marks, ends)]


def options(question: str) -> dict[str, str]:
    """The question's options, letter -> text: inline after 'Options:', or one per line ('(A) x'); empty
    when neither layout is found."""
    listed = _inline_options(question) if "Options:" in question else None
    if listed is None:
        split = split_options(question)
        listed = split[1] if split else None
    return {index_letter(i): text for i, text in enumerate(listed or [])}


def _mmstar_prefix(answer: str, letters: Sequence[str]) -> str | None:
    """The official MMStar reading of a short answer ('b', '(b)', 'option b', 'the answer is b.')."""
    head = answer.strip()[:64].lower().replace("\n", " ")
    match = _MMSTAR_PREFIX.match(head)
    letter = match.group(1).upper() if match else None
    return letter if letter in letters else None


def judge(record: dict[str, Any], answer: str) -> Judgement:
    """Right when the letter the answer names is the record's ``answer``: VLMEvalKit's matcher over
    the inline options, then the official MMStar readings."""
    if not isinstance(answer, str):
        return Judgement(False, None)
    choices = options(str(record.get("question") or ""))
    if not choices:
        choices = dict.fromkeys(DEFAULT_LETTERS, "")
    texts = {letter: "" if text.strip().lower() == "nan" else text for letter, text in choices.items()}  # padded 'nan'
    parsed = read_choice(answer, texts)
    if parsed is None:
        parsed = _mmstar_prefix(answer, list(choices))
    elif parsed == NO_OPTION:  # a refusal answers nothing
        parsed = None
    truth = str(record.get("answer") or "").strip().upper()
    return Judgement(parsed is not None and parsed == truth, parsed)


def prompt_text(record: Mapping[str, Any]) -> str:
    """lmms-eval's mmstar question: the stripped question without its yes/no instruction."""
    return str(record.get("question") or "").strip().replace(YES_NO_PROMPT, "")


def _item(record: dict[str, Any]) -> EvalItem:
    image = record.get("image")
    question = prompt_text(record)
    return EvalItem(id=str(record.get("index")), record={k: v for k, v in record.items() if k != "image"},
                    images=(image,) if image is not None else (), question=question, hint=HINT,
                    direct_prompt=question + POST_PROMPT)


def shard_files(folder: Path) -> list[Path]:
    """The shards ``load`` reads below ``folder`` (``Benchmark.files``)."""
    return split_shards(folder, SPLIT, fallback_all=True)


# what every published row must hold (Benchmark.columns): read_rows names a file or row without it
COLUMNS = ("index", "question", "answer", "image")


def load(folder: Path) -> list[EvalItem]:
    """Every question of the val split below ``folder``."""
    return [_item(record) for _, record in read_rows(shard_files(folder), COLUMNS)]


def _percent_by(records: Sequence[dict[str, Any]], scores: Sequence[float], field: str) -> dict[str, float]:
    groups: dict[str, list[float]] = defaultdict(list)
    for record, score in zip(records, scores):
        groups[str(record.get(field) or "unknown")].append(score)
    return {name: 100.0 * sum(v) / len(v) for name, v in sorted(groups.items())}


def aggregate(records: Sequence[dict[str, Any]], scores: Sequence[float]) -> dict[str, float]:
    """The mean of the category accuracies (percent), with each category's and L2 category's accuracy
    and the plain per-record mean as extras."""
    categories = _percent_by(records, scores, "category")
    out = {"score": sum(categories.values()) / len(categories) if categories else float("nan"),
           "per_record": mean_percent(records, scores)["score"]}
    out.update({f"category/{name}": value for name, value in categories.items()})
    l2 = _percent_by(records, scores, "l2_category")
    out.update({f"l2_category/{name}": value for name, value in l2.items()})
    if l2:
        out["l2_category_mean"] = sum(l2.values()) / len(l2)  # lmms-eval's "average"
    return out


# ----------------------------------------------------------------------------- the tiny synthetic set
PUBLISHED_COLUMNS: Columns = (
    ("index", INT64), ("question", STRING), ("image", IMAGE), ("answer", STRING), ("category", STRING),
    ("l2_category", STRING), ("meta_info", (("source", STRING), ("split", STRING), ("image_path", STRING))),
)
MC_HINT = "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end."


def _synthetic_row(index: int, rng: random.Random) -> Row:
    """Kinds in turn: MMStar's inline 'Options: A: x, B: y' and the MathVista-style 'Choices:' list."""
    inline = index % 2 == 0
    asked = shape_choice(rng) if inline else bar_choice(rng, 4)
    letters = option_letters(len(asked.options))
    if inline:
        question = f"{asked.text}\nOptions: " + ", ".join(f"{k}: {o}" for k, o in zip(letters, asked.options))
    else:
        listed = "\n".join(f"({k}) {o}" for k, o in zip(letters, asked.options))
        question = f"{MC_HINT}\nQuestion: {asked.text}\nChoices:\n{listed}"
    category, l2 = ("instance reasoning", "single-instance reasoning") if inline else ("math", "statistical analysis")
    return {"index": index, "question": question, "image": hf_image(asked.scenes[0], f"{index}.png"),
            "answer": letters[asked.index], "category": category, "l2_category": l2,
            "meta_info": {"source": "synthetic", "split": "val", "image_path": f"images/{index}.png"}}


def synthetic_shards(rng: random.Random, count: int) -> list[Shard]:
    """``count`` val questions as ``mmstar.parquet``, their options inline ('Options: A: x, B: y') and as a
    MathVista-style 'Choices:' list in turn."""
    return [Shard("mmstar.parquet", PUBLISHED_COLUMNS, [_synthetic_row(i, rng) for i in range(count)])]


BENCHMARK = Benchmark(
    name="mmstar",
    column="MMStar",
    lmms_task="mmstar",
    hf_id="Lin-Chen/MMStar",
    split=SPLIT,
    folder="mmstar",
    load=load,
    judge=judge,
    synthetic=synthetic_shards,
    aggregate=aggregate,
    rule_source="VLMEvalKit vlmeval/utils/matching_util.py (can_infer); MMStar-Benchmark/MMStar "
                "eval/vlmeval/evaluate/mmstar.py (letter readings, category scores); prompt: lmms-eval "
                "lmms_eval/tasks/mmstar/utils.py",
    columns=COLUMNS,
    files=shard_files,
)
