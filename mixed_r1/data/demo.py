"""Synthetic stand-ins for real data, so the real-data paths run end to end without a download.

    python -m mixed_r1.data.demo OUT_DIR [--num-samples N] [--seed S]           # make data-demo's raw files
    python -m mixed_r1.data.demo OUT_DIR --paper-sources [--num-samples N]       # preset=tiny's mix sources

The first writes ``OUT_DIR/r1_v.jsonl`` (R1-V's layout: yes/no, multiple-choice and chart questions) and
``OUT_DIR/vlm_r1.jsonl`` (VLM-R1's layout: grounding and open-ended), images under ``OUT_DIR/images``. The
second writes one converted source file per source the paper's mixes draw from (``mapqa.jsonl``,
``geoqa.jsonl``, ... :data:`PAPER_SOURCES`), each holding synthetic samples of that source's type, so
``data=mixed45k`` and the Table 2/3 mixes run at tiny size (``data.mix.size_factor``).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from mixed_r1.data.schema import Sample, load_samples, write_samples
from mixed_r1.data.sources import export
from mixed_r1.data.synthetic import SyntheticSpec, generate

LAYOUTS = {"r1_v": ("yes_no", "multiple_choice", "chart"), "vlm_r1": ("grounding", "open_ended")}
# the source files conf/data/mixed45k.yaml (and the Table 2/3 mixes) draw from, by sample type
PAPER_SOURCES = {"mapqa": "yes_no", "clevr": "yes_no", "figureqa": "yes_no", "vsr": "yes_no",
                 "geoqa": "multiple_choice", "unigeo": "multiple_choice", "ai2d": "multiple_choice",
                 "scienceqa": "multiple_choice", "chartqa": "chart", "docvqa": "chart", "infographic_vqa": "chart",
                 "multihiertt": "chart", "refcocog": "grounding", "allava": "open_ended"}


def write_demo_sources(out_dir: str | Path, num_samples: int = 400, seed: int = 0) -> dict[str, Path]:
    """The synthetic samples of each layout's types, exported in that layout (paths relative to ``out_dir``)."""
    out_dir = Path(out_dir).resolve()
    # only the layouts' types: a registered type neither layout holds would be drawn, then dropped
    spec = SyntheticSpec(num_samples=num_samples, seed=seed,
                         type_weights={t: 1.0 for types in LAYOUTS.values() for t in types})
    samples = load_samples(generate(out_dir, spec), check_images=False)
    written = {}
    for layout, types in LAYOUTS.items():
        report = export(layout, [s for s in samples if s.type in types], out_dir / f"{layout}.jsonl", image_root=out_dir)
        print(report.format())
        written[layout] = Path(report.output)
    (out_dir / "train.jsonl").unlink()  # only the two layouts are the demo's raw sources
    return written


def write_paper_sources(out_dir: str | Path, per_file: int = 24, seed: int = 0) -> dict[str, Path]:
    """``<out_dir>/<source>.jsonl`` for every source of :data:`PAPER_SOURCES`: ``per_file`` synthetic samples of
    its type, ids and ``source`` named after it (ids unique across files, as a mix requires)."""
    out_dir = Path(out_dir).resolve()
    written = {}
    for k, (name, sample_type) in enumerate(PAPER_SOURCES.items()):
        folder = out_dir / f"{name}_files"
        generated = generate(folder, SyntheticSpec(num_samples=per_file, seed=seed * 1_000 + k,
                                                   type_weights={sample_type: 1.0}))
        samples = [Sample(**{**vars(s), "id": f"{name}-{s.id}", "source": name})
                   for s in load_samples(generated, check_images=False)]
        generated.unlink()
        written[name] = write_samples(samples, out_dir / f"{name}.jsonl")
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mixed_r1.data.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--num-samples", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--paper-sources", action="store_true", help="one file per source of the paper's mixes")
    args = parser.parse_args(argv)
    if args.paper_sources:
        for path in write_paper_sources(args.out_dir, args.num_samples, args.seed).values():
            print(path)
    else:
        write_demo_sources(args.out_dir, args.num_samples, args.seed)


if __name__ == "__main__":
    main()
