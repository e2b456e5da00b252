"""Issue 25: each loss variant, advantage scaling and the truncated-completion rule equal TRL 1.16's implementation
of the same variant on the same inputs (values and gradients), by running TRL's own code.

What runs on TRL's side is TRL's code, unmodified: ``GRPOTrainer._compute_loss`` (the loss: importance ratio, clip,
k3 KL, every aggregation) and ``GRPOTrainer._generate_and_score_completions`` (advantages: ``scale_rewards``,
``multi_objective_aggregation``; and ``mask_truncated_completions``), called on :class:`TRLStandIn`, a
``GRPOTrainer`` built without its ``__init__`` (no model, dataset, optimizer): its own ``__init__`` sets the
attributes these two methods read, by the rules TRL 1.16's ``GRPOTrainer.__init__`` derives them from a real
``trl.GRPOConfig`` (``trl/trainer/grpo_trainer.py``, e.g. ``epsilon_high=None`` -> ``epsilon``). The stand-ins are
I/O plumbing only: the log-prob forward returns planted tensors, generation returns planted token ids, the reward
functions return planted rewards, and the accelerator is one process (gather/reduce are the identity; they feed
TRL's metrics and its token count).

Mapping (TRL -> ours): ``loss_type`` grpo -> ``aggregation='sequence'``, dapo and bnpo (one micro-batch, one process,
no gradient accumulation) -> ``'token'``, dr_grpo -> ``'dr_grpo'`` with ``max_length=max_completion_length``;
``epsilon``/``epsilon_high`` -> ``clip_eps``/``clip_eps_high``; ``importance_sampling_level`` -> ``importance_level``;
``beta`` -> ``beta`` (0: no reference log-probs); ``scale_rewards`` -> ``algo.scale_rewards``;
``multi_objective_aggregation`` -> ``reward.aggregation``, one TRL reward function per reward term and
``reward_weights`` its weights; ``mask_truncated_completions`` -> ``algo.mask_truncated``.

Where we match a TRL option only in part: TRL's ``use_bias_correction_kl`` defaults to True (the KL term times the
importance ratio, which changes the KL gradient even on-policy); our k3 term is TRL's with it False, so these tests
set it False. The hand-derived cases of the same formulas are tests/test_loss_variants.py (they always run)."""
from __future__ import annotations

from collections import defaultdict, deque
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from mixed_r1.grpo.loss import advantages, grpo_loss, normalized_sum_advantages
from mixed_r1.grpo.step import step_reward_mean_std, truncated_rows
from mixed_r1.models import Completions
from tests.conftest import CONF

trl = pytest.importorskip("trl", reason="trl is not installed: these tests compare our loss, advantages and truncation "
                                        "rule with TRL 1.16's GRPOTrainer (it is in requirements-dev.txt and the lock: "
                                        "`make install`)")
from trl import GRPOConfig  # noqa: E402
from trl.trainer.grpo_trainer import GRPOTrainer  # noqa: E402

TRL_VERSION = "1.16.0"  # the release whose __init__ rules TRLStandIn copies (requirements-dev.txt pins it)
# TRL's loss_type -> our algo.loss_aggregation
AGGREGATION = {"grpo": "sequence", "dapo": "token", "bnpo": "token", "dr_grpo": "dr_grpo"}


