"""Notebook 05's reference explorer: one test scene, its references, and what the colorizer makes of them.

:func:`scene_view` colorizes one detected scene of a test video with a chosen list of reference
frames, exactly as the evaluation does (:class:`scenecolor.evaluate.protocol.ColorizerMethod`:
verification first, then the network), and gathers what a reader needs to judge the result: the
grey keyframe, each reference with its retrieval score (notebook 03's cosine, when it retrieved
that frame for this scene) and its verification match, the colorized frames beside the truth, and
PSNR / SSIM over the whole scene. :func:`candidates` lists the frames a reference slot can take:
the scene's retrievals from ``references.csv`` first, then other frames of the same pool.
:func:`plot_view` draws a view; :class:`ReferenceExplorer` is the ipywidgets front-end (scene, pool,
one dropdown per reference slot, a button that colorizes again).

The widget needs a live JupyterLab front-end to be used; an executed notebook (papermill, nbval,
the HTML report) keeps only its text, so the notebook also shows the default view as a static
figure.
"""

from __future__ import annotations

import html
import io
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from scenecolor.colorize.refs import scene_query_frames
from scenecolor.colorize.verify import VerifyConfig, verify_references
from scenecolor.core.color8 import lab_to_rgb8
from scenecolor.core.errors import DataError
from scenecolor.data.frames import FrameStore
from scenecolor.evaluate import metrics
from scenecolor.evaluate.protocol import ColorizerMethod, EvalVideo, ReferenceTable
from scenecolor.retrieval.references import reference_pools

FONT = 9  # points: the smallest text of the figure
NONE = -1  # a reference slot's value when it is left empty


@dataclass(frozen=True)
class ReferenceInView:
    """One reference of a view: the stored frame, why it is there and what verification made of it."""

    frame_id: int
    rgb: np.ndarray  # uint8 (S, S, 3), as stored in the frame store
    shot_id: str
    rank: int  # its rank among the scene's retrievals in this pool (1 = best); 0: not retrieved for this scene
    retrieval_score: float  # notebook 03's cosine score for this scene; NaN when not retrieved for it
    match: float  # verification score in [0, 1]: share of the scene's pixels the warped reference matches
    kept: bool  # passed verification (always True when verification is off)


@dataclass(frozen=True)
class SceneView:
    """One scene colorized with one list of references, and its scores against the truth.

    Frames are at the evaluation's working size S (the frame store's, stretched square); ``shown`` indexes
    the scene's frames (0 = its first) and is what ``grey``, ``colorized`` and ``truth`` hold.
    """

    video_id: str
    scene_id: int  # the scene's index in scenes.json (references.csv's ``scene``)
    pool: str
    frames: tuple[int, int]  # [start, end) of the scene among the video's kept frames
    shown: np.ndarray  # int (n,) frames of the scene shown (the ones verification checks); the middle one is the key
    grey: np.ndarray  # uint8 (n, S, S, 3): the grey input (truth's L, ab = 0)
    colorized: np.ndarray  # uint8 (n, S, S, 3)
    truth: np.ndarray  # uint8 (n, S, S, 3)
    references: tuple[ReferenceInView, ...]
    fallback: str  # "" when a reference was kept; else the fallback the scene got instead ("grey" or "prior")
    psnr: float  # dB, mean over every frame of the scene
    ssim: float  # mean over every frame of the scene
    psnr_grey: float  # dB, the grey input's, for scale
    seconds: float  # wall time of verification + colorization of the scene
    display_aspect: float = 1.0  # width / height of the source video

    @property
    def key(self) -> int:
        """Position in ``shown`` of the keyframe (the scene's middle frame)."""
        return len(self.shown) // 2

    def table(self) -> pd.DataFrame:
        """One row per reference: slot, frame_id, shot_id, rank, retrieval_score, match, kept."""
        return pd.DataFrame(
            [
                {
                    "slot": i + 1,
                    "frame_id": r.frame_id,
                    "shot_id": r.shot_id,
                    "rank": r.rank or None,
                    "retrieval_score": r.retrieval_score,
                    "match": r.match,
                    "kept": r.kept,
                }
                for i, r in enumerate(self.references)
            ]
        )

    def summary(self) -> str:
        """One line: the scene, its scores and what verification did."""
        kept = sum(r.kept for r in self.references)
        what = f"none kept: {self.fallback} fallback" if self.fallback else f"{kept} of {len(self.references)} kept"
        return (
            f"{self.video_id} scene {self.scene_id} ({self.pool} pool, {self.frames[1] - self.frames[0]} frames): "
            f"PSNR {self.psnr:.2f} dB (grey input {self.psnr_grey:.2f} dB), SSIM {self.ssim:.4f}; references: "
            f"{what}; colorized in {self.seconds:.2f} s"
        )


