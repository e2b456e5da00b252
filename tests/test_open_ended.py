"""Open-ended rewards: batched BMAS equals per-sample BMAS, bipartite equals brute force, judge parsing,
and the encoder/judge variants on tiny local models."""
import itertools

import pytest
import torch

from mixed_r1.data.synthetic import corpus
from mixed_r1.rewards.bmas import bmas, bmas_batch
from mixed_r1.rewards.open_ended import OPEN_ENDED, BipartiteScorer, BMASScorer, build_open_ended
from mixed_r1.rewards.open_ended.judge import parse_judge_score
from mixed_r1.rewards.open_ended.similarity import bipartite_similarity
from tests.conftest import compose_train, settings_of


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_batched_bmas_equals_per_sample(reduction):
    g = torch.Generator().manual_seed(0)
    table = torch.randn(50, 16, generator=g)
    truths = [torch.randint(0, 50, (m,), generator=g).tolist() for m in (1, 5, 9)]
    response_ids, truth_ids = [], []
    for truth in truths:  # groups of 4 completions sharing one truth, with repeated tokens and an empty reply
        for n in (0, 1, 7, 30):
            response_ids.append(torch.randint(0, 50, (n,), generator=g).tolist())
            truth_ids.append(truth)
    batched = bmas_batch(table, response_ids, truth_ids, reduction)
    for i, (r, t) in enumerate(zip(response_ids, truth_ids)):
        assert batched[i].item() == pytest.approx(bmas(table[r], table[t], reduction), abs=1e-6)
    assert (batched[::4] == 0).all()  # empty responses


def test_bmas_sum_and_mean_ranges():
    e = torch.eye(3)
    assert bmas(e, e, "sum") == pytest.approx(2.0) and bmas(e, e, "mean") == pytest.approx(1.0)
    with pytest.raises(ValueError, match="reduction"):
        bmas(e, e, "max")


def _brute_force(sim: torch.Tensor) -> float:
    n, m = sim.shape
    best = float("-inf")
    if n <= m:
        for cols in itertools.permutations(range(m), n):
            best = max(best, sum(sim[i, c].item() for i, c in enumerate(cols)))
    else:
        for rows in itertools.permutations(range(n), m):
            best = max(best, sum(sim[r, j].item() for j, r in enumerate(rows)))
    return best


@pytest.mark.parametrize("shape", [(3, 3), (2, 4), (5, 3), (1, 6)])
def test_bipartite_equals_brute_force_optimum(shape):
    g = torch.Generator().manual_seed(sum(shape))
    for _ in range(5):
        sim = torch.rand(shape, generator=g) * 2 - 1
        best = _brute_force(sim)
        n, m = shape
        assert bipartite_similarity(sim, "sum") == pytest.approx(best / n + best / m, abs=1e-6)
        assert bipartite_similarity(sim, "mean") == pytest.approx((best / n + best / m) / 2, abs=1e-6)


def test_bipartite_never_exceeds_bmas():
    """A one-to-one matching is a restricted max: per direction it cannot beat the free max."""
    g = torch.Generator().manual_seed(3)
    table = torch.randn(30, 8, generator=g)
    tokenize = lambda texts: [[int(w) for w in t.split()] for t in texts]
    responses = [" ".join(str(int(x)) for x in torch.randint(0, 30, (n,), generator=g)) for n in (2, 5, 9)]
    truths = ["1 2 3", "4 5", "6 7 8 9"]
    bip = BipartiteScorer(lambda: table, tokenize)(responses, truths)
    bm = BMASScorer(lambda: table, tokenize)(responses, truths)
    assert (bip <= bm + 1e-6).all()


@pytest.mark.parametrize("text,expected", [
    ("0.8", 0.8), ("Score: 0.75", 0.75), ("80%", 0.8), ("4/5", 0.8), ("8 out of 10", 0.8), ("1", 1.0),
    ("85", 0.85), ("-3", 0.0), ("1e9", 0.0), ("nan", 0.0), ("", 0.0), ("great match!", 0.0), ("7/0", 0.0),
])
def test_judge_score_parsing(text, expected):
    assert parse_judge_score(text) == pytest.approx(expected)


@pytest.mark.parametrize("name", ["sbert", "modernbert", "llm_judge"])
def test_extra_model_variants_build_tiny_models_and_score(name, tmp_path):
    reward = settings_of(compose_train([f"reward.open_ended={name}"], run_dir=tmp_path)).run.reward
    scorer = build_open_ended(reward, table=lambda: None, tokenize=lambda t: [], tiny_corpus=corpus)
    assert (tmp_path / "reward_models" / name).exists()
    scores = scorer(["a red circle at the top left", "blue"], ["a red circle at the top left"] * 2)
    assert scores.shape == (2,) and torch.isfinite(scores).all()
    if name == "llm_judge":
        assert ((scores >= 0) & (scores <= 1)).all()
    else:  # cosine of identical texts is 1; of different texts less
        assert scores[0].item() == pytest.approx(1.0, abs=1e-5) and scores[1] < scores[0]


def test_registry_names_every_table4_variant_and_rejects_others(tmp_path):
    assert set(OPEN_ENDED) == {"bmas", "bipartite", "sbert", "modernbert", "llm_judge"}
    cfg = compose_train(["reward.open_ended=rouge"], run_dir=tmp_path)
    with pytest.raises(ValueError, match="reward.open_ended='rouge'"):
        settings_of(cfg)  # refused when the settings are read, before any scorer is built


def test_bmas_scorer_refuses_a_partitioned_embedding_table():
    """Under ZeRO-3 a rank holds a flat shard of the table outside the rollout's gather: scoring there
    would silently give every answer 0, so it is an error that says where to score."""
    from mixed_r1.rewards.open_ended import BMASScorer

    scorer = BMASScorer(lambda: torch.empty(0), lambda texts: [[1, 2] for _ in texts])
    with pytest.raises(RuntimeError, match="gathered"):
        scorer(["a"], ["b"])


def test_tiny_reward_models_live_with_the_rewards_and_models_never_import_rewards():
    """Rooms: the tiny Table 4 reward-model builders belong to the rewards package (which may import
    models); no module of mixed_r1.models imports mixed_r1.rewards."""
    from pathlib import Path

    import mixed_r1.models.tiny as model_tiny
    from mixed_r1.rewards.open_ended.tiny import TINY_REWARD_BUILDERS

    assert set(TINY_REWARD_BUILDERS) == {"sbert", "modernbert", "llm_judge"} <= set(OPEN_ENDED)
    assert not hasattr(model_tiny, "TINY_REWARD_BUILDERS") and not hasattr(model_tiny, "build_tiny_modernbert")
    models_dir = Path(model_tiny.__file__).parent
    offenders = [p.name for p in models_dir.glob("*.py") if "mixed_r1.rewards" in p.read_text(encoding="utf-8")]
    assert offenders == []
