"""Train with GRPO (Mixed-R1). Compose from ``conf/``; all logic lives in ``mixed_r1/``.

    python train.py                                  # the embedded CPU demo
    python train.py model=qwen7b data=mixed45k data.mix.root=/data/mixed_r1/filtered
    torchrun --nproc_per_node 8 train.py model=qwen7b data=mixed45k ...   # or: deepspeed train.py ...
"""
import os
import sys

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float:
    from mixed_r1.errors import exit_on_user_error  # imported late: `--cfg job` and `--help` stay instant
    from mixed_r1.recipe import run

    summary = exit_on_user_error(run, cfg, HydraConfig.get().runtime.output_dir)
    return summary.get("reward_last", float("nan"))


if __name__ == "__main__":
    from mixed_r1.engine.distributed import prepare_launch

    sys.argv = prepare_launch(sys.argv)  # every rank of a launch writes into one run folder
    main()