# ------------------------------------------------------------------------------------------- the harness
class OneProcess:
    """Stand-in for accelerate's ``Accelerator`` in one process: gathering or reducing one process's tensor returns
    it unchanged (TRL uses them for its metrics and for ``num_items_in_batch``)."""

    device = torch.device("cpu")
    num_processes = 1
    process_index = 0
    sync_gradients = True

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    gather_for_metrics = gather

    def reduce(self, tensor: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
        return tensor


class TRLStandIn(GRPOTrainer):
    """A ``GRPOTrainer`` whose methods are TRL's, with an ``__init__`` that sets only what ``_compute_loss`` and
    ``_generate_and_score_completions`` read, by TRL 1.16's ``GRPOTrainer.__init__`` rules, plus the planted I/O."""

    def __init__(self, args: GRPOConfig, reward_funcs: int = 1, eos_token_ids: tuple[int, ...] = (),
                 pad_token_id: int = 0) -> None:
        # --- GRPOTrainer.__init__'s rules (grpo_trainer.py ~lines 409-416, 548-576, 782-850, 944-946, 983, 1080-1098)
        self.args = args
        self.eos_token_ids = list(eos_token_ids)  # generation_config's eos ids, with the tokenizer's eos first
        self._tokenizer = SimpleNamespace(pad_token_id=pad_token_id)
        self.reward_func_names = [f"term{k}" for k in range(reward_funcs)]
        self.reward_funcs = self.reward_func_names  # only their number is read: _calculate_rewards is planted
        self.reward_weights = (torch.tensor(args.reward_weights, dtype=torch.float32) if args.reward_weights is not None
                               else torch.ones(reward_funcs, dtype=torch.float32))
        self.environment_factories, self.environments, self.tools = None, None, None
        self.max_completion_length = args.max_completion_length
        self.num_generations = args.num_generations
        self.num_generations_eval = args.num_generations_eval or self.num_generations
        self.pad_to_multiple_of = args.pad_to_multiple_of
        self.use_vllm = args.use_vllm
        self.vllm_importance_sampling_correction = args.vllm_importance_sampling_correction
        self.loss_type = args.loss_type
        self.multi_objective_aggregation = args.multi_objective_aggregation
        self.router_aux_loss_coef = 0.0  # a model without router logits (not a MoE): no auxiliary loss
        self.aux_loss_enabled = False
        self.scale_rewards = args.scale_rewards
        self.importance_sampling_level = args.importance_sampling_level
        self.off_policy_mask_threshold = args.off_policy_mask_threshold
        self.mask_truncated_completions = args.mask_truncated_completions
        self.top_entropy_quantile = args.top_entropy_quantile
        self.entropy_coef = args.entropy_coef
        self.use_adaptive_entropy = args.use_adaptive_entropy
        self._entropy_bonus_enabled = self.entropy_coef != 0.0 or self.use_adaptive_entropy
        self.num_iterations = args.num_iterations
        self.epsilon_low = args.epsilon
        self.epsilon_high = args.epsilon_high if args.epsilon_high is not None else args.epsilon
        self.beta = args.beta
        self._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
        self.log_multimodal = args.log_multimodal
        size = args.generation_batch_size
        self._logs = {"images": deque(maxlen=size), "prompt": deque(maxlen=size), "completion": deque(maxlen=size),
                      "rewards": defaultdict(lambda: deque(maxlen=size)), "advantages": deque(maxlen=size),
                      "extra": defaultdict(lambda: deque(maxlen=size))}
        self._pending_extra_logs: defaultdict[str, list] = defaultdict(list)
        self._pending_metrics: defaultdict[str, list] = defaultdict(list)
        # --- what transformers' Trainer sets (its training loop: one micro-batch per optimizer step here)
        self.accelerator = OneProcess()
        self.model = SimpleNamespace(training=True, is_gradient_checkpointing=False)
        self.current_gradient_accumulation_steps = 1
        # --- planted I/O, returned by the stand-ins below
        self.planted_logps: torch.Tensor | None = None
        self.planted_completions: list[list[int]] = []
        self.planted_rewards: torch.Tensor | None = None

    # stand-in: the policy's forward (TRL: the model's log-softmax at the completion tokens, and their entropies)
    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, *args, **kwargs):
        assert self.planted_logps is not None and logits_to_keep == self.planted_logps.shape[1]
        return self.planted_logps, torch.zeros_like(self.planted_logps.detach()), None

    # stand-in: generation (TRL: the completion ids cut after the first eos, as `_generate_single_turn` returns them)
    def _generate(self, prompts):
        n = len(prompts)
        return [[11, 12]] * n, self.planted_completions, None, ["completion"] * n, None, {}, None, None

    # stand-in: the reward functions (TRL: their [N, K] outputs, gathered over processes)
    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        return self.planted_rewards


@pytest.fixture(autouse=True)
def one_process(monkeypatch):
    """TRL's config builds accelerate's ``PartialState``, which starts a process group when a launcher's variables
    are set (a test that set ``LOCAL_RANK`` and left it would make every config here fail): none are, here."""
    for name in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)


