"""Process-group helpers: one place that knows about ranks. Every function is a no-op (or the
identity) in a single plain process, so the GRPO step reads the same with or without DeepSpeed.

Launchers: ``torchrun`` sets RANK/WORLD_SIZE/LOCAL_RANK; ``deepspeed`` sets the same and also passes
``--local_rank=N``, which ``train.py`` removes before Hydra parses the command line; SLURM tasks
(``srun``, Hydra's submitit launcher) get those variables from SLURM's.
"""
from __future__ import annotations

import datetime
import os
import time
from typing import Any, Callable, Sequence, TypeVar

import torch
import torch.distributed as dist

from mixed_r1.errors import ConfigError

T = TypeVar("T")


def torch_env_from_slurm(env: dict[str, str], first_host: Callable[[str], str]) -> dict[str, str]:
    """torchrun's variables for a SLURM task (``srun`` / Hydra's submitit launcher with
    ``tasks_per_node`` > 1), which sets only SLURM's: rank, world size, local rank and rank 0's host.
    Empty when not under a multi-task SLURM step or when a launcher already set them."""
    if "RANK" in env or int(env.get("SLURM_NTASKS", "1")) <= 1 or "SLURM_PROCID" not in env:
        return {}
    return {"RANK": env["SLURM_PROCID"], "WORLD_SIZE": env["SLURM_NTASKS"],
            "LOCAL_RANK": env.get("SLURM_LOCALID", "0"), "MASTER_ADDR": first_host(env["SLURM_JOB_NODELIST"]),
            "MASTER_PORT": env.get("MASTER_PORT", str(29500 + int(env.get("SLURM_JOB_ID", "0")) % 1000))}


def _first_slurm_host(nodelist: str) -> str:
    import subprocess

    out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True)
    return out.stdout.split()[0]


def launched_world_size() -> int:
    """Processes the launcher started (1 without a launcher); fills torchrun's variables from SLURM's
    when the processes were started by SLURM itself."""
    os.environ.update(torch_env_from_slurm(dict(os.environ), _first_slurm_host))
    return int(os.environ.get("WORLD_SIZE", "1"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def init_process_group(backend: str | None = None) -> None:
    """Join the launcher's process group (env:// rendezvous); a single process without a launcher
    gets a one-member group on a free local port (DeepSpeed needs a group even for one process)."""
    if dist.is_initialized():
        return
    launched_world_size()  # SLURM tasks: torchrun's variables from SLURM's
    if "MASTER_ADDR" not in os.environ:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(s.getsockname()[1]),
                              RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_reduce(values: list[float], op: str = "sum") -> list[float]:
    """Element-wise sum or max of a few floats over ranks (float64, on CPU for gloo, else the GPU)."""
    if not is_distributed():
        return list(values)
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
    return tensor.tolist()


def all_reduce_dict(values: dict[str, float], op: str = "sum") -> dict[str, float]:
    """:func:`all_reduce` of a dict whose keys are the same on every rank."""
    keys = sorted(values)
    return dict(zip(keys, all_reduce([values[k] for k in keys], op)))


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` in rank order, on every rank (small picklable things: metrics, rewards)."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def main_first(fn: Callable[[], T]) -> T:
    """``fn()`` on rank 0 first (it may write files: synthetic data, a tiny model), then on the others."""
    if is_main():
        out = fn()
        barrier()
        return out
    barrier()
    return fn()


def rank_share(total: int, world: int, what: str) -> int:
    """``total`` split evenly over ``world`` ranks, or a ConfigError naming the setting."""
    if total % world:
        raise ConfigError(f"{what}={total} does not split evenly over {world} processes; "
                          f"make it a multiple of the world size")
    return total // world


def shard(items: Sequence[T]) -> list[T]:
    """This rank's contiguous share of a global batch (its length must divide by the world size)."""
    per = rank_share(len(items), world_size(), "a batch of")
    return list(items[rank() * per:(rank() + 1) * per])


def is_partitioned(model: torch.nn.Module) -> bool:
    """True when DeepSpeed ZeRO-3 holds the model's parameters as shards (it tags them with ``ds_id``)."""
    return any(hasattr(p, "ds_id") for p in model.parameters())


def strip_local_rank(argv: list[str]) -> list[str]:
    """``deepspeed`` passes ``--local_rank=N``, which Hydra would reject; LOCAL_RANK carries it too."""
    out, skip = [], False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg.startswith("--local_rank="):
            os.environ.setdefault("LOCAL_RANK", arg.split("=", 1)[1])
            continue
        if arg == "--local_rank" and i + 1 < len(argv):
            os.environ.setdefault("LOCAL_RANK", argv[i + 1])
            skip = True
            continue
        out.append(arg)
    return out


def run_stamp(environ: dict[str, str] | None = None) -> str:
    """``YYYY-MM-DD/HH-MM-SS-<who>``: the start second plus what tells two runs of that second apart — the SLURM
    job (and array task) when there is one, else this process's pid — so two jobs never pick one run folder."""
    env = dict(os.environ) if environ is None else environ
    job = env.get("SLURM_ARRAY_JOB_ID") or env.get("SLURM_JOB_ID")
    task = env.get("SLURM_ARRAY_TASK_ID")
    who = (f"j{job}" + (f"_{task}" if task else "")) if job else f"p{os.getpid()}"
    return time.strftime("%Y-%m-%d/%H-%M-%S") + f"-{who}"


def share_run_stamp(env_var: str) -> None:
    """Put the run's stamp (:func:`run_stamp`; under a multi-process launch rank 0's) in ``env_var``, so every
    rank's Hydra resolves the same run folder (the config reads it before its own clock)."""
    if env_var in os.environ:
        return
    if launched_world_size() <= 1:
        os.environ[env_var] = run_stamp()
        return
    init_process_group()
    os.environ[env_var] = broadcast_object(run_stamp())


#: rank 0's start time, which conf/*.yaml read for the run folder (hydra.run.dir)
RUN_STAMP_ENV = "MIXED_R1_RUN_STAMP"


def prepare_launch(argv: list[str]) -> list[str]:
    """What every entry point does before Hydra parses: drop the ``deepspeed`` launcher's ``--local_rank``
    and give every rank of a launch rank 0's start time, so all ranks write into one run folder."""
    argv = strip_local_rank(argv)
    share_run_stamp(RUN_STAMP_ENV)
    return argv
