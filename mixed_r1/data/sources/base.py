"""What every converter shares: reading records from the files a dataset is published in, writing
embedded images once, counting skipped records by reason, and checking each converted sample against
the one schema (:mod:`mixed_r1.data.schema`) before it is written.

A converter is a function ``convert(record, ctx) -> Iterable[Sample | Skip]`` over one record of its
source (a parquet/arrow row or a JSON object). It yields the samples the record holds (a record may hold
several: turns of a conversation, referring expressions of one object) and a :class:`Skip` for every
part it cannot convert; it may also ``raise Skip(...)`` to skip the whole record. Nothing is dropped
without a counted reason.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from PIL import Image

from mixed_r1.data.schema import Sample, sample_from_json
from mixed_r1.errors import DataError

RECORD_SUFFIXES = (".parquet", ".arrow", ".jsonl", ".json")


class Skip(Exception):
    """A record (or part of one) that does not convert. ``reason`` is a short category that the report
    counts ("answer is not yes/no"); ``detail`` says what exactly, shown for the first occurrence."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


# ----------------------------------------------------------------------------- reading records
# what `datasets`' save_to_disk writes beside the data (dataset_info.json, state.json, dataset_dict.json): metadata
METADATA_FILES = ("dataset_info.json", "state.json", "dataset_dict.json")


@dataclass(frozen=True)
class Where:
    """Where a record is: its file, and its row / line / item there; ``str()`` is what reports print."""

    file: Path
    position: str

    def __str__(self) -> str:
        return f"{self.file}:{self.position}"


def _record_files(path: Path) -> list[Path]:
    if path.is_dir():  # a downloaded dataset folder: every shard, in name order
        files = sorted(p for p in path.rglob("*") if p.suffix in RECORD_SUFFIXES and p.is_file()
                       and not p.name.endswith(".report.json") and p.name not in METADATA_FILES)
        if not files:
            raise DataError(f"{path}: no {'/'.join(RECORD_SUFFIXES)} files in this folder")
        return files
    if not path.is_file():
        raise DataError(f"{path}: input not found")
    if path.suffix not in RECORD_SUFFIXES:
        raise DataError(f"{path}: cannot read '{path.suffix}' files; expected one of {', '.join(RECORD_SUFFIXES)}")
    return [path]


def _arrow_batches(path: Path) -> Iterator[Any]:
    import pyarrow as pa  # only converters of arrow/parquet layouts need it

    with pa.memory_map(str(path)) as source:
        try:  # `datasets` caches and `save_to_disk` write the IPC *stream* format
            reader: Any = pa.ipc.open_stream(source)
        except pa.ArrowInvalid:
            source.seek(0)
            reader = pa.ipc.open_file(source)
            yield from (reader.get_batch(i) for i in range(reader.num_record_batches))
            return
        yield from reader


def _table_batches(file: Path) -> Iterator[list[Any]]:
    """The rows of a parquet/arrow file, batch by batch. A truncated or corrupt file (an interrupted
    download) is a :class:`DataError` naming it, never a pyarrow traceback that does not."""
    import pyarrow as pa  # only converters of arrow/parquet layouts need it

    try:
        if file.suffix == ".parquet":
            import pyarrow.parquet as pq

            batches: Iterable[Any] = pq.ParquetFile(file).iter_batches(batch_size=256)
        else:
            batches = _arrow_batches(file)
        for batch in batches:
            yield batch.to_pylist()
    except (pa.ArrowException, OSError, EOFError) as err:
        raise DataError(f"{file}: unreadable {file.suffix[1:]} file ({type(err).__name__}: {err}); it is truncated or "
                        f"corrupt — download or write it again") from None


def read_records(path: str | Path) -> Iterator[tuple[Where, Any]]:
    """``(where, record)`` for every record of a file or of every shard in a folder: parquet and arrow
    rows as dicts (embedded images stay ``{"bytes", "path"}`` dicts), JSONL lines, or the items of a
    JSON list. ``where`` names the file and row/line. A line that is not JSON yields ``Skip`` as record;
    so does, in a folder, a ``.json`` file that holds no list of records (a stray file: reported, not fatal)."""
    path = Path(path)
    in_folder = path.is_dir()
    for file in _record_files(path):
        if file.suffix in (".parquet", ".arrow"):
            row = 0
            for batch in _table_batches(file):
                for record in batch:
                    yield Where(file, f"row {row}"), record
                    row += 1
        elif file.suffix == ".jsonl":
            with file.open(encoding="utf-8", errors="replace") as handle:
                for line_no, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        yield Where(file, str(line_no)), json.loads(line)
                    except json.JSONDecodeError as err:
                        yield Where(file, str(line_no)), Skip("malformed record", f"not valid JSON ({err.msg})")
        else:
            try:
                items = json.loads(file.read_text(encoding="utf-8"))
                problem = None if isinstance(items, list) else f"expected a JSON list of records, got {type(items).__name__}"
            except json.JSONDecodeError as err:
                problem = f"not valid JSON ({err.msg}, line {err.lineno})"
            if problem is not None:
                if not in_folder:  # the file the user named: an error
                    raise DataError(f"{file}: {problem}")
                yield Where(file, "whole file"), Skip("not a data file", problem)
                continue
            for index, record in enumerate(items):
                yield Where(file, f"item {index}"), record


