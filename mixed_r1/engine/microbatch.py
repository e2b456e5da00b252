"""The one micro-batching path of every recipe (GRPO, SFT and the demo warm-up).

A rank's rows are split into micro-batches of ``size`` rows. Each micro-batch computes the mean of its
own loss (over sequences or over tokens) and is weighted by its share of the *global* batch — the
sequences or tokens of every rank — so that neither the micro-batch size nor the number of ranks
changes the gradient. A rank with fewer micro-batches than another runs zero-weight repeats of one of
its rows, so every rank joins every collective (ZeRO-3 gathers, gradient reductions).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from mixed_r1.engine.distributed import all_reduce
from mixed_r1.engine.protocol import Engine

AGGREGATIONS = ("sequence", "token", "dr_grpo")
ROW_WEIGHTED = ("sequence", "dr_grpo")  # losses that are a mean over rows (dr_grpo: each row's sum / a constant)


@dataclass(frozen=True)
class MicroBatch:
    rows: list[int]  # indices into this rank's rows
    weight: float  # the share of the global loss this micro-batch's own mean stands for (0: padding)
    token_weight: float  # its share of the global token count (token-mean metrics); 0 for padding


@dataclass(frozen=True)
class MicroBatchPlan:
    batches: list[MicroBatch]
    global_rows: float  # rows over all ranks
    global_tokens: float  # tokens over all ranks

    @property
    def empty(self) -> bool:
        """No rank has a row: there is nothing to learn from (every rank sees the same)."""
        return self.global_rows == 0


def padded_tokens(chunk: Sequence[int], lengths: Sequence[int], groups: Sequence[int] | None = None,
                  prompt_len: int = 0) -> int:
    """What a micro-batch's forward computes, padding included: its rows × its longest row or, with
    ``groups`` (shared-prompt passes: a group's rows are one packed row of its prompt then its completions),
    its groups × (``prompt_len`` + the most rows of one group × the longest completion)."""
    longest = max(lengths[r] for r in chunk)
    if groups is None:
        return len(chunk) * longest
    rows_per_group = Counter(groups[r] for r in chunk)
    return len(rows_per_group) * (prompt_len + max(rows_per_group.values()) * (longest - prompt_len))


def pack_by_length(rows: Sequence[int], lengths: Sequence[int], max_tokens: int, size: int = 0,
                   groups: Sequence[int] | None = None, prompt_len: int = 0) -> list[list[int]]:
    """Rows sorted longest first and packed greedily so that a micro-batch's :func:`padded_tokens` stay
    within ``max_tokens`` (a row longer than that goes alone) and it holds at most ``size`` rows (0: no row
    limit). Sorting puts rows of similar length together: less padding computed. With ``groups`` the rows
    of a group stay together (ordered by the group's longest row), so its prompt is encoded once."""
    if groups is None:
        ordered = sorted(rows, key=lambda r: (-lengths[r], r))
    else:
        group_longest: dict[int, int] = {}
        for r in rows:
            group_longest[groups[r]] = max(group_longest.get(groups[r], 0), lengths[r])
        ordered = sorted(rows, key=lambda r: (-group_longest[groups[r]], groups[r], -lengths[r], r))
    chunks: list[list[int]] = []
    for row in ordered:  # the first row of a chunk is its longest
        if (chunks and padded_tokens(chunks[-1] + [row], lengths, groups, prompt_len) <= max_tokens
                and (not size or len(chunks[-1]) < size)):
            chunks[-1].append(row)
        else:
            chunks.append([row])
    return chunks


def plan_micro_batches(rows: Sequence[int], tokens_per_row: Sequence[float], size: int, aggregation: str,
                       pad_row: int = 0, max_tokens: int = 0, lengths: Sequence[int] | None = None,
                       groups: Sequence[int] | None = None, prompt_len: int = 0) -> MicroBatchPlan:
    """Micro-batches of ``size`` rows (0: all rows at once) weighted by their global share — or, with
    ``max_tokens`` > 0, rows packed by their sequence ``lengths`` under that token budget
    (:func:`pack_by_length`, with ``groups`` and ``prompt_len`` for shared-prompt passes); the weights make
    the order irrelevant to the gradient.

    ``tokens_per_row`` holds the loss tokens of *every* row of this rank (indexed by row), ``aggregation``
    says what the global loss averages over: ``sequence`` and ``dr_grpo`` (each row counts 1) or ``token``
    (each token counts 1). Every rank must call this (it all-reduces the counts). ``pad_row`` is the row a padding
    micro-batch repeats.
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    rows = list(rows)
    if max_tokens > 0:
        if lengths is None:
            raise ValueError("packing by a token budget needs the rows' lengths")
        chunks = pack_by_length(rows, lengths, max_tokens, size, groups, prompt_len)
    else:
        size = size or max(len(rows), 1)
        chunks = [rows[i:i + size] for i in range(0, len(rows), size)]
    tokens = [float(sum(tokens_per_row[r] for r in c)) for c in chunks]
    global_rows, global_tokens = all_reduce([float(len(rows)), float(sum(tokens))], "sum")
    n_chunks = int(all_reduce([float(len(chunks))], "max")[0])
    batches = []
    for chunk, chunk_tokens in zip(chunks, tokens):
        token_weight = chunk_tokens / max(global_tokens, 1.0)
        weight = len(chunk) / global_rows if aggregation in ROW_WEIGHTED else token_weight
        batches.append(MicroBatch(chunk, weight, token_weight))
    batches += [MicroBatch([pad_row], 0.0, 0.0)] * (n_chunks - len(chunks))
    return MicroBatchPlan(batches, global_rows, global_tokens)


# (index in the plan, micro-batch) -> (the micro-batch's mean loss, its token-mean metrics)
LossFn = Callable[[int, MicroBatch], tuple[torch.Tensor, dict[str, float]]]


def accumulate_gradients(engine: Engine, plan: MicroBatchPlan, loss_fn: LossFn) -> dict[str, float]:
    """Backward every micro-batch of ``plan`` (``loss_fn`` gives its mean loss and token-mean metrics);
    returns this rank's share of the global loss and metrics (sum them over ranks for the global value)."""
    sums: dict[str, float] = {"loss": 0.0}
    last = len(plan.batches) - 1
    for k, micro in enumerate(plan.batches):
        loss, metrics = loss_fn(k, micro)
        engine.backward(loss * micro.weight, boundary=k == last)
        padding = micro.weight == 0.0 and micro.token_weight == 0.0  # in every collective, in no metric
        sums["loss"] += 0.0 if padding else loss.item() * micro.weight
        for key, value in metrics.items():  # the same keys on every rank: the caller all-reduces them
            sums[key] = sums.get(key, 0.0) + (0.0 if padding else value * micro.token_weight)
    return sums
