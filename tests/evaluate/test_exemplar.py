"""The exemplar protocol's methods and scoring: the DIS baseline is the network's own flow candidate, and every
method is scored on the frames of the file it writes, through one encoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers.colorizer import pan_frames, photo
from scenecolor.colorize.correspondence import GuideConfig, scene_guides
from scenecolor.core.color import AB_SCALE, rgb_to_lab
from scenecolor.core.encoding import Encoding
from scenecolor.core.errors import DataError, ParameterError
from scenecolor.core.video import read_frames
from scenecolor.evaluate import exemplar as X
from scenecolor.evaluate import metrics as M
from scenecolor.evaluate.baselines import (
    FLOW_DIS,
    FlowWarpReference,
    GrayOutput,
    PasteReference,
    exemplar_baselines,
)


def _clip(name: str = "chelsea", n: int = 5, size: int = 48, seed: int = 1) -> X.ExemplarClip:
    frames = np.stack(pan_frames(photo(name), n, size, seed))
    return X.ExemplarClip(name, frames, 25.0, np.arange(n))


@pytest.mark.parametrize("flow_method", ["dis_fast", "dis_medium"])
def test_the_dis_baseline_is_the_networks_direct_flow_candidate(flow_method: str) -> None:
    clip = _clip()
    lab = rgb_to_lab(clip.frames).astype(np.float32)
    L, ref = lab[1:, ..., 0], lab[0]
    dis = next(m for m in exemplar_baselines(flow_method=flow_method) if m.name == FLOW_DIS)
    assert dis.method == flow_method  # type: ignore[attr-defined]
    candidate = scene_guides(L, ref, GuideConfig(method=flow_method))[..., 0:2] * AB_SCALE
    np.testing.assert_allclose(dis(L, ref[None]), candidate, atol=1e-4)
    # and it is not the Farneback warp (another flow)
    assert np.abs(FlowWarpReference()(L, ref[None]) - candidate).mean() > 1e-3


def test_exemplar_baselines_follow_the_networks_flow_method() -> None:
    names = [m.name for m in exemplar_baselines()]
    assert names[:3] == [X.FLOW_WARP, FLOW_DIS, X.PASTE] and names[-1].startswith("gray")
    assert FLOW_DIS not in [m.name for m in exemplar_baselines(flow_method="farneback")]
    with pytest.raises(ParameterError, match="'lucas_kanade'"):
        exemplar_baselines(flow_method="lucas_kanade")


def _methods() -> list[object]:
    return [FlowWarpReference(method="dis_fast", name=FLOW_DIS), PasteReference(), GrayOutput()]


@pytest.mark.parametrize("encoding", [Encoding(crf=30), Encoding(lossless="x264")])
def test_every_method_is_scored_on_the_file_it_writes(tmp_path: Path, encoding: Encoding) -> None:
    clips = [_clip("chelsea"), _clip("coffee", seed=3)]
    result = X.evaluate_exemplar(clips, _methods(), progress=False, encoding=encoding, out_dir=tmp_path)
    rows = result.rows
    assert set(rows["method"]) == {m.name for m in _methods()} | {X.TRUTH_ENCODED}
    assert rows.groupby("clip_id")[["n_frames", "height", "width"]].nunique().eq(1).all().all()  # same frames
    for _, row in rows.iterrows():
        clip = next(c for c in clips if c.clip_id == row["clip_id"])
        path = tmp_path / X.output_name(clip.clip_id, row["method"], encoding)
        written = read_frames(path)
        assert row["bytes"] == path.stat().st_size and row["encoding"] == encoding.describe()
        assert np.array_equal(written, result.outputs[(row["method"], clip.clip_id)])
        assert row["PSNR"] == pytest.approx(M.finite_mean(M.psnr(clip.frames[1:], written)))
    truth = rows[rows["method"] == X.TRUTH_ENCODED]["PSNR"]
    assert (truth > 25.0).all() and np.isfinite(truth).all()  # the encoding's ceiling, not perfect


def test_bit_exact_encoding_scores_what_the_frames_score_before_encoding(tmp_path: Path) -> None:
    clips = [_clip()]
    raw = X.evaluate_exemplar(clips, _methods(), progress=False)
    ffv1 = X.evaluate_exemplar(clips, _methods(), progress=False, encoding=Encoding(lossless="ffv1"))
    assert X.TRUTH_ENCODED not in set(raw.rows["method"]) and "bytes" not in raw.rows
    both = ffv1.rows.set_index("method").loc[raw.rows["method"], "PSNR"].to_numpy()
    np.testing.assert_allclose(both, raw.rows["PSNR"].to_numpy())
    assert np.isinf(ffv1.rows.set_index("method").loc[X.TRUTH_ENCODED, "PSNR"])


def test_an_odd_width_cannot_go_through_420(tmp_path: Path) -> None:
    clip = _clip()
    odd = X.ExemplarClip("odd", np.ascontiguousarray(clip.frames[:, :, :47]), 25.0, clip.source_frames)
    with pytest.raises(DataError, match="even"):
        X.evaluate_exemplar([odd], _methods(), progress=False, encoding=Encoding())
