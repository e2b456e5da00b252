"""Training mixes (Tables 2 and 3): seeded draws of so many samples of a type from converted source files.

A mix config (``conf/data/mixed45k.yaml`` and the ablations) names, per sample type, source files below
``data.mix.root`` and how many samples to draw from each::

    mix:
      root: /data/mixed_r1        # where `python -m mixed_r1.data convert` wrote mapqa.jsonl, ...
      seed: 0
      scale: 1.0                  # every count times this (Table 3: 0.5 and 2.0)
      parts:
        yes_no: {mapqa: 2250, clevr: 2250}

Each draw depends only on the seed, the type and the file name, so adding a source does not change
what is drawn from the others. Asking for more than a file has is an error naming the file and both
counts. The drawn mix is written once as JSONL with a manifest beside it (what was asked, what was
drawn per type and per source) and reused while the config is unchanged.
"""
from __future__ import annotations

import json
import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mixed_r1.data.sample_types import REGISTRY
from mixed_r1.data.schema import Sample, load_samples, write_samples
from mixed_r1.data.settings import MixSettings
from mixed_r1.data.validate import count_by
from mixed_r1.errors import ConfigError, DataError


@dataclass(frozen=True)
class MixPart:
    type: str
    name: str  # the file is <root>/<name>.jsonl
    count: int  # after scaling


def mix_parts(mix: MixSettings) -> list[MixPart]:
    """The parts of ``data.mix``, counts times ``scale`` (Table 3's 0.5 / 2) and ``size_factor``
    (every mix shrunk alike: the tiny preset), rounded; bad types or counts are config errors."""
    scale = mix.scale * mix.size_factor
    if scale <= 0:
        raise ConfigError(f"data.mix.scale={mix.scale} and data.mix.size_factor={mix.size_factor} must be > 0")
    parts = []
    for sample_type, files in (mix.parts or {}).items():
        if sample_type not in REGISTRY:
            raise ConfigError(f"data.mix.parts.{sample_type}: not a sample type; expected one of {', '.join(REGISTRY)}")
        for name, count in (files or {}).items():
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise ConfigError(f"data.mix.parts.{sample_type}.{name}={count!r} must be a count >= 0")
            if count:
                parts.append(MixPart(sample_type, str(name), max(1, round(count * scale))))
    if not parts:
        raise ConfigError("data.mix.parts draws nothing: give at least one source file a count > 0")
    return parts


def draw_mix(root: str | Path, parts: list[MixPart], seed: int) -> list[Sample]:
    """The samples of every part: ``count`` samples of ``type`` drawn without replacement from
    ``<root>/<name>.jsonl`` (validated, images not opened here: the training load opens the drawn ones)."""
    root = Path(root)
    drawn: list[Sample] = []
    first_file: dict[str, Path] = {}
    for part in parts:
        path = root / f"{part.name}.jsonl"
        if not path.is_file():
            raise DataError(f"{path}: source file of data.mix.parts.{part.type}.{part.name} not found (convert it with "
                            f"`python -m mixed_r1.data convert ...` or set data.mix.root)")
        pool = [s for s in load_samples(path, check_images=False) if s.type == part.type]
        if part.count > len(pool):
            raise DataError(f"{path}: the mix asks for {part.count} {part.type} samples (data.mix.parts.{part.type}."
                            f"{part.name} times data.mix.scale) but the file has {len(pool)}")
        picked = random.Random(f"{seed}/{part.type}/{part.name}").sample(pool, part.count)
        for sample in picked:
            if sample.id in first_file:
                raise DataError(f"{path}: sample id {sample.id} is also in {first_file[sample.id]}; ids must be "
                                f"unique across a mix's files")
            first_file[sample.id] = path
        drawn += picked
    random.Random(f"{seed}/order").shuffle(drawn)  # a mixed file; training reshuffles anyway
    return drawn


def mix_counts(samples: list[Sample]) -> dict[str, dict[str, int]]:
    """What a data file holds, per type and per source (printed at start-up, logged with the run)."""
    return {"total": {"samples": len(samples)}, "type": count_by(samples, "type"), "source": count_by(samples, "source")}


def build_mix(mix: MixSettings, output: str | Path) -> Path:
    """Draw the mix ``mix`` configures into ``output`` (JSONL, absolute image paths) and its manifest
    ``<output>.mix.json``; an existing output drawn from the same config is reused as it is."""
    output = Path(output)
    parts = mix_parts(mix)
    seed = mix.seed
    asked = {"root": str(Path(mix.root).resolve()), "seed": seed,
             "parts": [[p.type, p.name, p.count] for p in parts]}
    manifest = output.with_name(output.name + ".mix.json")
    if output.is_file() and not manifest.is_file():  # never overwrite a file the user brought
        raise ConfigError(f"{output} exists and was not drawn by a mix (no {manifest.name}); to train on a ready "
                          f"file use data=jsonl data.train_file={output}, or point data.train_file elsewhere")
    if output.is_file() and json.loads(manifest.read_text())["asked"] == asked:
        return output
    samples = draw_mix(mix.root, parts, seed)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, suffix=".part")
    os.close(fd)
    write_samples(samples, tmp)
    os.replace(tmp, output)
    manifest.write_text(json.dumps({"asked": asked, "drawn": mix_counts(samples)}, indent=1) + "\n")
    return output