def _scene_rows(refs: ReferenceTable, pool: str, video_id: str, scene_id: int) -> pd.DataFrame:
    t = refs.table
    return t[(t["pool"] == pool) & (t["video_id"] == video_id) & (t["scene"] == scene_id)].sort_values("rank")


def _pool_ids(store: FrameStore, refs: ReferenceTable, pool: str) -> np.ndarray:
    """Every frame of the store that belongs to ``pool`` (notebook 03 queried one in ``pool_step`` of these)."""
    if pool not in refs.pools():
        raise DataError(f"references.csv has no '{pool}' pool; choose one of {refs.pools()} (re-run notebook 03)")
    return reference_pools(store, pool_step=1)[pool]


def candidates(
    refs: ReferenceTable, store: FrameStore, video_id: str, scene_id: int, pool: str, n_others: int = 12
) -> pd.DataFrame:
    """The frames a reference slot of one scene can take: its retrievals, then other frames of the pool.

    Args:
        refs: notebook 03's references.
        store: the frame store the reference ids point into.
        video_id, scene_id: the scene (``scene_id``: its index in scenes.json).
        pool: ``in_domain`` or ``open``.
        n_others: how many other pool frames to offer, evenly spread over the pool (0: none).
    Returns a DataFrame, one row per frame, retrievals first (best first): frame_id, rank (0: not retrieved for
    this scene), score (retrieval cosine; NaN when not retrieved), shot_id, split, label (for a dropdown).
    """
    pool_ids = _pool_ids(store, refs, pool)
    rows = _scene_rows(refs, pool, video_id, scene_id)
    if rows.empty:
        raise DataError(
            f"references.csv has no '{pool}' references for scene {scene_id} of '{video_id}'; re-run notebook 03"
        )
    retrieved = rows["ref_frame_id"].to_numpy(np.int64)
    others = pool_ids[~np.isin(pool_ids, retrieved)]
    if n_others and len(others):
        others = others[np.unique(np.linspace(0, len(others) - 1, min(n_others, len(others))).round().astype(int))]
    else:
        others = others[:0]
    index = store.index.set_index("frame_id")
    out = pd.DataFrame(
        {
            "frame_id": np.concatenate([retrieved, others]),
            "rank": np.concatenate([rows["rank"].to_numpy(np.int64), np.zeros(len(others), np.int64)]),
            "score": np.concatenate([rows["score"].to_numpy(np.float64), np.full(len(others), np.nan)]),
        }
    )
    out["shot_id"] = index.loc[out["frame_id"], "shot_id"].to_numpy()
    out["split"] = index.loc[out["frame_id"], "split"].to_numpy()
    out["label"] = [
        f"#{f} {shot} (rank {r}, score {s:.3f})" if r else f"#{f} {shot} ({split}, not retrieved)"
        for f, shot, r, s, split in zip(out["frame_id"], out["shot_id"], out["rank"], out["score"], out["split"])
    ]
    return out


def _check_ref_ids(ref_ids: Sequence[int], store: FrameStore, pool_ids: np.ndarray, pool: str, max_refs: int) -> None:
    if len(ref_ids) == 0:
        raise DataError("no reference chosen: give at least one frame id (see explorer.candidates)")
    if len(ref_ids) > max_refs:
        raise DataError(f"{len(ref_ids)} references chosen; the colorizer takes at most {max_refs}")
    for f in ref_ids:
        if not 0 <= int(f) < len(store):
            raise DataError(
                f"reference frame {int(f)} is not in the frame store '{store.folder}' "
                f"(it holds ids 0..{len(store) - 1}); pick one of explorer.candidates(...)"
            )
        if int(f) not in pool_ids:
            split = store.index.loc[int(f), "split"]
            raise DataError(
                f"reference frame {int(f)} ({split} split) is not in the '{pool}' pool; pick one of "
                "explorer.candidates(...) for this pool"
            )


