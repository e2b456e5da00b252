"""The project's one sample schema. Every data source converts into it; every consumer reads it.

A sample is one JSON object per line of a JSONL file:

    {"id": "syn-000001", "image": "images/000001.png", "problem": "Is the shape red?",
     "answer": "yes", "type": "yes_no", "source": "synthetic",
     "options": null, "image_size": [56, 56], "meta": {...}}

- ``image`` is relative to the JSONL file's folder (or absolute).
- ``answer`` is a string, except for ``grounding`` where it is a box
  ``[x1, y1, x2, y2]`` in pixels of the *original* image (the model adapter converts it
  into the frame its model emits).
- ``options`` lists the choice texts of a multiple-choice question (letter A is
  ``options[0]``); ``answer`` is then the letter.
- ``image_size`` is ``[width, height]`` of the original image.
- ``meta`` is free-form, source-specific information; rewards never read it.
- ``type`` is one of the types registered in :mod:`mixed_r1.data.sample_types`, whose answer check
  validates ``answer`` (and ``options``) here.

Bad ground truth is a data error raised at load time with the file, line and sample id,
never a crash in the middle of training.

What sample text may hold (decided once, for every model family): ``problem``, a text ``answer`` and each
option are valid Unicode (no lone UTF-16 surrogate such as JSON ``"\\ud800"``, which the tokenizer cannot
encode) and contain none of :data:`STRUCTURE_TOKENS`, the strings a family's tokenizer reads as one special
token (chat turns, image placeholders): such text is refused at load, never escaped, since an image
placeholder in a problem breaks the image-token count mid-run and ``<|im_end|>`` fakes a chat turn. The list is
the union over the families, so a file valid for one family is valid for all and ``validate`` needs no model.
An answer (or problem) made only of invisible characters (zero-width space, other format characters,
whitespace) is empty after normalisation and refused like an empty one.
"""
from __future__ import annotations

import json
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
from PIL import Image

from mixed_r1.data.sample_types import REGISTRY
from mixed_r1.errors import DataError

# the registered types (mixed_r1.data.sample_types.REGISTRY, where a type is added), in registry order;
# validation reads the registry itself
SAMPLE_TYPES: tuple[str, ...] = tuple(REGISTRY)


@dataclass(frozen=True)
class Sample:
    id: str
    image: str  # absolute path once loaded
    problem: str
    answer: str | list[float]
    type: str
    source: str
    image_size: tuple[int, int]  # (width, height) of the original image
    options: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self, root: Path | None = None) -> dict[str, Any]:
        """JSON form; ``image`` is written relative to ``root`` when it lies below it."""
        record = asdict(self)
        record["image_size"] = list(self.image_size)
        if root is not None and Path(self.image).is_relative_to(root):  # else keep the absolute path
            record["image"] = str(Path(self.image).relative_to(root))
        return record


# the strings Qwen2.5-VL's and InternVL2.5's tokenizers read as one special/added token (their
# tokenizer_config.json's added_tokens; the tiny twins hold a subset, tests/test_reliability_text.py checks it)
STRUCTURE_TOKENS: tuple[str, ...] = (
    # Qwen2.5 (both families' text model)
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>",
    "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
    # InternVL2.5
    "<img>", "</img>", "<IMG_CONTEXT>", "<quad>", "</quad>", "<ref>", "</ref>", "<box>", "</box>",
)
# not seen: zero-width and other format characters (Cf), controls (Cc), separators (Z*)
INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Zs", "Zl", "Zp"})

MAX_OPTIONS = 26  # option letters A-Z
MAX_REPORTED = 50  # problems listed in one DataError (the rest are counted)
# a function an adapter provides: why its model cannot take an image of (width, height), or None
ImageCheck = Callable[[int, int], "str | None"]