def trl_config(tmp_path, **fields) -> GRPOConfig:
    """A real ``trl.GRPOConfig`` (TRL's defaults and its own post-init rules) for a CPU run."""
    return GRPOConfig(output_dir=str(tmp_path), bf16=False, use_cpu=True, report_to=[], **fields)


def test_the_harness_copies_the_trl_release_that_is_pinned():
    """TRLStandIn copies TRL 1.16's ``__init__`` rules: another release may read other attributes; re-read them."""
    assert trl.__version__ == TRL_VERSION


# ------------------------------------------------------------------------------------------------ the loss
def loss_inputs() -> dict[str, torch.Tensor]:
    """Six completions over 8 columns (float64): lengths 8, 5, 3, 1, 0 (a row masked out, as TRL's masked
    truncation leaves it) and 6. log π_θ − log π_old is a per-row shift plus token noise of mean 0 over the row, so
    the sequence-level (GSPO) log-ratio is the shift: row 0 above 1 + ε with A > 0 (clipped high), rows 1 and 5
    below 1 − ε with A < 0 (clipped low), row 2 inside, row 3 above with A < 0 (outside the range, not clipped).
    At the token level the noise spreads the ratios over both sides of both bounds."""
    gen = torch.Generator().manual_seed(25)
    lengths = torch.tensor([8, 5, 3, 1, 0, 6])
    mask = (torch.arange(8).unsqueeze(0) < lengths.unsqueeze(1)).long()  # right padding, like TRL's
    logps = -3.0 * torch.rand(6, 8, generator=gen, dtype=torch.float64)
    shift = torch.tensor([0.5, -0.5, 0.05, 0.4, 0.0, -0.35], dtype=torch.float64).unsqueeze(1)
    noise = 0.3 * torch.randn(6, 8, generator=gen, dtype=torch.float64)
    noise = noise - (noise * mask).sum(dim=1, keepdim=True) / lengths.clamp(min=1).unsqueeze(1)
    old = logps - shift - noise
    ref = logps + 0.2 * torch.randn(6, 8, generator=gen, dtype=torch.float64)
    adv = torch.tensor([1.3, -0.7, 0.4, -0.9, 0.5, -1.1], dtype=torch.float64)
    return {"logps": logps, "old": old, "ref": ref, "advantages": adv, "mask": mask}


def trl_loss(tmp_path, data, loss_type, level, beta, epsilon_high) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """TRL's ``_compute_loss`` on the planted tensors: its loss, d loss / d logprobs, and its metrics."""
    args = trl_config(tmp_path, loss_type=loss_type, importance_sampling_level=level, beta=beta, epsilon=0.2,
                      epsilon_high=epsilon_high, max_completion_length=10,
                      use_bias_correction_kl=False)  # ours is TRL's k3 term without the bias correction (module doc)
    trainer = TRLStandIn(args)
    logps = data["logps"].clone().requires_grad_(True)
    trainer.planted_logps = logps
    n, t = data["mask"].shape
    inputs = {"prompt_ids": torch.full((n, 2), 11), "prompt_mask": torch.ones(n, 2, dtype=torch.long),
              "completion_ids": torch.full((n, t), 13), "completion_mask": data["mask"],
              "advantages": data["advantages"], "old_per_token_logps": data["old"],
              "num_items_in_batch": data["mask"].sum()}  # what TRL's scoring step computes: the batch's loss tokens
    if beta != 0.0:
        inputs["ref_per_token_logps"] = data["ref"]
    loss = trainer._compute_loss(trainer.model, inputs)
    loss.backward()
    assert logps.grad is not None
    return loss.detach(), logps.grad, trainer._metrics["train"]


