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
    from mixed_r1.errors import UserError  # imported late: `--cfg job` and `--help` stay instant
    from mixed_r1.recipe import run

    try:
        summary = run(cfg, HydraConfig.get().runtime.output_dir)
    except UserError as err:  # bad data or config: the message says what to fix; a trace would only hide it
        sys.exit(f"error: {err}")
    return summary.get("reward_last", float("nan"))


if __name__ == "__main__":
    from mixed_r1.engine.distributed import share_run_stamp, strip_local_rank

    sys.argv = strip_local_rank(sys.argv)
    share_run_stamp("MIXED_R1_RUN_STAMP")  # every rank of a launch writes into one run folder
    main()
