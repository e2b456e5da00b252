"""Writers of small fixture files in the published layouts of the data sources: parquet/arrow rows with
embedded images (the Hugging Face ``{"bytes", "path"}`` image dicts), JSON and JSONL. The records
themselves are written by each test, field by field, in the source's layout."""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image


def png_bytes(width: int = 32, height: int = 24, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(width: int = 32, height: int = 24, colour: tuple[int, int, int] = (30, 30, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def hf_image(data: bytes, path: str | None = None) -> dict[str, Any]:
    """How `datasets` stores an image in parquet/arrow: a struct of the encoded bytes and a file name."""
    return {"bytes": data, "path": path}


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_arrow_stream(path: Path, rows: list[dict[str, Any]]) -> Path:
    """The IPC stream format that `datasets.save_to_disk` and the `datasets` cache write."""
    import pyarrow as pa

    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return path


def write_jsonl(path: Path, records: list[Any], raw_lines: list[str] = ()) -> Path:  # type: ignore[assignment]
    """One JSON object per line, then ``raw_lines`` as they are (e.g. a malformed line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r) for r in records] + list(raw_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def write_image(path: Path, width: int = 32, height: int = 24, colour: tuple[int, int, int] = (30, 160, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), colour).save(path)
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