def scene_view(
    video: EvalVideo,
    scene_id: int,
    pool: str,
    ref_ids: Sequence[int] | None,
    *,
    refs: ReferenceTable,
    store: FrameStore,
    method: ColorizerMethod,
    n_refs: int = 5,
) -> SceneView:
    """Colorize one scene of ``video`` with the given references and score it, as notebook 05's evaluation does.

    Args:
        video: a test video of :func:`scenecolor.evaluate.protocol.load_eval_videos`.
        scene_id: the scene's index in scenes.json (one of ``video.scene_ids``).
        pool: the reference pool the ids come from (``in_domain`` or ``open``).
        ref_ids: frame-store ids of the references, in order (the first drives the flow candidates); None: the
            scene's top ``n_refs`` retrievals of ``pool``.
        refs, store: notebook 03's references and the frame store.
        method: our colorizer as the evaluation runs it (its ``verify`` setting decides kept and dropped; without
            one every reference is kept and the match scores are still shown). It is not modified.
        n_refs: how many retrievals ``ref_ids=None`` takes.
    Returns the :class:`SceneView`. Raises DataError naming the fix for an unknown scene or pool, an empty list, a
    frame id the store does not hold or one outside the pool.
    """
    if scene_id not in video.scene_ids:
        raise DataError(f"'{video.video_id}' has no evaluated scene {scene_id}; its scenes are {list(video.scene_ids)}")
    pool_ids = _pool_ids(store, refs, pool)
    if ref_ids is None:
        ref_ids = refs.ids(pool, video.video_id, scene_id, n_refs)
    ids = [int(f) for f in ref_ids]
    _check_ref_ids(ids, store, pool_ids, pool, getattr(method.backend, "max_refs", 5))
    s, e = video.scenes[video.scene_ids.index(scene_id)]
    lab = video.lab[s:e]
    refs_rgb = store.uint8(ids)
    refs_lab = store.lab(ids)
    shown = np.asarray(scene_query_frames({"start": 0, "end": e - s}), dtype=np.int64)

    ours = replace(method, last_verdict=None, last_details=None)
    start = time.perf_counter()
    ab = ours(lab[..., 0], refs_lab)
    seconds = time.perf_counter() - start
    verdict = ours.last_verdict
    if verdict is None:  # verification off: score the references anyway, keep them all
        verdict = verify_references(lab[shown, ..., 0], refs_lab, VerifyConfig(threshold=0.0))

    rgb = lab_to_rgb8(np.concatenate([lab[..., :1], ab], axis=-1))
    grey = lab_to_rgb8(np.concatenate([lab[..., :1], np.zeros_like(lab[..., 1:])], axis=-1))
    truth = video.frames[s:e]
    retrieved = _scene_rows(refs, pool, video.video_id, scene_id).drop_duplicates("ref_frame_id")
    by_id = retrieved.set_index("ref_frame_id")
    shots = store.index["shot_id"]
    references = tuple(
        ReferenceInView(
            frame_id=f,
            rgb=refs_rgb[k],
            shot_id=str(shots.iloc[f]),
            rank=int(by_id.loc[f, "rank"]) if f in by_id.index else 0,
            retrieval_score=float(by_id.loc[f, "score"]) if f in by_id.index else math.nan,
            match=float(verdict.scores[k]),
            kept=bool(verdict.keep[k]),
        )
        for k, f in enumerate(ids)
    )
    return SceneView(
        video_id=video.video_id,
        scene_id=int(scene_id),
        pool=pool,
        frames=(int(s), int(e)),
        shown=shown,
        grey=grey[shown],
        colorized=rgb[shown],
        truth=truth[shown],
        references=references,
        fallback="" if verdict.any_kept or ours.verify is None else ours.verify.fallback,
        psnr=metrics.finite_mean(metrics.psnr(truth, rgb)),
        ssim=metrics.finite_mean(metrics.ssim(truth, rgb)),
        psnr_grey=metrics.finite_mean(metrics.psnr(truth, grey)),
        seconds=seconds,
        display_aspect=video.display_aspect,
    )


