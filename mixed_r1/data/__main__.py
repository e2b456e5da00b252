"""Data tools from the shell (see README, "Real data"):

    python -m mixed_r1.data sources                                   # the converters and export formats
    python -m mixed_r1.data convert SOURCE --input PATH --output FILE.jsonl [--images DIR]
    python -m mixed_r1.data validate FILE.jsonl [FILE.jsonl ...] [--no-images] [--model NAME]
    python -m mixed_r1.data export FORMAT --input FILE.jsonl --output FILE.jsonl [--image-root DIR]

Exit status: 0 when everything is fine; 1 when a file has bad lines (validate) or a conversion wrote
nothing; 2 for an unusable command (unknown source, missing input).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mixed_r1.data import sources as data_sources
from mixed_r1.data.schema import ImageCheck, load_samples
from mixed_r1.data.validate import validate_file
from mixed_r1.errors import ConfigError, UserError

MODEL_CONF = Path(__file__).resolve().parents[2] / "conf" / "model"  # the ``model`` group's options


def model_image_check(name: str) -> ImageCheck | None:
    """The image-shape limits of ``conf/model/<name>.yaml`` (its family's ``image_check`` under its image
    budget), read from the settings alone: no weights, no tokenizer. Training checks the same at load."""
    import yaml

    from mixed_r1.models import adapter_class
    from mixed_r1.settings import model_settings

    path = MODEL_CONF / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in MODEL_CONF.glob("*.yaml")))
        raise ConfigError(f"--model {name}: no {path}; expected one of {known}")
    group = yaml.safe_load(path.read_text())  # the file as data: its ${...} paths stay text, unused here
    model = group.get("model") if isinstance(group, dict) else None
    settings = model_settings({"model": model})
    return adapter_class(settings.adapter).image_check(settings)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mixed_r1.data", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("sources", help="list the converters and export formats")
    convert = commands.add_parser("convert", help="convert a source's published layout into the sample schema")
    convert.add_argument("source")
    convert.add_argument("--input", required=True, help="a file (parquet, arrow, jsonl, json) or a folder of shards")
    convert.add_argument("--output", required=True, help="the JSONL file to write")
    convert.add_argument("--images", help="folder where embedded images are written and referenced images are "
                                          "found (defaults: <output folder>/images; the input's folder)")
    validate = commands.add_parser("validate", help="check JSONL files against the schema; lists every problem")
    validate.add_argument("files", nargs="+")
    validate.add_argument("--no-images", action="store_true", help="skip opening the images")
    validate.add_argument("--model", help="also apply this model's image-shape limits as training does "
                                          "(a conf/model option, e.g. qwen7b; no weights are loaded)")
    export = commands.add_parser("export", help="write samples in a peer project's layout")
    export.add_argument("format")
    export.add_argument("--input", required=True)
    export.add_argument("--output", required=True)
    export.add_argument("--image-root", help="write image paths relative to this folder (the peer's image_folder)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "sources":
            for name, doc in data_sources.sources().items():
                print(f"{name:28s} {doc}")
            print("export formats: " + ", ".join(data_sources.export_formats()))
            return 0
        if args.command == "convert":
            report = data_sources.convert(args.source, args.input, args.output, args.images)
            print(report.format())
            return 0 if report.written else 1
        if args.command == "validate":
            model_check = model_image_check(args.model) if args.model else None
            checked = [validate_file(path, check_images=not args.no_images, model_check=model_check)
                       for path in args.files]
            for result in checked:
                print(result.format())
            return 0 if all(r.ok for r in checked) else 1
        samples = load_samples(args.input, check_images=False)
        report = data_sources.export(args.format, samples, args.output, args.image_root)
        report.input = args.input
        print(report.format())
        return 0 if report.written else 1
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
