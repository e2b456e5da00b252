"""Issue 23, images: every mode decoded to the RGB the processor expects (one function, used where a
training image is opened), and an image changed since the data loaded reported by sample and path."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mixed_r1.data import DataError, load_samples

WHITE = (255, 255, 255)


def _sixteen_bit(folder: Path) -> tuple[Path, np.ndarray]:
    values = np.array([[0, 257 * 128, 65535, 257 * 10]], dtype=np.uint16).repeat(4, axis=0)
    path = folder / "grey16.png"
    Image.fromarray(values).save(path)  # a 16-bit greyscale PNG: PIL opens it as I;16
    return path, np.stack([np.array([[0, 128, 255, 10]] * 4, dtype=np.uint8)] * 3, axis=-1)


def _rgba(folder: Path) -> tuple[Path, np.ndarray]:
    pixels = [(200, 10, 10, 0), (200, 10, 10, 255), (0, 0, 0, 0), (0, 100, 200, 255)]
    image = Image.new("RGBA", (4, 1))
    image.putdata(pixels)
    image.save(folder / "rgba.png")
    return folder / "rgba.png", np.array([[WHITE, (200, 10, 10), WHITE, (0, 100, 200)]], dtype=np.uint8)


def _la(folder: Path) -> tuple[Path, np.ndarray]:
    image = Image.new("LA", (3, 1))
    image.putdata([(50, 0), (50, 255), (0, 0)])
    image.save(folder / "la.png")
    return folder / "la.png", np.array([[WHITE, (50, 50, 50), WHITE]], dtype=np.uint8)


def _palette(folder: Path) -> tuple[Path, np.ndarray]:
    image = Image.new("P", (3, 1))
    image.putpalette([10, 20, 30, 200, 100, 0] + [0] * 762)
    image.putdata([0, 1, 0])
    image.save(folder / "palette.png", transparency=0)  # palette entry 0 is transparent
    assert Image.open(folder / "palette.png").info.get("transparency") is not None
    return folder / "palette.png", np.array([[WHITE, (200, 100, 0), WHITE]], dtype=np.uint8)


def _cmyk(folder: Path) -> tuple[Path, np.ndarray]:
    image = Image.new("CMYK", (3, 1))
    image.putdata([(0, 255, 255, 0), (0, 0, 0, 255), (0, 0, 0, 0)])
    image.save(folder / "cmyk.tiff")
    return folder / "cmyk.tiff", np.array([[(255, 0, 0), (0, 0, 0), WHITE]], dtype=np.uint8)


MODES = {"I;16": _sixteen_bit, "RGBA": _rgba, "LA": _la, "P+transparency": _palette, "CMYK": _cmyk}


@pytest.mark.parametrize("mode", list(MODES))
def test_every_image_mode_becomes_the_rgb_the_processor_expects(tmp_path, mode):
    from mixed_r1.data.schema import open_rgb

    path, expected = MODES[mode](tmp_path)
    image = open_rgb(path)
    assert image.mode == "RGB"
    assert np.abs(np.asarray(image).astype(int) - expected.astype(int)).max() <= 1, np.asarray(image)


def _sample(folder: Path, path: Path):
    with Image.open(path) as image:
        size = list(image.size)
    line = json.dumps({"id": "img", "image": path.name, "problem": "Is it red?", "answer": "yes",
                       "type": "yes_no", "image_size": size})
    (folder / "train.jsonl").write_text(line + "\n")
    return load_samples(folder / "train.jsonl")[0]


def test_the_training_prompt_sees_a_16_bit_image_as_its_grey_levels(tmp_path, family_adapter):
    """prompt_batch opens images through the same function: the 16-bit image reaches the model as the
    8-bit grey levels, not as an almost white picture."""
    path, expected = _sixteen_bit(tmp_path)
    sample = _sample(tmp_path, path)
    got = family_adapter.prompt_batch([sample]).pixel_values
    want = family_adapter.chat_batch(["x"], [[Image.fromarray(expected)]]).pixel_values
    assert got.shape == want.shape and bool((got == want).all())


def test_an_image_deleted_after_load_stops_with_the_sample_id_and_path(tmp_path, adapter):
    Image.new("RGB", (40, 30), (200, 10, 10)).save(tmp_path / "img.png")
    sample = _sample(tmp_path, tmp_path / "img.png")
    (tmp_path / "img.png").unlink()
    with pytest.raises(DataError, match=rf"sample img: image {tmp_path / 'img.png'} is gone"):
        adapter.prompt_batch([sample])


def test_an_image_resized_after_load_stops_with_the_sample_id_and_path(tmp_path, adapter):
    Image.new("RGB", (40, 30), (200, 10, 10)).save(tmp_path / "img.png")
    sample = _sample(tmp_path, tmp_path / "img.png")
    Image.new("RGB", (20, 15), (200, 10, 10)).save(tmp_path / "img.png")  # a resized copy in its place
    with pytest.raises(DataError, match=r"sample img: image .*img.png is now 20x15 but its image_size is \[40, 30\]"):
        adapter.prompt_batch([sample])
    unchanged = dataclasses.replace(sample, image_size=(20, 15))
    assert adapter.prompt_batch([unchanged]).pixel_values.numel() > 0


def _folder_of_samples(folder: Path, count: int):
    lines = []
    for i in range(count):
        Image.new("RGB", (40, 30), (10 * i, 10, 10)).save(folder / f"img{i}.png")
        lines.append(json.dumps({"id": f"s{i}", "image": f"img{i}.png", "problem": "Is it red?", "answer": "yes",
                                 "type": "yes_no", "image_size": [40, 30]}))
    (folder / "train.jsonl").write_text("\n".join(lines) + "\n")
    return load_samples(folder / "train.jsonl")


def test_the_skip_policy_replaces_a_changed_image_by_another_sample_the_same_way_each_time(tmp_path):
    """data.changed_images=skip: the batch keeps its size, the changed samples are named, the
    replacement avoids the step's batch and is the same on a rerun (a resume picks what the run picked)."""
    from mixed_r1.data.sampler import with_readable_images

    samples = _folder_of_samples(tmp_path, 12)
    (tmp_path / "img1.png").unlink()
    Image.new("RGB", (20, 15)).save(tmp_path / "img3.png")  # resized in place
    batch, skipped = with_readable_images(samples, [0, 1, 2, 3], avoid={0, 1, 2, 3}, key="0:7:0")
    assert len(batch) == 4 and [batch[0].id, batch[2].id] == ["s0", "s2"]
    assert {batch[1].id, batch[3].id} <= {f"s{i}" for i in range(4, 12)}
    assert len(skipped) == 2 and "sample s1" in skipped[0] and "gone" in skipped[0] and "sample s3" in skipped[1]
    again, _ = with_readable_images(samples, [0, 1, 2, 3], avoid={0, 1, 2, 3}, key="0:7:0")
    assert [s.id for s in again] == [s.id for s in batch]
    other, _ = with_readable_images(samples, [0, 1, 2, 3], avoid={0, 1, 2, 3}, key="0:8:0")
    assert len(other) == 4  # another step draws its own replacements


