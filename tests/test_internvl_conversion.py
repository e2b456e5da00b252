"""The automatic conversion of InternVL's remote-code checkpoints (``model_type: internvl_chat``), on a tiny
native InternVL written back out in the hub repo's layout: config field names, weight names (fused vision
qkv, ``mlp1.*``, ``language_model.*``), slow-tokenizer files and a CLIP-style preprocessor config."""
from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
from pathlib import Path

import pytest
import torch

from mixed_r1.errors import ConfigError
from mixed_r1.models import internvl_conversion as conversion
from tests.conftest import _build_adapter, compose_train, model_and_prompt

# ---------------------------------------------------------------------- the remote-code layout, written here
# native key prefix -> remote-code key prefix: the inverse of the converter's table, written out separately
NATIVE_TO_REMOTE = [(re.compile(p), r) for p, r in [
    (r"^model\.vision_tower\.embeddings\.cls_token$", "vision_model.embeddings.class_embedding"),
    (r"^model\.vision_tower\.embeddings\.position_embeddings$", "vision_model.embeddings.position_embedding"),
    (r"^model\.vision_tower\.embeddings\.patch_embeddings\.projection\.", "vision_model.embeddings.patch_embedding."),
    (r"^model\.vision_tower\.encoder\.layer\.(\d+)\.lambda_(\d)$", r"vision_model.encoder.layers.\1.ls\2"),
    (r"^model\.vision_tower\.encoder\.layer\.(\d+)\.layernorm_before\.", r"vision_model.encoder.layers.\1.norm1."),
    (r"^model\.vision_tower\.encoder\.layer\.(\d+)\.layernorm_after\.", r"vision_model.encoder.layers.\1.norm2."),
    (r"^model\.vision_tower\.encoder\.layer\.(\d+)\.attention\.projection_layer\.",
     r"vision_model.encoder.layers.\1.attn.proj."),
    (r"^model\.vision_tower\.encoder\.layer\.(\d+)\.attention\.(q_norm|k_norm)\.",
     r"vision_model.encoder.layers.\1.attn.\2."),
    (r"^model\.vision_tower\.encoder\.layer\.(\d+)\.mlp\.", r"vision_model.encoder.layers.\1.mlp."),
    (r"^model\.multi_modal_projector\.layer_norm\.", "mlp1.0."),
    (r"^model\.multi_modal_projector\.linear_1\.", "mlp1.1."),
    (r"^model\.multi_modal_projector\.linear_2\.", "mlp1.3."),
    (r"^model\.language_model\.", "language_model.model."),
    (r"^lm_head\.", "language_model.lm_head."),
]]
QKV = re.compile(r"^model\.vision_tower\.encoder\.layer\.(\d+)\.attention\.(q|k|v)_proj\.(weight|bias)$")