def _reference_title(i: int, r: ReferenceInView, width: int = 18) -> str:
    why = f"rank {r.rank}, score {r.retrieval_score:.3f}" if r.rank else "not retrieved"
    shot = r.shot_id if len(r.shot_id) <= width else r.shot_id[: width - 1] + "…"
    return f"ref {i}: #{r.frame_id}\n{shot}\n{why}\nmatch {r.match:.2f}: {'kept' if r.kept else 'DROPPED'}"


def plot_view(view: SceneView, width_in: float = 9.5) -> plt.Figure:
    """Draw a view: top row the grey keyframe and each reference (retrieval score, match, kept or dropped: a
    dropped one is framed red, a kept one green); under it the colorized frames, and under each the truth's.

    ``width_in`` inches wide (about 1000 px at the notebook's 110 dpi); text at >= 9 pt; the test frames at their
    video's aspect ratio, the references square (as stored).
    """
    n_ref, n_shown = len(view.references), len(view.shown)
    top_cols = 1 + n_ref
    frame_h = min(width_in / n_shown / view.display_aspect, 1.6)  # inches; a square video's frames stay small
    top_h = width_in / top_cols
    fig = plt.figure(figsize=(width_in, top_h + 2 * frame_h + 1.9))
    grid = fig.add_gridspec(3, top_cols * n_shown, height_ratios=[top_h + 0.7, frame_h, frame_h])
    aspect = 1.0 / view.display_aspect  # imshow's height / width of a pixel: the test frames at their own aspect

    def panel(row: int, col: int, span: int, img: np.ndarray, title: str, img_aspect: float = aspect) -> plt.Axes:
        ax = fig.add_subplot(grid[row, col * span : (col + 1) * span])
        ax.imshow(img, aspect=img_aspect)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=FONT)
        return ax

    key = view.key
    panel(0, 0, n_shown, view.grey[key], f"grey keyframe\n(scene frame {int(view.shown[key])})")
    for i, r in enumerate(view.references, start=1):
        ax = panel(0, i, n_shown, r.rgb, _reference_title(i, r), img_aspect=1.0)
        ax.title.set_color("black" if r.kept else "firebrick")
        for spine in ax.spines.values():
            spine.set_edgecolor("seagreen" if r.kept else "firebrick")
            spine.set_linewidth(3)
    for row, (name, frames) in enumerate([("colorized", view.colorized), ("truth", view.truth)], start=1):
        for j, frame in enumerate(frames):
            panel(row, j, top_cols, frame, f"{name}, scene frame {int(view.shown[j])}")
    what = (
        f"no reference passed verification: {view.fallback} fallback"
        if view.fallback
        else f"{sum(r.kept for r in view.references)} of {n_ref} references kept"
    )
    fig.suptitle(
        f"{view.video_id}, scene {view.scene_id} ({view.pool} pool): PSNR {view.psnr:.2f} dB "
        f"(grey input {view.psnr_grey:.2f} dB), SSIM {view.ssim:.3f}; {what}",
        fontsize=FONT + 1,
    )
    fig.tight_layout()
    return fig


def _png(view: SceneView) -> bytes:
    fig = plot_view(view)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _scores_html(view: SceneView) -> str:
    table = view.table().to_html(index=False, float_format=lambda x: f"{x:.3f}", na_rep="-")
    return f"<p>{html.escape(view.summary())}</p>{table}"


