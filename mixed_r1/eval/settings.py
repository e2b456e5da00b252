"""The ``eval`` group as frozen settings (``conf/train.yaml``'s ``eval:``), validated once at start-up."""
from __future__ import annotations

from dataclasses import dataclass

from mixed_r1.errors import ConfigError
from mixed_r1.eval.benchmarks import NAMES
from mixed_r1.eval.extractor import EXTRACTORS

BACKENDS = ("native", "lmms_eval")


@dataclass(frozen=True)
class EvalConfig:
    """The ``eval`` config node, validated once."""

    benchmarks: tuple[str, ...]
    thinking: bool  # the paper's <think>/<answer> prompt; false: each benchmark's own direct-answer prompt
    data_root: str
    temperature: float  # 0: greedy (the default)
    max_new_tokens: int
    batch_size: int  # items per generate call: the unit of sharding, writing and resuming
    limit: int | None  # the first N items of each benchmark only (smoke runs)
    extractor: str  # how MathVista answers are extracted: rules | local (a local LLM at extractor_path)
    extractor_path: str | None
    backend: str
    method: str  # the Method column of the Markdown row
    output_dir: str
    # outputs in output_dir from another model or other settings: refused (false) or removed to start over (true)
    overwrite: bool = False

    def __post_init__(self) -> None:
        unknown = [b for b in self.benchmarks if b not in NAMES]
        checks = [
            (not unknown and len(self.benchmarks) > 0, "benchmarks", f"must name some of {', '.join(NAMES)}"),
            (self.temperature >= 0, "temperature", "must be >= 0 (0: greedy)"),
            (self.max_new_tokens > 0, "max_new_tokens", "must be > 0"),
            (self.batch_size >= 1, "batch_size", "must be >= 1"),
            (self.limit is None or self.limit >= 1, "limit", "must be >= 1 or null"),
            (self.extractor in EXTRACTORS, "extractor", f"must be one of {', '.join(EXTRACTORS)}"),
            (self.extractor != "local" or bool(self.extractor_path), "extractor_path",
             "must name a local causal LM when eval.extractor=local"),
            (self.backend in BACKENDS, "backend", f"must be one of {', '.join(BACKENDS)}"),
        ]
        for ok, key, why in checks:
            if not ok:
                raise ConfigError(f"eval.{key}={getattr(self, key)!r} {why}")