def remote_state_dict(native: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """InternVLChatModel's weight names: q/k/v fused into one ``attn.qkv`` (q rows first, as InternViT
    reshapes it to (3, heads, head_dim)), the rest renamed."""
    remote: dict[str, torch.Tensor] = {}
    for key, tensor in native.items():
        qkv = QKV.match(key)
        if qkv:
            if qkv.group(2) == "q":
                layer, param = qkv.group(1), qkv.group(3)
                parts = [native[key.replace(".q_proj.", f".{p}_proj.")] for p in "qkv"]
                remote[f"vision_model.encoder.layers.{layer}.attn.qkv.{param}"] = torch.cat(parts).clone()
            continue
        pattern, replacement = next((p, r) for p, r in NATIVE_TO_REMOTE if p.match(key))
        remote[pattern.sub(replacement, key, count=1)] = tensor.clone()
    return remote


def remote_config(native: dict, dtype: str) -> dict:
    """config.json as the hub's InternVL2.5 repos write it (InternVLChatConfig with InternViT and Qwen2 configs)."""
    text, vision = native["text_config"], native["vision_config"]
    rope = text["rope_parameters"]
    llm = {k: v for k, v in text.items() if k not in ("rope_parameters", "layer_types", "dtype")}
    llm.update(architectures=["Qwen2ForCausalLM"], _name_or_path="./pretrained/Qwen2.5-3B-Instruct",
               attn_implementation="flash_attention_2", rope_theta=rope["rope_theta"], rope_scaling=None,
               torch_dtype=dtype, use_bfloat16=False)
    vit = {"architectures": ["InternVisionModel"], "model_type": "intern_vit_6b", "auto_map": {
        "AutoConfig": "configuration_intern_vit.InternVisionConfig",
        "AutoModel": "modeling_intern_vit.InternVisionModel"},
        "hidden_size": vision["hidden_size"], "num_hidden_layers": vision["num_hidden_layers"],
        "num_attention_heads": vision["num_attention_heads"], "intermediate_size": vision["intermediate_size"],
        "image_size": vision["image_size"][0], "patch_size": vision["patch_size"][0], "num_channels": 3,
        "qkv_bias": vision["attention_bias"], "qk_normalization": vision["use_qk_norm"], "norm_type": "layer_norm",
        "layer_norm_eps": vision["layer_norm_eps"], "hidden_act": "gelu", "dropout": 0.0, "attention_dropout": 0.0,
        "drop_path_rate": 0.0, "initializer_factor": 1.0, "initializer_range": 0.02, "use_flash_attn": True,
        "torch_dtype": dtype, "use_bfloat16": False, "moe_config": None, "use_moe": False}
    return {"architectures": ["InternVLChatModel"], "model_type": "internvl_chat", "auto_map": {
        "AutoConfig": "configuration_internvl_chat.InternVLChatConfig",
        "AutoModel": "modeling_internvl_chat.InternVLChatModel"},
        "downsample_ratio": native["downsample_ratio"], "dynamic_image_size": True,
        "force_image_size": vision["image_size"][0], "max_dynamic_patch": 12, "min_dynamic_patch": 1,
        "ps_version": "v2", "select_layer": -1, "template": "internvl2_5", "use_thumbnail": True,
        "pad2square": False, "use_backbone_lora": 0, "use_llm_lora": 0, "tie_word_embeddings": False,
        "torch_dtype": dtype, "llm_config": llm, "vision_config": vit}


def write_hub_tokenizer(native_dir: Path, out: Path) -> None:
    """The slow-tokenizer files of the hub repo: vocab.json + merges.txt, added tokens declared with their ids."""
    tokenizer = json.loads((native_dir / "tokenizer.json").read_text())
    added = {t["content"]: t["id"] for t in tokenizer["added_tokens"]}
    (out / "vocab.json").write_text(json.dumps(tokenizer["model"]["vocab"]))
    merges = ["#version: 0.2"] + [" ".join(m) if isinstance(m, list) else m for m in tokenizer["model"]["merges"]]
    (out / "merges.txt").write_text("\n".join(merges) + "\n")
    (out / "added_tokens.json").write_text(json.dumps(added))
    entry = dict(lstrip=False, rstrip=False, normalized=False, single_word=False, special=True)
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "Qwen2Tokenizer", "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
        "bos_token": None, "model_max_length": 8192, "clean_up_tokenization_spaces": False, "errors": "replace",
        "split_special_tokens": False, "additional_special_tokens": [t for t in added if t != "<|endoftext|>"],
        "added_tokens_decoder": {str(i): {"content": t, **entry} for t, i in added.items()}}))
    (out / "special_tokens_map.json").write_text(json.dumps({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}))


