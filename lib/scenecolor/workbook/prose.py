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
from scenecolor.retrieval.metrics import margin_over_baselines
from scenecolor.retrieval.references import RETRIEVER_NAMES

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
    per_shot: Any,
    trained: str = "trained embedder",
    target: float = 0.03,
) -> str:
    """Notebook 03: the trained embedder against every baseline (same shot, grey queries), the target's verdict,
    and the query shot where the most average precision is lost (with the shots it shares a source with).

    ``shot_rows``: descriptor-indexed rows with P@1 and mAP; ``per_shot``: :func:`per_shot_ap`'s table.
    """
    t = shot_rows.loc[trained]
    baselines = shot_rows.drop(index=trained)

    def versus(name: str) -> str:
        o = baselines.loc[name]
        outcome = {c: "wins" if t[c] > o[c] else "ties" if t[c] == o[c] else "loses" for c in ("P@1", "mAP")}
        words = [
            f"{verb} on {' and '.join(c for c in outcome if outcome[c] == verb)}" for verb in ("wins", "ties", "loses")
        ]
        verdict = " and ".join(w for w in words if not w.endswith(" on "))
        scores = f"P@1 {t['P@1']:.3f} vs {o['P@1']:.3f}, mAP {t['mAP']:.3f} vs {o['mAP']:.3f}"
        return f"against the {name} it {verdict} ({scores})"

    m = margin_over_baselines(shot_rows, trained)
    shots = per_shot.set_index("shot")
    worst = shots[trained].idxmin()
    row = shots.loc[worst]
    text = (
        "**This run.** The trained embedder: "
        + "; ".join(versus(name) for name in baselines.index)
        + f". Its mAP is {m.margin:+.3f} from the best baseline ({m.best}); the target (+{target:.2f}, P@1 no lower "
        f"than any) is **{'met' if m.met(target) else 'not met'}**. The trained embedder loses the most on `{worst}` "
        f"(AP {row[trained]:.2f}, HOG on L {row.get('HOG on L', float('nan')):.2f})"
    )
    siblings = row["siblings"]
    if siblings and siblings != "-":
        text += (
            f", a shot whose source also gave the gallery `{siblings}`: the same content in other places, which only "
            "layout can tell apart"
        )
    return text + "."


def split_reading(by_split: Any, trained: str = "trained embedder", target: float = 0.03) -> str:
    """Notebook 03: per held-out split (rows of :func:`compare_on_splits`), the trained embedder's mAP margin over
    the best baseline and whether its P@1 is lower than any baseline's, and whether the splits agree."""
    parts, verdicts = [], set()
    for queries, rows in by_split.groupby("queries", sort=False):
        m = margin_over_baselines(rows.set_index("descriptor"), trained)
        verdicts.add(m.met(target))
        parts.append(
            f"{queries} ({int(rows['shots'].iloc[0])} shots): mAP {m.margin:+.3f} against the {m.best}, P@1 "
            f"{m.p1:.3f} {'no lower than' if m.p1_ok else 'below'} the best baseline's {m.best_p1:.3f} - target "
            f"{'met' if m.met(target) else 'not met'}"
        )
    return (
        "**Trained embedder against the best baseline, per held-out split.** "
        + "; ".join(parts)
        + (
            ". On the target, the splits agree."
            if len(verdicts) == 1
            else ". On the target, the splits disagree: with this few shots, the comparison is within what the "
            "choice of shots moves."
        )
    )


def _and_list(names: list[str]) -> str:
    """'a', 'a and the b', 'a, the b and the c'."""
    return names[0] if len(names) == 1 else ", the ".join(names[:-1]) + " and the " + names[-1]


def ambiguity_reading(misses: Any) -> str:
    """Notebook 03: from :func:`~scenecolor.retrieval.metrics.p1_misses`'s rows (the last query group, all held-out
    splits together), how many queries the shot labels make ambiguous and where each descriptor's P@1 misses fall."""
    group = misses["queries"].iloc[-1]
    rows = misses[misses["queries"] == group].set_index("descriptor")
    n, ambiguous = int(rows["frames"].iloc[0]), int(rows["ambiguous"].iloc[0])
    counts = "; ".join(
        f"{name}: {int(r['on ambiguous'])} there, {int(r['elsewhere'])} elsewhere" for name, r in rows.iterrows()
    )
    only_there = [str(name) for name, r in rows.iterrows() if r["elsewhere"] == 0 and r["P@1 misses"] > 0]
    text = (
        f"**Which misses the labels decide.** Of the {n} held-out queries ({group}), **{ambiguous}** are nearer, in "
        f"their own colour pixels, to a frame of another shot than to any frame of their own. Precision@1 misses - "
        f"{counts}."
    )
    if only_there:
        text += (
            f" For the {_and_list(only_there)}, every miss is one of those queries: elsewhere their P@1 is 1, so "
            "the P@1 comparison between them is decided by a few frames whose shot labels their own pixels contradict."
        )
    return text