def require(record: Any, key: str, kind: type | tuple[type, ...] = str) -> Any:
    """``record[key]`` when it is present and of ``kind`` (a non-empty string for ``str``); else a
    counted ``malformed record`` skip naming the field."""
    if not isinstance(record, dict):
        raise Skip("malformed record", f"expected an object, got {type(record).__name__}")
    value = record.get(key)
    if value is None:
        raise Skip("malformed record", f"field '{key}' is missing")
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise Skip("malformed record", f"field '{key}' is {type(value).__name__}, expected "
                   f"{getattr(kind, '__name__', kind)}")
    if isinstance(value, str) and not value.strip():
        raise Skip("malformed record", f"field '{key}' is empty")
    return value


# ----------------------------------------------------------------------------- images
class ImageStore:
    """Where a conversion's images live. Embedded images (bytes in a parquet/arrow row) are written to
    ``out_dir`` once, named by a hash of their content, so re-running a conversion (or two records
    sharing an image) writes no duplicate; referenced images are resolved below ``root``. Width and
    height always come from the image itself."""

    def __init__(self, out_dir: Path, root: Path) -> None:
        self.out_dir, self.root = Path(out_dir), Path(root)
        self.written = 0  # new files this conversion

    def image(self, value: Any) -> tuple[str, tuple[int, int]]:
        """``(absolute path, (width, height))`` of an image given as a HF image dict ``{"bytes",
        "path"}``, raw bytes, or a path relative to ``root``. A missing or unreadable image skips."""
        if isinstance(value, dict):
            data = value.get("bytes")
            if data:
                return self.embedded(data)
            value = value.get("path")
        if isinstance(value, (bytes, bytearray)):
            return self.embedded(bytes(value))
        if isinstance(value, list) and len(value) == 1:  # a one-image list (VLM-R1, the_cauldron)
            return self.image(value[0])
        if isinstance(value, list):
            raise Skip("not one image", f"{len(value)} images; training samples have exactly one")
        if not isinstance(value, str) or not value.strip():
            raise Skip("no image", "text-only record (the schema is multimodal)")
        return self.file(value)

    def embedded(self, data: bytes) -> tuple[str, tuple[int, int]]:
        try:
            with Image.open(io.BytesIO(data)) as image:
                size, fmt = image.size, (image.format or "png").lower()
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            raise Skip("unreadable image", str(err)) from None
        suffix = {"jpeg": ".jpg", "mpo": ".jpg"}.get(fmt, f".{fmt}")
        path = self.out_dir / (hashlib.sha256(data).hexdigest()[:24] + suffix)
        if not path.is_file():  # content-addressed: written once, never duplicated
            self.out_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.out_dir, suffix=".part")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
            self.written += 1
        return str(path.resolve()), size

    def file(self, relative: str) -> tuple[str, tuple[int, int]]:
        path = Path(relative)
        if not path.is_absolute():
            path = self.root / path
        if not path.is_file():
            raise Skip("image not found", str(path))
        try:
            with Image.open(path) as image:  # the header is enough for the size
                size = image.size
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            raise Skip("unreadable image", f"{path}: {err}") from None
        return str(path.resolve()), size


# ----------------------------------------------------------------------------- one conversion
@dataclass
class Context:
    """What a converter gets besides the record: its images, where the record is, a running number."""

    source: str
    images: ImageStore
    where: str = ""
    index: int = 0
    #: the record's file, as a name part of ids: its path below the input folder without suffix ("rec-refcoco_train")
    file: str = ""

    def sample_id(self, *parts: Any) -> str:
        """A unique id: the source name, then the record's own id (or its running number) and parts."""
        return "-".join(str(p) for p in (self.source, *parts)) if parts else f"{self.source}-{self.index}"


Converter = Callable[[Any, Context], Iterable["Sample | Skip"]]


