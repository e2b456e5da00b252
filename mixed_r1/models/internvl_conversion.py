"""InternVL's remote-code hub checkpoints, converted once into transformers' native layout.

Why: ``OpenGVLab/InternVL2_5-4B`` (like the other ``OpenGVLab/InternVL2_5-*`` and ``InternVL3-*`` repos) is
remote code, ``model_type: internvl_chat``; the adapter trains transformers' native
``InternVLForConditionalGeneration``. transformers 5.x cannot load that layout by itself: ``internvl_chat``
is not a registered config, and its checkpoint-conversion mapping for ``internvl`` (in
``transformers/conversion_mapping.py``, shared with llava) only renames the legacy
``language_model``/``vision_tower`` prefixes, not InternViT's ``vision_model.*`` keys, its fused ``attn.qkv``
or the ``mlp1.*`` projector. So ``model.path=OpenGVLab/InternVL2_5-4B`` is converted here, once, into a cache
folder (:func:`converted_checkpoint`), and that folder is what the adapter loads.

The layout read (remote code, model_type ``internvl_chat``):

* ``config.json``: ``vision_config`` (InternViT: ``qkv_bias``, ``qk_normalization``, ``norm_type``, ``dropout``,
  ``attention_dropout``...), ``llm_config`` (a ``Qwen2ForCausalLM`` config), ``downsample_ratio``,
  ``select_layer``, ``ps_version``, ``force_image_size``, ``dynamic_image_size``, ``min/max_dynamic_patch``,
  ``template``;
* weights (safetensors): ``vision_model.embeddings.{class_embedding, position_embedding, patch_embedding.*}``,
  ``vision_model.encoder.layers.N.{ls1, ls2, norm1, norm2, attn.qkv, attn.proj, attn.q_norm, attn.k_norm,
  mlp.fc1, mlp.fc2}``, ``mlp1.{0,1,3}`` (LayerNorm, Linear, GELU, Linear), ``language_model.model.*`` and
  ``language_model.lm_head.weight``;
* the tokenizer files (Qwen2 vocab + merges with InternVL's ``<img>``, ``</img>``, ``<IMG_CONTEXT>``... added).

The key and config mapping follow transformers' own converter,
``src/transformers/models/internvl/convert_internvl_weights_to_hf.py`` (in the source tree, not in the
wheel): InternViT keys renamed onto ``model.vision_tower.*`` with the fused ``qkv`` split into equal q/k/v
thirds, ``mlp1.0/1/3`` onto ``model.multi_modal_projector.{layer_norm, linear_1, linear_2}``, the Qwen2 keys moved
from ``language_model.model.`` to ``model.language_model.`` and ``language_model.lm_head`` to ``lm_head``;
``qkv_bias`` -> ``attention_bias``, ``qk_normalization`` -> ``use_qk_norm``; a GotOcr2 tiling image processor with
InternVL's normalisation; a chat template whose images are ``<IMG_CONTEXT>``; the tokenizer's named
image tokens. Unlike that script it reads the safetensors directly (no remote code, no GPU), checks every
key and shape against the native model, and keeps the checkpoint's own tokenizer instead of downloading
Qwen2.5-VL's. Only Qwen2 language models are handled (InternVL2.5-1B/4B/38B/78B, InternVL3 except 9B); the
InternLM2 ones (fused ``wqkv``) raise a ConfigError.
"""
from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mixed_r1.errors import ConfigError

if TYPE_CHECKING:
    from transformers import PretrainedConfig

log = logging.getLogger("mixed_r1")

