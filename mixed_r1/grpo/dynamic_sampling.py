"""DAPO's dynamic sampling (Yu et al. 2025, arXiv 2503.14476, section 3.2): a group whose G rewards are all equal
has advantage 0 everywhere and teaches nothing, so it is dropped and the step's batch is refilled with groups of
newly drawn prompts until it is full again:

    keep group g  ⇔  0 < std({r_i}_{i ∈ g})          (``algo.dynamic_sampling``)

Why a module of its own: the refill is the one place where a GRPO step draws more prompts than it was given, and it
must do so identically on 1 and N ranks and across a resume. The rule that makes it so: every refill round, every
rank says how many groups it lacks; the next Σ lacks prompts of the data stream (the sampler's, the same on every
rank) are dealt out in rank order, each rank taking as many as it lacks. So the set of prompts a step trains on is the
same whatever the number of ranks, every rank ends with its share (the same count on each: ZeRO needs equal work),
and the sampler's position — saved in every checkpoint — is all a resume needs to draw the same prompts again.

After ``algo.max_resample_rounds`` rounds a rank still short tops its share up with dropped groups (advantage 0:
they add only the KL term), so the step keeps its size; ``unfilled_groups`` counts them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from mixed_r1.data.schema import Sample
from mixed_r1.engine.distributed import gather_objects, rank
from mixed_r1.models import Completions, PromptBatch
from mixed_r1.rewards.mixed import RewardOutput
from mixed_r1.rollout import ScoredSamples

# draw(total, mine): take the next ``total`` prompts of the data stream (every rank calls it with the same total) and
# return this rank's slice ``mine`` of them
Draw = Callable[[int, slice], list[Sample]]
# score(samples): G scored completions per prompt
Score = Callable[[list[Sample]], ScoredSamples]


@dataclass(frozen=True)
class Refill:
    """What one step's dynamic sampling did, summed over ranks (logged with the step)."""

    rounds: int  # refill rounds run (0: the first draw was full of informative groups)
    resampled_groups: int  # prompts drawn beyond the step's batch
    unfilled_groups: int  # zero-variance groups trained on because the rounds ran out

    def metrics(self) -> dict[str, int]:
        return {"rounds": self.rounds, "resampled_groups": self.resampled_groups,
                "unfilled_groups": self.unfilled_groups}


def informative_groups(rewards: torch.Tensor, group_size: int) -> list[bool]:
    """Per group of ``group_size`` consecutive rewards: whether they differ (std > 0). A group with a non-finite
    reward counts as informative: it must reach the loss, where the bad-step guard skips the update and counts it,
    not be dropped unseen."""
    grouped = rewards.view(-1, group_size)
    return (grouped.max(dim=1).values != grouped.min(dim=1).values).tolist()


def fill_batch(first: ScoredSamples, draw: Draw, score: Score, group_size: int, max_rounds: int,
               prompts_for: Callable[[list[Sample]], PromptBatch], pad_id: int
               ) -> tuple[ScoredSamples, RewardOutput, Refill]:
    """This rank's share of the step with every zero-variance group replaced (module docstring). Returns the groups
    to train on (as many as ``first`` has), the rewards of every group sampled this step (the policy's real reward:
    a filtered batch would hide its all-right and all-wrong groups), and what the refill did.

    ``prompts_for`` re-encodes the kept prompts as one left-padded batch (groups of different rounds were padded to
    different widths); ``pad_id`` pads their completions."""
    G = group_size
    target = len(first.samples) // G
    parts = [first]
    kept: list[tuple[int, int]] = []  # (part, group) in the order found
    dropped: list[tuple[int, int]] = []
    rounds = resampled = 0
    while True:
        for g, useful in enumerate(informative_groups(parts[-1].rewards.total, G)):
            (kept if useful else dropped).append((len(parts) - 1, g))
        kept = kept[:target]  # a rank never trains on more than its share
        lacks = gather_objects(target - len(kept))  # every rank's, in rank order
        total = sum(lacks)
        if total == 0 or rounds == max_rounds:
            break
        rounds, resampled = rounds + 1, resampled + total
        start = sum(lacks[: rank()])
        new = draw(total, slice(start, start + lacks[rank()]))
        padding = [first.samples[0]] * (max(lacks) - len(new))  # equal work on every rank (module docstring)
        parts.append(score(new + padding).take(range(len(new) * G)))
    unfilled = target - len(kept)
    chosen = kept + dropped[:unfilled]
    batch = _groups(parts, chosen, G, prompts_for, pad_id)
    sampled = RewardOutput.concat([p.rewards for p in parts if p.samples])
    return batch, sampled, Refill(rounds, resampled, sum(gather_objects(unfilled)))


def _groups(parts: Sequence[ScoredSamples], chosen: Sequence[tuple[int, int]], G: int,
            prompts_for: Callable[[list[Sample]], PromptBatch], pad_id: int) -> ScoredSamples:
    """The chosen groups of several rounds as one batch (a step that drew once: its groups as they are), timed as
    every round together."""
    if len(parts) == 1:
        return parts[0]
    pieces = [parts[part].take(range(g * G, (g + 1) * G)) for part, g in chosen]
    samples = [s for piece in pieces for s in piece.samples]
    seconds = {key: sum(p.seconds[key] for p in parts) for key in parts[0].seconds}
    return ScoredSamples(samples, prompts_for(samples[::G]).repeat(G),
                         Completions.concat([p.completions for p in pieces], pad_id),
                         [t for piece in pieces for t in piece.texts],
                         RewardOutput.concat([p.rewards for p in pieces]), seconds)
