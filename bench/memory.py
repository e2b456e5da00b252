"""Peak memory, measured: what the output head's log-probs cost with and without chunking
(``model.logprob_chunk_tokens``), and what each phase of a GRPO step — rollout, reference pass, update — holds
at its peak under each memory switch.

    python bench/memory.py                                   # both tables, CPU (about 3 min on 2 cores)
    python bench/memory.py --table head --lengths 512 2048 --chunks 0 1024 256 --hidden 1024
    python bench/memory.py --table phases --shape realistic --switch chunked=model.logprob_chunk_tokens=64
    python bench/memory.py --device cuda --hidden 3584       # GPU figures (torch.cuda.max_memory_allocated)

How it measures. On CUDA: ``torch.cuda.max_memory_allocated`` over the window, above its start. On CPU:
a dispatch mode (:class:`LiveTensorBytes`) counts every tensor storage an op creates while the window is open
until Python frees it, and reports the peak of their sum — exact, not sampled, and blind to allocator caching
(so the CPU figure is what the tensors need, the floor a GPU's allocator rounds up from).

* ``head``: hidden states ``[tokens, --hidden]`` (requiring grad) through a ``Linear(--hidden, --vocab)`` head
  (Qwen2.5-VL's vocabulary, 151,936, by default), log-probs and entropy at random token ids
  (``mixed_r1.models.passes.token_logprobs`` whole, ``chunked_token_logprobs`` in chunks), then backward
  through the log-probs — the policy pass of an update. The peak is above the window's start (the weight and
  hidden states exist before it). ``--hidden`` changes only the hidden-state and weight-gradient terms; the
  logits terms (``tokens x vocab x 4`` bytes per float32 copy) are what chunking removes. A column checks
  that the chunked log-probs equal the whole ones.
* ``phases``: the tiny or realistic model of bench/grpo_step.py, one GRPO step built as mixed_r1/recipe.py
  builds it, per switch (``--switch NAME=OVERRIDE[,OVERRIDE...]``, repeatable; by default the full fine-tune,
  the chunked head, the frozen vision tower, beta = 0, LoRA and the three together): the peak of everything
  alive — weights, gradients, optimizer state, activations — in the rollout (``collect_rollout``), in the
  reference pass on the whole rollout, and in the update (``grpo_update``: its reference pass, the policy
  passes and the optimizer step).
"""
from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
import warnings
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.weak import WeakIdKeyDictionary

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from mixed_r1.models import Completions  # noqa: E402
from mixed_r1.models.passes import chunked_token_logprobs, token_logprobs  # noqa: E402

QWEN_VOCAB = 151_936  # Qwen2.5-VL's output vocabulary (config.json vocab_size)
MIB = 2**20


class LiveTensorBytes(TorchDispatchMode):
    """The bytes of the tensor storages ops create while it is active and that are still alive, and their peak:
    each new storage is counted once (views share it) and subtracted when Python frees it (a weak reference)."""

    def __init__(self) -> None:
        super().__init__()
        self.live = self.peak = 0
        self._seen: WeakIdKeyDictionary = WeakIdKeyDictionary()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for tensor in tree_leaves(out):
            if isinstance(tensor, torch.Tensor) and tensor.device.type != "meta":
                self._count(tensor.untyped_storage())
        return out

    def _count(self, storage: torch.UntypedStorage) -> None:
        if storage in self._seen:
            return
        size = storage.nbytes()
        self._seen[storage] = weakref.ref(storage, functools.partial(self._free, size))
        self.live += size
        self.peak = max(self.peak, self.live)

    def _free(self, size: int, _: object) -> None:
        self.live -= size


class Peak:
    """The peak bytes of a window above its start (see the module doc); ``track`` (modules, optimizers) are
    counted as alive throughout, so a phase's figure includes the weights, gradients and optimizer state."""

    def __init__(self, device: torch.device, track: tuple[Any, ...] = ()) -> None:
        self.device, self.track, self.bytes = device, track, 0

    @contextmanager
    def window(self) -> Iterator[Peak]:
        alive = sum(tracked_bytes(t) for t in self.track)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated() - alive
            yield self
            torch.cuda.synchronize()
            self.bytes = torch.cuda.max_memory_allocated() - base
            return
        with LiveTensorBytes() as counter:
            yield self
        self.bytes = alive + counter.peak


