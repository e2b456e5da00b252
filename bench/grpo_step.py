"""One GRPO training step side by side: ours (mixed_r1) and TRL's ``GRPOTrainer``, on the same tiny
random-weight Qwen2.5-VL checkpoint, the same prompts and images, the same mixed reward.

    make install         # the lock includes trl 1.16.0 (the TRL side); without trl only ours is timed
    OMP_NUM_THREADS=1 python bench/grpo_step.py --threads 1                   # both shapes, 5 steps per side
    python bench/grpo_step.py --shape realistic --steps 10 --warmup 2 --threads 2
    python bench/grpo_step.py --shape tiny --ours-override trainer.micro_batch_size=8
    python bench/grpo_step.py --device cuda --steps 10     # GPU figures (memory: torch.cuda.max_memory_allocated)
    python bench/grpo_step.py --quick                       # seconds-long smoke (the test suite runs it)

Shapes (``--shape tiny|realistic|both``; default both):

* ``tiny``: the demo's model (conf/model/tiny_qwen.yaml ``tiny``: hidden 128, 2 text layers, vocab ~512),
  4 prompts x G=8 completions x 64 new tokens, 56x56 images (4 image tokens each).
* ``realistic``: hidden 256, 4 text layers (vision tower width 128, depth 2), 2 prompts x G=8 x 128 new
  tokens, 448x448 images with ``max_pixels = 448*448`` (256 image tokens per prompt after Qwen's 2x2 merge),
  so a prompt is ~375 tokens and a sequence ~500 — the image and prompt share of a real rollout. Only 2 prompts
  (16 sequences): a step takes 5-15 s on one CPU thread, the whole shape ~3.5 min with the defaults.
* ``--quick``: tiny model, 2 prompts x 8 x 8 tokens, 1 warm-up + 2 measured steps per side.

What runs. The tiny checkpoint is built once per shape into a temporary folder with the project's own
builder (``build_adapter`` -> ``build_tiny_qwen2_5_vl``, as train.py and tests/conftest.py do) and both sides
load it with ``from_pretrained`` (identical initial weights; TRL loads its reference from the same folder).

* Ours: the training config is composed with Hydra's compose API on ``conf/`` (as tests/conftest.py
  ``compose_train``), plus every ``--ours-override KEY=VALUE``; the pieces are built as mixed_r1/recipe.py does
  (``build_adapter``, ``adapter.load_model``, ``build_engine``, ``build_reward``, reference through
  ``engine.prepare_reference(adapter.load_model(trainable=False))``) and a step is ``collect_rollout`` +
  ``grpo_update`` (+ ``rollout_metrics``), i.e. ``recipe.build_grpo_step``. When the composed config has
  ``algo.shared_prompt``, ours runs twice, "ours (shared prompt)" and "ours (unshared)" (unless an override
  pins it). Split: ``time/rollout`` (prompt batch + generate), ``time/reward`` (decode + mixed reward),
  ``time/reference`` (reference log-probs, and pi_old's when mu > 1), ``time/update`` (policy forward/backward
  and the optimizer step).
* TRL: ``trl.GRPOTrainer`` with a ``GRPOConfig`` mirroring ours (printed; ``trainer.micro_batch_size`` becomes
  TRL's per-device batch with gradient accumulation over one generation), a ``datasets.Dataset`` of
  conversational prompts with an ``image`` column (the same PIL images), a processor built here (Qwen's
  ``AutoProcessor`` needs torchvision: a small subclass without the video processor), and our
  ``MixedReward`` wrapped as a TRL reward function (it decodes the completion ids exactly as ours does and
  its BMAS reads TRL's policy embeddings). A subclass times TRL's own methods: ``_generate`` (chat template
  + image processing + generate + decode) as rollout, ``_calculate_rewards`` as reward,
  ``_get_per_token_logps_and_entropies`` outside the loss as reference (and old log-probs if TRL takes them),
  the rest of ``_prepare_inputs`` (TRL processes the images a second time there, pads, normalises) as other,
  and from there to the end of the optimizer step as update. A TRL step is timed from the end of the previous
  step's callback to ``on_step_end``, so it includes TRL's data loading and logging.

With ``algo.num_iterations`` (mu) > 1 the units differ: our step is mu optimizer steps on one rollout, a TRL step
is one optimizer step (it generates every mu steps); compare mu TRL steps with one of ours.

Protocol: both sides in one process with the same torch thread count; TRL's training loop drives and after
each of its steps a callback runs one step of each ours variant (TRL, ours, TRL, ours, ...), so machine noise
hits both. The first ``--warmup`` steps of each side are dropped; the table gives medians over ``--steps``.
Forward passes per step are counted with forward pre-hooks on each side's policy and reference models.

Memory (CPU): TRL's fused LM head (trl/trainer/utils.py ``add_fused_lm_head``) scores *every* position on
CPU (only the completion ones where Triton runs) through a ``[min(tokens, 4096), 32768]`` buffer, however small
the vocabulary: with a ~500-token vocabulary most of that buffer is allocated but never touched, so TRL's
"peak alloc" is far above its "peak RSS" here; on a GPU the allocation is real.
"""
from __future__ import annotations

