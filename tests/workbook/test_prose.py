"""The notebooks' result sentences follow the numbers of the run, not a fixed text."""

from __future__ import annotations

import pandas as pd

from scenecolor.core.artifacts import atomic_write_json
from scenecolor.workbook import prose


def _history(before: float, after: float) -> list[dict[str, float]]:
    return [
        {"epoch": 0, "val_acc": before, "val_separation": 0.2, "val_loss": 0.3},
        {"epoch": 3, "val_acc": after, "val_separation": 0.5, "val_loss": 0.1},
    ]


def test_embedder_reading_says_ceiling_only_when_the_run_starts_there() -> None:
    assert "near the ceiling from the start" in prose.embedder_reading(_history(0.98, 0.99))
    low = prose.embedder_reading(_history(0.55, 0.80))
    assert "ceiling" not in low and "rose" in low and "55.0 %" in low and "80.0 %" in low
    assert "separation accuracy improved" in low


def test_retrieval_reading_compares_the_measured_rows() -> None:
    rows = pd.DataFrame(
        {"P@1": [0.98, 0.97, 0.95, 0.98], "mAP": [0.88, 0.86, 0.79, 0.87]},
        index=["trained embedder", "untrained network", "grey histogram", "HOG on L"],
    )
    per_shot = pd.DataFrame(
        {
            "shot": ["coffee_c0", "ihc_c1"],
            "siblings": ["coffee_c1", "ihc_c0"],
            "trained embedder": [0.7, 0.55],
            "HOG on L": [0.8, 0.58],
        }
    )
    text = prose.retrieval_reading(rows, per_shot)
    assert "against the untrained network it wins on P@1 and mAP" in text
    assert "against the HOG on L it wins on mAP and ties on P@1" in text
    assert "+0.010 from the best baseline (HOG on L)" in text and "**not met**" in text
    assert "`ihc_c1` (AP 0.55, HOG on L 0.58)" in text and "`ihc_c0`" in text
    rows.loc["trained embedder", "mAP"] = 0.95
    assert "**met**" in prose.retrieval_reading(rows, per_shot)
    rows.loc["trained embedder", "P@1"] = 0.9
    text = prose.retrieval_reading(rows, per_shot)
    assert "**not met**" in text and "against the grey histogram it wins on mAP and loses on P@1" in text


def test_frame_rate_sentences_read_the_run_frame_step(tmp_path) -> None:
    atomic_write_json(tmp_path / "meta.json", {"params": {"frame_step": 5}})
    assert "one frame in 5" in prose.pool_sentence(tmp_path, pool_step=1)
    assert "one source frame in 10" in prose.pool_sentence(tmp_path, pool_step=2)
    assert "spans 15 source frames" in prose.clip_span_sentence(tmp_path, clip_len=3)
    assert "ten" not in prose.pool_sentence(tmp_path, pool_step=1)


def test_split_reading_gives_each_split_its_margin_and_verdict() -> None:
    def rows(queries: str, shots: int, trained: tuple[float, float], hog: tuple[float, float]) -> list[dict]:
        return [
            {
                "queries": queries,
                "shots": shots,
                "descriptor": "trained embedder",
                "P@1": trained[0],
                "mAP": trained[1],
            },
            {"queries": queries, "shots": shots, "descriptor": "HOG on L", "P@1": hog[0], "mAP": hog[1]},
        ]

    table = pd.DataFrame(rows("test", 6, (0.98, 0.87), (0.98, 0.874)) + rows("val", 6, (0.91, 0.78), (0.95, 0.69)))
    text = prose.split_reading(table)
    assert "test (6 shots): mAP -0.004 against the HOG on L, P@1 0.980 no lower than" in text
    assert "val (6 shots): mAP +0.090 against the HOG on L, P@1 0.910 below the best baseline's 0.950" in text
    assert text.count("target not met") == 2 and "the splits agree." in text
    table = pd.DataFrame(rows("test", 6, (0.98, 0.95), (0.98, 0.874)) + rows("val", 6, (0.91, 0.78), (0.95, 0.69)))
    text = prose.split_reading(table)
    assert "target met" in text and "the splits disagree" in text


def test_ambiguity_reading_counts_where_each_descriptor_misses() -> None:
    def rows(queries: str, frames: int, ambiguous: int, misses: dict[str, tuple[int, int]]) -> list[dict]:
        return [
            {
                "queries": queries,
                "frames": frames,
                "ambiguous": ambiguous,
                "descriptor": name,
                "P@1 misses": there + elsewhere,
                "on ambiguous": there,
                "elsewhere": elsewhere,
            }
            for name, (there, elsewhere) in misses.items()
        ]

    table = pd.DataFrame(
        rows("test", 88, 2, {"trained embedder": (2, 0), "HOG on L": (2, 0), "grey histogram": (1, 3)})
        + rows("test + val", 152, 13, {"trained embedder": (6, 0), "HOG on L": (5, 0), "grey histogram": (4, 12)})
    )
    text = prose.ambiguity_reading(table)
    assert "Of the 152 held-out queries (test + val), **13**" in text
    assert "trained embedder: 6 there, 0 elsewhere" in text and "grey histogram: 4 there, 12 elsewhere" in text
    assert "For the trained embedder and the HOG on L, every miss is one of those queries" in text
    table.loc[(table["queries"] == "test + val") & (table["descriptor"] == "HOG on L"), "elsewhere"] = 1
    text = prose.ambiguity_reading(table)
    assert "For the trained embedder, every miss" in text and "HOG on L, every" not in text
    table["elsewhere"] = 1
    assert "every miss" not in prose.ambiguity_reading(table)
