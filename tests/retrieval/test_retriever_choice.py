"""Two retrievers end to end: references.csv's ``retriever`` column (writer, reader, notebook 05's table of one
retriever), the tuned HOG as a retriever, and the comparison of the colour each retriever's references give."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pandas as pd
import pytest

from helpers.embedder import build_store
from scenecolor.core.errors import DataError
from scenecolor.evaluate.data import ReferenceTable
from scenecolor.evaluate.metrics import IMAGE_MEASURES
from scenecolor.retrieval import descriptors as D
from scenecolor.retrieval import index as R
from scenecolor.retrieval import references as RR
from scenecolor.workbook import prose
from scenecolor.workbook.evaluate import tables as T

OURS, GREY = "ours", "grey"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("store") / "frames", size=32)


def _hog_refs(store, retriever: str) -> pd.DataFrame:
    """Shot references of the whole store under a HOG at 32 px / 8 px cells, labelled ``retriever``."""
    encode = partial(D.hog_descriptor, size=32, cell=8)
    feats = R.build_feature_store(store, np.arange(len(store)), encode, progress=False)
    queries = RR.shot_queries(store)
    return RR.select_references(
        queries,
        encode(store.uint8(queries["query_frame_id"].to_numpy())),
        feats,
        RR.pool_masks(feats, RR.reference_pools(store, 1)),
        2,
        query_kind="shot",
        retriever=retriever,
    )


# -- references.csv: one file, both retrievers ----------------------------------------------------------
def test_select_references_labels_its_rows_with_the_retriever(store):
    refs = _hog_refs(store, "hog")
    assert list(refs.columns) == list(RR.REFERENCE_COLUMNS)
    assert set(refs["retriever"]) == {"hog"}
    assert (refs["ref_frame_id"] != refs["query_frame_id"]).all()
    with pytest.raises(DataError, match="unknown retriever 'sift'"):
        _hog_refs(store, "sift")


def test_reader_returns_one_retrievers_rows_and_the_embedders_by_default(store, tmp_path):
    emb = _hog_refs(store, "hog").assign(retriever="embedder", ref_frame_id=0)  # tell the two apart by their ids
    hog = _hog_refs(store, "hog")
    path = RR.write_references(tmp_path / "references.csv", [emb, hog])
    default = RR.read_references(path)
    assert set(default["retriever"]) == {"embedder"} and len(default) == len(emb)
    assert (default["ref_frame_id"] == 0).all()
    got = RR.read_references(path, "hog")
    assert got["ref_frame_id"].tolist() == hog["ref_frame_id"].tolist()
    assert len(RR.read_references(path, None)) == len(emb) + len(hog)
    with pytest.raises(DataError, match="unknown retriever 'colour'"):
        RR.read_references(path, "colour")


def test_a_table_without_the_retriever_column_is_the_embedders(store, tmp_path):
    old = _hog_refs(store, "hog").drop(columns="retriever")
    path = tmp_path / "references.csv"
    old.to_csv(path, index=False)  # as written before the column existed
    assert set(RR.read_references(path)["retriever"]) == {"embedder"}
    with pytest.raises(DataError, match="holds no reference retrieved by 'hog'; re-run the reference-selection step"):
        RR.read_references(path, "hog")
    RR.write_references(path, [old])  # the writer fills the column the same way
    assert pd.read_csv(path)["retriever"].unique().tolist() == ["embedder"]


def test_unknown_retrievers_are_refused_on_write_and_read(store, tmp_path):
    path = tmp_path / "references.csv"
    path.write_text("old")
    with pytest.raises(DataError, match="unknown retriever 'sift'"):
        RR.write_references(path, [_hog_refs(store, "hog").assign(retriever="sift")])
    assert path.read_text() == "old"  # nothing written
    _hog_refs(store, "hog").assign(retriever="sift").to_csv(path, index=False)
    with pytest.raises(DataError, match=r"unknown retrievers \['sift'\]"):
        RR.read_references(path, None)


def test_reference_summary_keeps_retrievers_apart(store):
    hog = _hog_refs(store, "hog")
    emb = hog.assign(retriever="embedder", ref_frame_id=hog["query_frame_id"] + 1)
    summary = RR.reference_summary(pd.concat([emb, hog]), store).set_index(["retriever", "pool"])
    assert set(summary.index.get_level_values("retriever")) == {"embedder", "hog"}
    assert (summary["queries"] == hog["shot_id"].nunique()).all()


def test_reference_table_reads_one_retriever(tmp_path):
    rows = [
        {"query_kind": "scene", "video_id": "v", "scene": 0, "shot_id": "s", "query_frame_id": -1, "pool": "open",
         "rank": rank, "ref_frame_id": ref, "score": 1.0 - rank / 10, "retriever": retriever}
        for retriever, refs in (("embedder", (3, 4)), ("hog", (7, 5)))
        for rank, ref in enumerate(refs, 1)
    ]  # fmt: skip
    path = RR.write_references(tmp_path / "references.csv", [pd.DataFrame(rows)])
    assert ReferenceTable.read(path).ids("open", "v", 0, 2).tolist() == [3, 4]
    hog = ReferenceTable.read(path, retriever="hog")
    assert hog.ids("open", "v", 0, 2).tolist() == [7, 5]
    with pytest.raises(DataError, match="no 'in_domain' references for scene 0 of 'v' \\(retriever 'hog'\\)"):
        hog.ids("in_domain", "v", 0, 1)


def test_hog_named_gives_the_setting_behind_each_grid_column():
    frames = np.random.default_rng(0).integers(0, 256, (3, 40, 40, 3), dtype=np.uint8)
    settings = [(32, 8), (48, 16)]
    grid = D.hog_grid(frames, settings)
    named = D.hog_named(settings)
    assert list(named) == list(grid) == ["32 px, 8 px cells", "48 px, 16 px cells"]
    for name, (size, cell) in named.items():
        assert np.allclose(grid[name], D.hog_descriptor(frames, size=size, cell=cell))
    with pytest.raises(DataError, match="no HOG setting"):
        D.hog_named([])


# -- the comparison end to end ------------------------------------------------------------------------------
def _row(retriever: str, method: str, pool: str, video: str, psnr: float, ssim: float = 0.9, frames: int = 10):
    row = {m: 0.5 for m in IMAGE_MEASURES}
    row.update(
        retriever=retriever, method=method, pool=pool, video_id=video, n_refs=5, n_frames=frames, PSNR=psnr, SSIM=ssim,
        CDC=0.01, n_segments=1, dAB=1.0, dAB_gt=1.0, dAB_err=0.5, n_pairs=frames - 1, colorfulness=10.0,
    )  # fmt: skip
    return row


def _rows(embedder: dict, hog: dict, frames: dict | None = None) -> pd.DataFrame:
    """Ours' PSNR per (pool, video) for each retriever, and grey at 20 dB (listed once, with the embedder)."""
    frames = frames or {}
    out = [_row("embedder", GREY, p, v, 20.0, 0.8, frames.get(v, 10)) for p, v in embedder]
    for name, psnr in (("embedder", embedder), ("hog", hog)):
        out += [_row(name, OURS, p, v, x, 0.9, frames.get(v, 10)) for (p, v), x in psnr.items()]
    out.append(_row("embedder", OURS, "open", "a", 99.0) | {"n_refs": 1})  # another R: never counted
    return pd.DataFrame(out)