def test_the_skip_policy_stops_when_the_images_are_gone_not_changed(tmp_path):
    from mixed_r1.data.sampler import with_readable_images

    samples = _folder_of_samples(tmp_path, 6)
    for i in range(6):
        (tmp_path / f"img{i}.png").unlink()
    with pytest.raises(DataError, match=r"images in a row changed since the data loaded .*looks gone"):
        with_readable_images(samples, [0, 1], avoid={0, 1}, key="0:1:0", tries=4)


@pytest.mark.parametrize("policy", ["stop", "skip"])
def test_a_training_run_stops_or_skips_and_counts_images_deleted_after_load(tmp_path, run_training, monkeypatch,
                                                                          policy):
    """The whole run: images deleted between the load and their step either stop the run with the sample
    id (``stop``, the default) or are replaced and counted in metrics.jsonl as ``data/changed_images``."""
    import mixed_r1.recipe as recipe
    from tests.conftest import SHORT, read_metrics

    loaded = recipe.load_train_samples

    def load_then_delete(*args, **kwargs):
        samples = loaded(*args, **kwargs)
        for sample in samples[::2]:  # half the images vanish after the load checked them
            Path(sample.image).unlink()
        return samples

    monkeypatch.setattr(recipe, "load_train_samples", load_then_delete)
    run_dir = tmp_path / "run"
    overrides = [*SHORT, "warmup.steps=0", "trainer.max_steps=3", f"data.train_file={tmp_path / 'train.jsonl'}",
                 f"data.changed_images={policy}"]
    if policy == "stop":
        with pytest.raises(DataError, match=r"sample \S+: image \S+ is gone: it was there when the data loaded"):
            run_training(run_dir, *overrides)
        return
    run_training(run_dir, *overrides)
    steps = [r for r in read_metrics(run_dir) if r.get("phase") == "grpo"]
    assert len(steps) == 3
    assert all(isinstance(r["data/changed_images"], int) for r in steps)
    assert sum(r["data/changed_images"] for r in steps) >= 1