import argparse
import ctypes
import importlib.util
import os
import statistics
import sys
import tempfile
import threading
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from mixed_r1.components import build_model_adapter, build_reward  # noqa: E402
from mixed_r1.data import Sample, load_samples  # noqa: E402
from mixed_r1.data.synthetic import SyntheticSpec, generate  # noqa: E402
from mixed_r1.engine import build_engine, resolve_device, seed_everything  # noqa: E402
from mixed_r1.grpo.config import GRPOConfig  # noqa: E402
from mixed_r1.grpo.step import collect_rollout, grpo_update, rollout_metrics  # noqa: E402
from mixed_r1.models import ModelAdapter  # noqa: E402
from mixed_r1.recipe import TrainSettings, train_settings  # noqa: E402

CONF = ROOT / "conf"
HAS_TRL = importlib.util.find_spec("trl") is not None
TRL_SIDE = "TRL GRPOTrainer"
SPLIT = ("rollout", "reward", "reference", "update", "other")
TYPE_ORDER = ("open_ended", "grounding", "chart", "multiple_choice", "yes_no")  # prompts are picked round-robin


@dataclass(frozen=True)
class Shape:
    name: str
    prompts: int
    group: int
    new_tokens: int
    image_size: int
    max_pixels: int | None = None  # None: the model config's
    tiny: dict[str, int] = field(default_factory=dict)  # model.tiny overrides


SHAPES = {
    "tiny": Shape("tiny", prompts=4, group=8, new_tokens=64, image_size=56),
    "realistic": Shape("realistic", prompts=2, group=8, new_tokens=128, image_size=448, max_pixels=448 * 448,
                       tiny=dict(hidden_size=256, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
                                 num_key_value_heads=2, vision_hidden_size=128, vision_num_heads=2, vision_depth=2)),
    "quick": Shape("quick", prompts=2, group=8, new_tokens=8, image_size=56),
}


# ----------------------------------------------------------------------------- measuring
class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                      "fsmblks", "uordblks", "fordblks", "keepcost")]