def test_retriever_comparison_scores_each_retriever_against_grey():
    rows = _rows({("open", "a"): 22.0, ("open", "b"): 24.0}, {("open", "a"): 21.0, ("open", "b"): 21.0})
    table = T.retriever_comparison(rows, OURS, GREY, 5).set_index("retriever")
    assert table.loc["embedder", "PSNR"] == pytest.approx(23.0)
    assert table.loc["hog", "PSNR"] == pytest.approx(21.0)
    assert table.loc["hog", "PSNR_vs_grey"] == pytest.approx(1.0)
    assert table.loc["embedder", "SSIM_vs_grey"] == pytest.approx(0.1)
    assert table.loc["embedder", "CDC_vs_grey"] == pytest.approx(0.0)
    assert (table["n_videos"] == 2).all() and (table["pool"] == "open").all()


def test_retriever_comparison_refuses_rows_it_cannot_compare():
    rows = _rows({("open", "a"): 22.0}, {("open", "a"): 21.0})
    with pytest.raises(DataError, match="no 'retriever' column"):
        T.retriever_comparison(rows.drop(columns="retriever"), OURS, GREY, 5)
    with pytest.raises(DataError, match="grey output lacks videos"):
        T.retriever_comparison(rows[rows["method"] != GREY], OURS, GREY, 5)
    with pytest.raises(DataError, match="no row of 'ours' at R = 3"):
        T.retriever_comparison(rows, OURS, GREY, 3)
    with pytest.raises(DataError, match="several rows"):
        T.retriever_comparison(pd.concat([rows, rows]), OURS, GREY, 5)


