"""Issue 23: a conversion never ends in a raw traceback a user cannot place — a truncated shard and an output
path that cannot be written are errors naming the file, the latter before any work."""
from __future__ import annotations

from pathlib import Path

import pytest

from mixed_r1.data.sources import convert
from mixed_r1.data.sources.base import read_records
from mixed_r1.errors import DataError
from tests.data.layouts import hf_image, png_bytes, write_arrow_stream, write_parquet

ROWS = [{"image": hf_image(png_bytes(40, 30)), "query": f"How many bars exceed {i}?", "label": ["17"],
         "human_or_machine": 0} for i in range(40)]


@pytest.mark.parametrize("suffix", [".parquet", ".arrow"])
def test_a_truncated_source_shard_is_a_data_error_naming_the_file(tmp_path: Path, suffix: str) -> None:
    write = write_parquet if suffix == ".parquet" else write_arrow_stream
    shard = write(tmp_path / "ChartQA" / "data" / f"train-00000-of-00001{suffix}", ROWS)
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])  # an interrupted download
    with pytest.raises(DataError, match=f"{shard}.*truncated or corrupt"):
        convert("chartqa", shard.parent.parent, tmp_path / "out" / "chartqa.jsonl")
    with pytest.raises(DataError, match=str(shard)):
        list(read_records(shard))


def test_convert_refuses_an_output_that_is_an_existing_folder_before_converting(tmp_path: Path) -> None:
    data = write_parquet(tmp_path / "ChartQA" / "data" / "train-00000-of-00001.parquet", ROWS[:2])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DataError, match=f"{out}: the output is an existing folder"):
        convert("chartqa", data, out)
    assert not list(out.iterdir())  # refused before any image was written


def test_convert_refuses_an_output_below_a_regular_file(tmp_path: Path) -> None:
    data = write_parquet(tmp_path / "ChartQA" / "data" / "train-00000-of-00001.parquet", ROWS[:2])
    blocker = tmp_path / "out"
    blocker.write_text("not a folder")
    with pytest.raises(DataError, match=f"below {blocker}, which is a file"):
        convert("chartqa", data, blocker / "sub" / "chartqa.jsonl")
