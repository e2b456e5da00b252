"""Converters from the published layouts of the Mixed-45K sources (and the peer projects' JSONL) into
the one sample schema, and exporters back to the peers' layouts.

Each module of this folder other than :data:`SHARED` is one layout; it documents the layout it reads
and defines ``SOURCES: dict[str, Converter]`` (and, for the peer layouts, ``EXPORTS: dict[str,
Exporter]``). Adding a layout is adding a module.
``python -m mixed_r1.data sources`` lists them.
"""
from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path

from mixed_r1.data.schema import Sample
from mixed_r1.data.sources.base import (
    ConversionReport,
    Converter,
    ExportContext,
    Exporter,
    ImageStore,
    Skip,
    Where,
    read_records,
    run_conversion,
    run_export,
)
from mixed_r1.errors import ConfigError

SHARED = ("base", "text")  # the modules every converter uses; the others are layouts


def layout_modules() -> list[str]:
    """The layout modules of this folder, by name."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in SHARED and not m.name.startswith("_"))


@cache
def _registry() -> tuple[dict[str, Converter], dict[str, Exporter], dict[str, str]]:
    sources: dict[str, Converter] = {}
    exports: dict[str, Exporter] = {}
    docs: dict[str, str] = {}
    for name in layout_modules():
        module = importlib.import_module(f"mixed_r1.data.sources.{name}")
        for key, fn in getattr(module, "SOURCES", {}).items():
            if key in sources:
                raise RuntimeError(f"converter {key!r} is defined twice")
            sources[key] = fn
            docs[key] = (module.__doc__ or "").strip().splitlines()[0]
        exports.update(getattr(module, "EXPORTS", {}))
    return sources, exports, docs


def sources() -> dict[str, str]:
    """Converter name -> the first line of its module's documentation."""
    return dict(sorted(_registry()[2].items()))


def export_formats() -> list[str]:
    return sorted(_registry()[1])


def convert(source: str, input: str | Path, output: str | Path, images: str | Path | None = None) -> ConversionReport:
    """Convert ``input`` (a file or a folder of shards) from ``source``'s layout into ``output`` (JSONL).
    ``images``: where embedded images are written and where referenced image paths are resolved
    (defaults: ``<output folder>/images`` and the input's folder)."""
    known, _, _ = _registry()
    if source not in known:
        raise ConfigError(f"unknown source {source!r}; expected one of {', '.join(sorted(known))}")
    input, output = Path(input), Path(output)
    store = ImageStore(out_dir=Path(images) if images else output.parent / "images",
                       root=Path(images) if images else (input if input.is_dir() else input.parent))
    report = run_conversion(source, known[source], read_records(input), output, store,
                            root=input if input.is_dir() else None)
    report.input = str(input)
    return report


def export(fmt: str, samples: list[Sample], output: str | Path, image_root: str | Path | None = None) -> ConversionReport:
    """Write ``samples`` in a peer project's JSONL layout (``fmt``), image paths relative to ``image_root``."""
    _, known, _ = _registry()
    if fmt not in known:
        raise ConfigError(f"unknown export format {fmt!r}; expected one of {', '.join(sorted(known))}")
    root = Path(image_root).resolve() if image_root else None
    return run_export(fmt, known[fmt], samples, Path(output), ExportContext(root))


__all__ = ["SHARED", "ConversionReport", "Converter", "ExportContext", "Exporter", "ImageStore", "Skip", "Where",
           "convert", "export", "export_formats", "layout_modules", "read_records",
           "sources"]
