"""Mixes (Tables 2 and 3): seeded draws per type and source file; the configs chain the paper's rows."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from mixed_r1.data.mix import build_mix, draw_mix, mix_parts
from mixed_r1.data.schema import Sample, load_samples, write_samples
from mixed_r1.data.settings import MixSettings
from mixed_r1.errors import ConfigError, DataError
from tests.conftest import compose_train
from tests.data.layouts import write_image

SOURCES = {"mapqa": ("yes_no", 30), "clevr": ("yes_no", 20), "ai2d": ("multiple_choice", 25), "chartqa": ("chart", 10)}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Converted source files: <root>/<name>.jsonl, each of one type, ids prefixed by the source."""
    image = write_image(tmp_path / "src" / "images" / "a.png", 32, 24)
    for name, (sample_type, n) in SOURCES.items():
        answer, options = {"yes_no": ("yes", None), "multiple_choice": ("A", ["x", "y"]), "chart": ("3", None)}[sample_type]
        write_samples([Sample(id=f"{name}-{i}", image=str(image), problem=f"q{i}", answer=answer, type=sample_type,
                              source=name, image_size=(32, 24), options=options) for i in range(n)],
                      tmp_path / "src" / f"{name}.jsonl")
    return tmp_path / "src"


def mix_node(root: Path, seed: int = 0, scale: float = 1.0, **parts) -> MixSettings:
    return MixSettings(root=str(root), seed=seed, scale=scale, parts=parts)


def test_drawn_counts_equal_the_config_and_depend_only_on_the_seed(root: Path, tmp_path: Path) -> None:
    node = mix_node(root, yes_no={"mapqa": 12, "clevr": 8}, multiple_choice={"ai2d": 5})
    out = build_mix(node, tmp_path / "run" / "train.jsonl")
    samples = load_samples(out)
    per_source = {s: sum(1 for x in samples if x.source == s) for s in ("mapqa", "clevr", "ai2d")}
    assert per_source == {"mapqa": 12, "clevr": 8, "ai2d": 5}
    assert {x.type for x in samples if x.source == "ai2d"} == {"multiple_choice"}
    drawn = json.loads(out.with_name("train.jsonl.mix.json").read_text())["drawn"]
    assert drawn["type"] == {"yes_no": 20, "multiple_choice": 5} and drawn["source"]["mapqa"] == 12
    same = draw_mix(root, mix_parts(node), seed=0)
    assert [s.id for s in same] == [s.id for s in samples]
    other = draw_mix(root, mix_parts(node), seed=1)
    assert sorted(s.id for s in other) != sorted(s.id for s in samples)
    # adding a source leaves what is drawn from the others unchanged
    more = draw_mix(root, mix_parts(mix_node(root, yes_no={"mapqa": 12, "clevr": 8}, multiple_choice={"ai2d": 5},
                                             chart={"chartqa": 4})), seed=0)
    assert {s.id for s in more if s.source != "chartqa"} == {s.id for s in samples}


def test_scale_halves_and_asking_too_much_names_the_file_and_counts(root: Path) -> None:
    parts = mix_parts(mix_node(root, scale=0.5, yes_no={"mapqa": 30, "clevr": 20}))
    assert [(p.name, p.count) for p in parts] == [("mapqa", 15), ("clevr", 10)]
    with pytest.raises(DataError, match=r"mapqa.jsonl: the mix asks for 60 yes_no samples .* the file has 30"):
        draw_mix(root, mix_parts(mix_node(root, scale=2.0, yes_no={"mapqa": 30})), seed=0)
    with pytest.raises(DataError, match="mapqa.jsonl: the mix asks for 1 chart samples .* the file has 0"):
        draw_mix(root, mix_parts(mix_node(root, chart={"mapqa": 1})), seed=0)
    with pytest.raises(DataError, match="nosuch.jsonl: source file of data.mix.parts.chart.nosuch not found"):
        draw_mix(root, mix_parts(mix_node(root, chart={"nosuch": 1})), seed=0)
    with pytest.raises(ConfigError, match="data.mix.parts.captions: not a sample type"):
        mix_parts(mix_node(root, captions={"a": 1}))
    with pytest.raises(ConfigError, match=r"data.mix.parts.chart.a=-1 must be a count"):
        mix_parts(mix_node(root, chart={"a": -1}))


def test_a_drawn_mix_is_reused_and_a_users_own_file_is_never_overwritten(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "train.jsonl"
    build_mix(mix_node(root, yes_no={"mapqa": 5}), out)
    stamp = out.stat().st_mtime_ns
    build_mix(mix_node(root, yes_no={"mapqa": 5}), out)
    assert out.stat().st_mtime_ns == stamp  # same config: the file is reused
    build_mix(mix_node(root, yes_no={"mapqa": 6}), out)
    assert len(load_samples(out)) == 6  # another config: drawn again
    mine = tmp_path / "mine.jsonl"
    mine.write_text(out.read_text())
    with pytest.raises(ConfigError, match="was not drawn by a mix"):
        build_mix(mix_node(root, yes_no={"mapqa": 5}), mine)


def test_the_paper_mixes_chain_table_2_and_scale_table_3() -> None:
    totals = {}
    for name in ("yorn", "yorn_mcq", "yorn_mcq_chart", "yorn_mcq_chart_iou", "mixed45k", "mixed20k", "mixed90k"):
        cfg = compose_train([f"data={name}", "data.mix.root=/data"], run_dir=Path("/tmp/run"))
        parts = mix_parts(cfg.data.mix)
        totals[name] = ({p.type for p in parts}, sum(p.count for p in parts))
    assert totals["yorn"] == ({"yes_no"}, 9000)
    assert totals["yorn_mcq"] == ({"yes_no", "multiple_choice"}, 29000)
    assert totals["yorn_mcq_chart"][0] == {"yes_no", "multiple_choice", "chart"}
    assert totals["yorn_mcq_chart_iou"][0] == {"yes_no", "multiple_choice", "chart", "grounding"}
    assert totals["mixed45k"] == ({"yes_no", "multiple_choice", "chart", "grounding", "open_ended"}, 45000)
    assert totals["mixed20k"][1] == 22500 and totals["mixed90k"][1] == 90000


def test_training_on_a_mix_prints_and_keeps_what_it_drew(root: Path, tmp_path: Path, run_training, caplog) -> None:
    caplog.set_level(logging.INFO, logger="mixed_r1")
    run_dir = tmp_path / "run"
    run_training(run_dir, "data=yorn_mcq", f"data.mix.root={root}", "data.mix.parts.yes_no.mapqa=6",
                 "data.mix.parts.yes_no.clevr=4", "data.mix.parts.yes_no.figureqa=0", "data.mix.parts.yes_no.vsr=0",
                 "data.mix.parts.multiple_choice.ai2d=6", "data.mix.parts.multiple_choice.geoqa=0",
                 "data.mix.parts.multiple_choice.unigeo=0", "data.mix.parts.multiple_choice.scienceqa=0",
                 "trainer.max_steps=1", "warmup.steps=0", "trainer.prompts_per_step=2", "algo.group_size=2",
                 "algo.max_new_tokens=4")
    counts = json.loads((run_dir / "data_counts.json").read_text())
    assert counts["type"] == {"yes_no": 10, "multiple_choice": 6}
    assert list(counts["source"].items()) == [("ai2d", 6), ("mapqa", 6), ("clevr", 4)]  # most first, ties by name
    assert "data: 16 samples; per type: yes_no 10, multiple_choice 6; per source: ai2d 6, mapqa 6, clevr 4" in caplog.text