def write_remote_layout(native_dir: Path, out: Path, lm_head: bool = True) -> Path:
    """``native_dir`` (a native InternVL) rewritten as OpenGVLab's remote-code repo, weights in two shards."""
    from safetensors.torch import save_file
    from transformers import AutoModelForImageTextToText

    out.mkdir(parents=True)
    native_config = json.loads((native_dir / "config.json").read_text())
    weights = AutoModelForImageTextToText.from_pretrained(native_dir).state_dict()  # run-time names
    if native_config["tie_word_embeddings"] and not lm_head:
        del weights["lm_head.weight"]  # else a tied checkpoint that still stores the head
    remote = remote_state_dict(weights)
    (out / "config.json").write_text(json.dumps(remote_config(native_config, "float32"), indent=2))
    keys = sorted(remote)
    shards = {"model-00001-of-00002.safetensors": keys[: len(keys) // 2],
              "model-00002-of-00002.safetensors": keys[len(keys) // 2:]}
    for name, names in shards.items():
        save_file({k: remote[k] for k in names}, str(out / name), metadata={"format": "pt"})
    index = {"metadata": {"total_size": 0}, "weight_map": {k: n for n, names in shards.items() for k in names}}
    (out / "model.safetensors.index.json").write_text(json.dumps(index))
    write_hub_tokenizer(native_dir, out)
    processor = json.loads((native_dir / "preprocessor_config.json").read_text())
    (out / "preprocessor_config.json").write_text(json.dumps({
        "crop_size": 448, "do_center_crop": True, "do_normalize": True, "do_resize": True, "resample": 3,
        "feature_extractor_type": "CLIPFeatureExtractor", "size": 448,
        "image_mean": processor["image_mean"], "image_std": processor["image_std"]}))
    (out / "modeling_internvl_chat.py").write_text("raise RuntimeError('remote code must never run')\n")
    return out


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny native InternVL (the reference) with its composed config."""
    cfg = compose_train(["model=tiny_internvl"], run_dir=tmp_path_factory.mktemp("ivl_native"))
    return cfg, _build_adapter(cfg)


def test_the_tiny_twin_names_its_image_tokens_as_a_real_native_checkpoint_does(tiny):
    """What tools that build InternVLProcessor from the folder read: the tokenizer's named image tokens (with the
    ids the model uses) and the image tokens per tile in processor_config.json."""
    from transformers import AutoTokenizer

    cfg, adapter = tiny
    tokenizer = AutoTokenizer.from_pretrained(cfg.model.path)
    assert (tokenizer.start_image_token, tokenizer.end_image_token, tokenizer.context_image_token) == (
        "<img>", "</img>", "<IMG_CONTEXT>")
    assert tokenizer.context_image_token_id == adapter.model_config.image_token_id
    processor = json.loads((Path(cfg.model.path) / "processor_config.json").read_text())
    assert processor["image_seq_length"] == adapter.tokens_per_tile == adapter.model_config.image_seq_length


@pytest.fixture(scope="module")
def remote_template(tiny, tmp_path_factory) -> Path:
    return write_remote_layout(Path(tiny[0].model.path), tmp_path_factory.mktemp("ivl_remote") / "InternVL2_5-tiny")


@pytest.fixture
def remote(remote_template, tmp_path) -> Path:
    """A fresh copy per test: each test sees its own (empty) conversion cache beside it."""
    return Path(shutil.copytree(remote_template, tmp_path / "ckpt" / remote_template.name))


@pytest.fixture
def user_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "mixed_r1" / "converted"


def count_conversions(monkeypatch) -> list[Path]:
    calls: list[Path] = []
    real = conversion.convert_remote_checkpoint

    def counting(source: Path, out_dir: Path) -> None:
        calls.append(out_dir)
        real(source, out_dir)

    monkeypatch.setattr(conversion, "convert_remote_checkpoint", counting)
    return calls


# ---------------------------------------------------------------------- detection and the conversion itself
def test_detection_converts_the_remote_layout_and_leaves_a_native_one(tiny, remote, user_cache, capfd):
    from mixed_r1.models import InternVLAdapter

    native_path = tiny[0].model.path
    assert conversion.is_remote_code_checkpoint(remote) and not conversion.is_remote_code_checkpoint(Path(native_path))
    assert InternVLAdapter.prepare_checkpoint(native_path) == native_path
    converted = Path(InternVLAdapter.prepare_checkpoint(str(remote)))
    assert converted.parent == remote.parent and converted.name.startswith(f"{remote.name}-native-hf-")
    assert json.loads((converted / "config.json").read_text())["model_type"] == "internvl"
    assert not user_cache.exists()
    output = capfd.readouterr()
    assert "custom code" not in output.out + output.err  # never asks whether to run the repo's remote code


def test_converted_checkpoint_is_the_native_model(tiny, remote, wide_sample):
    """Same weights, same logits, and the adapter runs on it: the tokenizer carries InternVL's named tokens
    and a chat template, the image processor tiles like the original's."""
    from transformers import (
        AutoImageProcessor,
        AutoModelForImageTextToText,
        AutoTokenizer,
        InternVLForConditionalGeneration,
        Qwen2Tokenizer,
    )
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    from mixed_r1.models import InternVLAdapter

    cfg, native_adapter = tiny
    converted = InternVLAdapter.prepare_checkpoint(str(remote))
    model = AutoModelForImageTextToText.from_pretrained(converted).eval()
    original = native_adapter.load_model(trainable=False)
    assert isinstance(model, InternVLForConditionalGeneration)
    ours, theirs = model.state_dict(), original.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)

    tokenizer = AutoTokenizer.from_pretrained(converted)
    assert (tokenizer.start_image_token, tokenizer.end_image_token, tokenizer.context_image_token) == (
        "<img>", "</img>", "<IMG_CONTEXT>")
    image_token_id = tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>")
    assert image_token_id == model.config.image_token_id == original.config.image_token_id
    # InternVLProcessor (and vLLM's InternVL path) read the image tokens per tile from processor_config.json
    processor = json.loads((Path(converted) / "processor_config.json").read_text())
    assert processor == {"image_seq_length": native_adapter.tokens_per_tile, "processor_class": "InternVLProcessor"}
    source_tokenizer = Qwen2Tokenizer.from_pretrained(remote)  # the conversion keeps the checkpoint's tokenizer
    text = "<|im_start|>user\n<img><IMG_CONTEXT></img>\nIs the shape blue? <box>[[1, 2, 3, 4]]</box><|im_end|>\n"
    assert tokenizer(text)["input_ids"] == source_tokenizer(text)["input_ids"]
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
        tokenize=False, add_generation_prompt=True)
    assert chat == "<|im_start|>user\n<IMG_CONTEXT>\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert isinstance(AutoImageProcessor.from_pretrained(converted), GotOcr2ImageProcessorPil)

    # the adapter reads the converted folder like the native one: same images, and equal log-probs
    settings, prompt = model_and_prompt(cfg)
    adapter = InternVLAdapter(dataclasses.replace(settings, path=str(converted)), prompt, torch.device("cpu"))
    batch = adapter.prompt_batch([wide_sample])
    reference_batch = native_adapter.prompt_batch([wide_sample])
    assert torch.equal(batch.pixel_values, reference_batch.pixel_values)
    with torch.no_grad():
        logits = model(**batch.model_inputs()).logits
        reference = original(**batch.model_inputs()).logits
    assert batch.input_ids.eq(model.config.image_token_id).sum() == adapter.tokens_per_tile * batch.patches_per_row[0]
    assert torch.equal(logits, reference)