class PeakMemory:
    """Peak memory of a window above its start, two ways.

    * allocated: CUDA ``torch.cuda.max_memory_allocated``; CPU the bytes glibc's malloc has handed out and not
      taken back (``mallinfo2``: in-use arena chunks + mmapped blocks; torch's CPU tensors come from malloc),
      sampled every 5 ms by a thread. It counts a buffer whether or not its pages were ever touched.
    * RSS (CPU only, psutil, same sampling): the pages actually resident; freed arena memory stays in RSS, so a
      window can start high and show less growth than it allocates.
    """

    def __init__(self, device: torch.device) -> None:
        import psutil

        self.cuda = device.type == "cuda"
        self._process = psutil.Process()
        self.base = self.peak = self.rss_base = self.rss_peak = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()  # a window's reset must not race a sample of the previous window
        self._mallinfo: Any = None
        if self.cuda:
            self.method = "torch.cuda.max_memory_allocated"
            return
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallinfo2.restype = _MallInfo2
            self._mallinfo = libc.mallinfo2
            self.method = "glibc mallinfo2 in-use bytes, sampled every 5 ms"
        except (OSError, AttributeError):
            self.method = "unavailable (no glibc mallinfo2)"
        threading.Thread(target=self._sample, daemon=True).start()

    def allocated(self) -> int:
        if self.cuda:
            return torch.cuda.memory_allocated()
        if self._mallinfo is None:
            return 0
        info = self._mallinfo()
        return int(info.uordblks + info.hblkhd)

    def rss(self) -> int:
        return int(self._process.memory_info().rss)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self._update()

    def _update(self) -> None:
        with self._lock:
            self.peak = max(self.peak, self.allocated())
            self.rss_peak = max(self.rss_peak, self.rss())

    def start(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        with self._lock:
            self.base = self.peak = self.allocated()
            self.rss_base = self.rss_peak = self.rss()

    def read_mib(self) -> tuple[float, float]:
        """(allocated, RSS) peaks above the window's start, in MiB."""
        if self.cuda:
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated()
        self._update()
        return (self.peak - self.base) / 2**20, (self.rss_peak - self.rss_base) / 2**20

    def close(self) -> None:
        self._stop.set()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@dataclass
class StepRecord:
    seconds: float
    split: dict[str, float]
    completion_tokens: int
    completion_length: float  # mean per sequence
    prompt_length: float  # mean prompt tokens per sequence (padding excluded)
    forwards: dict[str, int]  # policy no-grad (generation, old log-probs), policy with grad, reference
    memory_mib: tuple[float, float]  # (allocated, RSS) peak above the step's start


@dataclass
class Side:
    name: str
    records: list[StepRecord] = field(default_factory=list)
    forwards: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def count_forwards(self, policy: torch.nn.Module, reference: torch.nn.Module | None) -> None:
        """Forward pre-hooks on the top-level models: one call per forward (a generate step is one)."""
        def policy_hook(module: Any, args: Any) -> None:
            self.forwards["policy (grad)" if torch.is_grad_enabled() else "policy (no grad)"] += 1

        def reference_hook(module: Any, args: Any) -> None:
            self.forwards["reference"] += 1

        policy.register_forward_pre_hook(policy_hook)
        if reference is not None:
            reference.register_forward_pre_hook(reference_hook)

    def take_forwards(self) -> dict[str, int]:
        out = dict(self.forwards)
        self.forwards.clear()
        return out


# ----------------------------------------------------------------------------- ours
def compose_cfg(overrides: list[str], run_dir: Path) -> TrainSettings:
    """The config train.py would see (tests/conftest.py ``compose_train``), run-folder paths in ``run_dir``."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    cfg = OmegaConf.create(OmegaConf.to_yaml(cfg).replace("${hydra:runtime.output_dir}", str(run_dir)))
    return train_settings(cfg)  # read as train.py reads it


def base_overrides(shape: Shape, folder: Path, args: argparse.Namespace) -> list[str]:
    out = [f"model.build_dir={folder / 'base_model'}", f"model.path={folder / 'base_model'}",
           f"data.synthetic.image_size={shape.image_size}", f"device={args.device}", f"num_threads={args.threads}",
           f"trainer.prompts_per_step={shape.prompts}", f"algo.group_size={shape.group}",
           f"algo.max_new_tokens={shape.new_tokens}", "warmup.steps=0", "seed=0"]
    if shape.max_pixels:
        out.append(f"model.max_pixels={shape.max_pixels}")
    out += [f"model.tiny.{k}={v}" for k, v in shape.tiny.items()]
    return out + list(args.ours_override)


def grpo_settings(cfg: TrainSettings) -> GRPOConfig:
    """The GRPO settings of a bench configuration (the bench compares GRPO steps only)."""
    if not isinstance(cfg.algo, GRPOConfig):
        raise SystemExit(f"bench/grpo_step.py times GRPO steps; algo={cfg.algorithm} is not GRPO")
    return cfg.algo


class Ours:
    """One configuration of our GRPO step, built the way mixed_r1/recipe.py builds it."""

    def __init__(self, label: str, cfg: TrainSettings) -> None:
        self.cfg, self.side = cfg, Side(label)
        seed_everything(cfg.run.seed)
        device = resolve_device(cfg.run.device)
        self.device = device
        self.adapter = build_model_adapter(cfg.run, device)
        self.algo = grpo_settings(cfg)
        self.engine = build_engine(cfg.engine(), self.adapter.load_model(), 1, device)
        self.engine.reset_optimizer(cfg.trainer.lr, cfg.trainer.lr_warmup_steps)
        self.reference = self.engine.prepare_reference(self.adapter.load_model(trainable=False))
        self.reward_fn = build_reward(cfg.run, self.adapter, self.engine.model)
        self.side.count_forwards(self.engine.model, self.reference)

    def step(self, batch: list[Sample], memory: PeakMemory) -> StepRecord:
        """``recipe.build_grpo_step``'s step: rollout with the mixed reward, then the clipped, KL-regularised update."""
        trainer, algo = self.cfg.trainer, self.algo
        self.side.take_forwards()
        sync(self.device)
        memory.start()
        start = time.perf_counter()
        rollout = collect_rollout(self.engine.model, self.adapter, self.reward_fn, batch, algo,
                                  trainer.generation_batch_size, gathered=self.engine.gathered)
        update = grpo_update(self.engine.model, self.reference, self.adapter, self.engine, rollout, algo,
                             trainer.micro_batch_size, trainer.max_tokens_per_micro_batch)
        metrics = {**rollout_metrics(rollout, algo.group_size), **update}
        sync(self.device)
        seconds = time.perf_counter() - start
        split = {k: float(metrics[f"time/{k}"] or 0.0) for k in ("rollout", "reward", "reference", "update")}
        split["other"] = seconds - sum(split.values())
        mask = rollout.completions.mask
        return StepRecord(seconds, split, int(mask.sum()), float(mask.sum(dim=1).float().mean()),
                          float(rollout.prompts.attention_mask.sum(dim=1).float().mean()), self.side.take_forwards(),
                          memory.read_mib())


def ours_variants(cfg: TrainSettings, overrides: list[str]) -> list[tuple[str, list[str]]]:
    """Both prompt modes when the config has ``algo.shared_prompt`` (and no override pins it), else one."""
    if hasattr(cfg.algo, "shared_prompt") and not any(o.lstrip("+~").startswith("algo.shared_prompt=") for o in overrides):
        return [("ours (shared prompt)", ["algo.shared_prompt=true"]), ("ours (unshared)", ["algo.shared_prompt=false"])]
    return [("ours", [])]


def pick_samples(folder: Path, shape: Shape) -> list[Sample]:
    """``shape.prompts`` synthetic samples, types round-robin from open-ended (BMAS reads the policy's
    embeddings), grounding, chart, multiple choice, yes/no."""
    samples = load_samples(generate(folder, SyntheticSpec(num_samples=5 * shape.prompts, image_size=shape.image_size,
                                                          seed=0)))
    by_type = {t: [s for s in samples if s.type == t] for t in TYPE_ORDER}
    picked: list[Sample] = []
    while len(picked) < shape.prompts:
        for t in TYPE_ORDER:
            if by_type[t] and len(picked) < shape.prompts:
                picked.append(by_type[t].pop(0))
    return picked


# ----------------------------------------------------------------------------- TRL
def build_trl(cfg: TrainSettings, adapter: ModelAdapter, samples: list[Sample], steps: int, out_dir: Path,
              after_step: Callable[[], None], side: Side, memory: PeakMemory, device: torch.device) -> Any:
    """TRL's GRPOTrainer on the same checkpoint, prompts, images and reward, its settings mirroring ``cfg``."""
    from datasets import Dataset
    from PIL import Image
    from transformers import AutoTokenizer, TrainerCallback
    from transformers.models.qwen2_5_vl.processing_qwen2_5_vl import Qwen2_5_VLProcessor
    from transformers.processing_utils import ProcessorMixin
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import GRPOConfig as TRLConfig
    from trl import GRPOTrainer

    from mixed_r1.models.base import question_text

    class QwenVLImageOnlyProcessor(Qwen2_5_VLProcessor):
        """Qwen2.5-VL's processor without its video processor (which needs torchvision): platform notes, pitfall 1."""

        def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None, **kwargs: Any):
            self.image_token, self.video_token = "<|image_pad|>", "<|video_pad|>"
            self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
            self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
            ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    class TimedGRPOTrainer(GRPOTrainer):
        """GRPOTrainer with its phases timed (no behaviour changed)."""

        def _generate(self, prompts: list) -> Any:
            start = time.perf_counter()
            out = super()._generate(prompts)
            sync(device)
            phases["rollout"] += time.perf_counter() - start
            prompt_ids, completion_ids = out[0], out[1]
            counts["completion_tokens"] += sum(len(c) for c in completion_ids)
            counts["sequences"] += len(completion_ids)
            counts["prompt_tokens"] += sum(len(p) for p in prompt_ids)
            return out

        def _calculate_rewards(self, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            out = super()._calculate_rewards(*args, **kwargs)
            phases["reward"] += time.perf_counter() - start
            return out

        def _get_per_token_logps_and_entropies(self, model: Any, *args: Any, **kwargs: Any) -> Any:
            if torch.is_grad_enabled():  # the loss's forward: part of the update
                return super()._get_per_token_logps_and_entropies(model, *args, **kwargs)
            start = time.perf_counter()
            out = super()._get_per_token_logps_and_entropies(model, *args, **kwargs)
            sync(device)
            phases["reference"] += time.perf_counter() - start
            return out

        def _prepare_inputs(self, generation_batch: Any) -> Any:
            start = time.perf_counter()
            phases.setdefault("first_prepare", start)  # before it: data loading, the previous step's logging
            out = super()._prepare_inputs(generation_batch)  # once per micro-batch; generates on the first
            sync(device)
            phases["prepare"] += time.perf_counter() - start
            return out

    phases: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    window = {"start": 0.0}

    class StepTimer(TrainerCallback):
        """A TRL step runs from the end of the previous step's callback (data loading and logging included) to
        ``on_step_end``; then ours runs, outside the window."""

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            memory.start()
            window["start"] = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            sync(device)
            end = time.perf_counter()
            seconds = end - window["start"]
            split = {"rollout": phases["rollout"], "reward": phases["reward"], "reference": phases["reference"],
                     "update": seconds - (phases["first_prepare"] - window["start"]) - phases["prepare"]}
            split["other"] = seconds - sum(split.values())  # data loading, logging, TRL's second image pass, padding
            n = max(counts["sequences"], 1)
            side.records.append(StepRecord(seconds, split, counts["completion_tokens"], counts["completion_tokens"] / n,
                                           counts["prompt_tokens"] / n, side.take_forwards(), memory.read_mib()))
            phases.clear()
            counts.clear()
            after_step()
            side.take_forwards()
            memory.start()
            window["start"] = time.perf_counter()

    algo, trainer_cfg = grpo_settings(cfg), cfg.trainer
    tokenizer = AutoTokenizer.from_pretrained(cfg.run.model.path, padding_side="left", truncation_side="left")
    processor = QwenVLImageOnlyProcessor(image_processor=adapter.image_processor, tokenizer=tokenizer,
                                         chat_template=tokenizer.chat_template)
    dataset = Dataset.from_dict({
        "prompt": [[{"role": "system", "content": cfg.run.model.system_prompt},
                    {"role": "user", "content": question_text(s, cfg.run.prompt)}] for s in samples],
        "image": [Image.open(s.image).convert("RGB") for s in samples],
        "sample_index": list(range(len(samples))),
    })
    policy = adapter.load_model()  # the same checkpoint through from_pretrained; TRL loads its reference from it
    reward_fn = build_reward(cfg.run, adapter, policy)  # BMAS reads TRL's policy embeddings
    stop_id = adapter.stop_token_id

    def mixed_reward(prompts: list, completions: list, completion_ids: list[list[int]], sample_index: list[int],
                     **kwargs: Any) -> list[float]:
        # decoded as ours does: special tokens kept, cut at the first <|im_end|> (TRL's ids end there)
        texts = [adapter.tokenizer.decode([t for t in ids if t != stop_id], skip_special_tokens=False)
                 for ids in completion_ids]
        return reward_fn([samples[i] for i in sample_index], texts).total.tolist()

    sequences = len(samples) * algo.group_size
    micro = trainer_cfg.micro_batch_size or sequences
    if sequences % micro:
        raise SystemExit(f"trainer.micro_batch_size={micro} must divide the {sequences} sequences of a step (TRL's "
                         f"gradient accumulation needs whole micro-batches)")
    args = TRLConfig(
        output_dir=str(out_dir), seed=cfg.run.seed, max_steps=steps, use_cpu=device.type == "cpu",
        # ours' trainer.micro_batch_size as TRL's micro-batches: one generation per optimizer step either way
        per_device_train_batch_size=micro, gradient_accumulation_steps=sequences // micro,
        num_generations=algo.group_size, max_completion_length=algo.max_new_tokens, temperature=algo.temperature,
        top_k=0, top_p=1.0, repetition_penalty=1.0, num_iterations=algo.num_iterations,
        loss_type="grpo" if algo.loss_aggregation == "sequence" else "dapo", beta=algo.beta, epsilon=algo.clip_eps,
        scale_rewards="group", mask_truncated_completions=False,
        learning_rate=trainer_cfg.lr, lr_scheduler_type="constant", warmup_steps=0, optim="adamw_torch",
        weight_decay=trainer_cfg.weight_decay, adam_beta1=trainer_cfg.betas[0], adam_beta2=trainer_cfg.betas[1],
        max_grad_norm=trainer_cfg.grad_clip, bf16=False, fp16=False, use_vllm=False,
        # transformers 5 renamed gradient_checkpointing (TRL's default: True) to activation_checkpointing
        activation_checkpointing=cfg.run.model.gradient_checkpointing,
        generation_kwargs={"suppress_tokens": adapter.suppressed_ids},  # ours suppresses the same vision tokens
        report_to="none", logging_steps=1, save_strategy="no", disable_tqdm=True, dataloader_num_workers=0,
    )
    trainer = TimedGRPOTrainer(model=policy, reward_funcs=[mixed_reward], args=args, train_dataset=dataset,
                               processing_class=processor, callbacks=[StepTimer()])
    for noisy in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(noisy)
    side.count_forwards(trainer.model, trainer.ref_model)
    return trainer


# ----------------------------------------------------------------------------- report
def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(shape: Shape, sides: list[Side], warmup: int, memory: PeakMemory) -> None:
    trl = next((s for s in sides if s.name == TRL_SIDE), None)
    trl_median = median([r.seconds for r in trl.records[warmup:]]) if trl else None
    header = ["side", "steps", "median step s", *[f"{k} s" for k in SPLIT], "rollout tok/s", "completion len",
              "prompt len", "fwd/step no-grad·grad·ref", "peak alloc MiB", "peak RSS MiB", "ours/TRL step"]
    print(f"\n### {shape.name}: {shape.prompts} prompts x G={shape.group}, {shape.new_tokens} new tokens, "
          f"{shape.image_size}x{shape.image_size} images\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for side in sides:
        rows = side.records[warmup:]
        if not rows:
            continue
        step = median([r.seconds for r in rows])
        split = [median([r.split[k] for r in rows]) for k in SPLIT]
        tok_s = median([r.completion_tokens / r.split["rollout"] for r in rows if r.split["rollout"] > 0])
        fwd = rows[-1].forwards
        forwards = f"{fwd.get('policy (no grad)', 0)}·{fwd.get('policy (grad)', 0)}·{fwd.get('reference', 0)}"
        ratio = f"{step / trl_median:.2f}" if trl_median and side is not trl else "–"
        cells = [side.name, str(len(rows)), f"{step:.3f}", *[f"{v:.3f}" for v in split], f"{tok_s:,.0f}",
                 f"{median([r.completion_length for r in rows]):.1f}", f"{median([r.prompt_length for r in rows]):.1f}",
                 forwards, f"{max(r.memory_mib[0] for r in rows):.1f}",
                 f"{max(r.memory_mib[1] for r in rows):.1f}" if not memory.cuda else "–", ratio]
        print("| " + " | ".join(cells) + " |")
    print(f"\npeak alloc: {memory.method}; peak RSS: resident set via psutil, same sampling (CPU only). Both are the "
          f"most any measured step rose above its own start: each step's working memory (both sides' models, "
          f"references and optimizer states stay resident throughout). fwd/step: forward calls of the policy without "
          f"grad (one per generated token, plus pi_old's log-probs when taken), with grad (the loss), and of the "
          f"reference model.")


def settings_line(cfg: TrainSettings, threads: int, device: torch.device) -> str:
    algo, trainer = grpo_settings(cfg), cfg.trainer
    loss_type = "grpo" if algo.loss_aggregation == "sequence" else "dapo"
    who = "both sides" if HAS_TRL else "ours"
    extra = f", algo.shared_prompt={algo.shared_prompt} (its default)" if hasattr(algo, "shared_prompt") else ""
    return (f"settings ({who}): loss_type={loss_type} (ours loss_aggregation={algo.loss_aggregation}), "
            f"beta={algo.beta}, epsilon={algo.clip_eps}, lr={trainer.lr}, scheduler=constant, AdamW betas="
            f"{list(trainer.betas)} wd={trainer.weight_decay}, grad clip={trainer.grad_clip}, bf16=False, "
            f"grad ckpt={cfg.run.model.gradient_checkpointing}, G={algo.group_size}, "
            f"max new tokens={algo.max_new_tokens}, temperature={algo.temperature} (top_k=0, top_p=1), "
            f"mu={algo.num_iterations}, micro-batch={trainer.micro_batch_size or 'whole step'}, "
            f"dtype={cfg.run.model.dtype}, attn={cfg.run.model.attn_implementation}, device={device}, "
            f"torch threads={threads}{extra}")


# ----------------------------------------------------------------------------- main
def run_shape(shape: Shape, args: argparse.Namespace) -> None:
    device = resolve_device(args.device)
    total = args.warmup + args.steps
    with tempfile.TemporaryDirectory(prefix=f"bench_grpo_{shape.name}_") as tmp:
        folder = Path(tmp)
        overrides = base_overrides(shape, folder, args)
        cfg = compose_cfg(overrides, folder / "run")
        build_start = time.perf_counter()
        adapter = build_model_adapter(cfg.run, device)
        build_s = time.perf_counter() - build_start
        samples = pick_samples(folder / "data", shape)

        variants = ours_variants(cfg, overrides)
        ours = [Ours(label, compose_cfg(overrides + extra, folder / "run")) for label, extra in variants]
        print(f"\n[{shape.name}] built the tiny checkpoint once in {build_s:.1f} s "
              f"({sum(p.numel() for p in ours[0].engine.model.parameters()):,} parameters); prompts: "
              f"{', '.join(s.type for s in samples)}", flush=True)
        torch.set_num_threads(args.threads)
        memory = PeakMemory(device)

        def ours_round() -> None:
            for o in ours:
                o.side.records.append(o.step(samples, memory))

        sides = [o.side for o in ours]
        if HAS_TRL:
            trl_side = Side(TRL_SIDE)
            trainer = build_trl(cfg, adapter, samples, total, folder / "trl", ours_round, trl_side, memory, device)
            if torch.get_num_threads() != args.threads:
                print(f"note: building the TRL trainer changed torch threads to {torch.get_num_threads()}; "
                      f"set back to {args.threads}")
                torch.set_num_threads(args.threads)
            trainer.train()
            sides.append(trl_side)
        else:
            for _ in range(total):
                ours_round()
        memory.close()
        print(settings_line(cfg, torch.get_num_threads(), device))
        if len(ours) > 1:
            print("; ".join(f"{o.side.name}: {' '.join(extra)}" for o, (_, extra) in zip(ours, variants)))
        report(shape, sides, args.warmup, memory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=["tiny", "realistic", "both"], default="both")
    parser.add_argument("--steps", type=int, default=5, help="measured steps per side (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=1, help="steps per side run first and not counted")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (both sides: one process)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--ours-override", action="append", default=[], metavar="KEY=VALUE",
                        help="a Hydra override for our side's config (repeatable), e.g. algo.shared_prompt=false; "
                             "TRL mirrors the composed algo/trainer values")
    parser.add_argument("--quick", action="store_true", help="smoke: tiny model, 8 tokens, 1 warm-up + 2 steps")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.warmup = 2, 1
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be >= 1 and --warmup >= 0")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device visible")
    torch.set_num_threads(args.threads)
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers 5's renames, raised inside TRL
    if not HAS_TRL:
        print("trl is not installed: timing ours only (for the TRL side: make install; trl is in the lock)")
    shapes = [SHAPES["quick"]] if args.quick else [SHAPES[n] for n in (["tiny", "realistic"] if args.shape == "both"
                                                                       else [args.shape])]
    start = time.perf_counter()
    for shape in shapes:
        run_shape(shape, args)
    print(f"\ntotal {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
