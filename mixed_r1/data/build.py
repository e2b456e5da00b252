"""Turn the ``data`` config node into validated training samples."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from mixed_r1.data.mix import build_mix
from mixed_r1.data.schema import ImageCheck, Sample, load_samples
from mixed_r1.data.synthetic import SyntheticSpec, generate


def prepare_train_file(data_cfg: Any) -> Path:
    """``data.train_file``, first written when the config says how: generated from a ``data.synthetic``
    spec, or drawn from converted sources by a ``data.mix`` (both deterministic, reused when present)."""
    path = Path(data_cfg.train_file)
    if data_cfg.get("synthetic") and not path.is_file():
        spec = data_cfg.synthetic
        generate(path.parent, SyntheticSpec(num_samples=spec.num_samples, image_size=spec.image_size,
                                            seed=spec.seed, type_weights=dict(spec.type_weights)))
    if data_cfg.get("mix"):
        build_mix(data_cfg.mix, path)
    return path


def load_train_samples(data_cfg: Any, model_check: ImageCheck | None = None,
                       check_images: bool = True) -> list[Sample]:
    """Samples of ``data.train_file`` (:func:`prepare_train_file`), every image opened and checked
    (``model_check``: the adapter's limits) unless ``check_images`` is off."""
    return load_samples(prepare_train_file(data_cfg), check_images=check_images, model_check=model_check)