def test_untied_head_biased_qkv_and_qk_norm_map_back_exactly():
    """The weight mapping on a vision tower with qkv bias and q/k norms, and an untied head kept as is."""
    from transformers import InternVLConfig, InternVLForConditionalGeneration

    config = InternVLConfig(
        vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                           image_size=[28, 28], attention_bias=True, use_qk_norm=True),
        text_config=dict(model_type="qwen2", vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=False),
        tie_word_embeddings=False)
    torch.manual_seed(0)
    native = InternVLForConditionalGeneration(config).state_dict()
    remote = remote_state_dict(native)
    assert "vision_model.encoder.layers.1.attn.qkv.bias" in remote and "language_model.lm_head.weight" in remote
    back = conversion.convert_state_dict(remote, config, Path("/ckpt"))
    assert back.keys() == native.keys() and all(torch.equal(back[k], native[k]) for k in native)
    # a config declaring tied embeddings with a stored head: an equal copy is dropped, a different one kept
    tied = InternVLConfig(**{**config.to_dict(), "tie_word_embeddings": True})
    tied.text_config.tie_word_embeddings = True
    same_head = {**remote, "language_model.lm_head.weight": remote["language_model.model.embed_tokens.weight"]}
    assert "lm_head.weight" not in conversion.convert_state_dict(same_head, tied, Path("/ckpt"))
    assert torch.equal(conversion.convert_state_dict(remote, tied, Path("/ckpt"))["lm_head.weight"],
                       native["lm_head.weight"]) and not tied.tie_word_embeddings
    del remote["mlp1.3.bias"]
    missing = r"model.path=/ckpt: .*missing \['model.multi_modal_projector.linear_2.bias'\]"
    with pytest.raises(ConfigError, match=missing):
        conversion.convert_state_dict(remote, config, Path("/ckpt"))
    with pytest.raises(ConfigError, match="does not know"):
        conversion.convert_state_dict({"vision_model.head.weight": torch.zeros(1)}, config, Path("/ckpt"))


