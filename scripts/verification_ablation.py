"""What reference verification does to ours, scene by scene, on a finished run's test scenes.

For every test scene of the evaluation step (test shots only; the profile's frame selection, by default
the sample profile's) and each pool, its top R retrieved references are scored by
``colorize.verify.reference_scores``; each rule decides which references ours keeps (in retrieval order, or
best match first), the scene is colorized with them by ``colorize.exemplar.colorize_scene`` (grey when none
is kept, the grey fallback) and scored per frame as the evaluation step scores it. Rules:

    T            keep references scoring >= T (T 0: every reference, verification off)
    T/score      the same, best match first (the first reference drives the flow candidates)
    T:K          keep >= T, and once the scene's best reaches T also those >= K x the best

Writes <out>.refs.csv (every reference: rank, right_shot, retrieval score, match), <out>.scenes.csv (rule x
scene: kept ranks, PSNR) and prints the frame-mean PSNR of every rule and pool.

    PYTHONPATH=lib python scripts/verification_ablation.py --run reports/RUN --rules 0 0.15 0.15:0.5 --pools in_domain
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from scenecolor.colorize.backend import TorchColorizer
from scenecolor.colorize.exemplar import colorize_scene
from scenecolor.colorize.model import load_colorizer
from scenecolor.colorize.verify import reference_scores
from scenecolor.core.color8 import lab_to_rgb8
from scenecolor.data.frames import FrameStore
from scenecolor.evaluate import metrics, protocol
from scenecolor.retrieval.references import scene_query_frames


def kept(scores: np.ndarray, rule: str) -> list[int]:
    """Indices of the references a rule keeps, in the order ours receives them."""
    text, by_score = (rule[: -len("/score")], True) if rule.endswith("/score") else (rule, False)
    threshold, _, ratio = text.partition(":")
    t = float(threshold)
    best = float(scores.max())
    r = float(ratio) if ratio else 2.0
    keep = [k for k, s in enumerate(scores) if s >= t or (best >= t and s >= r * best)]
    return sorted(keep, key=lambda k: -scores[k]) if by_score else keep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="a finished run folder (steps 00-04)")
    ap.add_argument("--checkpoint", type=Path, help="colorizer.pt (default: the run's step 04)")
    ap.add_argument("--rules", nargs="+", default=["0", "0.15"])
    ap.add_argument("--pools", nargs="+", default=["in_domain", "open"])
    ap.add_argument("--refs", type=int, default=5, help="references per scene R")
    ap.add_argument("--frame-step", type=int, default=5, help="the profile's frame_step of the evaluation step")
    ap.add_argument("--max-videos", type=int, default=0, help="the profile's max_videos (0: all)")
    ap.add_argument("--max-frames", type=int, default=0, help="the profile's max_frames (0: all)")
    ap.add_argument("--out", type=Path, default=Path("verification_ablation"))
    args = ap.parse_args()

    art = args.run / "artifacts"
    data_dir = art / "00_data_prep"
    store = FrameStore.open(data_dir)
    videos = protocol.load_eval_videos(
        data_dir,
        art / "02_scene_analysis/scenes.json",
        store.preprocess,
        max_videos=args.max_videos,
        max_frames=args.max_frames,
        frame_step=args.frame_step,
    )
    refs = protocol.ReferenceTable.read(art / "03_reference_selection/references.csv")
    model, _ = load_colorizer(args.checkpoint or art / "04_colorizer_training/colorizer.pt", "cpu")
    backend = TorchColorizer(model)
    shot_of = store.index.set_index("frame_id")["shot_id"]
    table = refs.table

    ref_rows, scene_rows, psnr_cache = [], [], {}
    per_rule: dict[tuple[str, str], list[np.ndarray]] = {}
    for video in videos:
        for (s, e), sid in zip(video.scenes, video.scene_ids):
            L = video.lab[s:e, ..., 0]
            query = L[scene_query_frames({"start": 0, "end": e - s})]
            for pool in args.pools:
                ids = refs.ids(pool, video.video_id, sid, args.refs)
                sel = table[(table["pool"] == pool) & (table["video_id"] == video.video_id) & (table["scene"] == sid)]
                sel = sel.iloc[: args.refs]
                right = [bool(shot_of.loc[int(i)] == row.shot_id) for i, row in zip(ids, sel.itertuples())]
                scores = reference_scores(query, store.lab(ids))
                for k in range(len(ids)):
                    ref_rows.append(
                        {
                            "pool": pool,
                            "video_id": video.video_id,
                            "scene": sid,
                            "rank": k + 1,
                            "right_shot": right[k],
                            "score": float(sel["score"].iloc[k]),
                            "match": float(scores[k]),
                        }
                    )
                for rule in args.rules:
                    keep = kept(scores, rule)
                    key = (pool, video.video_id, sid, tuple(keep))
                    if key not in psnr_cache:
                        if keep:
                            ab = colorize_scene(backend, L, store.lab([ids[k] for k in keep]), clip_len=8).ab
                        else:
                            ab = np.zeros((*L.shape, 2), np.float32)
                        rgb = lab_to_rgb8(np.concatenate([video.lab[s:e, ..., :1], ab], -1))
                        psnr_cache[key] = metrics.per_frame_metrics(video.frames[s:e], rgb)["PSNR"]
                    per_rule.setdefault((rule, pool), []).append(psnr_cache[key])
                    scene_rows.append(
                        {
                            "rule": rule,
                            "pool": pool,
                            "video_id": video.video_id,
                            "scene": sid,
                            "frames": e - s,
                            "right_shot": "".join("R" if r else "." for r in right),
                            "match": " ".join(f"{x:.3f}" for x in scores),
                            "kept": " ".join(str(k + 1) for k in keep) or "none",
                            "PSNR": metrics.finite_mean(psnr_cache[key]),
                        }
                    )
    pd.DataFrame(ref_rows).to_csv(args.out.with_suffix(".refs.csv"), index=False)
    pd.DataFrame(scene_rows).to_csv(args.out.with_suffix(".scenes.csv"), index=False)
    for (rule, pool), parts in per_rule.items():
        p = np.concatenate(parts)
        print(f"rule {rule:>12}  pool {pool:>9}  frames {len(p)}  PSNR {metrics.finite_mean(p):.4f} dB")


if __name__ == "__main__":
    main()
