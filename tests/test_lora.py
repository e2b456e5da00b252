"""LoRA through PEFT (``model.lora.rank`` > 0): adapters on the language model only, zero-initialised (the policy
starts as the base model), π_ref the same weights with the adapter off, only adapter weights move, exact resume,
and a merged export that ``from_pretrained`` and ``eval.py`` read unchanged."""
import copy
import dataclasses
import json

import pytest
import torch
from transformers import AutoModelForImageTextToText

from mixed_r1.components import build_reward
from mixed_r1.engine import TorchEngine
from mixed_r1.errors import ConfigError
from mixed_r1.grpo.step import ReferencePolicy, collect_rollout, grpo_update
from mixed_r1.models import lora, passes
from mixed_r1.models.base import trainable_parameters
from tests.conftest import SHORT, compose_train, graded_by_length, launches_processes, read_metrics, settings_of, without_timings

RANK = 4
# a LoRA GRPO run: no warm-up (π_ref is the base model), the tiny run of SHORT otherwise
LORA = [f"model.lora.rank={RANK}", *SHORT, "warmup.steps=0"]


def with_lora(adapter, rank: int = RANK):
    """The session's adapter with ``model.lora.rank`` set (tokenizer and processor shared)."""
    other = copy.copy(adapter)
    other.settings = dataclasses.replace(adapter.settings, lora=dataclasses.replace(adapter.settings.lora, rank=rank))
    return other


def sampled(adapter, model, samples, group_size: int = 3):
    """A few prompts and their sampled completions (rows repeated per completion)."""
    batch = adapter.prompt_batch(samples[:2])
    torch.manual_seed(0)
    completions = passes.generate(adapter, model, batch, 1.0, 8, group_size=group_size)
    return batch.repeat(group_size), completions


def logprobs(adapter, model, prompts, completions, groups=None):
    with torch.no_grad():
        return passes.completion_logprobs(adapter, model, prompts, completions, groups=groups)


def perturb_adapters(model, scale: float = 0.05) -> None:
    """Random LoRA B matrices (trained-looking adapters): the adapter then changes the outputs."""
    torch.manual_seed(1)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, scale)


def test_adapters_sit_on_the_language_models_projections_only(family_adapter):
    adapter = with_lora(family_adapter)
    model = adapter.load_model()
    base = lora.peft_of(model).get_base_model()
    language = adapter.language_model(base)
    language_ids = {id(m) for m in language.modules()}
    adapted = [(n, m) for n, m in base.named_modules() if hasattr(m, "lora_A")]
    targets = set(adapter.settings.lora.target_modules)
    assert adapted and all(id(m) in language_ids for _, m in adapted)  # nothing in the vision tower or projector
    expected = [n for n, m in language.named_modules() if n.rsplit(".", 1)[-1] in targets]
    assert len(adapted) == len(expected) == 7 * 2  # q k v o gate up down in each of 2 layers
    trained = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trained and all("lora_" in n for n in trained)
    count, total = trainable_parameters(model)
    assert count == sum(p.numel() for n, p in model.named_parameters() if "lora_" in n) < total // 10


def test_a_zero_initialised_adapter_gives_the_base_models_logprobs(family_adapter, samples):
    """LoRA B = 0 at the start: the wrapped policy's completion log-probs equal the base model's, bit for bit,
    unshared and shared-prompt; with trained adapters they differ, and switched off they are the base again."""
    base = family_adapter.load_model(trainable=False)
    adapter = with_lora(family_adapter)
    policy = adapter.load_model()
    prompts, completions = sampled(adapter, policy, samples)
    groups = [0, 0, 0, 1, 1, 1]
    expected = logprobs(adapter, base, prompts, completions)
    assert torch.equal(logprobs(adapter, policy, prompts, completions), expected)
    assert torch.allclose(logprobs(adapter, policy, prompts, completions, groups), expected, atol=1e-5)
    perturb_adapters(policy)
    assert (logprobs(adapter, policy, prompts, completions) - expected).abs().max() > 1e-2
    with lora.adapter_disabled(policy):
        assert torch.equal(logprobs(adapter, policy, prompts, completions), expected)


