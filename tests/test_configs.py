"""Every option of every config group, and every experiment file, composes and resolves — the
`python train.py <group>=<option> --cfg job` a user would run. New configs are covered automatically."""
from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, open_dict

from mixed_r1.typed import settings_from
from tests.conftest import CONF

GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir())
OPTIONS = [(group, path.stem) for group in GROUPS for path in sorted((CONF / group).glob("*.yaml"))]
# values a user must give for some choices: a data file of their own, or the folder of converted sources a mix draws from
REQUIRED = {"jsonl": ["data.train_file=/data/train.jsonl"], "synthetic": []}
MIX_ROOT = ["data.mix.root=/data/mixed_r1"]
SWEEPS_OF_MIXES = ("table", "variants")  # experiments drawn from converted sources (the paper's tables, variants)


def _resolved(overrides: list[str], tmp_path: Path, config_name: str = "train") -> dict:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    cfg.hydra.runtime.output_dir = str(tmp_path)
    HydraConfig.instance().set_config(cfg)  # what ${hydra:...} reads inside a real run
    with open_dict(cfg):
        del cfg["hydra"]  # the job's config, as `--cfg job` prints it
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)


def test_the_groups_are_the_code_seams():
    assert GROUPS == ["algo", "data", "deepspeed", "experiment", "logger", "model", "preset", "reward", "variant"]


def test_no_config_file_is_a_hidden_helper():
    """Every file of a group is a real choice: no `_private` option that only exists to be included."""
    assert not [f"{g}/{o}" for g, o in OPTIONS if o.startswith("_")]


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_resolves(group, option, tmp_path):
    overrides = [f"{group}={option}"]
    if group == "data":
        overrides += REQUIRED.get(option, MIX_ROOT)
    if group == "experiment" and option.startswith(SWEEPS_OF_MIXES):  # drawn from converted sources
        overrides += MIX_ROOT + ["eval.data_root=/data/bench"]
    resolved = _resolved(overrides, tmp_path)
    assert resolved["trainer"]["prompts_per_step"] > 0 and resolved["algo"]["name"] in ("grpo", "sft")
    if group == "model":
        assert resolved["model"]["adapter"] and resolved["model"]["path"]


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_reads_into_its_typed_settings(group, option, tmp_path):
    """What train.py does first: every value of every option read into the frozen settings of its group (a key no
    settings class reads, or a value of the wrong type, would fail here, naming it)."""
    from tests.conftest import compose_train, settings_of

    overrides = [f"{group}={option}"]
    if group == "data":
        overrides += REQUIRED.get(option, MIX_ROOT)
    if group == "experiment" and option.startswith(SWEEPS_OF_MIXES):
        overrides += MIX_ROOT + ["eval.data_root=/data/bench"]
    if group == "preset":  # a preset shrinks a table's run (make tableN PRESET=tiny): its mix needs the table's parts
        overrides += ["experiment=table2", *MIX_ROOT, "eval.data_root=/data/bench"]
    settings = settings_of(compose_train(overrides, run_dir=tmp_path))
    assert settings.trainer.prompts_per_step > 0 and settings.algorithm in ("grpo", "sft")
    assert settings.run.model.adapter and settings.run.model.path


def test_filter_and_eval_read_their_settings(tmp_path):
    from mixed_r1.eval.runner import eval_settings
    from mixed_r1.filter import filter_settings
    from tests.conftest import compose_train

    run, filtering = filter_settings(compose_train(["model=qwen7b", "data=mixed45k", *MIX_ROOT], run_dir=tmp_path,
                                                   config_name="filter"))
    assert (filtering.num_samples, filtering.temperature, run.model.dtype) == (8, 1.0, "bfloat16")
    run, evaluation = eval_settings(compose_train(["model=internvl4b", "eval.data_root=/data/bench"], run_dir=tmp_path,
                                                  config_name="eval"))
    assert evaluation.temperature == 0.0 and run.model.adapter == "internvl" and len(evaluation.benchmarks) == 6


def test_a_wrong_type_or_a_key_nothing_reads_is_named(tmp_path):
    from mixed_r1.errors import ConfigError
    from tests.conftest import compose_train, settings_of

    with pytest.raises(ConfigError, match=r"^trainer.lr='fast' must be a number$"):
        settings_of(compose_train(["trainer.lr=fast"], run_dir=tmp_path))
    with pytest.raises(ConfigError, match=r"^model: no setting named max_num_tiles"):
        settings_of(compose_train(["+model.max_num_tiles=6"], run_dir=tmp_path))  # an InternVL option on Qwen
    with pytest.raises(ConfigError, match=r"^data.long_prompts='drop'; expected one of skip, error$"):
        settings_of(compose_train(["data.long_prompts=drop"], run_dir=tmp_path))


