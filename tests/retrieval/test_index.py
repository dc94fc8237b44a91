"""Feature store, pools, faiss indexes, retrieval metrics and reference selection."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from helpers.embedder import build_store
from scenecolor.core.errors import DataError, ParameterError
from scenecolor.core.video import write_video
from scenecolor.data.frames import Preprocess, preprocess_frame
from scenecolor.embed.model import Embedder, EmbedderConfig
from scenecolor.retrieval import index as R
from scenecolor.retrieval import metrics as M
from scenecolor.retrieval import references as RR
from scenecolor.scenes.io import load_scenes


def _unit(n, d, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("store") / "frames", size=32)


# -- indexes ---------------------------------------------------------------------------------------
def test_flat_index_matches_bruteforce_numpy():
    x, q = _unit(500, 16, 0), _unit(20, 16, 1)
    scores, ids = R.build_index(x, kind="auto").search(q, 5)
    sims = q @ x.T
    expected = np.argsort(-sims, axis=1)[:, :5]
    assert np.array_equal(ids, expected)
    assert np.allclose(scores, np.take_along_axis(sims, expected, axis=1), atol=1e-5)


def test_auto_picks_exact_then_ivfpq_and_its_recall_is_measured():
    x = _unit(4000, 16, 2)
    assert R.build_index(x, kind="auto", exact_max=5000).kind == "flat"
    approx = R.build_index(x, kind="auto", exact_max=1000)
    assert approx.kind == "ivfpq"
    q = x[:200] + 0.01 * _unit(200, 16, 3)
    _, exact = R.exact_search(x, q, 1)
    _, found = approx.search(q, 1)
    assert R.recall_at_1(found, exact) >= 0.9
    assert R.approximate_recall(x, q, kind="hnsw") >= 0.9


def test_index_bad_inputs():
    with pytest.raises(DataError, match="pool is empty"):
        R.build_index(np.zeros((0, 8), np.float32))
    with pytest.raises(DataError, match="NaN"):
        R.build_index(np.full((3, 4), np.nan, np.float32))
    with pytest.raises(ParameterError, match="IVF-PQ index needs"):
        R.build_index(_unit(50, 8), kind="ivfpq")
    with pytest.raises(ParameterError, match="index kind"):
        R.build_index(_unit(50, 8), kind="lsh")
    with pytest.raises(ParameterError, match="k must be"):
        R.build_index(_unit(5, 8)).search(_unit(1, 8), 0)


def test_search_beyond_pool_size_pads_with_minus_one():
    _, ids = R.build_index(_unit(3, 8)).search(_unit(2, 8, 1), 5)
    assert (ids[:, 3:] == -1).all() and set(ids[0, :3]) == {0, 1, 2}


# -- feature store and pools --------------------------------------------------------------------------
def test_pool_frame_ids_one_in_step_per_video(store):
    ids = R.pool_frame_ids(store, splits=("train",), step=5)
    train = store.index[store.index["split"] == "train"]
    assert set(store.index.loc[ids, "split"]) == {"train"}
    for _, grp in train.groupby("video_id"):
        assert list(np.intersect1d(ids, grp["frame_id"])) == list(grp["frame_id"].to_numpy()[::5])
    with pytest.raises(ParameterError, match="pool_step"):
        R.pool_frame_ids(store, step=0)


def test_feature_store_roundtrip(store, tmp_path):
    torch.manual_seed(0)
    enc = R.model_encoder(Embedder(EmbedderConfig("resnet18")), 32)
    ids = R.pool_frame_ids(store, step=2)
    fs = R.build_feature_store(store, ids, enc, batch_size=5, progress=False)
    assert fs.features.shape == (len(ids), 512) and np.allclose(np.linalg.norm(fs.features, axis=1), 1, atol=1e-5)
    assert list(fs.meta["frame_id"]) == list(ids)
    assert np.allclose(
        fs.features, R.build_feature_store(store, ids, enc, batch_size=64, progress=False).features, atol=1e-5
    )
    back = R.FeatureStore.open(fs.save(tmp_path / "features"))
    assert np.array_equal(back.features, fs.features) and back.meta.equals(fs.meta)


def test_empty_pool_and_missing_frame_are_refused(store, tmp_path):
    empty = build_store(tmp_path / "frames", splits={"val": 1, "test": 1}, size=32)
    with pytest.raises(DataError, match="reference pool is empty"):
        R.pool_frame_ids(empty, splits=("train",))
    with pytest.raises(DataError, match="empty"):
        R.build_feature_store(store, [], R.color_histogram)
    with pytest.raises(DataError, match=f"frame id {len(store) + 3} is missing from the frame store"):
        R.build_feature_store(store, [0, len(store) + 3], R.color_histogram)


def test_feature_store_missing_files(tmp_path):
    with pytest.raises(DataError, match="lacks 'features.npy'"):
        R.FeatureStore.open(tmp_path)
    with pytest.raises(DataError, match="must match"):
        R.FeatureStore(np.zeros((3, 4), np.float32), pd.DataFrame({"frame_id": [0, 1]}))


def test_color_histogram_descriptor():
    red = np.zeros((1, 8, 8, 3), np.uint8)
    red[..., 0] = 250
    blue = np.zeros((1, 8, 8, 3), np.uint8)
    blue[..., 2] = 250
    h = R.color_histogram(np.concatenate([red, red, blue]), bins=4)
    assert h.shape == (3, 64) and np.allclose(np.linalg.norm(h, axis=1), 1)
    assert h[0] @ h[1] == pytest.approx(1.0) and h[0] @ h[2] == pytest.approx(0.0)
    with pytest.raises(DataError, match="uint8 RGB"):
        R.color_histogram(np.zeros((1, 8, 8, 3), np.float32))


# -- metrics -------------------------------------------------------------------------------------------
def test_retrieval_metrics_on_a_known_ranking():
    # 1-D "embeddings" on a circle: a and a' close, b and b' close
    ang = np.array([0.0, 0.1, 1.5, 1.6, 0.05])
    x = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    labels = np.array(["a", "a", "b", "b", "c"])
    rel, n_rel = M.ranked_relevance(x, labels, x, labels, np.arange(5), np.arange(5))
    scores = M.retrieval_scores(rel, n_rel, ks=(1, 2))
    # query 0: ranking 4(c),1(a) -> AP 1/2; query 1: 4(c),0(a) -> 1/2; queries 2, 3: AP 1; query 4 has no relevant item
    assert scores["queries"] == 4 and scores["no_relevant"] == 1
    assert scores["P@1"] == pytest.approx(0.5)
    assert scores["R@2"] == pytest.approx(1.0)
    assert scores["mAP"] == pytest.approx(0.75)
    assert not rel[np.arange(5), -1].any()  # the query itself ranks last and never counts


def test_compare_descriptors_rows_and_errors(store):
    meta = store.index
    held = (meta["split"] == "test").to_numpy()
    perfect = np.eye(meta["shot_id"].nunique())[pd.factorize(meta["shot_id"])[0]].astype(np.float32)
    table = M.compare_descriptors({"oracle": perfect}, meta, held, np.ones(len(meta), bool), protocol="p")
    assert set(table["relevant if same"]) == {"shot", "video"}
    assert table.loc[table["relevant if same"] == "shot", "mAP"].item() == pytest.approx(1.0)
    with pytest.raises(DataError, match="at least 2 gallery"):
        M.ranked_relevance(perfect[:1], ["a"], perfect[:1], ["a"])


def test_compare_on_splits_scores_each_held_out_split_and_their_union(store):
    meta = store.index
    perfect = np.eye(meta["shot_id"].nunique())[pd.factorize(meta["shot_id"])[0]].astype(np.float32)
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((len(meta), 8)).astype(np.float32)
    table = M.compare_on_splits({"oracle": perfect, "noise": noise}, meta, ["test", "val"])
    assert list(dict.fromkeys(table["queries"])) == ["test", "val", "test + val"]
    assert np.allclose(table.loc[table["descriptor"] == "oracle", "mAP"], 1.0)
    rows = table.set_index(["queries", "descriptor"])
    n_test, n_val = ((meta["split"] == s).sum() for s in ("test", "val"))
    assert rows.loc[("test + val", "noise"), "frames"] == n_test + n_val
    # the union's mAP is the frame-weighted mean of the two splits' (each query's AP counts once)
    both = (n_test * rows.loc[("test", "noise"), "mAP"] + n_val * rows.loc[("val", "noise"), "mAP"]) / (n_test + n_val)
    assert rows.loc[("test + val", "noise"), "mAP"] == pytest.approx(both)
    assert rows.loc[("test", "noise"), "shots"] == meta.loc[meta["split"] == "test", "shot_id"].nunique()
    wide = M.splits_side_by_side(table)
    assert list(wide.index) == ["oracle", "noise"]
    assert list(wide.columns) == [(m, q) for m in ("P@1", "mAP") for q in ("test", "val", "test + val")]
    assert wide.loc["noise", ("mAP", "val")] == rows.loc[("val", "noise"), "mAP"]
    with pytest.raises(DataError, match="no stored frame in split"):
        M.compare_on_splits({"oracle": perfect}, meta, ["test", "holdout"])
    with pytest.raises(DataError, match="'split' column"):
        M.compare_on_splits({"oracle": perfect}, meta.drop(columns="split"), ["test"])


def test_margin_over_baselines_names_the_best_and_checks_both_metrics():
    rows = pd.DataFrame(
        {"P@1": [0.95, 0.95, 0.97], "mAP": [0.90, 0.85, 0.80]},
        index=["trained embedder", "untrained network", "HOG on L"],
    )
    m = M.margin_over_baselines(rows)
    assert m.best == "untrained network" and m.margin == pytest.approx(0.05)
    assert (m.p1, m.best_p1) == (0.95, 0.97) and not m.p1_ok and not m.met(0.03)
    rows.loc["HOG on L", "P@1"] = 0.95  # a tie on P@1 is no lower
    assert M.margin_over_baselines(rows).met(0.03) and not M.margin_over_baselines(rows).met(0.06)


def _two_shot_meta(split: str = "test") -> pd.DataFrame:
    return pd.DataFrame(
        {"frame_id": np.arange(6), "shot_id": ["a", "a", "a", "b", "b", "b"], "split": [split] * 3 + ["train"] * 3}
    )


def test_choose_on_split_keeps_the_best_map_on_that_split_only(store):
    meta = store.index
    perfect = np.eye(meta["shot_id"].nunique())[pd.factorize(meta["shot_id"])[0]].astype(np.float32)
    noise = np.random.default_rng(1).standard_normal(perfect.shape).astype(np.float32)
    val_only = np.where((meta["split"] == "val").to_numpy()[:, None], perfect, noise)  # perfect on val's shots only
    best, table = M.choose_on_split({"noise": noise, "perfect on val": val_only}, meta, "val")
    assert best == "perfect on val" and list(table.columns) == ["P@1", "mAP"]
    assert table.loc["perfect on val", "mAP"] > table.loc["noise", "mAP"]
    with pytest.raises(DataError, match="no candidate"):
        M.choose_on_split({}, meta, "val")
    with pytest.raises(DataError, match="no stored frame in split"):
        M.choose_on_split({"noise": noise}, meta, "holdout")


def test_reference_params_refuse_a_hog_grid_without_a_valid_setting():
    from scenecolor.workbook.params import ReferenceSelectionParams

    assert ReferenceSelectionParams(hog_tune_sizes=[32], hog_tune_cells=[16]).hog_tune_cells == [16]
    with pytest.raises(ValueError, match="no HOG setting to tune"):
        ReferenceSelectionParams(hog_tune_sizes=[16], hog_tune_cells=[16])
    with pytest.raises(ValueError, match="hog_tune_cells must be >= 2"):
        ReferenceSelectionParams(hog_tune_sizes=[32], hog_tune_cells=[1, 8])


def test_top1_other_shot_flags_queries_nearer_another_shot():
    meta = _two_shot_meta()
    # frame 2 of shot a is a copy of frame 3 of shot b; the other frames sit with their own shot
    feats = np.array([[1, 0], [0.99, 0.14], [0, 1], [0, 1], [0.1, 0.99], [0.2, 0.98]], np.float32)
    held = (meta["split"] == "test").to_numpy()
    flags = M.top1_other_shot(feats, meta, held)
    assert flags.tolist() == [False, False, True, False, False, False]  # rows that are not queries: False
    # frame 3 (shot b) is nearest its copy in shot a; b's other frames are nearest b's
    assert M.top1_other_shot(feats, meta, ~held).tolist() == [False, False, False, True, False, False]


def test_p1_misses_splits_misses_between_ambiguous_queries_and_the_rest():
    meta = pd.DataFrame(
        {
            "frame_id": np.arange(8),
            "shot_id": ["a", "a", "b", "b", "c", "c", "d", "d"],
            "split": ["test", "test", "val", "val", "train", "train", "train", "train"],
        }
    )
    perfect = np.eye(4, dtype=np.float32)[[0, 0, 1, 1, 2, 2, 3, 3]]
    wrong_a = perfect.copy()
    wrong_a[0] = perfect[4]  # query 0 (shot a) now matches shot c best
    wrong_b = perfect.copy()
    wrong_b[2] = perfect[6]  # query 2 (shot b) now matches shot d best
    ambiguous = np.array([True, False, False, False, False, False, False, False])
    table = M.p1_misses(
        {"ok": perfect, "miss a": wrong_a, "miss b": (wrong_b, perfect)}, meta, ["test", "val"], ambiguous
    )
    rows = table.set_index(["queries", "descriptor"])
    assert list(dict.fromkeys(table["queries"])) == ["test", "val", "test + val"]
    assert rows.loc[("test + val", "ok"), ["P@1 misses", "on ambiguous", "elsewhere"]].tolist() == [0, 0, 0]
    assert rows.loc[("test", "miss a"), ["P@1 misses", "on ambiguous", "elsewhere"]].tolist() == [1, 1, 0]
    assert rows.loc[("val", "miss b"), ["P@1 misses", "on ambiguous", "elsewhere"]].tolist() == [1, 0, 1]
    assert rows.loc[("test + val", "miss b"), ["frames", "ambiguous"]].tolist() == [4, 1]
    with pytest.raises(DataError, match="do not match the 8 metadata rows"):
        M.p1_misses({"ok": perfect}, meta, ["test"], ambiguous[:5])
    with pytest.raises(DataError, match="no stored frame in split"):
        M.p1_misses({"ok": perfect}, meta, ["holdout"], ambiguous)


def test_colour_thumbnail_sees_colour_and_plot_shows_ambiguous_queries(store):
    from scenecolor.retrieval import descriptors as D
    from scenecolor.workbook.retrieval import figures as F

    img = np.zeros((2, 16, 16, 3), np.uint8)
    img[0, :, :8] = (200, 40, 40)
    img[1, :, :8] = (40, 40, 200)  # the same layout in another colour
    t = D.colour_thumbnail(img, size=8)
    assert t.shape == (2, 8 * 8 * 3) and np.allclose(np.linalg.norm(t, axis=1), 1, atol=1e-5)
    assert t[0] @ t[1] < 0.9
    with pytest.raises(DataError, match="uint8 RGB"):
        D.colour_thumbnail(img[..., 0])
    with pytest.raises(DataError, match="at least 2 px"):
        D.colour_thumbnail(img, size=1)
    thumbs = D.colour_thumbnail(store.uint8(store.index["frame_id"].to_numpy()), size=8)
    flags = np.zeros(len(store), bool)
    flags[[0, 5]] = True
    fig = F.plot_ambiguous_queries(store, thumbs, flags)
    assert len(fig.axes) == 6 and "nearest of another shot" in fig.axes[1].get_title()
    assert store.index["shot_id"].iloc[0] in fig.axes[2].get_title()  # third column: its own shot
    none = F.plot_ambiguous_queries(store, thumbs, np.zeros(len(store), bool))
    assert "no held-out frame" in none.axes[0].texts[0].get_text()


# -- reference selection --------------------------------------------------------------------------------
def test_select_references_never_returns_the_query_frame(store):
    feats = R.build_feature_store(store, np.arange(len(store)), R.color_histogram, progress=False)
    pools = RR.reference_pools(store, 1)
    masks = RR.pool_masks(feats, pools)
    queries = RR.shot_queries(store)
    refs = RR.select_references(queries, feats.features[queries["query_frame_id"]], feats, masks, 3, query_kind="shot")
    assert list(refs.columns) == list(RR.REFERENCE_COLUMNS)
    assert (refs["ref_frame_id"] != refs["query_frame_id"]).all()
    assert refs.groupby(["shot_id", "pool"]).size().eq(3).all()
    open_refs = refs[refs["pool"] == "open"]
    assert set(store.index.loc[open_refs["ref_frame_id"], "split"]) == {"train"}
    in_dom = refs[(refs["pool"] == "in_domain") & (refs["rank"] == 1)]
    assert (store.index.loc[in_dom["ref_frame_id"], "shot_id"].to_numpy() == in_dom["shot_id"].to_numpy()).mean() > 0.8
    assert (refs.groupby(["shot_id", "pool"])["score"].apply(lambda s: s.is_monotonic_decreasing)).all()


def test_scene_queries_decode_keyframes_and_find_store_frames(store, tmp_path):
    """A 'real' test video whose frames are the store's own: keyframes map back to their store ids."""
    shot_rows, frames = [], []
    for shot in ["v0_s0", "v0_s1"]:
        ids = store.ids(shot_id=shot)
        shot_rows.append(
            {
                "shot_id": shot,
                "start": len(frames),
                "end": len(frames) + len(ids),
                "source_start": int(store.index.loc[ids[0], "source_frame"]),
            }
        )
        frames.extend(store.uint8(ids))
    write_video(tmp_path / "test_videos" / "v.mp4", np.stack(frames), fps=10, crf=0)
    (tmp_path / "test_videos.json").write_text(
        json.dumps(
            {
                "videos": [
                    {
                        "video_id": "v",
                        "path": "test_videos/v.mp4",
                        "n_frames": len(frames),
                        "fps": 10,
                        "real": True,
                        "cuts": [6],
                        "shots": shot_rows,
                    }
                ]
            }
        )
    )
    scenes = {
        "v": {
            "cuts": [6],
            "n_frames": 12,
            "fps": 10,
            "scenes": [{"start": 0, "end": 6, "keyframe": 2}, {"start": 6, "end": 12, "keyframe": 9}],
        }
    }
    (tmp_path / "scenes.json").write_text(json.dumps(scenes))
    table, qframes = RR.scene_queries(
        load_scenes(tmp_path / "scenes.json"), tmp_path, store, Preprocess(size=32, mean_filter=1)
    )
    assert list(table["shot_id"]) == ["v0_s0", "v0_s1"] and list(table["scene"]) == [0, 1]
    assert list(table["query_frame_id"]) == [2, 9]  # frames 2 and 9 of the video are store frames 2 and 9
    assert qframes.shape == (2, 32, 32, 3)
    assert np.abs(qframes.astype(int) - store.uint8([2, 9]).astype(int)).mean() < 6


