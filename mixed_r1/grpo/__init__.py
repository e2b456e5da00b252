"""GRPO: the algorithm's pure math (advantages, loss) and the step that composes it."""
from mixed_r1.grpo.loss import advantages, grpo_loss

__all__ = ["advantages", "grpo_loss"]