def test_unsupported_remote_checkpoints_are_refused_with_the_path(remote):
    config = json.loads((remote / "config.json").read_text())
    internlm = {**config, "llm_config": {**config["llm_config"], "architectures": ["InternLM2ForCausalLM"]}}
    with pytest.raises(ConfigError, match=f"model.path={remote}: .*InternLM2ForCausalLM"):
        conversion.native_config(internlm, 5, remote)
    with pytest.raises(ConfigError, match="ps_version='v1'"):
        conversion.native_config({**config, "ps_version": "v1"}, 5, remote)
    # a tokenizer whose added tokens would load at other ids than the weights were trained with
    vocab = json.loads((remote / "vocab.json").read_text())
    added = json.loads((remote / "added_tokens.json").read_text())
    (remote / "vocab.json").write_text(json.dumps({k: v for k, v in vocab.items() if k not in added}))
    with pytest.raises(ConfigError, match="added tokens at other ids"):
        conversion.convert_tokenizer(remote)


# ---------------------------------------------------------------------- the cache
def test_conversion_is_cached_and_reused(remote, monkeypatch, caplog):
    calls = count_conversions(monkeypatch)
    with caplog.at_level(logging.INFO, logger="mixed_r1"):
        first = conversion.prepare_internvl_checkpoint(str(remote))
        assert f"converting remote-code InternVL checkpoint {remote} into {first}" in caplog.text
        stamp = (Path(first) / "config.json").stat().st_mtime_ns
        caplog.clear()
        second = conversion.prepare_internvl_checkpoint(str(remote))
    assert second == first and len(calls) == 1
    assert f"using converted checkpoint {first}" in caplog.text and "converting" not in caplog.text
    assert (Path(first) / "config.json").stat().st_mtime_ns == stamp
    assert not [p for p in remote.parent.iterdir() if ".tmp-" in p.name]
    # a changed source checkpoint is a different conversion
    (remote / "added_tokens.json").touch()
    assert conversion.prepare_internvl_checkpoint(str(remote)) != first and len(calls) == 2


def test_an_interrupted_conversion_leaves_nothing_that_is_reused(remote, monkeypatch):
    real = conversion.convert_remote_checkpoint

    def killed(source: Path, out_dir: Path) -> None:
        (out_dir / "config.json").write_text("{}")  # half written...
        raise KeyboardInterrupt  # ...then killed

    monkeypatch.setattr(conversion, "convert_remote_checkpoint", killed)
    with pytest.raises(KeyboardInterrupt):
        conversion.prepare_internvl_checkpoint(str(remote))
    assert sorted(p.name for p in remote.parent.iterdir()) == [remote.name, f"{_converted_name(remote)}.lock"]

    # a temporary folder left by a conversion killed harder (SIGKILL: no cleanup) is ignored, then removed
    stale = remote.parent / f"{_converted_name(remote)}.tmp-dead"
    stale.mkdir()
    (stale / "config.json").write_text("{}")
    monkeypatch.setattr(conversion, "convert_remote_checkpoint", real)
    converted = Path(conversion.prepare_internvl_checkpoint(str(remote)))
    assert converted.name == _converted_name(remote) and not stale.exists()
    assert json.loads((converted / "config.json").read_text())["model_type"] == "internvl"


