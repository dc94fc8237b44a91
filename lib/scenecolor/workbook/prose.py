"""The notebooks' sentences that state a result, computed from the run instead of typed in.

A markdown cell cannot know what a run measured, so a sentence such as "the accuracy sits near
the ceiling" or "the store keeps one frame in ten" is only true for the run it was written
after. Each function here returns that sentence (markdown) from the numbers or parameters of
the run at hand; a notebook shows it with ``IPython.display.Markdown(...)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scenecolor import paper
from scenecolor.core.artifacts import read_json

PAPER_FRAME_STEP = 10  # the paper keeps one frame in ten (section 3.1.1)
CEILING = 0.9  # a score at or above this is "near the ceiling"


def store_frame_step(prep: Path) -> int:
    """The ``frame_step`` the run's frame store was built with (00_data_prep's parameters in its meta.json)."""
    meta = Path(prep) / "meta.json"
    params = read_json(meta).get("params", {}) if meta.is_file() else {}
    return int(params.get("frame_step", PAPER_FRAME_STEP))


def _one_in(n: int) -> str:
    return "every frame" if n == 1 else f"one frame in {n}"


def _paper_rate(n: int) -> str:
    return "the paper's rate" if n == PAPER_FRAME_STEP else f"the paper keeps one in {PAPER_FRAME_STEP}"


def pool_sentence(prep: Path, pool_step: int) -> str:
    """Notebook 03: how many stored frames the reference pool uses, at this run's rates."""
    n = store_frame_step(prep)
    pool = (
        "all of them"
        if pool_step == 1
        else f"one stored frame in {pool_step}, i.e. one source frame in {n * pool_step}"
    )
    return (
        f"In this run the frame store keeps **{_one_in(n)}** of each shot (notebook 00's `frame_step` = {n}; "
        f"{_paper_rate(n)}), and `pool_step` = {pool_step} puts {pool} into the reference pool."
    )


def clip_span_sentence(prep: Path, clip_len: int) -> str:
    """Notebook 04: how many source frames a training clip spans, at this run's frame rate."""
    n = store_frame_step(prep)
    return (
        f"In this run stored frames are **{n} source frame{'s' if n != 1 else ''} apart** (notebook 00's "
        f"`frame_step` = {n}; {_paper_rate(n)}), so a clip of T = {clip_len} store frames spans "
        f"{clip_len * n} source frames."
    )


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def embedder_reading(history: list[dict[str, Any]]) -> str:
    """Notebook 01: where the validation triplet accuracy sits and what the stricter measures did."""
    first, last = history[0], history[-1]
    before, after = float(first["val_acc"]), float(last["val_acc"])
    if before >= CEILING:
        level = (
            f"sat **near the ceiling from the start**: {_pct(before)} before training (epoch 0), {_pct(after)} "
            f"after epoch {last['epoch']}. Random validation triplets are easy on this data, so beside the paper's "
            f"~{_pct(paper.TRIPLET_ACCURACY)} (another data set and network) the number says little"
        )
    else:
        verb = "rose" if after > before else "did not rise" if after == before else "fell"
        level = (
            f"**{verb}** from {_pct(before)} before training (epoch 0) to {_pct(after)} after epoch {last['epoch']} "
            f"(the paper quotes ~{_pct(paper.TRIPLET_ACCURACY)} on another data set with another network)"
        )
    sep_before, sep_after = float(first["val_separation"]), float(last["val_separation"])
    sep = "improved" if sep_after > sep_before else "did not improve"
    loss = (
        f"; the validation loss went from {float(first['val_loss']):.3f} to {float(last['val_loss']):.3f}"
        if first.get("val_loss") is not None and last.get("val_loss") is not None
        else ""
    )
    return (
        f"**This run.** The validation triplet accuracy {level}. The stricter separation accuracy {sep}: "
        f"{_pct(sep_before)} before, {_pct(sep_after)} after{loss}."
    )


def retrieval_reading(
    shot_rows: Any,
    trained: str = "trained embedder",
    untrained: str = "untrained network",
    histogram: str = "colour histogram",
) -> str:
    """Notebook 03: the trained embedder against the untrained network and the colour histogram (same shot)."""
    t, u, h = (shot_rows.loc[name] for name in (trained, untrained, histogram))
    hist_level = (
        "at or near the ceiling, so colour alone tells these shots apart"
        if min(h["P@1"], h["mAP"]) >= CEILING
        else "well below the ceiling, so colour alone does not tell these shots apart"
    )

    def versus(other: Any) -> str:
        wins = [c for c in ("P@1", "mAP") if t[c] > other[c]]
        verdict = (
            "wins on both P@1 and mAP" if len(wins) == 2 else f"wins only on {wins[0]}" if wins else "wins on neither"
        )
        return f"{verdict} (P@1 {t['P@1']:.2f} vs {other['P@1']:.2f}, mAP {t['mAP']:.2f} vs {other['mAP']:.2f})"

    return (
        f"**This run.** The colour histogram reaches P@1 {h['P@1']:.2f} and mAP {h['mAP']:.2f}: {hist_level}. "
        f"Against the untrained network (what the triplet training adds) the trained embedder {versus(u)}; "
        f"against the colour histogram it {versus(h)}."
    )
