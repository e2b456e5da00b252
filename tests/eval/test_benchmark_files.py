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
