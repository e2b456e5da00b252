"""The lmms-eval backend without lmms-eval installed: the command it runs, reading its sample logs and
scoring them with our rules, and our checkpoints loading the way lmms-eval's qwen2_5_vl class loads them."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mixed_r1.errors import ConfigError
from mixed_r1.eval.lmms import collect, lmms_command
from mixed_r1.eval.runner import eval_settings
from tests.conftest import _build_adapter, compose_train


def eval_cfg(tmp_path: Path, *overrides: str):
    return compose_train(["eval.data_root=/bench", *overrides], run_dir=tmp_path, config_name="eval")


def test_the_command_runs_every_task_greedy_with_our_budget_and_thinking_instruction(tmp_path):
    cfg = eval_cfg(tmp_path, "model=qwen7b", "model.path=/ckpt/qwen7b", "eval.max_new_tokens=2048")
    cmd = lmms_command(*eval_settings(cfg))
    assert cmd[cmd.index("--model") + 1] == "qwen2_5_vl"
    assert cmd[cmd.index("--tasks") + 1] == "mathvista_testmini,mathvision_test,mmbench_en_dev,mmmu_val,mmstar,ai2d"
    args = cmd[cmd.index("--model_args") + 1]
    assert "pretrained=/ckpt/qwen7b" in args and "max_pixels=1003520" in args
    assert "reasoning_prompt=\\nOutput the thinking process in <think> </think>" in args
    assert "max_new_tokens=2048" in cmd[cmd.index("--gen_kwargs") + 1] and "--log_samples" in cmd
    direct = lmms_command(*eval_settings(eval_cfg(tmp_path, "model=qwen7b", "model.path=/ckpt/qwen7b",
                                                  "eval.thinking=false")))
    assert "reasoning_prompt" not in direct[direct.index("--model_args") + 1]


def test_internvl_checkpoints_are_refused_with_the_reason(tmp_path):
    cfg = eval_cfg(tmp_path, "model=internvl4b")
    with pytest.raises(ConfigError, match="remote code"):
        lmms_command(*eval_settings(cfg))


def test_lmms_eval_sample_logs_are_scored_again_with_our_rules(tmp_path):
    out = tmp_path / "lmms_eval" / "qwen__ckpt"
    out.mkdir(parents=True)
    docs = [{"question": "Which is red?", "options": ["sky", "apple"], "answer": "1"},
            {"question": "Which is blue?", "options": ["sky", "apple"], "answer": "0"},
            {"question": "Which is green?", "options": ["leaf", "sun"], "answer": "0"}]
    responses = ["B", "<think>sky is blue</think><answer>A</answer>", "no idea"]
    with (out / "20260101_samples_ai2d.jsonl").open("w") as handle:
        for i, (doc, response) in enumerate(zip(docs, responses)):  # lmms-eval's --log_samples lines
            handle.write(json.dumps({"doc_id": i, "doc": doc, "target": doc["answer"], "arguments": [],
                                     "resps": [[response]], "filtered_resps": [response], "exact_match": 0}) + "\n")
    (out / "20260101_results.json").write_text(json.dumps({"results": {"ai2d": {"exact_match,flexible-extract": 33.3}}}))
    _, settings = eval_settings(eval_cfg(tmp_path, "eval.benchmarks=[ai2d]"))
    summary = collect(settings, tmp_path / "lmms_eval", "0.3.5")
    ours = summary["benchmarks"]["ai2d"]["ours_on_lmms_eval_predictions"]
    assert ours["items"] == 3 and ours["unparseable"] == 1 and ours["score"] == pytest.approx(200 / 3)
    assert summary["benchmarks"]["ai2d"]["lmms_eval"] == {"exact_match,flexible-extract": 33.3}
    assert summary["lmms_eval_version"] == "0.3.5"


def test_our_checkpoint_loads_the_way_lmms_evals_qwen2_5_vl_class_loads_it(tiny_checkpoints, tmp_path):
    """lmms-eval builds ``Qwen2_5_VLForConditionalGeneration`` and ``AutoProcessor`` from the folder and
    renders its messages with the chat template. ``AutoProcessor`` also needs torchvision (for the video
    processor), which this CPU torch cannot have; its parts are loaded here one by one from the same files."""
    from PIL import Image
    from transformers import AutoImageProcessor, AutoTokenizer, Qwen2_5_VLForConditionalGeneration

    checkpoint = tiny_checkpoints["tiny_qwen"]
    cfg = compose_train(["model=tiny_qwen", f"model.path={checkpoint}"], run_dir=tmp_path)
    adapter = _build_adapter(cfg)
    model, info = Qwen2_5_VLForConditionalGeneration.from_pretrained(checkpoint, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    processor = AutoImageProcessor.from_pretrained(checkpoint, min_pixels=cfg.model.min_pixels,
                                                   max_pixels=cfg.model.max_pixels)
    messages = [{"role": "system", "content": cfg.model.system_prompt},
                {"role": "user", "content": [{"type": "image", "image": "x.png"}, {"type": "text", "text": "What colour?"}]}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == adapter.chat_frame("<|vision_start|><|image_pad|><|vision_end|>What colour?")
    image = Image.new("RGB", (56, 56), (200, 30, 30))
    vision = processor(images=[image], return_tensors="pt")
    tokens = int(vision["image_grid_thw"].prod()) // processor.merge_size**2  # what the processor expands to
    ids = tokenizer(text.replace("<|image_pad|>", "<|image_pad|>" * tokens), return_tensors="pt")
    out = model.generate(**ids, pixel_values=vision["pixel_values"], image_grid_thw=vision["image_grid_thw"],
                         max_new_tokens=4, do_sample=False)
    ours = adapter.chat_batch(["What colour?"], [[image]])
    assert torch.equal(ids["input_ids"], ours.input_ids)  # the same prompt tokens as our runner feeds
    assert out.shape[1] > ids["input_ids"].shape[1]


def test_an_output_folder_with_another_models_lmms_eval_logs_is_refused_before_lmms_eval_runs(tmp_path):
    """Results are collected from every sample log below the folder: another model's logs would be scored
    as this one's. The folder records what produced it; another model is refused, eval.overwrite=true
    removes the old logs."""
    from mixed_r1.eval.lmms import run_lmms_eval

    out = tmp_path / "out"
    first = eval_settings(eval_cfg(tmp_path, "model=qwen7b", "model.path=/ckpt/a", "eval.backend=lmms_eval",
                                   f"eval.output_dir={out}"))
    with pytest.raises(ConfigError, match="needs lmms-eval"):  # claimed, then stopped: not installed here
        run_lmms_eval(*first)
    assert json.loads((out / "produced_by.json").read_text())["backend"] == "lmms_eval"
    (out / "lmms_eval" / "qwen__ckpt__a").mkdir(parents=True)
    (out / "lmms_eval" / "qwen__ckpt__a" / "x_samples_ai2d.jsonl").write_text("{}\n")
    second = eval_settings(eval_cfg(tmp_path, "model=qwen7b", "model.path=/ckpt/b", "eval.backend=lmms_eval",
                                    f"eval.output_dir={out}"))
    with pytest.raises(ConfigError, match=r"holds outputs of another run.*/ckpt/a.*/ckpt/b.*eval.overwrite=true"):
        run_lmms_eval(*second)
    assert (out / "lmms_eval" / "qwen__ckpt__a" / "x_samples_ai2d.jsonl").is_file()
    with pytest.raises(ConfigError, match="needs lmms-eval"):  # same model again: its own folder, resumed
        run_lmms_eval(*first)
    overwrite = eval_settings(eval_cfg(tmp_path, "model=qwen7b", "model.path=/ckpt/b", "eval.backend=lmms_eval",
                                       f"eval.output_dir={out}", "eval.overwrite=true"))
    with pytest.raises(ConfigError, match="needs lmms-eval"):
        run_lmms_eval(*overwrite)
    assert not (out / "lmms_eval").exists()