REMOTE_MODEL_TYPE = "internvl_chat"
#: bump when the converted output changes: older cache folders then stop matching and are not reused
FORMAT_VERSION = 2  # 2: processor_config.json written (a version-1 folder is converted again)
#: files a conversion reads from the hub repo (not its remote code, example images or videos)
HUB_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.jinja"]
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
#: what InternVLProcessor (and other tools) look up by name on the tokenizer
NAMED_TOKENS = {"start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>"}
CHAT_TEMPLATE = (  # as transformers' converted InternVL checkpoints: ChatML, an image is one <IMG_CONTEXT>
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<IMG_CONTEXT>\n{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# remote-code key prefix -> native key prefix (first match wins); a key matching none is an error
_VIT = r"^vision_model\.encoder\.layers\.(\d+)\."
_LAYER = r"model.vision_tower.encoder.layer.\1."
KEY_RENAMES: list[tuple[re.Pattern[str], str]] = [(re.compile(p), r) for p, r in [
    (r"^vision_model\.embeddings\.class_embedding$", "model.vision_tower.embeddings.cls_token"),
    (r"^vision_model\.embeddings\.position_embedding$", "model.vision_tower.embeddings.position_embeddings"),
    (r"^vision_model\.embeddings\.patch_embedding\.", "model.vision_tower.embeddings.patch_embeddings.projection."),
    (_VIT + r"ls(1|2)$", _LAYER + r"lambda_\2"),
    (_VIT + r"norm1\.", _LAYER + "layernorm_before."),
    (_VIT + r"norm2\.", _LAYER + "layernorm_after."),
    (_VIT + r"attn\.proj\.", _LAYER + "attention.projection_layer."),
    (_VIT + r"attn\.(qkv|q_norm|k_norm)\.", _LAYER + r"attention.\2."),
    (_VIT + r"mlp\.(fc1|fc2)\.", _LAYER + r"mlp.\2."),
    (r"^mlp1\.0\.", "model.multi_modal_projector.layer_norm."),
    (r"^mlp1\.1\.", "model.multi_modal_projector.linear_1."),
    (r"^mlp1\.3\.", "model.multi_modal_projector.linear_2."),
    (r"^language_model\.model\.", "model.language_model."),
    (r"^language_model\.lm_head\.", "lm_head."),
]]
# llm_config keys that are remote-code or loading settings, or InternVL's unused MoE options (the list of
# transformers' converter), not the Qwen2 architecture
_LLM_DROPPED = {"_name_or_path", "architectures", "auto_map", "attn_implementation", "use_flash_attn",
                "use_bfloat16", "torch_dtype", "dtype", "transformers_version", "_attn_implementation_autoset",
                "bias", "laux_allreduce", "moe_coeff_ratio", "moe_output_scale", "noisy_gate_policy",
                "shared_expert_intermediate_size", "use_residual", "use_moe", "use_rts", "use_weighted_residual",
                "moe_config", "num_experts", "num_routed_experts", "num_shared_experts", "capacity_factor",
                "eval_capacity_factor", "drop_path_rate"}
# InternViT config key -> InternVLVisionConfig key (the rest of InternViT's keys have no native counterpart)
_VISION_KEYS = {"hidden_size": "hidden_size", "num_hidden_layers": "num_hidden_layers",
                "num_attention_heads": "num_attention_heads", "intermediate_size": "intermediate_size",
                "hidden_act": "hidden_act", "layer_norm_eps": "layer_norm_eps", "norm_type": "norm_type",
                "image_size": "image_size", "patch_size": "patch_size", "num_channels": "num_channels",
                "initializer_range": "initializer_range", "qkv_bias": "attention_bias",
                "qk_normalization": "use_qk_norm", "attention_dropout": "attention_dropout",
                "dropout": "projection_dropout"}


# ---------------------------------------------------------------------- entry point
def prepare_internvl_checkpoint(path: str) -> str:
    """What to load for ``model.path``: the converted cache folder when ``path`` (a local folder or a hub
    repo id) holds the remote-code layout, else ``path`` unchanged."""
    folder = Path(path).expanduser()
    if folder.is_dir():
        if not is_remote_code_checkpoint(folder):
            return path
        return str(converted_checkpoint(folder))
    config_file = Path(_from_hub(path, "hf_hub_download", filename="config.json"))
    if not is_remote_code_checkpoint(config_file.parent):
        return path  # a native checkpoint on the hub: from_pretrained resolves the id itself
    return str(converted_checkpoint(Path(_from_hub(path, "snapshot_download", allow_patterns=HUB_PATTERNS))))


def is_remote_code_checkpoint(folder: Path) -> bool:
    """Whether ``folder`` holds InternVL's remote-code layout (``model_type: internvl_chat``)."""
    config_file = folder / "config.json"
    return config_file.is_file() and _read_json(config_file).get("model_type") == REMOTE_MODEL_TYPE


def _from_hub(repo_id: str, function: str, **kwargs: Any) -> str:
    """A huggingface_hub download (honours HF_HUB_OFFLINE and the local cache) with one-line errors."""
    import huggingface_hub
    from huggingface_hub import errors

    try:
        return getattr(huggingface_hub, function)(repo_id, **kwargs)
    except (errors.LocalEntryNotFoundError, errors.IncompleteSnapshotError) as err:
        raise ConfigError(
            f"model.path={repo_id} is not a local folder and not (fully) in the Hugging Face cache, and the hub "
            f"cannot be reached (HF_HUB_OFFLINE or no network): download it once with `hf download {repo_id}`, "
            f"or set model.path to a local folder") from err
    except (errors.RepositoryNotFoundError, errors.HFValidationError) as err:
        raise ConfigError(f"model.path={repo_id} is neither a local folder nor a Hugging Face model repo id") from err
    except errors.EntryNotFoundError as err:
        raise ConfigError(f"model.path={repo_id}: the hub repo has no {kwargs.get('filename')}") from err


# ---------------------------------------------------------------------- the cache
def converted_checkpoint(source: Path) -> Path:
    """The native conversion of the remote-code checkpoint ``source``: reused when a complete one exists
    (beside the source, or in the user cache), else converted now."""
    name = f"{source.name}-native-hf-{_fingerprint(source)}"
    roots = _cache_roots(source)
    for root in roots:
        if (root / name / "config.json").is_file():
            log.info("using converted checkpoint %s (of %s)", root / name, source)
            return root / name
    for root in roots:
        if _writable(root):
            return _convert_into(source, root / name)
        log.info("cannot write beside %s (%s is read-only): trying the next cache folder", source, root)
    raise ConfigError(f"model.path={source}: no writable folder for its native conversion (tried "
                      f"{', '.join(map(str, roots))})")


def _cache_roots(source: Path) -> list[Path]:
    """Beside the source first; for a hub-cache snapshot, beside the repo's ``snapshots/`` folder (anything
    inside ``snapshots/`` would read as a broken revision to ``hf cache``); then the user's cache."""
    parent = source.resolve().parent
    if parent.name == "snapshots" and parent.parent.name.startswith("models--"):
        beside = parent.parent / "mixed_r1-native"
    else:
        beside = parent
    user = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mixed_r1" / "converted"
    return [beside, user]


def _fingerprint(source: Path) -> str:
    """Short hash naming a conversion: the converter version, the source's place and its files' names,
    sizes and mtimes (a changed checkpoint in the same folder gets a new conversion)."""
    digest = hashlib.sha256(f"{FORMAT_VERSION}\n{source.resolve()}\n".encode())
    for file in sorted(p for p in source.iterdir() if p.is_file()):
        stat = file.stat()  # follows a hub snapshot's symlinks to its blobs
        digest.update(f"{file.name}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:12]


def _writable(root: Path) -> bool:
    """Whether conversions can be written into ``root`` (created if missing)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return False
        raise
    return os.access(root, os.W_OK)


def _convert_into(source: Path, target: Path) -> Path:
    """Convert under a lock (one process converts, the others wait, then reuse) into a temporary folder
    renamed to ``target`` when complete, so a killed conversion never leaves a folder that is reused."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(target.parent / f"{target.name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("waiting for another process converting %s into %s", source, target)
        lock.acquire()
    try:
        if (target / "config.json").is_file():
            log.info("using converted checkpoint %s (of %s)", target, source)
            return target
        _remove_stale_temporaries(target)
        tmp = target.parent / f"{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        tmp.mkdir()  # not mkdtemp: its 0700 mode would keep a shared cache from other users
        log.info("converting remote-code InternVL checkpoint %s into %s (once; reused next time)", source, target)
        try:
            convert_remote_checkpoint(source, tmp)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    finally:
        lock.release()
    log.info("using converted checkpoint %s (of %s)", target, source)
    return target


def _remove_stale_temporaries(target: Path) -> None:
    """Temporary folders of killed conversions (safe to delete: the caller holds the lock)."""
    for stale in target.parent.iterdir():
        if stale.is_dir() and stale.name.startswith(f"{target.name}.tmp-"):
            log.info("removing %s, left by an interrupted conversion", stale)
            shutil.rmtree(stale)


# ---------------------------------------------------------------------- the conversion
def convert_remote_checkpoint(source: Path, out_dir: Path) -> None:
    """Write the native ``InternVLForConditionalGeneration`` checkpoint of the remote-code ``source`` into
    ``out_dir``: config, weights, tokenizer (named image tokens, chat template) and image processor."""
    remote = _read_json(source / "config.json")
    tokenizer = convert_tokenizer(source)
    config = native_config(remote, tokenizer.convert_tokens_to_ids(NAMED_TOKENS["context_image_token"]), source)
    model = _native_model(convert_state_dict(read_safetensors(source), config, source), config)
    model.save_pretrained(out_dir)  # transformers' own on-disk format (names, shards, generation config)
    tokenizer.save_pretrained(out_dir)
    image_processor(remote, source).save_pretrained(out_dir)
    write_processor_config(out_dir, config.image_seq_length)


def write_processor_config(out_dir: Path, image_seq_length: int) -> None:
    """``processor_config.json`` as transformers' native InternVL checkpoints ship it: ``InternVLProcessor`` (and
    tools that build it from the folder, vLLM's InternVL path among them) read the image tokens per tile there
    (written by hand: saving the processor object needs torchvision for its video part)."""
    (Path(out_dir) / "processor_config.json").write_text(
        json.dumps({"image_seq_length": int(image_seq_length), "processor_class": "InternVLProcessor"}, indent=2) + "\n")


def native_config(remote: dict[str, Any], image_token_id: int, source: Path) -> Any:
    """``InternVLConfig`` of a remote ``internvl_chat`` config.json (mapping as transformers' converter)."""
    from transformers import InternVLConfig

    llm = remote.get("llm_config") or {}
    architecture = (llm.get("architectures") or ["?"])[0]
    if architecture != "Qwen2ForCausalLM":
        raise ConfigError(f"model.path={source}: its language model is {architecture}; the automatic InternVL "
                          f"conversion handles Qwen2ForCausalLM only (InternVL2.5-1B/4B/38B/78B)")
    if remote.get("ps_version", "v1") != "v2":
        raise ConfigError(f"model.path={source}: ps_version={remote.get('ps_version')!r}; transformers' native "
                          f"InternVL implements the 'v2' pixel shuffle only")
    vision = _vision_config(remote.get("vision_config") or {})
    forced = remote.get("force_image_size")
    if forced and forced != vision["image_size"]:
        raise ConfigError(f"model.path={source}: force_image_size={forced} differs from the vision tower's "
                          f"image_size={vision['image_size']} (not supported by the conversion)")
    text = {k: v for k, v in llm.items() if k not in _LLM_DROPPED}
    text["use_cache"] = True
    tie = bool(text.get("tie_word_embeddings", False))
    ratio = remote.get("downsample_ratio", 0.5)
    config = InternVLConfig(
        vision_config=vision, text_config=text, image_token_id=image_token_id,
        image_seq_length=int((vision["image_size"] // vision["patch_size"]) ** 2 * ratio**2),
        downsample_ratio=ratio, projector_hidden_act="gelu", vision_feature_layer=remote.get("select_layer", -1),
        vision_feature_select_strategy="default", tie_word_embeddings=tie)
    config.architectures = ["InternVLForConditionalGeneration"]
    return config


def _vision_config(vit: dict[str, Any]) -> dict[str, Any]:
    """InternVLVisionConfig keys of an InternViT config (absolute position embeddings, no final norm)."""
    vision = {native: vit[key] for key, native in _VISION_KEYS.items() if key in vit}
    for key in ("image_size", "patch_size"):  # the conversion checks image_size // patch_size on ints
        if isinstance(vision.get(key), (list, tuple)):
            vision[key] = vision[key][0]
    vision.setdefault("image_size", 448)
    vision.setdefault("patch_size", 14)
    vision.update(use_absolute_position_embeddings=True, use_mean_pooling=True)
    return vision


def read_safetensors(source: Path) -> dict[str, torch.Tensor]:
    """Every tensor of the checkpoint's safetensors files (sharded through the index, or one file)."""
    from safetensors import safe_open

    index = source / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(_read_json(index)["weight_map"].values()))
    elif (source / "model.safetensors").is_file():
        files = ["model.safetensors"]
    else:
        raise ConfigError(f"model.path={source}: no model.safetensors(.index.json) to convert (the automatic "
                          f"InternVL conversion reads safetensors weights only)")
    tensors: dict[str, torch.Tensor] = {}
    for name in files:
        with safe_open(str(source / name), framework="pt") as shard:
            tensors.update({key: shard.get_tensor(key) for key in shard.keys()})  # noqa: SIM118 (not a dict)
    return tensors


def native_key(key: str) -> str | None:
    """The native name of a remote-code weight (``...attention.qkv...`` is split afterwards); None when
    the key is not part of the layout."""
    for pattern, replacement in KEY_RENAMES:
        new, count = pattern.subn(replacement, key, count=1)
        if count:
            return new
    return None


def convert_state_dict(remote: dict[str, torch.Tensor], config: PretrainedConfig, source: Path) -> dict[str, torch.Tensor]:
    """Renamed weights with each fused vision ``qkv`` split into q/k/v, checked key by key and shape by
    shape against the native model (a head tied to the embeddings is left out, as ``save_pretrained`` does)."""
    native: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, tensor in remote.items():
        new = native_key(key)
        if new is None:
            unknown.append(key)
        elif ".attention.qkv." in new:
            for part, chunk in zip(("q_proj", "k_proj", "v_proj"), tensor.chunk(3, dim=0)):
                native[new.replace(".qkv.", f".{part}.")] = chunk.clone()  # own storage: saved tensors can't share
        else:
            native[new] = tensor
    if unknown:
        raise ConfigError(f"model.path={source}: weights the InternVL conversion does not know, e.g. {unknown[:3]}")
    _settle_tying(native, config, source)
    _check_against_model(native, config, source)
    return native


def _settle_tying(state_dict: dict[str, torch.Tensor], config: PretrainedConfig, source: Path) -> None:
    """A tied config stores no head: drop a stored copy equal to the embeddings, but keep (and untie) one
    that differs, since those are the weights the checkpoint was trained with."""
    head = state_dict.get("lm_head.weight")
    if not config.tie_word_embeddings or head is None:
        return
    if torch.equal(head, state_dict["model.language_model.embed_tokens.weight"]):
        del state_dict["lm_head.weight"]
        return
    log.warning("%s declares tied word embeddings but stores a different lm_head: converted untied", source)
    config.tie_word_embeddings = config.text_config.tie_word_embeddings = False


def _meta_model(config: PretrainedConfig) -> torch.nn.Module:
    """The native model without memory for its weights (they are assigned from the checkpoint)."""
    from transformers import InternVLForConditionalGeneration

    with torch.device("meta"):
        return InternVLForConditionalGeneration(config)


def _native_model(state_dict: dict[str, torch.Tensor], config: PretrainedConfig) -> torch.nn.Module:
    """The native model holding the converted tensors themselves (no copy; a tied head re-tied)."""
    model = _meta_model(config)
    model.load_state_dict(state_dict, strict=False, assign=True)  # strict: _check_against_model did it
    if config.tie_word_embeddings:
        model.tie_weights()
    model.config.dtype = next(iter(state_dict.values())).dtype
    return model


def _check_against_model(state_dict: dict[str, torch.Tensor], config: PretrainedConfig, source: Path) -> None:
    """Every key and shape of the native model present, nothing else."""
    expected = {k: tuple(v.shape) for k, v in _meta_model(config).state_dict().items()}
    if config.tie_word_embeddings:
        expected.pop("lm_head.weight", None)
    missing, unexpected = sorted(expected.keys() - state_dict.keys()), sorted(state_dict.keys() - expected.keys())
    wrong = sorted(k for k in expected.keys() & state_dict.keys() if tuple(state_dict[k].shape) != expected[k])
    if missing or unexpected or wrong:
        raise ConfigError(f"model.path={source}: its weights do not fit InternVLForConditionalGeneration: "
                          f"missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shape {wrong[:3]}")


def convert_tokenizer(source: Path) -> Any:
    """The checkpoint's own tokenizer with InternVL's named image tokens and the native chat template; its
    added tokens must keep the ids the weights were trained with."""
    from transformers import AutoTokenizer, PreTrainedConfig

    # config given and trust_remote_code=False: AutoTokenizer would otherwise read the remote-code config.json
    # (and ask on stdin whether to run its code); the class comes from tokenizer_config.json
    tokenizer = AutoTokenizer.from_pretrained(source, config=PreTrainedConfig(), trust_remote_code=False,
                                              extra_special_tokens=dict(NAMED_TOKENS))
    declared = _declared_added_tokens(source)
    moved = {tok: (i, tokenizer.convert_tokens_to_ids(tok)) for tok, i in declared.items()
             if tokenizer.convert_tokens_to_ids(tok) != i}
    if moved:
        raise ConfigError(f"model.path={source}: its tokenizer loads with added tokens at other ids than declared "
                          f"(token: (declared, loaded)) {dict(list(moved.items())[:3])}")
    for token in NAMED_TOKENS.values():
        if token not in tokenizer.get_vocab():
            raise ConfigError(f"model.path={source}: its tokenizer has no {token} token")
    tokenizer.chat_template = CHAT_TEMPLATE
    for key in ("is_local", "local_files_only"):  # how it was loaded here, not a property of the tokenizer
        tokenizer.init_kwargs.pop(key, None)
    return tokenizer


def _declared_added_tokens(source: Path) -> dict[str, int]:
    """Added tokens and their ids as the checkpoint's tokenizer files declare them."""
    declared: dict[str, int] = {}
    if (source / "added_tokens.json").is_file():
        declared.update(_read_json(source / "added_tokens.json"))
    if (source / "tokenizer_config.json").is_file():
        decoder = _read_json(source / "tokenizer_config.json").get("added_tokens_decoder") or {}
        declared.update({entry["content"]: int(i) for i, entry in decoder.items()})
    return declared


def image_processor(remote: dict[str, Any], source: Path) -> Any:
    """InternVL's dynamic 448-px tiling as a GotOcr2 image processor (PIL variant: no torchvision needed),
    with the checkpoint's normalisation (ImageNet's when it declares none)."""
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    processor_file = source / "preprocessor_config.json"
    declared = _read_json(processor_file) if processor_file.is_file() else {}
    vision = remote.get("vision_config") or {}
    tile = remote.get("force_image_size") or vision.get("image_size", 448)
    tile = tile[0] if isinstance(tile, (list, tuple)) else tile
    return GotOcr2ImageProcessorPil(  # defaults: InternVLChatConfig's
        size={"height": tile, "width": tile}, crop_to_patches=bool(remote.get("dynamic_image_size", False)),
        min_patches=remote.get("min_dynamic_patch", 1), max_patches=remote.get("max_dynamic_patch", 6),
        image_mean=declared.get("image_mean", IMAGENET_MEAN), image_std=declared.get("image_std", IMAGENET_STD),
        do_convert_rgb=True)


def _read_json(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        return json.load(f)