def tracked_bytes(thing: Any) -> int:
    """Bytes of a module's parameters and gradients or an optimizer's state (what ``track`` counts as alive)."""
    if isinstance(thing, torch.nn.Module):
        return sum(p.numel() * p.element_size() * (2 if p.grad is not None else 1) for p in thing.parameters())
    if isinstance(thing, torch.optim.Optimizer):
        return sum(v.numel() * v.element_size() for s in thing.state.values() for v in s.values()
                   if isinstance(v, torch.Tensor))
    return 0


# ----------------------------------------------------------------------------- the head table
def head_pass(head: torch.nn.Linear, hidden: torch.Tensor, completions: Completions, chunk: int) -> torch.Tensor:
    """An update's policy pass through the head: log-probs and entropy, then backward through the log-probs."""
    if chunk:
        logprobs, _ = chunked_token_logprobs(head, hidden, completions, 1.0, chunk, return_entropy=True)
    else:
        logprobs, _ = token_logprobs(head(hidden), completions.ids, 1.0, return_entropy=True)
    (logprobs * completions.mask).sum().backward()
    return logprobs.detach()


def head_table(args: argparse.Namespace, device: torch.device) -> None:
    torch.manual_seed(0)
    head = torch.nn.Linear(args.hidden, args.vocab, bias=False, device=device)
    print(f"\n## Output head: vocabulary {args.vocab:,}, hidden {args.hidden}, float32, one sequence, "
          f"log-probs + entropy + backward ({device.type})\n")
    print("| completion tokens | chunk | peak MiB | one logits copy MiB | max abs diff vs whole | seconds |")
    print("|---:|---:|---:|---:|---:|---:|")
    for tokens in args.lengths:
        hidden = torch.randn(1, tokens, args.hidden, device=device, requires_grad=True)
        ids = torch.randint(0, args.vocab, (1, tokens), device=device)
        completions = Completions(ids, torch.ones_like(ids))
        whole = None
        for chunk in args.chunks:
            head.zero_grad(set_to_none=True)
            hidden.grad = None
            start = time.perf_counter()
            with Peak(device).window() as peak:
                logprobs = head_pass(head, hidden, completions, chunk)
            seconds = time.perf_counter() - start
            whole = logprobs if chunk == 0 else whole
            diff = f"{(logprobs - whole).abs().max().item():.1e}" if whole is not None else "-"
            print(f"| {tokens:,} | {chunk or 'whole'} | {peak.bytes / MIB:,.0f} | {tokens * args.vocab * 4 / MIB:,.0f} "
                  f"| {diff} | {seconds:.1f} |", flush=True)


