"""Issue 23: what an evaluation needs is checked before any model loads (``check_evaluation_inputs``, which the
training recipe can call at start-up for ``eval.after_training``), and an output folder belongs to the run
that produced it (``produced_by.json``): another model's or another mode's predictions are never resumed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mixed_r1.errors import ConfigError, DataError
from mixed_r1.eval.synthetic import write_benchmarks
from tests.conftest import compose_train


def settings(tmp_path: Path, *overrides: str):
    from mixed_r1.eval.runner import eval_settings

    return eval_settings(compose_train(list(overrides), run_dir=tmp_path / "run", config_name="eval"))


def test_the_evaluation_inputs_are_checked_without_a_model(tmp_path: Path, monkeypatch) -> None:
    from importlib import metadata

    from mixed_r1.eval.runner import check_evaluation_inputs

    root = tmp_path / "bench"
    write_benchmarks(root, names=("mmstar", "ai2d"), num_items=2)
    check_evaluation_inputs(*settings(tmp_path, f"eval.data_root={root}", "eval.benchmarks=[mmstar,ai2d]"))
    every = tmp_path / "every"
    write_benchmarks(every, num_items=1)
    check_evaluation_inputs(*settings(tmp_path, f"eval.data_root={every}"))  # all six, each where its loader reads
    with pytest.raises(ConfigError, match=r"eval.data_root='.*/bnech': folder not found"):
        check_evaluation_inputs(*settings(tmp_path, f"eval.data_root={tmp_path / 'bnech'}"))
    with pytest.raises(DataError, match=r"/bench/MathVista: mathvista not found below eval.data_root"):
        check_evaluation_inputs(*settings(tmp_path, f"eval.data_root={root}", "eval.benchmarks=[mmstar,mathvista]"))
    (root / "MathVista").mkdir()
    with pytest.raises(DataError, match=r"/bench/MathVista: no .parquet/.arrow file"):
        check_evaluation_inputs(*settings(tmp_path, f"eval.data_root={root}", "eval.benchmarks=[mathvista]"))
    with pytest.raises(ConfigError, match=r"eval.extractor_path='.*/no-such-llm': neither a local folder"):
        check_evaluation_inputs(*settings(tmp_path, f"eval.data_root={root}", "eval.benchmarks=[mmstar]",
                                          "eval.extractor=local", f"eval.extractor_path={tmp_path / 'no-such-llm'}"))

    def absent(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", absent)
    with pytest.raises(ConfigError, match="eval.backend=lmms_eval needs lmms-eval"):
        check_evaluation_inputs(*settings(tmp_path, f"eval.data_root={root}", "eval.backend=lmms_eval"))


def test_evaluate_checks_every_input_before_the_model_is_built(tmp_path: Path, monkeypatch) -> None:
    """A mistyped extractor path ends ``evaluate`` before any model is built, not after generation."""
    from mixed_r1.eval import runner

    root = tmp_path / "bench"
    write_benchmarks(root, names=("mmstar",), num_items=2)

    def no_model(*args: object) -> None:
        raise AssertionError("a model was built before the inputs were checked")

    monkeypatch.setattr(runner, "build_model_adapter", no_model)
    with pytest.raises(ConfigError, match="eval.extractor_path="):
        runner.evaluate(*settings(tmp_path, f"eval.data_root={root}", "eval.benchmarks=[mmstar]",
                                  "eval.extractor=local", f"eval.extractor_path={tmp_path / 'no-such-llm'}"))


@pytest.mark.slow
def test_an_output_folder_of_another_mode_or_model_is_refused_or_started_over(tiny_checkpoints, tmp_path):
    from mixed_r1.eval.runner import run_eval

    root = tmp_path / "bench"
    write_benchmarks(root, names=("mmstar",), num_items=2)
    out = tmp_path / "out"

    def run(*more: str, family: str = "tiny_qwen"):
        return run_eval(compose_train([f"model={family}", f"model.path={tiny_checkpoints[family]}", f"eval.data_root={root}",
                                       f"eval.output_dir={out}", "eval.benchmarks=[mmstar]", "eval.limit=1",
                                       "eval.max_new_tokens=4", "eval.batch_size=1", *more],
                                      run_dir=out, config_name="eval"))

    first = run()
    assert first is not None and first["thinking"] is True
    with pytest.raises(ConfigError, match=r"holds outputs of another run.*thinking: True there, False now.*"
                                          r"eval.overwrite=true"):
        run("eval.thinking=false")
    with pytest.raises(ConfigError, match=r"model.path: '.*tiny_qwen.*' there, '.*tiny_internvl.*' now"):
        run(family="tiny_internvl")
    owner = json.loads((out / "produced_by.json").read_text())
    assert owner["thinking"] is True and owner["model"]["path"] == str(tiny_checkpoints["tiny_qwen"])
    assert run() is not None  # the same settings resume
    again = run("eval.thinking=false", "eval.overwrite=true")
    assert again is not None and again["thinking"] is False
    lines = [json.loads(line) for line in (out / "predictions" / "mmstar.jsonl").read_text().splitlines()]
    assert all("<think>" not in line["prompt"] for line in lines)  # regenerated, not the thinking predictions
    assert json.loads((out / "produced_by.json").read_text())["thinking"] is False


def test_weights_identity_tells_another_training_of_the_same_model_apart_but_not_a_copy(tmp_path: Path) -> None:
    import shutil

    from mixed_r1.shards import weights_identity

    first, second = tmp_path / "step-100", tmp_path / "step-200"
    for folder, fill in ((first, b"\x01"), (second, b"\x02")):
        folder.mkdir()
        (folder / "config.json").write_text('{"model_type": "qwen2_5_vl"}')
        (folder / "model.safetensors").write_bytes(b"header" + fill * 3_000_000)  # same size, other weights
    shutil.copytree(first, tmp_path / "copy")
    assert weights_identity(str(first)) != weights_identity(str(second))
    assert weights_identity(str(first)) == weights_identity(str(tmp_path / "copy"))
    assert weights_identity("Qwen/Qwen2.5-VL-7B-Instruct") == {}  # a hub id is named by the path alone
