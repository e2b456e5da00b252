"""The ``data`` group as frozen settings: where the training file is, how it is first made (a synthetic spec or
a mix of converted sources), and what happens to a prompt longer than the model can take."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mixed_r1.data.synthetic import SyntheticSpec
from mixed_r1.errors import ConfigError


@dataclass(frozen=True)
class MixSettings:
    """``data.mix``: counts per type and source file, drawn seeded from ``root`` (``mixed_r1/data/mix.py``)."""

    root: str  # the folder of converted sources <name>.jsonl
    seed: int
    parts: dict[str, dict[str, int] | None]  # type -> {source file name: count}
    scale: float = 1.0  # every count times this (Table 3's 0.5 / 2)
    size_factor: float = 1.0  # and times this: every mix shrunk alike (the tiny preset)


@dataclass(frozen=True)
class DataSettings:
    """The ``data`` group (``conf/data/*.yaml`` plus the shared keys in ``conf/train.yaml``)."""

    train_file: str
    max_prompt_tokens: int | None  # None: the model's context length minus the completion budget
    long_prompts: Literal["skip", "error"]  # a longer prompt: reported and skipped, or refused
    changed_images: Literal["stop", "skip"] = "stop"  # an image changed since load: stop the run, or skip and count
    synthetic: SyntheticSpec | None = None  # generate ``train_file`` from this spec when it does not exist
    mix: MixSettings | None = None  # draw ``train_file`` from converted sources

    def __post_init__(self) -> None:
        if self.max_prompt_tokens is not None and self.max_prompt_tokens <= 0:
            raise ConfigError(f"data.max_prompt_tokens={self.max_prompt_tokens} must be > 0 (or null)")