def check_unicode(key: str, value: str) -> None:
    """A ValueError naming ``key`` when ``value`` holds a lone UTF-16 surrogate (valid JSON, invalid text:
    the tokenizer fails on it with a raw TypeError)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"field '{key}' is not valid Unicode: a lone UTF-16 surrogate "
                         f"U+{ord(value[err.start]):04X} at character {err.start + 1}") from None


def visible(text: str) -> str:
    """``text`` without the characters nobody sees (NFKC-normalised first): empty when it only looks filled."""
    return "".join(c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) not in INVISIBLE_CATEGORIES)


def check_prompt_text(key: str, value: str) -> None:
    """What text that reaches a prompt or a target may hold (module docstring): a ValueError naming ``key``."""
    check_unicode(key, value)
    found = [token for token in STRUCTURE_TOKENS if token in value]
    if found:
        raise ValueError(f"field '{key}' holds {', '.join(found)}, which the model's tokenizer reads as structure "
                         f"(a chat turn or an image placeholder), not as text")
    if value.strip() and not visible(value):
        raise ValueError(f"field '{key}' is empty after normalisation (only invisible characters: "
                         f"{' '.join(f'U+{ord(c):04X}' for c in dict.fromkeys(value))})")


def _text(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"field '{key}' must be a non-empty string, got {value!r}")
    check_unicode(key, value)
    return value


def sample_from_json(record: Any, root: Path) -> Sample:
    """Validate one JSON record and build a :class:`Sample`; raises ``ValueError`` naming the field."""
    if not isinstance(record, dict):
        raise ValueError("a sample must be a JSON object")
    for key in ("id", "image", "problem", "answer", "type"):
        if key not in record:
            raise ValueError(f"missing field '{key}'")
    sample_id = record["id"]
    if not (isinstance(sample_id, str) and sample_id.strip()) and not (isinstance(sample_id, int)
                                                                        and not isinstance(sample_id, bool)):
        raise ValueError(f"field 'id' must be a non-empty string or an integer, got {sample_id!r}")
    if isinstance(sample_id, str):
        check_unicode("id", sample_id)
    sample_type = record["type"]
    kind = REGISTRY.get(sample_type) if isinstance(sample_type, str) else None
    if kind is None:
        raise ValueError(f"field 'type' is {sample_type!r}; expected one of {', '.join(REGISTRY)}")
    image_text = _text(record, "image")
    problem = _text(record, "problem")
    check_prompt_text("problem", problem)
    source = _text(record, "source") if record.get("source") is not None else "unknown"
    size = record.get("image_size")
    if not (isinstance(size, (list, tuple)) and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
        raise ValueError(f"field 'image_size' must be [width, height] in positive integers, got {size!r}")
    meta = record.get("meta")
    if meta is not None and not isinstance(meta, dict):
        raise ValueError(f"field 'meta' must be an object, got {type(meta).__name__}")
    options = record.get("options")
    if options is not None and (not isinstance(options, list) or not all(isinstance(o, str) for o in options)):
        raise ValueError(f"field 'options' must be a list of strings, got {options!r}")
    if options is not None and len(options) > MAX_OPTIONS:
        raise ValueError(f"field 'options' has {len(options)} options; at most {MAX_OPTIONS} (letters A-Z)")
    for option in options or []:
        check_prompt_text("options", option)
    if isinstance(record["answer"], str):
        check_prompt_text("answer", record["answer"])
    answer = kind.check_answer(sample_type, record["answer"], options, (size[0], size[1]))
    image = Path(image_text)
    if not image.is_absolute():
        image = root / image
    return Sample(id=str(sample_id), image=str(image), problem=problem, answer=answer, type=sample_type,
                  source=source, image_size=(size[0], size[1]), options=list(options) if options is not None else None,
                  meta=dict(meta or {}))


SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # 16-bit grey (PNG, TIFF); "I" as PIL may open them


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as the 8-bit RGB the model's processor expects, whatever its mode: 16-bit grey scaled to
    8 bits (``convert("RGB")`` clips every value above 255 to white), transparency (``RGBA``, ``LA``, ``PA``,
    a palette or grey image with a ``transparency`` entry) composited onto white as transformers'
    ``convert_to_rgb`` does (``convert("RGB")`` alone shows the colour under a transparent pixel), anything
    else (``CMYK``, ``P``, ``L``, ``1``) by PIL's own conversion. The one place an image's mode is normalised:
    training prompts open theirs through :func:`open_sample_image`."""
    if image.mode == "RGB" and image.info.get("transparency") is None:
        return image
    if image.mode in SIXTEEN_BIT_MODES:
        values = np.clip(np.asarray(image, dtype=np.int64), 0, 65535)
        return Image.fromarray(((values * 255 + 32767) // 65535).astype(np.uint8)).convert("RGB")  # 2-D uint8: "L"
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def open_rgb(path: str | Path) -> Image.Image:
    """The image at ``path``, decoded and normalised by :func:`to_rgb`."""
    with Image.open(path) as image:
        image.load()
        return to_rgb(image)


def open_sample_image(sample: Sample) -> Image.Image:
    """``sample``'s image for a prompt, checked against what the load saw: a file deleted since the data
    loaded, or replaced by one of another size (a grounding box would no longer fit), is a
    :class:`DataError` naming the sample and path, never a raw ``FileNotFoundError`` or a silent mis-scale.
    With ``data.changed_images=skip`` the run checks each batch first (:func:`mixed_r1.data.sampler.with_readable_images`)
    and never gets here with such a sample."""
    where = f"sample {sample.id}: image {sample.image}"
    try:
        image = open_rgb(sample.image)
    except FileNotFoundError:
        raise DataError(f"{where} is gone: it was there when the data loaded (deleted or moved since)") from None
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"{where} is no longer a readable image ({err}); it was when the data loaded") from None
    if image.size != tuple(sample.image_size):
        raise DataError(f"{where} is now {image.size[0]}x{image.size[1]} but its image_size is "
                        f"{list(sample.image_size)} (changed since the data loaded; a box would no longer fit)")
    return image


def image_changed(sample: Sample) -> str | None:
    """Why :func:`open_sample_image` would refuse ``sample`` now (its message), or None: the check a
    skip policy makes before a batch is built."""
    try:
        open_sample_image(sample)
    except DataError as err:
        return str(err)
    return None


def image_problem(sample: Sample, model_check: ImageCheck | None = None) -> str | None:
    """Why ``sample``'s image cannot be trained on: missing, not a decodable image, a size other than
    the declared ``image_size`` (a grounding box would be silently mis-scaled), or one the model's
    processor rejects (``model_check``, from the adapter). None when it is fine."""
    path = Path(sample.image)
    if not path.is_file():
        return f"image not found: {path}"
    try:
        with Image.open(path) as image:
            image.load()  # decode it all: a truncated file fails here, not at step 4,000
            size = image.size
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        return f"field 'image': {path} is not a readable image ({err})"
    if size != tuple(sample.image_size):
        return (f"field 'image_size' is {list(sample.image_size)} but {path.name} is {size[0]}x{size[1]} "
                f"(a box in the wrong frame would score IoU 0)")
    if model_check is not None:
        why = model_check(*size)
        if why:
            return f"field 'image': {path.name} ({size[0]}x{size[1]}): {why}"
    return None


def _lines(path: Path) -> Iterator[tuple[int, str | None, str | None]]:
    """(line number, text or None, why it is unreadable or None) for each line of a JSONL file."""
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                yield line_no, raw.decode("utf-8"), None
            except UnicodeDecodeError as err:
                yield line_no, None, f"not UTF-8 text (byte {raw[err.start]:#04x} at column {err.start + 1})"


def _report(path: Path, problems: list[str]) -> DataError:
    shown = problems[:MAX_REPORTED]
    more = f"\n  ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
    return DataError(f"{path}: {len(problems)} bad line(s):\n  " + "\n  ".join(shown) + more)


@dataclass
class ScanResult:
    """Every sample of a file that passed, and every problem found (in line order)."""

    path: Path
    samples: list[Sample]
    problems: list[str]


def scan_samples(path: str | Path, check_images: bool = True, model_check: ImageCheck | None = None,
                 workers: int = 8) -> ScanResult:
    """Check every line of a JSONL file, images included (opened and decoded in ``workers`` threads),
    and collect every problem, each with its file, line, sample id and field."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: data file not found")
    samples: list[tuple[int, Sample]] = []
    problems: list[tuple[int, str]] = []  # (line, what is wrong there)
    seen: dict[str, int] = {}
    for line_no, line, unreadable in _lines(path):
        where = f"{path}:{line_no}"
        if unreadable:
            problems.append((line_no, f"{where}: {unreadable}"))
            continue
        if line is None or not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            problems.append((line_no, f"{where}: not valid JSON ({err.msg})"))
            continue
        sample_id = record.get("id", "?") if isinstance(record, dict) else "?"
        try:
            sample = sample_from_json(record, path.parent)
        except ValueError as err:
            problems.append((line_no, f"{where} (id {sample_id}): {err}"))
            continue
        if sample.id in seen:
            problems.append((line_no, f"{where}: duplicate id {sample.id} (first on line {seen[sample.id]})"))
            continue
        seen[sample.id] = line_no
        samples.append((line_no, sample))
    if check_images and samples:
        with ThreadPoolExecutor(max_workers=workers) as pool:  # PIL decodes without the GIL
            found = list(pool.map(lambda item: image_problem(item[1], model_check), samples))
        problems += [(line_no, f"{path}:{line_no} (id {sample.id}): {why}")
                     for (line_no, sample), why in zip(samples, found) if why]
        samples = [item for item, why in zip(samples, found) if not why]
    return ScanResult(path, [sample for _, sample in samples], [text for _, text in sorted(problems, key=lambda p: p[0])])


def load_samples(path: str | Path, check_images: bool = True, model_check: ImageCheck | None = None,
                 workers: int = 8) -> list[Sample]:
    """Load and validate every line of a JSONL file (:func:`scan_samples`). Any problem fails the load
    with one :class:`DataError` listing them in line order (the first bad line first); nothing is
    dropped silently. ``python -m mixed_r1.data validate`` prints the same messages, all of them."""
    result = scan_samples(path, check_images, model_check, workers)
    if result.problems:
        raise _report(result.path, result.problems)
    if not result.samples:
        raise DataError(f"{result.path}: no samples")
    return result.samples


def write_samples(samples: Iterable[Sample], path: str | Path) -> Path:
    """Write samples as JSONL, images relative to the file's folder where possible."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for sample in samples:
            handle.write(json.dumps(sample.to_json(root=path.parent)) + "\n")
    return path