def test_better_retriever_margin_per_pool_and_spread_across_videos():
    emb = {("open", "a"): 22.0, ("open", "b"): 23.0, ("in_domain", "a"): 26.0, ("in_domain", "b"): 25.0}
    hog = {("open", "a"): 23.0, ("open", "b"): 23.5, ("in_domain", "a"): 26.5, ("in_domain", "b"): 25.0}
    v = T.better_retriever(_rows(emb, hog), OURS, 5, ["embedder", "hog"])
    assert (v.better, v.other) == ("hog", "embedder")
    assert v.per_pool_db == pytest.approx({"open": 0.75, "in_domain": 0.25})
    assert v.margin_db == pytest.approx(0.5)  # the mean over the pools
    # per video (mean over pools): a 0.75, b 0.25 -> sample std 0.3536 < 0.5
    assert v.spread_db == pytest.approx(math.sqrt(0.125)) and v.n_videos == 2
    assert not v.within_noise
    assert v.margin_of("embedder") == pytest.approx(-0.5) and v.margin_of("hog") == pytest.approx(0.5)
    assert v.ssim_margin == pytest.approx(0.0)
    with pytest.raises(DataError, match="was not compared"):
        v.margin_of("sift")
    swapped = T.better_retriever(_rows(emb, hog), OURS, 5, ["hog", "embedder"])
    assert (swapped.better, swapped.margin_db) == ("hog", pytest.approx(0.5))


def test_better_retriever_weights_videos_by_frames_and_flags_noise():
    emb = {("open", "a"): 22.0, ("open", "b"): 20.0}
    hog = {("open", "a"): 21.0, ("open", "b"): 22.0}  # a: +1 for the embedder, b: -2
    v = T.better_retriever(_rows(emb, hog, frames={"a": 30, "b": 10}), OURS, 5, ["embedder", "hog"])
    assert v.better == "embedder" and v.margin_db == pytest.approx((30 * 1 - 10 * 2) / 40)
    assert v.within_noise  # 0.25 dB against a spread of 2.12 dB
    assert v.note == "PSNR +0.250 dB over hog, mean over pools; spread across 2 videos 2.121 dB: within noise"
    one = T.better_retriever(_rows({("open", "a"): 22.0}, {("open", "a"): 21.0}), OURS, 5, ["embedder", "hog"])
    assert one.n_videos == 1 and math.isnan(one.spread_db) and one.within_noise
    assert one.note.endswith("one video: no spread across videos to judge it by")
    mixed = T.better_retriever(
        _rows({("open", "a"): 22.0, ("in_domain", "a"): 22.0}, {("open", "a"): 22.0, ("in_domain", "a"): 23.0}),
        OURS,
        5,
        ["embedder", "hog"],
    )
    assert mixed.better == "hog" and math.copysign(1.0, mixed.per_pool_db["open"]) == 1.0  # no "-0.000 dB"
    tie = T.better_retriever(_rows({("open", "a"): 22.0}, {("open", "a"): 22.0}), OURS, 5, ["embedder", "hog"])
    assert tie.better == "embedder" and tie.margin_db == 0.0 and "+0.000 dB" in tie.note  # never "-0.000"


def test_better_retriever_needs_the_same_videos_and_two_retrievers():
    rows = _rows({("open", "a"): 22.0, ("open", "b"): 23.0}, {("open", "a"): 21.0})
    with pytest.raises(DataError, match="same pools and videos"):
        T.better_retriever(rows, OURS, 5, ["embedder", "hog"])
    with pytest.raises(DataError, match="exactly two retrievers"):
        T.better_retriever(rows, OURS, 5, ["embedder", "embedder"])
    with pytest.raises(DataError, match="same pools and videos"):
        T.better_retriever(rows[rows["retriever"] == "embedder"], OURS, 5, ["embedder", "hog"])


def test_retriever_reading_names_the_winner_margin_and_noise():
    clear = T.better_retriever(
        _rows({("open", "a"): 23.0, ("open", "b"): 23.2}, {("open", "a"): 22.0, ("open", "b"): 22.0}),
        OURS,
        5,
        ["embedder", "hog"],
    )
    text = prose.retriever_reading(clear, 5)
    assert "**trained embedder**" in text and "tuned HOG on L" in text and "+1.100 dB" in text
    assert "open +1.100 dB" in text and "stands out of the spread" in text and "within noise" not in text
    noisy = T.better_retriever(
        _rows({("open", "a"): 23.0, ("open", "b"): 20.0}, {("open", "a"): 21.0, ("open", "b"): 21.5}),
        OURS,
        5,
        ["embedder", "hog"],
    )
    assert "**within noise**" in prose.retriever_reading(noisy, 5)
    one = T.better_retriever(_rows({("open", "a"): 21.0}, {("open", "a"): 22.0}), OURS, 5, ["embedder", "hog"])
    text = prose.retriever_reading(one, 5)
    assert "**tuned HOG on L**" in text and "One video only" in text and "unconfirmed" in text
