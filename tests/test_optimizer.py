"""``trainer.optimizer``: ``adamw_8bit`` (torchao's AdamW8bit) keeps 8-bit moments, updates the weights like
AdamW, resumes exactly from its checkpointed state, and is refused where it is not supported (ZeRO)."""
import sys

import pytest
import torch

from mixed_r1.engine import TorchEngine
from mixed_r1.engine.optimizer import build_optimizer
from mixed_r1.engine.torch_engine import OPTIMIZER_FILE
from mixed_r1.errors import ConfigError
from mixed_r1.recipe import answer_target
from mixed_r1.sft import sft_step
from tests.conftest import SHORT, compose_train, graded_by_length, read_metrics, settings_of, without_timings

EIGHT_BIT = "trainer.optimizer=adamw_8bit"


def state_bytes(value) -> int:
    """Bytes a state value holds: a tensor subclass (torchao's quantised state) counts its inner tensors."""
    if hasattr(value, "__tensor_flatten__"):
        names, _ = value.__tensor_flatten__()
        return sum(state_bytes(getattr(value, n)) for n in names)
    return value.numel() * value.element_size()


def moments_bytes(optimizer) -> int:
    return sum(state_bytes(s[k]) for s in optimizer.state.values() for k in ("exp_avg", "exp_avg_sq"))


def trained(adapter, samples, optimizer: str, updates: int = 3):
    """The tiny model after ``updates`` SFT updates (the same batches for every optimizer), and its engine."""
    model = adapter.load_model()
    engine = TorchEngine(model, lr=1e-3, optimizer=optimizer)
    for i in range(updates):
        batch = samples[4 * i:4 * i + 4]
        assert sft_step(model, adapter, engine, batch, [answer_target(s, adapter) for s in batch])["grad_norm"] > 0
    return model, engine


def test_8bit_moments_take_under_half_the_bytes_and_move_the_weights_like_adamw(adapter, samples):
    before = torch.cat([p.detach().flatten() for p in adapter.load_model().parameters()])
    (full, full_engine), (small, small_engine) = (trained(adapter, samples, o) for o in ("adamw", "adamw_8bit"))
    assert type(full_engine.optimizer) is torch.optim.AdamW and type(small_engine.optimizer).__name__ == "AdamW8bit"
    quantised = [s for s in small_engine.optimizer.state.values() if hasattr(s["exp_avg"], "codes")]
    assert quantised and all(s[k].codes.dtype == torch.uint8 for s in quantised for k in ("exp_avg", "exp_avg_sq"))
    # torchao quantises each tensor of >= 4096 values (in blocks of 256): one uint8 code per value and moment ...
    big = [p for p in small.parameters() if p.numel() >= 4096 and p.numel() % 256 == 0]
    assert big and all(small_engine.optimizer.state[p][k].codes.numel() == p.numel()
                       for p in big for k in ("exp_avg", "exp_avg_sq"))
    # ... so (the small tensors stay fp32) the moments take well under half of AdamW's 8 bytes per parameter
    assert moments_bytes(small_engine.optimizer) < 0.4 * moments_bytes(full_engine.optimizer)
    delta = lambda model: torch.cat([p.detach().flatten() for p in model.parameters()]) - before
    cosine = torch.nn.functional.cosine_similarity(delta(full), delta(small), dim=0)
    assert cosine > 0.9 and not torch.equal(delta(full), delta(small))  # the same direction, not the same update


def test_the_warm_up_lr_reaches_the_8bit_optimizer(adapter, samples):
    """torchao keeps each group's lr as a tensor (it refuses a float there): every update must use the
    schedule's lr all the same."""
    model = adapter.load_model()
    engine = TorchEngine(model, lr=1e-3, warmup_steps=4, optimizer="adamw_8bit")
    for i, expected in enumerate((2.5e-4, 5e-4)):
        batch = samples[4 * i:4 * i + 4]
        assert engine.lr == pytest.approx(expected)
        sft_step(model, adapter, engine, batch, [answer_target(s, adapter) for s in batch])
        assert float(engine.optimizer.param_groups[0]["lr"]) == pytest.approx(expected)
    assert engine.updates == 2


def test_a_killed_and_resumed_8bit_run_continues_exactly(tmp_path, run_training, monkeypatch):
    import mixed_r1.recipe

    monkeypatch.setattr(mixed_r1.recipe, "build_reward", graded_by_length(mixed_r1.recipe.build_reward))
    common = ["seed=3", *SHORT, EIGHT_BIT, "trainer.save_every=2", "trainer.keep_last=1", "trainer.lr=1e-3"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run_training(straight, "trainer.max_steps=4", *common)
    run_training(resumed, "trainer.max_steps=3", *common)  # a checkpoint after GRPO step 2; step 3 logged; killed
    saved = torch.load(resumed / "checkpoints" / "step_00000004" / "engine" / OPTIMIZER_FILE, weights_only=False)
    assert any(s["exp_avg"].codes.dtype == torch.uint8 for s in saved["optimizer"]["state"].values()
               if hasattr(s["exp_avg"], "codes"))  # the resume has 8-bit moments to restore
    run_training(resumed, "trainer.max_steps=4", "resume=auto", *common)
    lines = lambda d: [without_timings(r) for r in read_metrics(d)]
    assert lines(straight) == lines(resumed) and [r["step"] for r in lines(resumed)] == [1, 2, 3, 4, 5, 6]
    assert all(r["grad_norm"] > 0 for r in lines(straight))


def test_an_unknown_optimizer_is_refused_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"trainer\.optimizer='adam'; expected one of adamw, adamw_8bit"):
        settings_of(compose_train(["trainer.optimizer=adam"], run_dir=tmp_path))


@pytest.mark.parametrize("zero", ["zero2", "zero3"])
def test_8bit_under_deepspeed_is_refused_naming_the_supported_engine(zero, tmp_path):
    with pytest.raises(ConfigError, match=r"trainer\.optimizer=adamw_8bit with deepspeed\.stage=\d.*deepspeed=none"):
        settings_of(compose_train([EIGHT_BIT, f"deepspeed={zero}"], run_dir=tmp_path))  # at start-up
    default = settings_of(compose_train([f"deepspeed={zero}"], run_dir=tmp_path))
    assert default.engine().trainer.optimizer == "adamw"  # the default is not refused


def test_8bit_without_torchao_is_a_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchao.optim", None)  # as if torchao were not installed
    with pytest.raises(ConfigError, match=r"trainer\.optimizer=adamw_8bit needs torchao"):
        build_optimizer("adamw_8bit", [torch.nn.Parameter(torch.zeros(2))], 1e-3, 0.0, (0.9, 0.999))
