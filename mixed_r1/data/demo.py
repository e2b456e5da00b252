"""Raw source files for ``make data-demo``: synthetic samples written in two published layouts, so the
real-data path (convert -> validate -> mix -> filter -> train) runs end to end without a download.

    python -m mixed_r1.data.demo OUT_DIR [--num-samples N] [--seed S]

writes ``OUT_DIR/r1_v.jsonl`` (R1-V's layout: yes/no, multiple-choice and chart questions) and
``OUT_DIR/vlm_r1.jsonl`` (VLM-R1's layout: grounding and open-ended), images under ``OUT_DIR/images``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from mixed_r1.data.schema import load_samples
from mixed_r1.data.sources import export
from mixed_r1.data.synthetic import SyntheticSpec, generate

LAYOUTS = {"r1_v": ("yes_no", "multiple_choice", "chart"), "vlm_r1": ("grounding", "open_ended")}


def write_demo_sources(out_dir: str | Path, num_samples: int = 400, seed: int = 0) -> dict[str, Path]:
    """The synthetic samples of each layout's types, exported in that layout (paths relative to ``out_dir``)."""
    out_dir = Path(out_dir).resolve()
    samples = load_samples(generate(out_dir, SyntheticSpec(num_samples=num_samples, seed=seed)), check_images=False)
    written = {}
    for layout, types in LAYOUTS.items():
        report = export(layout, [s for s in samples if s.type in types], out_dir / f"{layout}.jsonl", image_root=out_dir)
        print(report.format())
        written[layout] = Path(report.output)
    (out_dir / "train.jsonl").unlink()  # only the two layouts are the demo's raw sources
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mixed_r1.data.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--num-samples", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    write_demo_sources(args.out_dir, args.num_samples, args.seed)


if __name__ == "__main__":
    main()