def test_query_frames_of_a_rotated_test_video_come_upright(tmp_path):
    """A phone clip's query frames are turned as ``scenecolor colorize`` turns its own (display rotation applied)."""
    from helpers.media import make_clip
    from scenecolor.core.video import iter_frames

    (tmp_path / "test_videos").mkdir()
    clip = make_clip(tmp_path / "test_videos" / "phone.mp4", n=12, size=(64, 48), rotation=90)
    video = {
        "video_id": "p",
        "path": "test_videos/phone.mp4",
        "n_frames": 12,
        "fps": 25,
        "real": True,
        "cuts": [],
        "shots": [],
    }
    (tmp_path / "test_videos.json").write_text(json.dumps({"videos": [video]}))
    coded = list(iter_frames(clip))
    prep = Preprocess(size=32, mean_filter=1)
    [[a, b]] = RR.frames_of_videos(tmp_path, [("p", 0, [3, 8])], prep)
    upright = [preprocess_frame(np.ascontiguousarray(np.rot90(coded[n])), prep) for n in (3, 8)]
    assert np.array_equal(a, upright[0]) and np.array_equal(b, upright[1])
    assert not np.array_equal(a, preprocess_frame(coded[3], prep))  # the coded orientation would differ


def test_bad_scene_lists(store, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_scenes(tmp_path / "scenes.json")
    (tmp_path / "scenes.json").write_text(json.dumps({"v": {"scenes": [{"start": 0, "end": 3}]}}))
    with pytest.raises(DataError, match="no scenes with keyframes"):
        load_scenes(tmp_path / "scenes.json")
    (tmp_path / "test_videos.json").write_text(json.dumps({"videos": []}))
    with pytest.raises(DataError, match="that test_videos.json does not"):
        RR.scene_queries({"ghost": {"scenes": [{"keyframe": 0}]}}, tmp_path, store, Preprocess(size=32))


def test_write_references_is_atomic_and_complete(store, tmp_path):
    path = tmp_path / "references.csv"
    path.write_text("old")
    with pytest.raises(KeyError):
        RR.write_references(path, [pd.DataFrame({"query_kind": ["scene"]})])
    assert path.read_text() == "old"
    row = {**{c: [0] for c in RR.REFERENCE_COLUMNS}, "retriever": ["embedder"]}
    RR.write_references(path, [pd.DataFrame(row)])
    assert list(pd.read_csv(path).columns) == list(RR.REFERENCE_COLUMNS)


def test_montage_keyframes_map_to_clip_frames():
    """A montage segment starts at clip frame source_start; the clip's frame k was stored as shots.csv
    source_start + k."""
    shots = pd.DataFrame({"shot_id": ["real_s2", "photo_c0"], "source_start": [76, 0]}).set_index("shot_id")
    lookup = {("real_s2", 76 + 22 + 8): 11, ("photo_c0", 5): 3}
    video = {
        "real": False,
        "shots": [
            {"shot_id": "photo_c0", "start": 0, "end": 31, "source_start": 0},
            {"shot_id": "real_s2", "start": 25, "end": 60, "source_start": 22},
        ],
    }
    assert RR._store_frame_of(video, 33, shots, lookup) == ("real_s2", 11)  # 22 + (33 - 25) = clip frame 30
    assert RR._store_frame_of(video, 5, shots, lookup) == ("photo_c0", 3)
    assert RR._store_frame_of(video, 27, shots, lookup) == ("photo_c0", -1)  # dissolve: first half -> outgoing shot
    assert RR._store_frame_of(video, 29, shots, lookup)[0] == "real_s2"  # second half -> incoming shot
    assert RR._store_frame_of(video, 70, shots, lookup) == ("", -1)
    real = {"real": True, "shots": [{"shot_id": "real_s2", "start": 76, "end": 137, "source_start": 76}]}
    assert RR._store_frame_of(real, 106, shots, {("real_s2", 106): 12}) == ("real_s2", 12)


def test_scene_query_vector_ranks_by_mean_cosine_over_the_scenes_frames() -> None:
    """A scene's query is the mean of its frames' unit vectors: its inner product with a reference is the mean
    cosine, so the ranking is the one `scenecolor colorize` computes from the same frames."""
    from scenecolor.retrieval.references import mean_query_vectors, scene_query_rows

    rng = np.random.default_rng(0)
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    table = unit(rng.normal(size=(40, 8))).astype(np.float32)

    def encode(frames: np.ndarray) -> np.ndarray:  # frame value v -> row v of the table
        return table[frames[:, 0, 0, 0].astype(int)]

    groups = [[np.full((4, 4, 3), v, np.uint8) for v in (1, 5, 9)], [np.full((4, 4, 3), 30, np.uint8)]]
    q = mean_query_vectors(groups, encode)
    refs = unit(rng.normal(size=(6, 8)))
    assert np.allclose(q[0] @ refs.T, (table[[1, 5, 9]] @ refs.T).mean(axis=0), atol=1e-6)
    assert np.allclose(q[1], table[30])
    with pytest.raises(DataError, match="at least one query frame"):
        mean_query_vectors([[]], encode)
    scenes = {"v": {"scenes": [{"start": 0, "end": 30}, {"start": 30, "end": 31}]}}
    assert scene_query_rows(scenes, 3) == [("v", 0, [5, 15, 25]), ("v", 1, [30])]
