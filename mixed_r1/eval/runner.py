"""``eval.py``: score a checkpoint on the benchmarks of Table 1, with or without the thinking prompt.

Items are cut into fixed chunks of ``eval.batch_size`` (one ``generate`` call each), sharded over every
process of a launch and appended per rank as they finish (:mod:`mixed_r1.shards`): an interrupted run
resumes without regenerating finished items, and 1 or N processes produce the same predictions (a chunk is
the same batch whoever generates it). Rank 0 then scores every prediction with the benchmark's rule and
writes per-sample predictions, ``results.json`` and Table 1's Markdown row.
"""
from __future__ import annotations

import io
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from omegaconf import DictConfig
from PIL import Image

from mixed_r1.components import build_model_adapter, model_identity, start_inference_processes
from mixed_r1.data.schema import ImageCheck, to_rgb
from mixed_r1.engine import resolve_device
from mixed_r1.engine.distributed import barrier, is_main, world_size
from mixed_r1.errors import ConfigError, DataError
from mixed_r1.eval.benchmarks import TABLE_1, Benchmark, EvalItem, Judgement, answer_text, benchmark
from mixed_r1.eval.extractor import Extractor, build_extractor
from mixed_r1.eval.settings import EvalConfig
from mixed_r1.models import ModelAdapter, adapter_class, passes
from mixed_r1.progress import progress_bar
from mixed_r1.settings import RunSettings, resolved, run_settings
from mixed_r1.shards import append_records, claim_folder, plan_chunks, rank_file, read_shards
from mixed_r1.typed import settings_from

log = logging.getLogger("mixed_r1")

def prompt_for(item: EvalItem, thinking: bool, template: str) -> str:
    """The user text: the paper's thinking template around the question and its hint, or the
    benchmark's own direct-answer prompt."""
    if not thinking:
        return item.direct_prompt
    return template.format(problem=item.question, hint=item.hint).strip()


def image_source(value: Any) -> Any:
    """What ``Image.open`` reads for a published image (HF dict with bytes or path, raw bytes, a path)."""
    if isinstance(value, dict):
        value = value.get("bytes") or value.get("path")
    return io.BytesIO(value) if isinstance(value, (bytes, bytearray)) else value


def decode_image(value: Any) -> Image.Image:
    """A published image (HF dict with bytes or path, raw bytes, a path) as RGB."""
    with Image.open(image_source(value)) as image:
        image.load()
        return to_rgb(image)  # 16-bit, transparent, CMYK images as the processor expects them (as in training)


def generate_predictions(name: str, items: Sequence[EvalItem], adapter: ModelAdapter,
                         model: torch.nn.Module,
                         settings: EvalConfig, template: str, seed: int, shard_dir: Path) -> None:
    """This rank's share of the unfinished chunks of one benchmark, appended to its shard file."""
    chunks = [list(items[i:i + settings.batch_size]) for i in range(0, len(items), settings.batch_size)]
    finished, mine = plan_chunks([[it.id for it in chunk] for chunk in chunks], shard_dir, f"eval {name}")
    path = rank_file(shard_dir)
    with progress_bar(len(items), initial=len(finished), desc=name) as bar, torch.no_grad():
        for k in mine:
            chunk = chunks[k]
            torch.manual_seed(seed * 1_000_003 + k)  # only matters when sampling (temperature > 0)
            prompts = [prompt_for(it, settings.thinking, template) for it in chunk]
            batch = adapter.chat_batch(prompts, [[decode_image(v) for v in it.images] for it in chunk])
            completions = passes.generate(adapter, model, batch, settings.temperature, settings.max_new_tokens)
            responses = adapter.decode(completions)
            lengths = completions.mask.sum(dim=1).tolist()
            append_records(path, [{"id": it.id, "chunk": k, "prompt": p, "response": r, "completion_tokens": n}
                                  for it, p, r, n in zip(chunk, prompts, responses, lengths) if it.id not in finished])
            bar.update(len(chunk) * world_size())


@dataclass
class BenchmarkResult:
    name: str
    split: str
    score: float
    items: int
    unparseable: int
    extractor: str
    extras: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "items": self.items, "unparseable": self.unparseable, "split": self.split,
                "extractor": self.extractor, **self.extras}


def judge_response(bench: Benchmark, item: EvalItem, response: str, extractor: Extractor | None) -> tuple[str, Judgement]:
    """(the text scored, the verdict): the last <answer> block (else the whole response), read by the
    benchmark's rules, or by the local extractor where the benchmark supports one."""
    answer = answer_text(response)
    if extractor is not None and extractor.supports(bench.name):
        extracted = extractor.extract(bench.name, item.record, response)
        return extracted, extractor.judge(bench.name, item.record, extracted)
    return answer, bench.judge(item.record, answer)