def test_one_grpo_step_changes_only_adapter_weights(tiny_cfg, adapter, samples):
    """π_ref is the policy with its adapter off: KL 0 at the start; the step moves adapters only, the optimizer
    holds state for adapters only, and the base weights (π_ref) stay bit-identical."""
    lora_adapter = with_lora(adapter)
    policy = lora_adapter.load_model()
    base_before = {n: p.detach().clone() for n, p in policy.named_parameters() if "lora_" not in n}
    adapters_before = {n: p.detach().clone() for n, p in policy.named_parameters() if "lora_" in n}
    engine = TorchEngine(policy, lr=1e-3)
    settings = settings_of(tiny_cfg)
    algo = dataclasses.replace(settings.algo, max_new_tokens=10)
    rollout = collect_rollout(policy, lora_adapter, build_reward(settings.run, lora_adapter, policy), samples[:2], algo)
    rollout.advantages = torch.linspace(-1, 1, len(rollout.texts))
    reference = ReferencePolicy(policy, context=lambda: lora.adapter_disabled(policy))
    metrics = grpo_update(policy, reference, lora_adapter, engine, rollout, algo, 5)
    assert metrics["grad_norm"] > 0 and abs(metrics["kl"]) < 1e-6  # policy == base before the step
    params = dict(policy.named_parameters())
    assert all(torch.equal(params[n], v) for n, v in base_before.items())
    assert any(not torch.equal(params[n], v) for n, v in adapters_before.items() if "lora_B" in n)
    with_state = {id(p) for p in engine.optimizer.state}
    assert with_state == {id(p) for n, p in params.items() if "lora_" in n}
    # a second step now sees a KL > 0: the reference pass really ran with the adapter off
    rollout.advantages = torch.linspace(1, -1, len(rollout.texts))
    assert grpo_update(policy, reference, lora_adapter, engine, rollout, algo, 5)["kl"] > 0


def test_the_merged_export_loads_with_from_pretrained_and_gives_the_adapter_on_logprobs(family_adapter, samples,
                                                                                        tmp_path):
    adapter = with_lora(family_adapter)
    policy = adapter.load_model()
    perturb_adapters(policy)
    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    adapter.save(policy, str(tmp_path))
    assert all(torch.equal(p, before[n]) for n, p in policy.named_parameters())  # the live policy is untouched
    merged = AutoModelForImageTextToText.from_pretrained(tmp_path)
    assert not any("lora" in n for n, _ in merged.named_parameters())
    prompts, completions = sampled(adapter, policy, samples)
    on = logprobs(adapter, policy, prompts, completions)
    assert torch.allclose(logprobs(adapter, merged, prompts, completions), on, atol=1e-5)
    resumed = adapter.load_model(path=str(tmp_path))  # the base model plus the saved adapter
    assert torch.equal(logprobs(adapter, resumed, prompts, completions), on)


