"""Issue 23: a damaged benchmark download is an error naming the benchmark, the file, the item and the column —
never a pyarrow/PIL traceback, and never a load that scores every item wrong (a zero that looks like a result)."""
from __future__ import annotations

from pathlib import Path

import pytest

from mixed_r1.errors import DataError
from mixed_r1.eval.benchmarks import NAMES, benchmark
from mixed_r1.eval.runner import load_items
from mixed_r1.eval.synthetic import write_benchmark


def shards(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.parquet") if p.stat().st_size > 0)


def rewrite(path: Path, change) -> None:
    """The shard read, changed by ``change(table) -> table`` and written back."""
    import pyarrow.parquet as pq

    pq.write_table(change(pq.read_table(path)), path)


@pytest.mark.parametrize("name", NAMES)
def test_every_benchmark_declares_the_columns_it_reads_and_names_a_file_without_one(name: str, tmp_path: Path) -> None:
    bench = benchmark(name)
    assert bench.columns, f"{name}: Benchmark.columns is empty"
    for column in bench.columns:
        root = tmp_path / column
        folder = write_benchmark(name, root, num_items=2)
        for path in shards(folder):
            rewrite(path, lambda table, dropped=column: table.drop_columns([dropped]))
        with pytest.raises(DataError, match=rf"^{name}: .*\.parquet:row 0.*column '{column}' is missing"):
            load_items(bench, root, None)


@pytest.mark.parametrize("name", NAMES)
def test_a_null_answer_is_refused_not_scored_wrong(name: str, tmp_path: Path) -> None:
    import pyarrow as pa

    bench = benchmark(name)
    folder = write_benchmark(name, tmp_path, num_items=2)
    path = shards(folder)[0]
    rewrite(path, lambda t: t.set_column(t.schema.get_field_index("answer"), "answer",
                                         pa.nulls(t.num_rows, t.schema.field("answer").type)))
    with pytest.raises(DataError, match=rf"^{name}: {path}:row 0.*column 'answer' is null"):
        load_items(bench, tmp_path, None)


@pytest.mark.parametrize("name", NAMES)
def test_a_damaged_image_is_named_at_load_before_any_generation(name: str, tmp_path: Path) -> None:
    import pyarrow as pa

    bench = benchmark(name)
    folder = write_benchmark(name, tmp_path, num_items=4)
    path = shards(folder)[0]
    image_column = {"mathvista": "decoded_image", "mathvision": "decoded_image", "mmmu": "image_1"}.get(name, "image")

    def damage(table: pa.Table) -> pa.Table:
        rows = table.to_pylist()
        rows[-1][image_column] = {**rows[-1][image_column], "bytes": rows[-1][image_column]["bytes"][:60]}  # cut short
        return pa.Table.from_pylist(rows, schema=table.schema)

    rewrite(path, damage)
    with pytest.raises(DataError, match=rf"^{name}: {path}:row [1-9].*column '{image_column}': the image cannot be decoded"):
        load_items(bench, tmp_path, None)


def test_a_truncated_benchmark_shard_names_the_file(tmp_path: Path) -> None:
    folder = write_benchmark("mmstar", tmp_path, num_items=4)
    path = shards(folder)[0]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match=rf"^mmstar: {path}: unreadable parquet file .*truncated or corrupt"):
        load_items(benchmark("mmstar"), tmp_path, None)



IMAGE_COLUMN = {"mathvista": "decoded_image", "mathvision": "decoded_image", "mmmu": "image_1"}


def _images_as_paths(folder: Path, column: str) -> list[bytes]:
    """Rewrite every shard's rows so ``column`` names a file under ``folder/images`` (``<n>.png``, numbered
    across shards) instead of embedding it; returns the images in that order."""
    import pyarrow as pa

    (folder / "images").mkdir(exist_ok=True)
    embedded: list[bytes] = []

    def to_paths(table: pa.Table) -> pa.Table:
        rows = table.to_pylist()
        for row in rows:
            (folder / "images" / f"{len(embedded)}.png").write_bytes(row[column]["bytes"])
            row[column] = {"bytes": None, "path": f"images/{len(embedded)}.png"}
            embedded.append((folder / "images" / f"{len(embedded)}.png").read_bytes())
        return pa.Table.from_pylist(rows, schema=table.schema)

    for path in shards(folder):
        rewrite(path, to_paths)
    return embedded


@pytest.mark.parametrize("name", NAMES)
def test_an_image_given_as_a_path_is_found_from_the_dataset_folder_and_checked_at_load(
        name: str, tmp_path: Path, monkeypatch) -> None:
    """A path-only image ({"bytes": None, "path": "images/3.png"}) is read from the download, not from
    wherever eval.py was started; a missing one is named at load, before any generation."""
    import io

    import numpy as np
    from PIL import Image

    from mixed_r1.eval.runner import decode_image

    bench = benchmark(name)
    folder = write_benchmark(name, tmp_path, num_items=2)
    column = IMAGE_COLUMN.get(name, "image")
    embedded = _images_as_paths(folder, column)
    monkeypatch.chdir(tmp_path.parent)  # not the dataset's folder
    items = load_items(bench, tmp_path, None)
    first = next(it for it in items if it.images[0]["path"].endswith("images/0.png"))
    assert np.array_equal(np.asarray(decode_image(first.images[0])),
                          np.asarray(Image.open(io.BytesIO(embedded[0])).convert("RGB")))
    last = len(embedded) - 1
    (folder / "images" / f"{last}.png").unlink()
    with pytest.raises(DataError, match=rf"^{name}: .*\.parquet:row \d+.*column '{column}': the image is given as "
                                        rf"the path 'images/{last}.png', which is not a file"):
        load_items(bench, tmp_path, None)


def test_a_benchmark_image_the_model_family_refuses_is_named_at_load(tmp_path: Path) -> None:
    """The family's image check (training's, validate --model's) applies to benchmark images too: a
    4020x20 strip that Qwen2.5-VL's processor refuses is named by benchmark and item before any model loads,
    not met as a raw ValueError mid-generation."""
    import io

    import pyarrow as pa
    from PIL import Image

    from mixed_r1.models import adapter_class
    from tests.conftest import compose_train, settings_of

    folder = write_benchmark("mmstar", tmp_path, num_items=2)
    strip = io.BytesIO()
    Image.new("RGB", (4020, 20)).save(strip, format="PNG")

    def to_strip(table: pa.Table) -> pa.Table:
        rows = table.to_pylist()
        rows[-1]["image"] = {"bytes": strip.getvalue(), "path": "strip.png"}
        return pa.Table.from_pylist(rows, schema=table.schema)

    path = shards(folder)[0]
    rewrite(path, to_strip)
    model = settings_of(compose_train(["model=qwen7b"], run_dir=tmp_path / "run")).run.model
    check = adapter_class(model.adapter).image_check(model)
    assert len(load_items(benchmark("mmstar"), tmp_path, None)) >= 2  # the image itself decodes ...
    with pytest.raises(DataError, match=r"^mmstar: item \S+, image 1 \(4020x20\): Qwen2.5-VL's processor rejects"):
        load_items(benchmark("mmstar"), tmp_path, None, check)  # ... but not for this family
