"""Score a checkpoint on Table 1's benchmarks. Compose from ``conf/eval.yaml``; the logic lives in
``mixed_r1/eval/``.

    python eval.py model=qwen7b model.path=outputs/<run>/checkpoint eval.data_root=/data/bench
    python eval.py ... eval.thinking=false                          # each benchmark's direct-answer prompt
    torchrun --nproc_per_node 8 eval.py ...                         # items sharded over all processes
    python eval.py ... eval.output_dir=<an earlier run>             # resume it
    python eval.py ... eval.backend=lmms_eval                       # the same checkpoint through lmms-eval
"""
import os
import sys

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hydra
from omegaconf import DictConfig


@hydra.main(config_path="conf", config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from mixed_r1.errors import exit_on_user_error  # imported late: `--cfg job` and `--help` stay instant
    from mixed_r1.eval.runner import run_eval

    exit_on_user_error(run_eval, cfg)


if __name__ == "__main__":
    from mixed_r1.engine.distributed import prepare_launch

    sys.argv = prepare_launch(sys.argv)  # every rank of a launch writes into one run folder
    main()