def test_a_read_only_source_folder_falls_back_to_the_user_cache(remote, user_cache, monkeypatch):
    writable = conversion._writable
    monkeypatch.setattr(conversion, "_writable", lambda root: root != remote.parent and writable(root))
    converted = Path(conversion.prepare_internvl_checkpoint(str(remote)))
    assert converted.parent == user_cache and (converted / "model.safetensors").is_file()
    assert sorted(p.name for p in remote.parent.iterdir()) == [remote.name]


def _converted_name(remote: Path) -> str:
    return f"{remote.name}-native-hf-{conversion._fingerprint(remote)}"


# ---------------------------------------------------------------------- hub ids
def test_a_hub_id_offline_and_not_cached_is_a_one_line_config_error(tmp_path, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ConfigError) as error:
        conversion.prepare_internvl_checkpoint("OpenGVLab/InternVL2_5-4B")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("model.path=OpenGVLab/InternVL2_5-4B is not a local folder")
    assert "hf download OpenGVLab/InternVL2_5-4B" in message
    with pytest.raises(ConfigError, match="neither a local folder nor a Hugging Face model repo id"):
        conversion.prepare_internvl_checkpoint("/no/such/checkpoint")


def test_a_cached_hub_snapshot_is_converted_beside_its_repo(remote, tmp_path, monkeypatch):
    """``model.path=<hub id>`` offline with the repo in the hub cache: converted next to the repo's
    snapshots/ (not inside it), and the hub cache still scans clean."""
    import huggingface_hub

    hub = tmp_path / "hub"
    repo = hub / "models--OpenGVLab--InternVL2_5-tiny"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(remote, repo / "snapshots" / commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    converted = Path(conversion.prepare_internvl_checkpoint("OpenGVLab/InternVL2_5-tiny"))
    assert converted.parent == repo / "mixed_r1-native" and converted.name.startswith(f"{commit}-native-hf-")
    assert (converted / "model.safetensors").is_file()
    scan = huggingface_hub.scan_cache_dir(hub)
    assert not scan.warnings and [r.commit_hash for r in next(iter(scan.repos)).revisions] == [commit]


# ---------------------------------------------------------------------- real shapes (meta tensors: no memory)
INTERNVL2_5_4B = {  # config.json field names and values as the hub repo has them (InternViT-300M + Qwen2.5-3B)
    "architectures": ["InternVLChatModel"], "model_type": "internvl_chat", "downsample_ratio": 0.5,
    "dynamic_image_size": True, "force_image_size": 448, "max_dynamic_patch": 12, "min_dynamic_patch": 1,
    "ps_version": "v2", "select_layer": -1, "template": "internvl2_5", "use_thumbnail": True,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "llm_config": {"_name_or_path": "./pretrained/Qwen2.5-3B-Instruct", "architectures": ["Qwen2ForCausalLM"],
                   "attn_implementation": "flash_attention_2", "model_type": "qwen2", "bos_token_id": 151643,
                   "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 2048, "intermediate_size": 11008,
                   "max_position_embeddings": 32768, "max_window_layers": 70, "num_attention_heads": 16,
                   "num_hidden_layers": 36, "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_scaling": None,
                   "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": False,
                   "torch_dtype": "bfloat16", "use_bfloat16": True, "use_cache": False, "use_sliding_window": False,
                   "vocab_size": 151674, "moe_config": None},
    "vision_config": {"architectures": ["InternVisionModel"], "model_type": "intern_vit_6b", "hidden_size": 1024,
                      "image_size": 448, "patch_size": 14, "num_hidden_layers": 24, "num_attention_heads": 16,
                      "intermediate_size": 4096, "qkv_bias": True, "qk_normalization": False,
                      "norm_type": "layer_norm", "layer_norm_eps": 1e-06, "hidden_act": "gelu", "dropout": 0.0,
                      "attention_dropout": 0.0, "drop_path_rate": 0.0, "initializer_factor": 0.1,
                      "initializer_range": 1e-10, "num_channels": 3, "use_flash_attn": True, "use_moe": False},
}


def remote_shapes(config: dict) -> dict[str, torch.Tensor]:
    """InternVLChatModel's weights (meta tensors) from its config alone, as the remote code builds them:
    InternViT with fused qkv, ``mlp1`` = LayerNorm(vit·4) -> Linear -> GELU -> Linear, a Qwen2ForCausalLM."""
    vit, llm = config["vision_config"], config["llm_config"]
    d, n, text = vit["hidden_size"], (vit["image_size"] // vit["patch_size"]) ** 2, llm["hidden_size"]
    kv = text // llm["num_attention_heads"] * llm["num_key_value_heads"]
    shapes = {"vision_model.embeddings.class_embedding": (1, 1, d),
              "vision_model.embeddings.position_embedding": (1, n + 1, d),
              "vision_model.embeddings.patch_embedding.weight": (d, 3, vit["patch_size"], vit["patch_size"]),
              "vision_model.embeddings.patch_embedding.bias": (d,),
              "mlp1.0.weight": (4 * d,), "mlp1.0.bias": (4 * d,), "mlp1.1.weight": (text, 4 * d),
              "mlp1.1.bias": (text,), "mlp1.3.weight": (text, text), "mlp1.3.bias": (text,),
              "language_model.model.embed_tokens.weight": (llm["vocab_size"], text),
              "language_model.model.norm.weight": (text,), "language_model.lm_head.weight": (llm["vocab_size"], text)}
    for i in range(vit["num_hidden_layers"]):
        layer = f"vision_model.encoder.layers.{i}."
        shapes.update({layer + "ls1": (d,), layer + "ls2": (d,), layer + "attn.qkv.weight": (3 * d, d),
                       layer + "attn.qkv.bias": (3 * d,), layer + "attn.proj.weight": (d, d),
                       layer + "attn.proj.bias": (d,), layer + "mlp.fc1.weight": (vit["intermediate_size"], d),
                       layer + "mlp.fc1.bias": (vit["intermediate_size"],),
                       layer + "mlp.fc2.weight": (d, vit["intermediate_size"]), layer + "mlp.fc2.bias": (d,),
                       **{layer + f"norm{k}.{p}": (d,) for k in (1, 2) for p in ("weight", "bias")}})
    for i in range(llm["num_hidden_layers"]):
        layer = f"language_model.model.layers.{i}."
        shapes.update({layer + "self_attn.q_proj.weight": (text, text), layer + "self_attn.q_proj.bias": (text,),
                       layer + "self_attn.k_proj.weight": (kv, text), layer + "self_attn.k_proj.bias": (kv,),
                       layer + "self_attn.v_proj.weight": (kv, text), layer + "self_attn.v_proj.bias": (kv,),
                       layer + "self_attn.o_proj.weight": (text, text),
                       layer + "mlp.gate_proj.weight": (llm["intermediate_size"], text),
                       layer + "mlp.up_proj.weight": (llm["intermediate_size"], text),
                       layer + "mlp.down_proj.weight": (text, llm["intermediate_size"]),
                       layer + "input_layernorm.weight": (text,), layer + "post_attention_layernorm.weight": (text,)})
    return {k: torch.empty(s, device="meta", dtype=torch.bfloat16) for k, s in shapes.items()}


def test_the_internvl2_5_4b_layout_maps_onto_the_native_model_at_real_shapes():
    """Its config maps to the native model whose every key and shape the remote weights fill (the check
    the conversion itself runs), with 256 context tokens per 448-px tile."""
    config = conversion.native_config(INTERNVL2_5_4B, 151667, Path("/hub/InternVL2_5-4B"))
    assert config.image_seq_length == 256 and config.vision_config.attention_bias
    assert config.text_config.rope_parameters["rope_theta"] == 1000000.0 and not config.tie_word_embeddings
    assert set(config.text_config.layer_types) == {"full_attention"} and config.text_config.use_cache
    converted = conversion.convert_state_dict(remote_shapes(INTERNVL2_5_4B), config, Path("/hub/InternVL2_5-4B"))
    assert sum(t.numel() for t in converted.values()) == pytest.approx(3.7e9, rel=0.02)
