"""Reward throughput on a rollout-sized batch: 512 completions (64 prompts x 8), ~300 tokens each.

    python bench/rewards.py                 # 7B-sized embedding table (151,936 x 3584)
    python bench/rewards.py --dim 128 --vocab 512 --skip-extra

Prints a table of completions per second per reward. The closed-form rewards see realistic reply
texts; BMAS sees Zipf-distributed token ids (text-like repetition) against 64 shared ground truths.
The extra-model variants (sbert, modernbert, llm_judge) run on the tiny local models the demo uses,
so their figures are a lower bound on the cost of a real encoder/judge.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mixed_r1.data import Sample
from mixed_r1.data.synthetic import corpus
from mixed_r1.rewards.bmas import bmas, bmas_batch
from mixed_r1.rewards.chart import chart_reward
from mixed_r1.rewards.format import format_reward
from mixed_r1.rewards.iou import iou_reward
from mixed_r1.rewards.matching import matching_reward
from mixed_r1.rewards.mixed import MixedReward
from mixed_r1.rewards.open_ended import BipartiteScorer, BMASScorer

PROMPTS, GROUP, TOKENS, TRUTH_TOKENS = 64, 8, 300, 40


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def zipf_ids(rng: torch.Generator, vocab: int, n: int) -> list[int]:
    ranks = torch.arange(1, vocab + 1, dtype=torch.float64)
    probs = 1.0 / ranks
    return torch.multinomial(probs / probs.sum(), n, replacement=True, generator=rng).tolist()


def reply(rng: random.Random, answer: str) -> str:
    think = " ".join(rng.choice(["the", "shape", "is", "red", "bar", "value", "so", "answer"]) for _ in range(250))
    return f"<think>{think}</think><answer>{answer}</answer>"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dim", type=int, default=3584, help="embedding width (Qwen2.5-VL-7B: 3584, 3B: 2048)")
    parser.add_argument("--vocab", type=int, default=151936, help="vocabulary size (Qwen2.5-VL: 151936)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="where the embedding table lives (cuda: the GPU figure)")
    parser.add_argument("--skip-extra", action="store_true", help="skip sbert/modernbert/llm_judge")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n = PROMPTS * GROUP
    rng, g = random.Random(0), torch.Generator().manual_seed(0)
    table = torch.randn(args.vocab, args.dim, generator=g).to(args.device)
    truths = [zipf_ids(g, args.vocab, TRUTH_TOKENS) for _ in range(PROMPTS)]
    truth_ids = [t for t in truths for _ in range(GROUP)]
    response_ids = [zipf_ids(g, args.vocab, TOKENS) for _ in range(n)]

    texts_yn = [reply(rng, rng.choice(["yes", "No.", "maybe"])) for _ in range(n)]
    texts_mc = [reply(rng, rng.choice(["B", "(C)", "The answer is A", "green"])) for _ in range(n)]
    texts_chart = [reply(rng, rng.choice(["1,234.5", "$12", "3.14 kg", "n/a"])) for _ in range(n)]
    texts_box = [reply(rng, f"[{rng.randint(0, 50)}, {rng.randint(0, 50)}, {rng.randint(51, 99)}, 99]") for _ in range(n)]
    rows: list[tuple[str, float]] = []
    rows.append(("format", timed(lambda: [format_reward(t) for t in texts_yn])))
    rows.append(("matching (yes/no)", timed(lambda: [matching_reward(t, "yes") for t in texts_yn])))
    rows.append(("matching (multiple choice)", timed(lambda: [matching_reward(t, "B", ["red", "green", "blue"])
                                                             for t in texts_mc])))
    rows.append(("chart", timed(lambda: [chart_reward(t, "1234.5") for t in texts_chart])))
    rows.append(("iou", timed(lambda: [iou_reward(t, [10, 10, 80, 99]) for t in texts_box])))

    def bmas_loop():
        return [bmas(table[torch.tensor(r, device=table.device)], table[torch.tensor(t, device=table.device)])
                for r, t in zip(response_ids, truth_ids)]

    loop_s = timed(bmas_loop)  # best of 3, like the batched form: the first pass pays page faults
    batch_s = timed(lambda: bmas_batch(table, response_ids, truth_ids))
    rows.append(("bmas, per-sample loop", loop_s))
    rows.append(("bmas, batched (one matmul per group)", batch_s))
    bip = BipartiteScorer(lambda: table, lambda texts: [response_ids[int(x)] if x.isdigit() else [] for x in texts])
    bip_n = 64  # the assignment solver per sample is slow: time a slice and scale
    bip_s = timed(lambda: bip([str(i) for i in range(bip_n)], [str(i) for i in range(bip_n)]), repeat=1)
    rows.append(("bipartite (scaled from 64)", bip_s * n / bip_n))

    # the whole mixed reward: 512 completions, 64 prompts spread over the five types
    Kind = tuple[str, str | list[float], list[str] | None, list[str]]  # type, answer, options, replies
    kinds: list[Kind] = [
        ("yes_no", "yes", None, texts_yn), ("multiple_choice", "B", ["red", "green", "blue"], texts_mc),
        ("chart", "1234.5", None, texts_chart), ("grounding", [10.0, 10.0, 80.0, 99.0], None, texts_box),
        ("open_ended", "a red circle at the top left", None, texts_yn)]
    samples, texts = [], []
    for p in range(PROMPTS):
        kind, answer, options, pool = kinds[p % len(kinds)]
        sample = Sample(id=str(p), image="x.png", problem="q", answer=answer, type=kind, source="bench",
                        image_size=(100, 100), options=options)
        samples += [sample] * GROUP
        texts += pool[p * GROUP:(p + 1) * GROUP]
    token_of: dict[str, list[int]] = {}
    tokenize = lambda ts: [token_of.setdefault(t, zipf_ids(g, args.vocab, 20)) for t in ts]
    mixed = MixedReward(open_ended=BMASScorer(lambda: table, tokenize), box_to_model_frame=lambda b, s: b)
    rows.append(("mixed reward (all types, bmas)", timed(lambda: mixed(samples, texts))))

    if not args.skip_extra:
        from mixed_r1.rewards.open_ended.encoders import MeanPoolScorer, SentenceEmbeddingScorer
        from mixed_r1.rewards.open_ended.judge import LLMJudge
        from mixed_r1.rewards.open_ended.tiny import TINY_REWARD_BUILDERS

        answers = [t.split("<answer>")[-1][:-9] for t in texts_yn]
        truth_texts = ["a red circle at the top left"] * n
        spec = {"vocab_size": 512, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
        with tempfile.TemporaryDirectory() as tmp:
            for name in TINY_REWARD_BUILDERS:
                TINY_REWARD_BUILDERS[name](f"{tmp}/{name}", corpus(), spec, 0)
            sbert = SentenceEmbeddingScorer(f"{tmp}/sbert")
            rows.append(("sbert (tiny local model)", timed(lambda: sbert(answers, truth_texts), repeat=1)))
            modern = MeanPoolScorer(f"{tmp}/modernbert")
            rows.append(("modernbert (tiny local model)", timed(lambda: modern(answers, truth_texts), repeat=1)))
            judge = LLMJudge(f"{tmp}/llm_judge", prompt="Ref: {truth}\nResp: {response}\nScore:", max_new_tokens=4)
            rows.append(("llm_judge (tiny local model, 4 tokens)", timed(lambda: judge(answers, truth_texts), repeat=1)))

    print(f"\n{n} completions x {TOKENS} tokens; embedding table {args.vocab} x {args.dim}; "
          f"{torch.get_num_threads()} threads, table on {args.device}\n")
    print(f"| {'reward':<42} | {'seconds / 512':>13} | {'completions / s':>15} |")
    print(f"|{'-' * 44}|{'-' * 15}:|{'-' * 17}:|")
    for name, seconds in rows:
        print(f"| {name:<42} | {seconds:>13.4f} | {n / seconds:>15,.0f} |")
    print(f"\nbatched BMAS speed-up over the per-sample loop: {loop_s / batch_s:.1f}x")


if __name__ == "__main__":
    main()
