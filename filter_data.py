"""The data filter of section 3.1: N responses per question, drop the questions whose rewards are all
equal. Compose from ``conf/filter.yaml``; the logic lives in ``mixed_r1/filter.py``.

    python filter_data.py                                          # tiny model, synthetic data (CPU)
    python filter_data.py model=qwen7b data=jsonl data.train_file=/data/mixed_r1/mapqa.jsonl
    torchrun --nproc_per_node 8 filter_data.py model=qwen7b ...    # sharded over all processes
    python filter_data.py ... filter.output_dir=<an earlier run>   # resume it
    python filter_data.py ... filter.reuse_rewards=<run>/rewards.jsonl filter.min_std=0.2   # no generation
"""
import os
import sys

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hydra
from omegaconf import DictConfig


@hydra.main(config_path="conf", config_name="filter", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from mixed_r1.errors import exit_on_user_error  # imported late: `--cfg job` and `--help` stay instant
    from mixed_r1.filter import run_filter

    exit_on_user_error(run_filter, cfg)


if __name__ == "__main__":
    from mixed_r1.engine.distributed import prepare_launch

    sys.argv = prepare_launch(sys.argv)  # every rank of a launch writes into one run folder
    main()