class ReferenceExplorer(widgets.VBox):
    """The interactive explorer: pick a scene and a pool, swap references slot by slot, colorize again.

    Changing the scene or the pool fills the slots with that scene's top retrievals and colorizes; the
    *Colorize* button colorizes with the slots as they are (a slot set to "(none)" is left out). The figure
    and the score table of the last view are in ``image`` and ``scores``; ``view`` is the last
    :class:`SceneView`. Usable in JupyterLab; an executed notebook keeps only the text of
    :meth:`_repr_mimebundle_`.
    """

    def __init__(
        self,
        videos: Sequence[EvalVideo],
        refs: ReferenceTable,
        store: FrameStore,
        method: ColorizerMethod,
        pools: Sequence[str],
        n_refs: int = 5,
        n_others: int = 12,
        initial: SceneView | None = None,
    ) -> None:
        if not videos or not pools:
            raise DataError("the explorer needs at least one test video and one reference pool")
        self._videos = {v.video_id: v for v in videos}
        self._refs, self._store, self._method = refs, store, method
        self._n_refs, self._n_others = n_refs, n_others
        scene_options = [
            (f"{v.video_id}, scene {sid} ({e - s} frames)", (v.video_id, sid))
            for v in videos
            for sid, (s, e) in zip(v.scene_ids, v.scenes)
        ]
        layout = widgets.Layout(width="auto")
        self.scene = widgets.Dropdown(options=scene_options, description="scene", layout=layout)
        self.pool = widgets.Dropdown(options=list(pools), description="pool")
        self.slots = [
            widgets.Dropdown(description=f"ref {i + 1}", layout=widgets.Layout(width="32em")) for i in range(n_refs)
        ]
        self.button = widgets.Button(description="Colorize", button_style="primary", icon="paint-brush")
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="1000px"))
        self.scores = widgets.HTML()
        self.view: SceneView | None = None
        super().__init__(
            [
                widgets.HBox([self.scene, self.pool]),
                widgets.VBox(self.slots),
                self.button,
                self.image,
                self.scores,
            ]
        )
        if initial is not None:
            self.scene.value = (initial.video_id, initial.scene_id)
            self.pool.value = initial.pool
        self._fill_slots([r.frame_id for r in initial.references] if initial is not None else None)
        if initial is not None:
            self._show(initial)
        else:
            self._refresh()
        self.scene.observe(self._on_scene, names="value")
        self.pool.observe(self._on_scene, names="value")
        self.button.on_click(lambda _: self._refresh())

    def _fill_slots(self, chosen: Sequence[int] | None = None) -> None:
        """Every slot's options: the candidates of the current scene and pool; values: ``chosen`` or the top R."""
        video_id, scene_id = self.scene.value
        cands = candidates(self._refs, self._store, video_id, scene_id, self.pool.value, self._n_others)
        options = [("(none)", NONE), *zip(cands["label"], cands["frame_id"].astype(int))]
        top = list(chosen) if chosen is not None else cands.loc[cands["rank"] > 0, "frame_id"].astype(int).tolist()
        for i, slot in enumerate(self.slots):
            slot.options = options
            slot.value = top[i] if i < len(top) else NONE

    def _colorize(self) -> SceneView:
        video_id, scene_id = self.scene.value
        ids = [s.value for s in self.slots if s.value != NONE]
        return scene_view(
            self._videos[video_id],
            scene_id,
            self.pool.value,
            ids,
            refs=self._refs,
            store=self._store,
            method=self._method,
            n_refs=self._n_refs,
        )

    def _show(self, view: SceneView) -> None:
        self.view = view
        self.image.value = _png(view)
        self.scores.value = _scores_html(view)

    def _refresh(self) -> None:
        """Colorize with the slots as they are; a choice the view refuses (no slot filled) is said in red where
        the scores go, since an error raised in a widget callback never reaches the notebook."""
        try:
            view = self._colorize()
        except DataError as exc:
            self.scores.value = f"<p style='color:firebrick'>{html.escape(str(exc))}</p>"
            return
        self._show(view)

    def _on_scene(self, _change: object) -> None:
        self._fill_slots()
        self._refresh()

    def _repr_mimebundle_(self, **kwargs: object) -> dict:
        """The widget for a live front-end; for an executed notebook's text, what to do instead of a widget repr."""
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = (
            "Reference explorer: open this notebook in JupyterLab and run it to pick a scene, swap references and "
            "colorize again (the figure above is its first view)."
        )
        return bundle
