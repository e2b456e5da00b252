"""Turn the ``data`` settings into validated training samples."""
from __future__ import annotations

from pathlib import Path

from mixed_r1.data.mix import build_mix
from mixed_r1.data.schema import ImageCheck, Sample, load_samples
from mixed_r1.data.settings import DataSettings
from mixed_r1.data.synthetic import generate


def prepare_train_file(data: DataSettings) -> Path:
    """``data.train_file``, first written when the settings say how: generated from a ``data.synthetic``
    spec, or drawn from converted sources by a ``data.mix`` (both deterministic, reused when present)."""
    path = Path(data.train_file)
    if data.synthetic is not None and not path.is_file():
        generate(path.parent, data.synthetic)
    if data.mix is not None:
        build_mix(data.mix, path)
    return path


def load_train_samples(data: DataSettings, model_check: ImageCheck | None = None,
                       check_images: bool = True) -> list[Sample]:
    """Samples of ``data.train_file`` (:func:`prepare_train_file`), every image opened and checked
    (``model_check``: the adapter's limits) unless ``check_images`` is off."""
    return load_samples(prepare_train_file(data), check_images=check_images, model_check=model_check)