@pytest.mark.parametrize("epsilon_high", [None, 0.28], ids=["symmetric", "clip_higher"])
@pytest.mark.parametrize("beta", [0.0, 0.04], ids=["no_kl", "kl"])
@pytest.mark.parametrize("level", ["token", "sequence"])
@pytest.mark.parametrize("loss_type", ["grpo", "dapo", "bnpo", "dr_grpo"])
def test_each_loss_variant_is_trls(tmp_path, loss_type, level, beta, epsilon_high):
    """TRL ``GRPOTrainer._compute_loss`` with ``loss_type`` grpo / dapo / bnpo / dr_grpo,
    ``importance_sampling_level`` token / sequence (GSPO; TRL accepts it with every loss type, warning for the
    token-summing ones), ``beta`` 0 / 0.04 (k3 KL), ``epsilon_high`` None / 0.28 (DAPO's clip-higher) vs our
    ``grpo_loss`` with the matching ``aggregation``, ``importance_level``, ``beta`` and ``clip_eps_high``: equal loss
    and equal gradient w.r.t. the policy's log-probs (float64)."""
    data = loss_inputs()
    trl_value, trl_grad, metrics = trl_loss(tmp_path, data, loss_type, level, beta, epsilon_high)
    # the clip is exercised: TRL counts some tokens (token level) or sequences (sequence level) as clipped, not all
    assert 0.0 < metrics["clip_ratio/region_mean"][-1] < 1.0
    assert metrics["clip_ratio/low_mean"][-1] > 0.0 and metrics["clip_ratio/high_mean"][-1] > 0.0

    logps = data["logps"].clone().requires_grad_(True)
    ours, our_metrics = grpo_loss(logps, data["old"], data["ref"] if beta != 0.0 else None, data["advantages"],
                                  data["mask"], clip_eps=0.2, beta=beta, aggregation=AGGREGATION[loss_type],
                                  clip_eps_high=epsilon_high, importance_level=level, max_length=10)
    ours.backward()
    assert logps.grad is not None
    torch.testing.assert_close(ours.detach(), trl_value, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(logps.grad, trl_grad, rtol=1e-12, atol=1e-15)
    assert trl_grad.abs().sum() > 0 and (trl_grad[data["mask"] == 0] == 0).all()  # padding has no gradient
    if beta != 0.0:  # the KL metric: both are the token mean of the k3 estimate
        assert our_metrics["kl"] == pytest.approx(metrics["kl"][-1], rel=1e-12)


# ------------------------------------------------------------------------------------------ the advantages
G = 4
STOP, PAD, BUDGET = 2, 0, 6  # our stop token (TRL's one eos id), the pad id, max_new_tokens
WEIGHTS = [1.0, 0.5]  # accuracy, format × λ (our reward terms) = TRL's reward_weights of two reward functions
# [N, K] reward terms, five groups of G: all equal; format constant; both vary (an IoU-like float accuracy); accuracy
# constant; both vary but their sum is constant with equal weights (not with WEIGHTS)
TERMS = torch.tensor([
    [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0],
    [0.0, 1.0], [1.0, 1.0], [0.0, 1.0], [1.0, 1.0],
    [0.3, 0.0], [0.9, 1.0], [0.1, 1.0], [0.6, 0.0],
    [0.0, 1.0], [0.0, 0.0], [0.0, 1.0], [0.0, 1.0],
    [1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0],
])


def trl_scored(tmp_path, rewards: torch.Tensor, completions: list[list[int]], group_size: int,
               weights: list[float] | None = None, **fields) -> dict:
    """TRL's ``_generate_and_score_completions`` on planted rewards ``[N, K]`` (one column per reward function) and
    completion ids, with TRL's eos ids = our stop token and its pad id = ours."""
    args = trl_config(tmp_path, num_generations=group_size, reward_weights=weights, beta=0.0, **fields)
    trainer = TRLStandIn(args, reward_funcs=rewards.shape[1], eos_token_ids=(STOP,), pad_token_id=PAD)
    trainer.planted_rewards, trainer.planted_completions = rewards, completions
    return trainer._generate_and_score_completions([{"prompt": f"prompt {i // group_size}"}
                                                    for i in range(len(rewards))])


def adv_eps() -> float:
    """Our shipped ``algo.adv_eps`` (TRL hard-codes 1e-4 in both aggregations)."""
    return float(OmegaConf.load(CONF / "algo" / "grpo.yaml").adv_eps)


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_advantages_of_the_summed_reward_are_trls(tmp_path, scale):
    """TRL ``multi_objective_aggregation='sum_then_normalize'`` with ``scale_rewards`` group / batch / none (two
    weighted reward functions) vs our ``advantages(total, G, algo.adv_eps, scale, batch_std)`` on the weighted sum,
    with the batch std the training step passes (``step_reward_mean_std``, over all ranks: one here)."""
    output = trl_scored(tmp_path, TERMS, [[5, STOP]] * len(TERMS), G, WEIGHTS, scale_rewards=scale,
                        multi_objective_aggregation="sum_then_normalize")
    total = (TERMS * torch.tensor(WEIGHTS)).sum(dim=1)  # our RewardOutput.total: accuracy + λ · format
    batch_std = step_reward_mean_std(total)[1] if scale == "batch" else None
    ours = advantages(total, G, adv_eps(), scale, batch_std)
    torch.testing.assert_close(ours, output["advantages"], rtol=1e-6, atol=1e-6)
    assert (ours[:G] == 0).all() and ours[G:].abs().sum() > 0  # the all-equal group: advantage 0 on both sides


def test_normalize_then_sum_is_trls(tmp_path):
    """TRL ``multi_objective_aggregation='normalize_then_sum'`` (GDPO: each reward function normalised in its group,
    weighted by ``reward_weights``, summed, then normalised over the batch) vs our ``normalized_sum_advantages``
    with each column one reward term and the step's batch mean/std (``step_reward_mean_std``)."""
    output = trl_scored(tmp_path, TERMS, [[5, STOP]] * len(TERMS), G, WEIGHTS,
                        multi_objective_aggregation="normalize_then_sum")
    ours = normalized_sum_advantages(TERMS, WEIGHTS, G, adv_eps(), step_reward_mean_std)
    torch.testing.assert_close(ours, output["advantages"], rtol=1e-6, atol=1e-6)
    assert len(set(ours[:G].tolist())) == 1  # the all-equal group: one value (the batch-centred zero sum)


# ---------------------------------------------------------------------------------------- truncated rows
def completions_of(rows: list[list[int]]) -> Completions:
    """Our rollout's layout of completion rows: right-padded with the pad id, mask 1 up to and including the stop."""
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [PAD] * (width - len(r)) for r in rows])
    mask = (torch.arange(width).unsqueeze(0) < torch.tensor([len(r) for r in rows]).unsqueeze(1)).long()
    return Completions(ids, mask)