def test_a_killed_and_resumed_lora_run_continues_exactly(tmp_path, run_training, monkeypatch, tiny_checkpoints):
    import mixed_r1.recipe

    monkeypatch.setattr(mixed_r1.recipe, "build_reward", graded_by_length(mixed_r1.recipe.build_reward))
    common = ["seed=3", *LORA, "trainer.save_every=2", "trainer.keep_last=1", "trainer.lr=1e-2"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run_training(straight, "trainer.max_steps=4", *common)
    run_training(resumed, "trainer.max_steps=3", *common)  # a checkpoint after step 2; step 3 logged; killed
    run_training(resumed, "trainer.max_steps=4", "resume=auto", *common)
    lines = lambda d: [without_timings(r) for r in read_metrics(d)]
    assert lines(straight) == lines(resumed) and [r["step"] for r in lines(resumed)] == [1, 2, 3, 4]
    assert all(r["grad_norm"] > 0 for r in lines(straight))  # the adapter trains: the resume has state to restore
    assert all(isinstance(r["kl"], float) for r in lines(straight)) and lines(straight)[-1]["kl"] > 0  # π_ref: adapter off
    checkpoint = resumed / "checkpoints" / "step_00000004" / "policy"
    assert (checkpoint / lora.ADAPTER_FOLDER / "adapter_model.safetensors").is_file()
    a, b = (dict(AutoModelForImageTextToText.from_pretrained(d / "checkpoint").named_parameters())
            for d in (straight, resumed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    base = dict(AutoModelForImageTextToText.from_pretrained(tiny_checkpoints["tiny_qwen"]).named_parameters())
    assert any(not torch.equal(a[k], base[k]) for k in a)  # the merged adapter moved the export off the base


def test_the_final_export_evaluates_like_the_adapter_on_policy(tmp_path, run_training, tiny_checkpoints, monkeypatch):
    """``eval.after_training`` reads the merged ``checkpoint/`` unchanged; its greedy predictions equal those of
    the policy with its adapter (base model + the run's adapter) on the same tiny benchmark items."""
    import mixed_r1.recipe
    from mixed_r1.eval.benchmarks import benchmark
    from mixed_r1.eval.runner import generate_predictions, load_items
    from mixed_r1.eval.synthetic import write_benchmarks
    from mixed_r1.shards import read_shards
    from tests.conftest import _build_adapter

    monkeypatch.setattr(mixed_r1.recipe, "build_reward", graded_by_length(mixed_r1.recipe.build_reward))
    bench = tmp_path / "bench"
    write_benchmarks(bench, names=("ai2d",), num_items=3)
    run_dir = tmp_path / "run"
    args = ("eval.after_training=[direct]", f"eval.data_root={bench}", "eval.benchmarks=[ai2d]",
            "eval.max_new_tokens=6", "trainer.max_steps=2", "trainer.lr=1e-2", *LORA)
    run_training(run_dir, *args)
    assert all(r["grad_norm"] > 0 for r in read_metrics(run_dir))  # a trained adapter, merged into the export
    exported = {p["id"]: p["response"] for p in map(json.loads, (run_dir / "eval" / "direct" / "predictions" /
                                                                 "ai2d.jsonl").read_text().splitlines())}
    cfg = compose_train([f"model.path={tiny_checkpoints['tiny_qwen']}", *args], run_dir=run_dir)
    settings = settings_of(cfg)
    lora_adapter = _build_adapter(cfg)
    policy = lora_adapter.load_model(path=str(run_dir / "checkpoint")).eval()
    items = load_items(benchmark("ai2d"), bench, None, None)
    evaluation = dataclasses.replace(settings.evaluation, thinking=False)
    generate_predictions("ai2d", items, lora_adapter, policy, evaluation, settings.run.prompt.template,
                         settings.run.seed, tmp_path / "shards")
    on = {k: v["response"] for k, v in read_shards(tmp_path / "shards").items()}
    assert on == exported and len(on) == 3


@pytest.mark.parametrize("overrides, message", [
    (["warmup.steps=2"], "warmup.steps=0"),
    (["model.lora.rank=-1"], "model.lora.rank=-1 must be >= 0"),
    (["model.lora.dropout=1.0"], "model.lora.dropout"),
])
def test_unsupported_lora_settings_are_refused_at_start_up(tmp_path, overrides, message):
    cfg = compose_train([f"model.lora.rank={RANK}", *overrides], run_dir=tmp_path)
    with pytest.raises(ConfigError, match=message):
        settings_of(cfg)


def test_a_warm_up_is_allowed_when_no_reference_is_read_and_lora_is_off_by_default(tmp_path):
    assert settings_of(compose_train([f"model.lora.rank={RANK}", "warmup.steps=2", "algo.beta=0"], run_dir=tmp_path))
    for engine in ("zero2", "zero3"):  # every engine runs LoRA (tests/distributed/lora_ranks.py)
        assert settings_of(compose_train([f"model.lora.rank={RANK}", f"deepspeed={engine}", "warmup.steps=0"],
                                         run_dir=tmp_path)).deepspeed.stage
    assert settings_of(compose_train([], run_dir=tmp_path)).run.model.lora.rank == 0


def test_target_modules_naming_no_language_model_layer_are_refused(adapter):
    other = copy.copy(adapter)
    other.settings = dataclasses.replace(adapter.settings, lora=dataclasses.replace(
        adapter.settings.lora, rank=RANK, target_modules=("qkv",)))
    with pytest.raises(ConfigError, match="model.lora.target_modules"):
        other.load_model()


@launches_processes
def test_lora_under_zero2_and_zero3_in_two_processes_matches_plain_torch_and_resumes_exactly(tmp_path):
    """tests/distributed/lora_ranks.py: the same LoRA updates (π_ref = adapter off) under plain torch in this
    process and under ZeRO-2 and ZeRO-3 in two processes — the same loss, gradient norm, KL and weights, the same
    merged export; and under each engine a checkpoint resumed into a fresh policy takes the update the
    uninterrupted one takes."""
    import math
    import subprocess
    import sys

    from tests.conftest import ENV, ROOT
    from tests.distributed import lora_ranks

    (tmp_path / "one").mkdir()
    runs = {"none": lora_ranks.run_stage(tmp_path / "one", "none")}
    out = tmp_path / "two"
    out.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29653",
           str(ROOT / "tests" / "distributed" / "lora_ranks.py"), str(out), "zero2,zero3"]
    proc = subprocess.run(cmd, cwd=ROOT, env={**ENV, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for stage in ("zero2", "zero3"):
        runs[stage] = [json.loads(line) for line in (out / f"results_{stage}.jsonl").read_text().splitlines()]
    close = lambda a, b: math.isclose(a, b, rel_tol=2e-5, abs_tol=1e-7)
    base = {r["scenario"]: r for r in runs["none"]}
    assert base["plain"]["grad_norm"] > 0 and base["second"]["kl"] > 0 and base["mu2"]["updates"] == 4
    for stage, records in runs.items():
        by = {r["scenario"]: r for r in records}
        assert by.keys() == base.keys(), stage
        for name, record in by.items():
            for key in ("loss", "grad_norm", "kl", "fingerprint"):
                if key in record:
                    assert close(record[key], base[name][key]), (stage, name, key, record[key], base[name][key])
        resumed, straight = by["after_resume"], by["uninterrupted"]
        assert {k: resumed[k] for k in ("loss", "grad_norm", "kl", "fingerprint", "updates")} == {
            k: straight[k] for k in ("loss", "grad_norm", "kl", "fingerprint", "updates")}, stage
