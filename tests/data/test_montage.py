"""Test-video assembly: exact ground truth of hard cuts, fades and dissolves; synthetic camera motion."""

from __future__ import annotations

import numpy as np
import pytest

from scenecolor.core.errors import DataError
from scenecolor.data import camera_motion, montage

H, W = 8, 12


def _seg(value: int, n: int, shot: str) -> montage.Segment:
    return montage.Segment(shot, np.full((n, H, W, 3), value, np.uint8))


def test_hard_cut_is_the_first_frame_of_the_new_shot() -> None:
    video, transitions, shots = montage.assemble([_seg(200, 10, "a"), _seg(50, 7, "b")], ["hard"], 4)
    assert len(video) == 17
    assert transitions[0].as_dict() == {"kind": "hard", "start": 10, "end": 10, "cut": 10}
    assert video[9].mean() == 200 and video[10].mean() == 50
    assert [(s["shot_id"], s["start"], s["end"]) for s in shots] == [("a", 0, 10), ("b", 10, 17)]


def test_dissolve_cut_is_where_the_new_shot_weighs_half() -> None:
    length = 6
    video, transitions, shots = montage.assemble([_seg(240, 20, "a"), _seg(0, 20, "b")], ["dissolve"], length)
    t = transitions[0]
    assert len(video) == 40 - length
    assert (t.start, t.end) == (14, 20)
    weights = montage.dissolve_weights(length)  # 1/7 .. 6/7
    assert t.cut == t.start + int(np.argmax(weights >= 0.5)) == 17
    incoming_weight = 1 - video[t.start : t.end, 0, 0, 0] / 240.0
    np.testing.assert_allclose(incoming_weight, weights, atol=0.01)
    assert incoming_weight[t.cut - t.start] >= 0.5 > incoming_weight[t.cut - t.start - 1]
    assert video[t.end - 1].mean() > 0 and video[t.end].mean() == 0  # pure new shot after `end`
    assert [(s["start"], s["end"]) for s in shots] == [(0, 20), (14, 34)]  # the two overlap in the dissolve


@pytest.mark.parametrize("length", [6, 7])
def test_fade_goes_through_black_and_cuts_at_the_new_footage(length: int) -> None:
    video, transitions, shots = montage.assemble([_seg(200, 20, "a"), _seg(100, 20, "b")], ["fade"], length)
    t = transitions[0]
    assert len(video) == 40  # a fade consumes no frames
    assert t.cut == 20 and t.end - t.start == length and t.start == 20 - length // 2
    levels = video[t.start : t.end, 0, 0, 0].astype(int)
    darkest = int(np.argmin(levels))
    assert levels[darkest] <= 200 * 2 / (length + 1) + 1  # close to black in the middle
    assert video[t.start - 1].mean() == 200 and video[t.end].mean() == 100
    assert (shots[0]["end"], shots[1]["start"]) == (20, 20)


def test_several_transitions_in_a_row() -> None:
    segs = [_seg(v, 15, f"s{i}") for i, v in enumerate([10, 90, 170, 250])]
    video, transitions, shots = montage.assemble(segs, ["dissolve", "fade", "hard"], 4)
    assert len(video) == 60 - 4
    cuts = [t.cut for t in transitions]
    assert cuts == sorted(cuts) and len(set(cuts)) == 3
    assert shots[-1]["end"] == len(video)
    for t, seg in zip(transitions, segs[1:]):  # after each transition's end the new shot is shown pure
        assert video[t.end].mean() == seg.frames[0].mean()


def test_assemble_rejects_bad_inputs() -> None:
    with pytest.raises(DataError, match="need 1 transitions"):
        montage.assemble([_seg(0, 10, "a"), _seg(9, 10, "b")], [], 4)
    with pytest.raises(DataError, match="'b' has 5 frames but its transitions need 9"):
        montage.assemble([_seg(0, 10, "a"), _seg(9, 5, "b"), _seg(5, 10, "c")], ["dissolve", "dissolve"], 4)
    other = montage.Segment("c", np.zeros((10, H + 2, W, 3), np.uint8))
    with pytest.raises(DataError, match="all must be uint8"):
        montage.assemble([_seg(0, 10, "a"), other], ["hard"], 4)
    with pytest.raises(DataError, match="unknown transition"):
        montage.assemble([_seg(0, 10, "a"), _seg(9, 10, "b")], ["wipe"], 4)  # type: ignore[list-item]


def test_plan_kinds_mix_is_exact_and_seeded() -> None:
    kinds = montage.plan_kinds(9, 0.5, np.random.default_rng(1))
    assert len(kinds) == 9 and kinds.count("hard") == 5 and kinds.count("fade") == 2 and kinds.count("dissolve") == 2
    assert kinds == montage.plan_kinds(9, 0.5, np.random.default_rng(1))
    assert montage.plan_kinds(4, 0.0, np.random.default_rng(0)) == ["hard"] * 4
    with pytest.raises(DataError, match="gradual_fraction"):
        montage.plan_kinds(3, 1.5, np.random.default_rng(0))


def test_camera_motion_is_deterministic_moves_and_stays_inside_the_photo() -> None:
    photo = np.zeros((120, 200, 3), np.uint8)
    photo[..., 0] = np.linspace(30, 230, 200, dtype=np.uint8)[None, :]  # a horizontal ramp
    photo[..., 1] = np.linspace(30, 230, 120, dtype=np.uint8)[:, None]
    photo[..., 2] = 128
    path = camera_motion.random_path(np.random.default_rng(3))
    assert path == camera_motion.random_path(np.random.default_rng(3))
    frames = np.stack(list(camera_motion.render_clip(photo, path, 12, 64, 36)))
    again = np.stack(list(camera_motion.render_clip(photo, path, 12, 64, 36)))
    assert frames.shape == (12, 36, 64, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames, again)
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 2  # the camera moved
    # a pure pan without drift samples only the photo's own values: never the reflected border
    pan = camera_motion.CameraPath((0, 0), (1, 1), 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0)
    panned = np.stack(list(camera_motion.render_clip(photo, pan, 5, 64, 36)))
    assert panned[..., 2].min() >= 127 and panned[..., 0].min() >= 29
    assert panned[0, :, :, 0].mean() < panned[-1, :, :, 0].mean()  # panned left to right over the ramp


def test_camera_motion_rejects_bad_photos() -> None:
    path = camera_motion.random_path(np.random.default_rng(0))
    with pytest.raises(DataError, match="RGB uint8 photo"):
        next(camera_motion.render_clip(np.zeros((10, 10), np.uint8), path, 3, 8, 6))
    with pytest.raises(DataError, match=">= 1 frame"):
        next(camera_motion.render_clip(np.zeros((10, 10, 3), np.uint8), path, 0, 8, 6))