def test_truncated_rows_are_trls_masked_truncated_completions(tmp_path):
    """TRL ``mask_truncated_completions=True`` (a completion whose last token is not an eos or pad id has its whole
    completion mask zeroed) vs our ``truncated_rows`` (``algo.mask_truncated``: the row used all of
    ``max_new_tokens`` without the stop token), as our step applies it (``loss mask = mask · ~truncated``), with
    TRL's eos ids = our one stop token. The rows are what each side's generation returns (cut after the stop):
    stopped early, stopped on the budget's last token, a one-token stop, and two cut off at the budget."""
    rows = [[5, 6, STOP], [5, 6, 7, 8, 9, STOP], [STOP], [5, 6, 7, 8, 9, 10], [9, 9, 9, 9, 9, 9], [7, STOP]]
    output = trl_scored(tmp_path, torch.zeros(len(rows), 1), rows, 2, mask_truncated_completions=True)
    ours = completions_of(rows)
    truncated = truncated_rows(ours, STOP, BUDGET)
    assert truncated.tolist() == [False, False, False, True, True, False]
    torch.testing.assert_close(output["completion_ids"], ours.ids)
    torch.testing.assert_close(output["completion_mask"], ours.mask * (~truncated).long().unsqueeze(1))
    assert int(output["num_items_in_batch"]) == int((ours.mask * (~truncated).long().unsqueeze(1)).sum())


def test_a_cut_off_row_ending_in_the_pad_id_is_where_the_rules_differ(tmp_path):
    """A known difference, kept visible: TRL counts a completion whose last token is the pad id as finished
    (``ids[-1] not in eos_and_pad``: in its generation the pad id is usually an eos id too, and generation stops
    there). Our generation stops only at the stop token, so a row that sampled the pad id as the budget's last
    token ran out of budget: ours calls it truncated, TRL's rule would not."""
    rows = [[5, 6, 7, 8, 9, PAD], [5, STOP]]
    output = trl_scored(tmp_path, torch.zeros(len(rows), 1), rows, 2, mask_truncated_completions=True)
    assert output["completion_mask"][0].sum() == BUDGET  # TRL: not truncated
    assert truncated_rows(completions_of(rows), STOP, BUDGET).tolist() == [True, False]  # ours: truncated