# ----------------------------------------------------------------------------- the phases table
def phases_table(args: argparse.Namespace, device: torch.device) -> None:
    from grpo_step import SHAPES, base_overrides, compose_cfg, grpo_settings, pick_samples  # bench/, a sibling

    from mixed_r1.components import build_model_adapter, build_reward
    from mixed_r1.engine import build_engine, seed_everything
    from mixed_r1.grpo.step import collect_rollout, grpo_update, reference_logprobs
    from mixed_r1.recipe import StepContext, build_reference, uses_reference

    shape = SHAPES[args.shape]
    switches = dict(parse_switch(s) for s in (args.switch or DEFAULT_SWITCHES))
    print(f"\n## One GRPO step, {shape.name} shape ({shape.prompts} prompts x G={shape.group} x {shape.new_tokens} "
          f"new tokens, {shape.image_size}-px images), peak MiB of everything alive per phase ({device.type})\n")
    print("| switch | overrides | rollout | reference pass | update | trainable parameters |")
    print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        samples = pick_samples(folder / "data", shape)
        for name, overrides in switches.items():
            cfg = compose_cfg(base_overrides(shape, folder, args) + overrides, folder)
            algo, trainer = grpo_settings(cfg), cfg.trainer
            seed_everything(cfg.run.seed)
            adapter = build_model_adapter(cfg.run, device)
            engine = build_engine(cfg.engine(), adapter.load_model(), 1, device)
            engine.reset_optimizer(trainer.lr, trainer.lr_warmup_steps)
            # π_ref as the recipe builds it: a frozen copy, the LoRA policy with its adapter off, or none (β = 0)
            reference = build_reference(StepContext(cfg, adapter, engine, None)) if uses_reference(algo) else None
            reward_fn = build_reward(cfg.run, adapter, engine.model)
            alive = tuple(t for t in (engine.model, getattr(engine, "optimizer", None),
                                      reference.model if reference and reference.model is not engine.model else None)
                          if t is not None)
            with Peak(device, alive).window() as rollout_peak:
                rollout = collect_rollout(engine.model, adapter, reward_fn, samples, algo,
                                          trainer.generation_batch_size, gathered=engine.gathered)
            with Peak(device, alive).window() as reference_peak, torch.no_grad():
                reference_logprobs(adapter, reference, [(rollout.prompts, rollout.completions, None)], algo.temperature)
            with Peak(device, alive).window() as update_peak:
                grpo_update(engine.model, reference, adapter, engine, rollout, algo, trainer.micro_batch_size,
                                     trainer.max_tokens_per_micro_batch)
            trainable = sum(p.numel() for p in engine.model.parameters() if p.requires_grad)
            print(f"| {name} | {' '.join(overrides) or '-'} | {rollout_peak.bytes / MIB:,.1f} | "
                  f"{reference_peak.bytes / MIB:,.1f} | {update_peak.bytes / MIB:,.1f} | {trainable:,} |", flush=True)


DEFAULT_SWITCHES = ["full=", "chunked=model.logprob_chunk_tokens=64",
                    "frozen_vision=model.freeze_vision=true,model.freeze_projector=true",
                    "beta0=algo.beta=0", "lora=model.lora.rank=8",
                    "lean=model.lora.rank=8,algo.beta=0,model.logprob_chunk_tokens=64"]


def parse_switch(text: str) -> tuple[str, list[str]]:
    """``NAME=KEY=VALUE[,KEY=VALUE...]`` (``NAME=`` for no override) -> (name, overrides)."""
    name, _, rest = text.partition("=")
    if not name:
        raise SystemExit(f"--switch {text!r}: expected NAME=KEY=VALUE[,KEY=VALUE...]")
    return name, [o for o in rest.split(",") if o]


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", choices=["head", "phases", "both"], default="both")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=QWEN_VOCAB)
    parser.add_argument("--hidden", type=int, default=256, help="the head's input width (Qwen2.5-VL-7B: 3584)")
    parser.add_argument("--lengths", type=int, nargs="+", default=[512, 2048], help="completion tokens")
    parser.add_argument("--chunks", type=int, nargs="+", default=[0, 1024, 256], help="0: the whole logits")
    parser.add_argument("--shape", choices=["quick", "tiny", "realistic"], default="tiny")
    parser.add_argument("--switch", action="append", metavar="NAME=OVERRIDES",
                        help=f"a configuration of the phases table (repeatable; default {DEFAULT_SWITCHES})")
    parser.add_argument("--ours-override", action="append", default=[], metavar="KEY=VALUE",
                        help="an override for every switch of the phases table")
    args = parser.parse_args(argv)
    if 0 not in args.chunks:
        args.chunks = [0, *args.chunks]  # the whole logits: the reference the others are checked against
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device visible")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers 5's renames, raised inside PEFT
    start = time.perf_counter()
    if args.table in ("head", "both"):
        head_table(args, device)
    if args.table in ("phases", "both"):
        phases_table(args, device)
    print(f"\ntotal {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