def score_benchmark(bench: Benchmark, items: Sequence[EvalItem], predictions: dict[str, dict[str, Any]],
                    extractor: Extractor | None, out_dir: Path) -> BenchmarkResult:
    """Score every prediction and write ``predictions/<name>.jsonl`` (one line per item, in order)."""
    missing = [it.id for it in items if it.id not in predictions]
    if missing:
        raise DataError(f"{bench.name}: {len(missing)} items have no prediction (first: {', '.join(missing[:5])}); "
                        f"run again with the same eval.output_dir to finish them")
    lines, scores, unparseable = [], [], 0
    for item in items:
        prediction = predictions[item.id]
        answer, verdict = judge_response(bench, item, prediction["response"], extractor)
        unparseable += verdict.parsed is None
        scores.append(1.0 if verdict.correct else 0.0)
        lines.append({**prediction, "answer": answer, "parsed": verdict.parsed, "correct": verdict.correct})
    (out_dir / "predictions").mkdir(parents=True, exist_ok=True)
    (out_dir / "predictions" / f"{bench.name}.jsonl").write_text(
        "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    aggregate = bench.aggregate([it.record for it in items], scores)
    used = extractor.describe() if extractor is not None and extractor.supports(bench.name) else "rules"
    return BenchmarkResult(bench.name, bench.split, aggregate["score"], len(items), unparseable, used,
                           {k: v for k, v in aggregate.items() if k != "score"})


def table_row(method: str, thinking: bool, results: dict[str, BenchmarkResult]) -> str:
    """Table 1's layout: Method | Thinking | Avg. | the six benchmarks (– where not evaluated), then any other
    benchmark evaluated (a column Table 1 does not have)."""
    names = [*TABLE_1, *(n for n in results if n not in TABLE_1)]
    header = "| Method | Thinking | Avg. | " + " | ".join(benchmark(n).column for n in names) + " |"
    rule = "|" + "---|" * (3 + len(names))
    cells = [f"{results[n].score:.1f}" if n in results else "–" for n in names]
    return f"{header}\n{rule}\n| {method} | {'yes' if thinking else 'no'} | {average(results):.1f} | {' | '.join(cells)} |\n"


def average(results: dict[str, BenchmarkResult]) -> float:
    """Table 1's Avg.: the mean of its benchmarks' scores evaluated; of every score when none of Table 1's was
    (NaN when nothing was)."""
    table_1 = {n: r for n, r in results.items() if n in TABLE_1}
    scores = [r.score for r in (table_1 or results).values()]
    return sum(scores) / len(scores) if scores else math.nan


def load_items(bench: Benchmark, data_root: Path, limit: int | None,
               image_check: ImageCheck | None = None) -> list[EvalItem]:
    """Every item of ``bench`` below ``data_root`` (the first ``limit``), each row's columns and embedded images
    checked while reading (:func:`~mixed_r1.eval.benchmarks.base.read_rows`), and each image's shape against the
    model family's limits (``image_check``: the same check training's load and ``validate --model`` apply), so an
    image the processor would refuse is named before any generation; an error names the benchmark."""
    folder = data_root / bench.folder
    if not folder.is_dir():
        raise DataError(f"{folder}: {bench.name} not found; download {bench.hf_id} there (README, 'Evaluation')")
    try:
        items = bench.load(folder)
    except DataError as err:
        raise DataError(f"{bench.name}: {err}") from None
    if not items:
        raise DataError(f"{folder}: no {bench.split} items of {bench.hf_id}")
    items = items[:limit] if limit else items
    if image_check is None:
        return items
    for item in items:
        for number, value in enumerate(item.images, start=1):
            width, height = image_size(value)
            why = image_check(width, height)
            if why:
                raise DataError(f"{bench.name}: item {item.id}, image {number} ({width}x{height}): {why}")
    return items


def image_size(value: Any) -> tuple[int, int]:
    """(width, height) of a published image, from its header (the pixels were decoded once at load)."""
    with Image.open(image_source(value)) as image:
        return image.size


# what a native evaluation writes into eval.output_dir, resumed or scored by a later run with the same identity
OUTPUTS = ("shards", "predictions", "results.json", "table1_row.md")


def evaluation_identity(run: RunSettings, settings: EvalConfig) -> dict[str, Any]:
    """Everything that decides the predictions in ``eval.output_dir``: the model (path, family, dtype, system
    prompt, its weights' identity), the prompt, the generation settings and the items (``limit``)."""
    return {"model": model_identity(run),
            "thinking": settings.thinking, "template": run.prompt.template if settings.thinking else None,
            "temperature": settings.temperature, "max_new_tokens": settings.max_new_tokens,
            "batch_size": settings.batch_size, "limit": settings.limit, "seed": run.seed}


def check_evaluation_inputs(run: RunSettings, settings: EvalConfig) -> None:
    """Everything an evaluation needs that can be checked without a model, so that a typo ends a run at
    start-up, not after hours of training (``eval.after_training``): the benchmarks' folders below
    ``eval.data_root`` with shards in them (native backend), lmms-eval (``eval.backend=lmms_eval``), and
    ``eval.extractor_path`` (``eval.extractor=local``). The rows themselves are checked when they load."""
    if settings.backend == "lmms_eval":
        from importlib import metadata

        try:
            metadata.version("lmms-eval")
        except metadata.PackageNotFoundError:
            raise ConfigError("eval.backend=lmms_eval needs lmms-eval: pip install -r requirements-eval.txt") from None
    else:
        if not settings.data_root:
            raise ConfigError("eval.data_root is not set: name the folder holding each benchmark's download "
                              "(README, 'Evaluation')")
        data_root = Path(settings.data_root)
        if not data_root.is_dir():
            raise ConfigError(f"eval.data_root={settings.data_root!r}: folder not found (README, 'Evaluation')")
        for name in settings.benchmarks:
            bench = benchmark(name)
            folder = data_root / bench.folder
            if not folder.is_dir():
                raise DataError(f"{folder}: {bench.name} not found below eval.data_root; download {bench.hf_id} "
                                f"there (README, 'Evaluation')")
            bench.shards(folder)  # a DataError naming the folder when it holds no shard of the split
    if settings.extractor == "local" and settings.extractor_path and not _local_model(settings.extractor_path):
        raise ConfigError(f"eval.extractor_path={settings.extractor_path!r}: neither a local folder nor a model in "
                          f"the Hugging Face cache")


def _local_model(path: str) -> bool:
    """A checkpoint folder, or a hub id: in the local cache when offline (HF_HUB_OFFLINE), else well-formed."""
    if Path(path).is_dir():
        return True
    from huggingface_hub import constants, try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(path, "config.json")
    except ValueError:  # not a valid hub id either
        return False
    return isinstance(cached, str) or not constants.HF_HUB_OFFLINE


def eval_settings(cfg: DictConfig) -> tuple[RunSettings, EvalConfig]:
    """``eval.py``'s composed config, read once: the shared groups and ``eval`` (``after_training`` is training's)."""
    config = resolved(cfg)
    return run_settings(config), settings_from(EvalConfig, config["eval"], "eval", ignore=("after_training",))


def run_eval(cfg: DictConfig) -> dict[str, Any] | None:
    """``eval.py``: the composed config read once into settings, then :func:`evaluate`."""
    return evaluate(*eval_settings(cfg))


def evaluate(run: RunSettings, settings: EvalConfig) -> dict[str, Any] | None:
    """Score ``run.model`` on ``settings.benchmarks``. Every rank of a launch runs this; rank 0 scores, writes and
    returns the results (the others: None)."""
    check_evaluation_inputs(run, settings)
    if settings.backend == "lmms_eval":
        from mixed_r1.eval.lmms import run_lmms_eval

        return run_lmms_eval(run, settings)
    start_inference_processes(run)
    out_dir, data_root = Path(settings.output_dir), Path(settings.data_root)
    benches = {name: benchmark(name) for name in settings.benchmarks}
    image_check = adapter_class(run.model.adapter).image_check(run.model)
    items = {name: load_items(bench, data_root, settings.limit, image_check)  # fail early
             for name, bench in benches.items()}
    device = resolve_device(run.device)
    adapter = build_model_adapter(run, device)  # a tiny model is built once
    # after the build: a tiny model's weights exist from here on
    claim_folder(out_dir, evaluation_identity(run, settings), settings.overwrite, "eval.overwrite", OUTPUTS)
    model = adapter.load_model(trainable=False).to(device)
    for name in settings.benchmarks:
        generate_predictions(name, items[name], adapter, model, settings, run.prompt.template, run.seed,
                             out_dir / "shards" / name)
    del model
    barrier()  # every shard complete
    summary = None
    if is_main():
        extractor = build_extractor(settings.extractor, settings.extractor_path, device)
        results = {name: score_benchmark(benches[name], items[name], read_shards(out_dir / "shards" / name),
                                         extractor, out_dir) for name in settings.benchmarks}
        summary = {"method": settings.method, "thinking": settings.thinking, "backend": "native",
                   "model_path": adapter.settings.path, "average": average(results),
                   "benchmarks": {name: r.to_json() for name, r in results.items()}}
        (out_dir / "results.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        row = table_row(settings.method, settings.thinking, results)
        (out_dir / "table1_row.md").write_text(row, encoding="utf-8")
        for name, r in results.items():
            log.info("%-10s %5.1f  (%d items, %d unparseable, split %s, extractor %s)", name, r.score, r.items,
                     r.unparseable, r.split, r.extractor)
        log.info("average %.1f\n%s", summary["average"], row)
    barrier()
    return summary