def test_paper_scale_run_resolves_with_the_paper_numbers(tmp_path):
    resolved = _resolved(["model=qwen7b", "data=mixed45k", *MIX_ROOT], tmp_path)
    assert resolved["trainer"]["prompts_per_step"] == 64 and resolved["trainer"]["lr"] == 3e-6
    algo = resolved["algo"]
    assert (algo["group_size"], algo["temperature"], algo["beta"]) == (8, 1.0, 0.04)
    assert resolved["reward"]["chart"]["tolerance"] == 1e-2 and resolved["deepspeed"]["stage"] == 3


def test_the_filter_composes_the_training_groups_with_the_papers_n_and_t(tmp_path):
    resolved = _resolved(["model=qwen7b", "data=mixed45k", *MIX_ROOT], tmp_path, config_name="filter")
    assert (resolved["filter"]["num_samples"], resolved["filter"]["temperature"]) == (8, 1.0)
    assert resolved["filter"]["max_new_tokens"] == resolved["algo"]["max_new_tokens"]
    assert resolved["model"]["path"] == "Qwen/Qwen2.5-VL-7B-Instruct" and resolved["data"]["mix"]["scale"] == 1.0
    assert resolved["filter"]["kept_file"] == f"{tmp_path}/kept.jsonl"


def test_eval_composes_the_model_groups_with_table_1s_benchmarks_greedy(tmp_path):
    resolved = _resolved(["model=qwen7b", "eval.data_root=/data/bench"], tmp_path, config_name="eval")
    assert resolved["eval"]["benchmarks"] == ["mathvista", "mathvision", "mmbench", "mmmu", "mmstar", "ai2d"]
    assert resolved["eval"]["temperature"] == 0.0 and resolved["eval"]["max_new_tokens"] >= 1024
    assert resolved["eval"]["method"] == "Qwen/Qwen2.5-VL-7B-Instruct" and resolved["eval"]["thinking"] is True


TABLES = {"table1_qwen3b": ("qwen3b", "algo"), "table1_qwen7b": ("qwen7b", "algo"), "table2": ("qwen3b", "data"),
          "table3a": ("qwen3b", "data"), "table3b": ("internvl4b", "algo"), "table4": ("qwen3b", "reward.open_ended")}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_each_paper_table_is_one_sweep_that_evaluates_and_resumes(table, tmp_path):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"experiment={table}", *MIX_ROOT], return_hydra_config=True)
    model, swept = TABLES[table]
    assert cfg.hydra.runtime.choices.model == model and cfg.resume == "auto"
    assert cfg.hydra.mode.name == "MULTIRUN" and swept in cfg.hydra.sweeper.params
    assert cfg.hydra.sweep.dir.endswith(f"/{table}") and swept in cfg.hydra.sweep.subdir
    assert list(cfg.eval.after_training) in (["thinking"], ["thinking", "direct"])
    assert (cfg.trainer.prompts_per_step, cfg.algo.group_size, cfg.algo.temperature, cfg.algo.beta, cfg.trainer.lr) == (
        64, 8, 1.0, 0.04, 3e-6)  # the paper's settings in every table


def test_table_2_and_3_sweep_the_paper_mixes():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        two = compose(config_name="train", overrides=["experiment=table2", *MIX_ROOT], return_hydra_config=True)
        three = compose(config_name="train", overrides=["experiment=table3a", *MIX_ROOT], return_hydra_config=True)
        four = compose(config_name="train", overrides=["experiment=table4", *MIX_ROOT], return_hydra_config=True)
    assert two.hydra.sweeper.params.data == "yorn,yorn_mcq,yorn_mcq_chart,yorn_mcq_chart_iou,mixed45k"
    assert three.hydra.sweeper.params.data == "mixed20k,mixed45k,mixed90k"
    assert four.hydra.sweeper.params["reward.open_ended"] == "modernbert,sbert,llm_judge,bipartite,bmas"


def test_the_tiny_preset_shrinks_a_table_to_a_cpu_run(tmp_path):
    resolved = _resolved(["experiment=table2", "preset=tiny", "model=tiny_qwen"], tmp_path)
    assert resolved["model"]["adapter"] == "qwen2_5_vl" and resolved["deepspeed"]["stage"] is None
    assert resolved["data"]["mix"]["size_factor"] == 0.002 and resolved["trainer"]["max_steps"] <= 5
    assert resolved["eval"]["after_training"] == ["thinking"] and resolved["eval"]["limit"]


def test_demo_experiment_pins_the_demo(tmp_path):
    demo = _resolved(["experiment=demo"], tmp_path)
    assert demo == _resolved([], tmp_path)  # `python train.py` with no arguments is the demo
    assert demo["model"]["adapter"] == "qwen2_5_vl" and demo["warmup"]["steps"] > 0 and demo["seed"] == 0