@dataclass
class ConversionReport:
    """Read, written and skipped-by-reason counts of one conversion (nothing leaves uncounted)."""

    source: str
    input: str
    output: str
    read: int = 0
    written: int = 0
    images_written: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    first: dict[str, str] = field(default_factory=dict)  # reason -> where and detail of its first case
    types: Counter[str] = field(default_factory=Counter)
    renamed: int = 0  # samples whose id repeated an earlier one: kept, under a numbered id
    first_renamed: str = ""

    def skip(self, item: Skip, where: str | Where) -> None:
        self.skipped[item.reason] += 1
        self.first.setdefault(item.reason, f"{where}" + (f": {item.detail}" if item.detail else ""))

    def format(self) -> str:
        origin = f" from {self.input}" if self.input else ""
        lines = [f"{self.source}: read {self.read} records{origin}; wrote {self.written} samples to {self.output}"
                 f" ({', '.join(f'{t} {n}' for t, n in sorted(self.types.items())) or 'none'}); "
                 f"{self.images_written} new image files"]
        if self.skipped:
            lines.append(f"skipped {sum(self.skipped.values())}:")
            width = len(str(max(self.skipped.values())))
            lines += [f"  {n:>{width}}  {reason}   (first: {self.first[reason]})"
                      for reason, n in self.skipped.most_common()]
        if self.renamed:
            lines.append(f"kept {self.renamed} sample(s) whose id repeated an earlier one, under a numbered id "
                         f"(first: {self.first_renamed})")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "input": self.input, "output": self.output, "read": self.read,
                "written": self.written, "images_written": self.images_written, "types": dict(self.types),
                "skipped": dict(self.skipped), "first_skipped": self.first, "renamed": self.renamed,
                "first_renamed": self.first_renamed}


def file_key(file: Path, root: Path | None) -> str:
    """``file`` as a name part of sample ids: its path below ``root`` (the input folder) without the suffix,
    parts joined by ``-``; for a single input file, its stem."""
    if root is not None and file.is_relative_to(root) and file != root:
        return "-".join(file.relative_to(root).with_suffix("").parts)
    return file.stem


def check_output(output: Path) -> None:
    """Refuse an output file path that cannot be written before any work: an existing folder, or a path
    below a regular file (else a whole conversion ends in a raw ``IsADirectoryError``/``FileExistsError``)."""
    if output.is_dir():
        raise DataError(f"{output}: the output is an existing folder; name a .jsonl file (e.g. {output / 'samples.jsonl'})")
    for parent in output.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DataError(f"{output}: cannot write the output below {parent}, which is a file, not a folder")
            break


def run_conversion(name: str, convert: Converter, records: Iterable[tuple[Where, Any]], output: Path,
                   images: ImageStore, root: Path | None = None) -> ConversionReport:
    """Convert ``records`` (read below ``root``, the input folder) with ``convert``; every sample is checked
    against the schema before it is written (a failing one is a counted skip). Ids stay unique without losing
    data: a sample whose id repeats an earlier one is kept as ``<id>-<n>`` and counted. Writes ``output``
    atomically and a ``<output>.report.json`` beside it."""
    output = Path(output)
    check_output(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    report = ConversionReport(name, "", str(output))
    seen: set[str] = set()
    repeats: Counter[str] = Counter()
    fd, tmp = tempfile.mkstemp(dir=output.parent, suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for index, (where, record) in enumerate(records):
                report.read += 1
                if isinstance(record, Skip):
                    report.skip(record, where)
                    continue
                ctx = Context(name, images, str(where), index, file_key(where.file, root))
                try:
                    for item in convert(record, ctx):
                        if isinstance(item, Skip):
                            report.skip(item, where)
                            continue
                        line = item.to_json(root=output.parent)
                        try:
                            sample_from_json(line, output.parent)  # the one schema decides
                        except ValueError as err:
                            report.skip(Skip("fails the schema", str(err)), where)
                            continue
                        sample_id = item.id
                        while sample_id in seen:
                            repeats[item.id] += 1
                            sample_id = line["id"] = f"{item.id}-{repeats[item.id]}"
                        if sample_id != item.id:
                            report.renamed += 1
                            report.first_renamed = report.first_renamed or f"{where}: {item.id} -> {sample_id}"
                        seen.add(sample_id)
                        handle.write(json.dumps(line, ensure_ascii=False) + "\n")
                        report.written += 1
                        report.types[item.type] += 1
                except Skip as skip:
                    report.skip(skip, where)
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    report.images_written = images.written
    report_path = output.with_name(output.name + ".report.json")
    report_path.write_text(json.dumps(report.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return report


# ----------------------------------------------------------------------------- export to peer layouts
@dataclass
class ExportContext:
    """Where exported image paths are made relative to (a peer project's ``image_folder``), if anywhere."""

    image_root: Path | None = None

    def image_path(self, sample: Sample) -> str:
        path = Path(sample.image)
        if self.image_root is not None and path.is_relative_to(self.image_root):
            return str(path.relative_to(self.image_root))
        return str(path)


Exporter = Callable[[Sample, ExportContext], dict[str, Any]]


def run_export(name: str, export: Exporter, samples: Iterable[Sample], output: Path,
               ctx: ExportContext) -> ConversionReport:
    """Write ``samples`` in a peer project's layout; a sample the layout cannot express is a counted skip."""
    output = Path(output)
    check_output(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    report = ConversionReport(name, "", str(output))
    fd, tmp = tempfile.mkstemp(dir=output.parent, suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for sample in samples:
                report.read += 1
                try:
                    record = export(sample, ctx)
                except Skip as skip:
                    report.skip(skip, f"id {sample.id}")
                    continue
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                report.written += 1
                report.types[sample.type] += 1
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return report