def worst_scene_reading(target: Any, method: str = "ours") -> str:
    """Notebook 05: whether any scene falls more than the target below grey, from the per-scene target table
    (:func:`scenecolor.evaluate.protocol.scene_target`: one row per pool and an ``all`` row)."""
    overall = target[target["pool"] == "all"].iloc[0]
    per_pool = "; ".join(
        f"`{r['pool']}`: worst {r['worst_scene']} at {r['worst_PSNR_vs_grey']:+.2f} dB, "
        f"{r['scenes_below']} of {r['scenes']} scenes below {r['threshold']:+g} dB"
        for _, r in target[target["pool"] != "all"].iterrows()
    )
    return (
        f"The worst scene of either pool is {overall['worst_scene']}, where {method} scores "
        f"**{overall['worst_PSNR_vs_grey']:+.2f} dB** against grey, so the target (no scene more than "
        f"{-overall['threshold']:g} dB below grey) is **{'met' if overall['met'] else 'not met'}** in this run "
        f"({per_pool})."
    )


def worst_cases_reading(cases: list[Any], fallback: str = "grey") -> str:
    """Notebook 05: what the worst scenes have in common, from their cases
    (:class:`scenecolor.evaluate.protocol.SceneCase`: kept references, confidence map, ours minus grey);
    ``fallback``: what a scene with every reference dropped got (``verify_fallback``)."""
    if not cases:
        return "No scene was scored, so there is no worst scene to show."
    none_kept = [c for c in cases if not c.kept.any()]
    coloured = [c for c in cases if c.kept.any()]
    parts = [
        f"Of these {len(cases)} scenes, {len(none_kept)} had every reference dropped and show the {fallback} fallback "
        f"(confidence 0, ours minus grey {', '.join(f'{c.psnr_vs_grey:+.2f}' for c in none_kept) or 'none'} dB)"
    ]
    if coloured:
        worst = coloured[0]
        parts.append(
            f"{len(coloured)} {'was' if len(coloured) == 1 else 'were'} coloured from kept references, the worst "
            f"of them {worst.video_id} scene "
            f"{worst.scene} ({worst.pool}) at {worst.psnr_vs_grey:+.2f} dB with {int(worst.kept.sum())} of "
            f"{len(worst.kept)} references kept and a mean confidence of {float(worst.confidence.mean()):.2f}"
        )
    return "; ".join(parts) + "."


def retriever_reading(verdict: Any, main_refs: int) -> str:
    """Notebook 05: which retriever's references colour the test videos better with the same colorizer, by how much
    (PSNR, mean over the pools, and per pool; SSIM), and whether that margin stands out of the spread across videos.

    ``verdict``: :func:`scenecolor.workbook.evaluate.tables.better_retriever`'s result.
    """
    better, other = (RETRIEVER_NAMES.get(r, r) for r in (verdict.better, verdict.other))
    pools = ", ".join(f"{pool} {v:+.3f} dB" for pool, v in verdict.per_pool_db.items())
    text = (
        f"**Which retriever, end to end.** With the same colorizer, verification and R = {main_refs}, the "
        f"**{better}**'s references colour the test videos better than the {other}'s: PSNR "
        f"**{verdict.margin_db:+.3f} dB** averaged over the pools ({pools}), SSIM {verdict.ssim_margin:+.4f}. "
    )
    if verdict.n_videos < 2:
        return text + (
            "One video only: there is no spread across videos to judge the margin by, so read it as unconfirmed "
            "(the `sample` and `full` profiles score every test video)."
        )
    if verdict.within_noise:
        return text + (
            f"The margin is **within noise**: the per-video difference spreads by {verdict.spread_db:.3f} dB "
            f"(standard deviation over {verdict.n_videos} videos), more than the margin itself."
        )
    return text + (
        f"The margin stands out of the spread across videos ({verdict.spread_db:.3f} dB, standard deviation of the "
        f"per-video difference over {verdict.n_videos} videos)."
    )
