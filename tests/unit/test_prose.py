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
        {"P@1": [0.9, 0.5, 0.95], "mAP": [0.8, 0.4, 0.92]},
        index=["trained embedder", "untrained network", "colour histogram"],
    )
    text = prose.retrieval_reading(rows)
    assert "at or near the ceiling" in text
    assert "(what the triplet training adds) the trained embedder wins on both" in text
    assert "against the colour histogram it wins on neither" in text
    rows.loc["colour histogram"] = [0.3, 0.85]
    text = prose.retrieval_reading(rows)
    assert "well below the ceiling" in text and "histogram it wins only on P@1" in text


def test_frame_rate_sentences_read_the_run_frame_step(tmp_path) -> None:
    atomic_write_json(tmp_path / "meta.json", {"params": {"frame_step": 5}})
    assert "one frame in 5" in prose.pool_sentence(tmp_path, pool_step=1)
    assert "one source frame in 10" in prose.pool_sentence(tmp_path, pool_step=2)
    assert "spans 15 source frames" in prose.clip_span_sentence(tmp_path, clip_len=3)
    assert "ten" not in prose.pool_sentence(tmp_path, pool_step=1)
