"""Precision / recall / F1 matching and average precision of cut scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scenecolor.core.errors import ParameterError
from scenecolor.scenes.metrics import CutScore, average_precision, match_cuts, score_by_kind, score_cuts


def test_each_true_cut_is_matched_at_most_once():
    s = score_cuts([10, 11], [10], tolerance=2)
    assert (s.tp, s.fp, s.fn) == (1, 1, 0)
    assert s.precision == 0.5 and s.recall == 1.0 and s.f1 == pytest.approx(2 / 3)


def test_each_prediction_is_matched_at_most_once():
    s = score_cuts([12], [10, 14], tolerance=2)
    assert (s.tp, s.fp, s.fn) == (1, 0, 1)


def test_tolerance_is_inclusive_in_frames():
    assert score_cuts([12], [10], tolerance=2).tp == 1
    s = score_cuts([12], [10], tolerance=1)
    assert (s.tp, s.fp, s.fn) == (0, 1, 1)
    assert score_cuts([10], [10], tolerance=0).tp == 1


def test_matching_is_maximal_where_greedy_nearest_first_is_not():
    # greedy by distance pairs 12 with 13 first (1 frame) and leaves 15 and 10 apart (5 frames);
    # the optimal matching pairs 12-10 and 15-13
    assert sorted(match_cuts([12, 15], [10, 13], tolerance=2)) == [(0, 0), (1, 1)]
    assert score_cuts([12, 15], [10, 13], tolerance=2).tp == 2


def test_gradual_transition_matches_anywhere_in_its_window():
    assert score_cuts([25], [24], tolerance=2, windows=[(20, 29)]).tp == 1
    assert score_cuts([31], [24], tolerance=2, windows=[(20, 29)]).tp == 1
    assert score_cuts([32], [24], tolerance=2, windows=[(20, 29)]).tp == 0


def test_empty_cases_follow_the_documented_convention():
    nothing = score_cuts([], [])
    assert (nothing.precision, nothing.recall, nothing.f1) == (1.0, 1.0, 1.0)
    false_alarm = score_cuts([5], [])
    assert (false_alarm.precision, false_alarm.recall, false_alarm.f1) == (0.0, 1.0, 0.0)
    missed = score_cuts([], [5])
    assert (missed.precision, missed.recall, missed.f1) == (1.0, 0.0, 0.0)


def test_scores_add_up_over_videos():
    total = CutScore(2, 1, 0) + CutScore(1, 0, 2)
    assert (total.tp, total.fp, total.fn) == (3, 1, 2)
    assert total.as_dict()["precision"] == 0.75


def test_score_by_kind_counts_unmatched_predictions_as_false_positives_of_every_kind():
    out = score_by_kind(
        [10, 50, 70], [10, 30, 72], ["hard", "dissolve", "hard"], tolerance=2, windows=[(10, 10), (25, 34), (72, 72)]
    )
    assert (out["all"].tp, out["all"].fp, out["all"].fn) == (2, 1, 1)
    assert (out["hard"].tp, out["hard"].fp, out["hard"].fn) == (2, 1, 0)
    assert (out["dissolve"].tp, out["dissolve"].fp, out["dissolve"].fn) == (0, 1, 1)


def test_bad_inputs_raise_parameter_errors():
    with pytest.raises(ParameterError, match="tolerance must be >= 0"):
        score_cuts([1], [1], tolerance=-1)
    with pytest.raises(ParameterError, match="windows for 2 true cuts"):
        score_cuts([1], [1, 5], windows=[(1, 1)])
    with pytest.raises(ParameterError, match="kinds for 1 true cuts"):
        score_by_kind([1], [1], ["hard", "fade"])


def test_average_precision_on_a_hand_made_example():
    scores = np.zeros(10)
    scores[[3, 5, 7]] = [0.9, 0.8, 0.7]
    # ranking: 3 (hit, precision 1), 5 (false alarm), 7 (hit, precision 2/3)
    assert average_precision(scores, [3, 7], tolerance=0) == pytest.approx((1 + 2 / 3) / 2)


def test_average_precision_lets_one_frame_claim_a_cut_only_once():
    scores = np.zeros(12)
    scores[[3, 4, 9]] = [0.9, 0.8, 0.7]
    # frame 4 is within tolerance of cut 3, but 3 already claimed it: a false alarm
    assert average_precision(scores, [3, 9], tolerance=1) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision(scores, [3], tolerance=1) == 1.0


def test_average_precision_edge_cases():
    scores = np.array([0.0, 0.5, 0.1, 0.2])
    assert math.isnan(average_precision(scores, []))
    assert average_precision(scores, [2], tolerance=0) == pytest.approx(1 / 3)  # ranked third
    # frame 0 has no predecessor and is never ranked; step > 1 maps ranks through frame_index
    assert average_precision(np.array([9.0, 0.1, 0.8]), [4], tolerance=0, frame_index=[0, 2, 4]) == 1.0
