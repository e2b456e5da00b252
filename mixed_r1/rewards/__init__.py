"""Rewards of section 3.2: pure functions of strings (matching, chart, IoU, format, answer extraction) and of
embeddings (BMAS), the open-ended scorers of Table 4, and the mixed dispatch (:mod:`mixed_r1.rewards.mixed`).

Import each from the module that defines it. The pure string rewards import nothing of the project, so the
sample-type registry (:mod:`mixed_r1.data.sample_types`) can name them without loading torch or the dispatch.
"""
