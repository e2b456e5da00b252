"""``eval.backend=lmms_eval``: the same checkpoint through lmms-eval, the paper's toolchain, so our scores
can be set beside its own — and both computed on the same predictions: lmms-eval writes every sample
(``--log_samples``), and each one is scored again with our rules.

lmms-eval is optional (``pip install -r requirements-eval.txt``, version pinned there and recorded in the
results). Which lmms-eval model class reads a checkpoint is the adapter's business
(``ModelAdapter.lmms_eval_model``).
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from mixed_r1.errors import ConfigError, DataError
from mixed_r1.eval.benchmarks import benchmark
from mixed_r1.eval.benchmarks.base import answer_text
from mixed_r1.eval.settings import EvalConfig
from mixed_r1.models import adapter_class
from mixed_r1.settings import RunSettings
from mixed_r1.shards import claim_folder

log = logging.getLogger("mixed_r1")

LMMS_OUTPUTS = ("lmms_eval", "results.json")  # what a run leaves in eval.output_dir
PINNED_VERSION = "0.3.5"  # requirements-eval.txt; mid-2025, the lmms-eval generation the paper used


def lmms_command(run: RunSettings, settings: EvalConfig) -> list[str]:
    """The lmms-eval command line for ``settings.benchmarks`` on ``run.model`` (greedy, our token budget —
    its per-task caps of 16-128 tokens would cut a reasoning reply — and the thinking instruction appended
    to each task's prompt when ``eval.thinking``)."""
    model, model_args = adapter_class(run.model.adapter).lmms_eval_model(run.model)
    if settings.thinking:
        instruction = run.prompt.template.format(problem="", hint="").strip()
        model_args["reasoning_prompt"] = "\\n" + instruction
    args = ",".join(f"{k}={v}" for k, v in model_args.items())
    gen = f"max_new_tokens={settings.max_new_tokens},temperature={settings.temperature},do_sample=False"
    return [sys.executable, "-m", "lmms_eval", "--model", model, "--model_args", args,
            "--tasks", ",".join(benchmark(b).lmms_task for b in settings.benchmarks), "--batch_size", "1",
            "--gen_kwargs", gen, "--log_samples", "--output_path", str(Path(settings.output_dir) / "lmms_eval")]


def read_samples(output_path: Path, task: str) -> list[dict[str, Any]]:
    """lmms-eval's per-sample log of ``task`` (``<date>_samples_<task>.jsonl``, the newest)."""
    files = sorted(output_path.rglob(f"*_samples_{task}.jsonl"))
    if not files:
        raise DataError(f"{output_path}: lmms-eval wrote no samples for task {task} (was --log_samples dropped?)")
    return [json.loads(line) for line in files[-1].read_text(encoding="utf-8").splitlines() if line.strip()]


def read_metrics(output_path: Path) -> dict[str, dict[str, Any]]:
    """lmms-eval's own aggregated metrics per task (``<date>_results.json``, the newest)."""
    files = sorted(output_path.rglob("*_results.json"))
    if not files:
        raise DataError(f"{output_path}: lmms-eval wrote no results file")
    return json.loads(files[-1].read_text(encoding="utf-8")).get("results", {})


def rescore(name: str, samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Our rule on lmms-eval's predictions: each logged ``doc`` (the published record, images dropped by
    lmms-eval) and its filtered response."""
    bench = benchmark(name)
    records, scores, unparseable = [], [], 0
    for sample in samples:
        response = sample["filtered_resps"][0] if sample.get("filtered_resps") else ""
        response = response[0] if isinstance(response, list) else response
        verdict = bench.judge(sample["doc"], answer_text(str(response)))
        records.append(sample["doc"])
        scores.append(1.0 if verdict.correct else 0.0)
        unparseable += verdict.parsed is None
    aggregate = bench.aggregate(records, scores)
    return {"score": aggregate["score"], "items": len(samples), "unparseable": unparseable, "extractor": "rules"}


def collect(settings: EvalConfig, output_path: Path, version: str) -> dict[str, Any]:
    """Both scores per benchmark from an lmms-eval output folder."""
    metrics = read_metrics(output_path)
    benchmarks = {}
    for name in settings.benchmarks:
        task = benchmark(name).lmms_task
        benchmarks[name] = {"ours_on_lmms_eval_predictions": rescore(name, read_samples(output_path, task)),
                            "lmms_eval": metrics.get(task, {})}
    return {"backend": "lmms_eval", "lmms_eval_version": version, "thinking": settings.thinking,
            "method": settings.method, "benchmarks": benchmarks}


def run_lmms_eval(run: RunSettings, settings: EvalConfig) -> dict[str, Any]:
    """Run lmms-eval in a child process, then write ``results.json`` with its scores and ours. The output folder
    is claimed first (:func:`mixed_r1.shards.claim_folder`): results are collected from every sample log below
    it, so another model's logs left there would be scored as this one's."""
    from mixed_r1.eval.runner import evaluation_identity

    command = lmms_command(run, settings)
    identity = {**evaluation_identity(run, settings), "backend": "lmms_eval",
                "command": command[command.index("--model"):command.index("--output_path")]}
    claim_folder(Path(settings.output_dir), identity, settings.overwrite, "eval.overwrite", LMMS_OUTPUTS)
    try:
        version = metadata.version("lmms-eval")
    except metadata.PackageNotFoundError:
        raise ConfigError("eval.backend=lmms_eval needs lmms-eval: pip install -r requirements-eval.txt") from None
    if version != PINNED_VERSION:
        log.warning("lmms-eval %s installed; scores were checked against %s (prompts and parsers change between "
                    "versions)", version, PINNED_VERSION)
    log.info("running: %s", " ".join(command))
    subprocess.run(command, check=True)
    summary = collect(settings, Path(settings.output_dir) / "lmms_eval", version)
    (Path(settings.output_dir) / "results.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary
