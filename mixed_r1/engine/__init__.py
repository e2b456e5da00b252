"""The one place that touches devices, seeding and the optimizer (DeepSpeed joins here later)."""
from mixed_r1.engine.torch_engine import TorchEngine, resolve_device, seed_everything

__all__ = ["TorchEngine", "resolve_device", "seed_everything"]