def test_table_4_trains_on_the_open_ended_data_alone_and_the_mixed45k_reading_is_one_override_away():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        four = compose(config_name="train", overrides=["experiment=table4", *MIX_ROOT], return_hydra_config=True)
        other = compose(config_name="train", overrides=["experiment=table4_mixed45k", *MIX_ROOT], return_hydra_config=True)
    assert four.hydra.runtime.choices.data == "open_ended" and list(four.data.mix.parts) == ["open_ended"]
    assert dict(four.data.mix.parts.open_ended) == {"allava": 3000}  # Mixed-45K's open-ended part
    assert other.hydra.runtime.choices.data == "mixed45k" and len(other.data.mix.parts) == 5
    assert other.hydra.sweep.dir.endswith("/table4_mixed45k") and four.hydra.sweep.dir.endswith("/table4")
    assert other.hydra.sweeper.params == four.hydra.sweeper.params and other.eval == four.eval


def test_the_budget_is_one_epoch_of_the_drawn_data_unless_a_step_count_is_given():
    from mixed_r1.data.sampler import steps_for_epochs
    from mixed_r1.errors import ConfigError
    from mixed_r1.recipe import training_budget

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["model=qwen3b", "data=mixed45k", *MIX_ROOT])
    assert cfg.trainer.epochs == 1.0 and cfg.trainer.max_steps is None
    # Table 3(a)'s three mixes get one pass each, not 1,000 steps each (0.71 / 1.42 / 3.2 passes)
    assert [training_budget(cfg.trainer, n)["steps"] for n in (22_500, 45_000, 90_000)] == [351, 703, 1406]
    budget = training_budget(cfg.trainer, 45_000)
    assert budget["asked"] == {"epochs": 1.0} and budget["epochs"] == 1.0 and budget["samples"] == 45_000
    cfg.trainer.max_steps = 1000  # a step count overrides the epochs
    assert training_budget(cfg.trainer, 45_000)["steps"] == 1000
    assert abs(training_budget(cfg.trainer, 45_000)["epochs"] - 1000 / 703) < 1e-9
    assert steps_for_epochs(0.5, 10, 4) == 1 and steps_for_epochs(2, 10, 4) == 4  # 2 full batches per pass
    with pytest.raises(ConfigError, match="trainer.epochs=0"):
        steps_for_epochs(0, 10, 4)


def test_the_filter_composes_with_any_algorithm_and_takes_the_rollout_settings_grpo_has(tmp_path):
    from mixed_r1.filter import FilterConfig

    def settings(*overrides: str) -> FilterConfig:
        resolved = _resolved(["model=qwen3b", "data=mixed45k", *MIX_ROOT, *overrides], tmp_path, config_name="filter")
        return settings_from(FilterConfig, resolved["filter"], "filter")

    assert (settings().max_new_tokens, settings().shared_prompt) == (1024, True)  # GRPO's own (conf/algo/grpo.yaml)
    sft = settings("algo=sft")  # SFT has no rollout settings: the filter's defaults
    assert (sft.max_new_tokens, sft.shared_prompt, sft.num_samples) == (1024, True, 8)
    assert settings("algo.shared_prompt=false").shared_prompt is False
    assert settings("algo.max_new_tokens=64").max_new_tokens == 64


def test_the_variants_experiment_sweeps_each_variant_on_the_papers_3b_setting(tmp_path):
    """experiment=variants: one sweep over conf/variant/ on Qwen2.5-VL-3B and Mixed-45K, the paper's batch, lr and
    sampling; each point reads into the variant's settings (grpo: the paper's, untouched)."""
    from tests.conftest import compose_train, settings_of

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["experiment=variants", *MIX_ROOT], return_hydra_config=True)
    assert cfg.hydra.runtime.choices.model == "qwen3b" and cfg.hydra.runtime.choices.data == "mixed45k"
    assert cfg.hydra.mode.name == "MULTIRUN" and cfg.hydra.sweeper.params["variant"] == "grpo,dr_grpo,dapo,gspo"
    assert cfg.hydra.sweep.dir.endswith("/variants") and "variant" in cfg.hydra.sweep.subdir
    assert (cfg.trainer.prompts_per_step, cfg.algo.group_size, cfg.algo.temperature, cfg.trainer.lr) == (64, 8, 1.0, 3e-6)
    bench = "eval.data_root=/data/bench"
    algo = {v: settings_of(compose_train(["experiment=variants", *MIX_ROOT, bench, f"variant={v}"],
                                         run_dir=tmp_path)).algo for v in ("grpo", "dr_grpo", "dapo", "gspo")}
    paper = settings_of(compose_train([*MIX_ROOT, "model=qwen3b", "data=mixed45k"], run_dir=tmp_path)).algo
    assert algo["grpo"] == paper
    assert (algo["dr_grpo"].scale_rewards, algo["dr_grpo"].loss_aggregation) == ("none", "dr_grpo")
    assert (algo["dapo"].clip_eps_high, algo["dapo"].loss_aggregation, algo["dapo"].beta,
            algo["dapo"].overlong_buffer) == (0.28, "token", 0.0, 0.2)
    assert (algo["gspo"].importance_level, algo["gspo"].clip_eps, algo["gspo"].clip_eps_high) == ("sequence", 3e-4, 4e-4)
