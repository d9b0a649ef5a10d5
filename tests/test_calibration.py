"""Operating points on hand-made scores, where the answer is known by counting."""

from __future__ import annotations

import numpy as np
import pytest

from mesonet.contract import OperatingPoint
from mesonet.training import calibration as cal

UNIFORM = np.arange(1, 101) / 100  # 0.01, 0.02, ..., 1.00


def test_a_group_threshold_calls_exactly_the_target_share_wrongly():
    t = cal._group_threshold(UNIFORM, 0.05, "real")
    assert t == pytest.approx(0.055)  # between the 5th and 6th lowest: 5 of 100 called fake
    assert (UNIFORM <= t).mean() == 0.05
    t = cal._group_threshold(UNIFORM, 0.05, "fake")
    assert t == pytest.approx(0.955)  # 5 of 100 forged faces above it, called real
    assert (UNIFORM > t).mean() == 0.05
    assert cal._group_threshold(UNIFORM[:10], 0.05, "real") == pytest.approx(0.005)  # none


def test_the_point_holds_the_target_on_every_group_not_on_average():
    a = UNIFORM  # 100 real faces
    b = np.arange(20, 70) / 100  # 50 real faces, 0.20 ... 0.69
    fake = UNIFORM - 0.01  # 0.00 ... 0.99
    op = cal.fit({"a": a, "b": b}, {"c": fake})
    assert op.fake_at_most == pytest.approx(0.055)  # a's is stricter than b's (0.215)
    assert op.real_above == pytest.approx(0.945)
    for scores in (a, b):
        assert (scores <= op.fake_at_most).mean() <= 0.05
    assert (fake > op.real_above).mean() <= 0.05


def test_small_groups_are_pooled_not_used_alone():
    low = np.full(10, 0.01)  # ten real faces scored very low: alone they would decide
    op = cal.fit({"a": UNIFORM, "small": low}, {})
    assert op.fake_at_most == pytest.approx(0.055) and op.real_above == 1.0
    pooled = cal.pooled_groups({"s1": np.full(20, 0.3), "s2": np.full(15, 0.4)})
    assert list(pooled) == ["small groups (pooled)"] and len(pooled["small groups (pooled)"]) == 35
    with pytest.raises(ValueError, match="No group of at least 30 real faces"):
        cal.fit({"tiny": low}, {})


def test_each_group_is_told_at_a_point_fitted_without_it():
    a, b = UNIFORM, np.arange(20, 70) / 100
    told = cal.leave_one_source_out({"a": a, "b": b}, {"c": UNIFORM - 0.01})
    # a is judged at b's point (0.215): 21 of its 100 real faces called fake
    assert told[("real", "a")]["fake"] == pytest.approx(0.21)
    assert told[("real", "a")]["point"][0] == pytest.approx(0.215)
    # b at a's point (0.055): none
    assert told[("real", "b")]["fake"] == 0.0
    # with no other forged group, c is judged at real_above 1: nothing called real
    assert told[("fake", "c")]["real"] == 0.0


def test_when_the_classes_part_one_threshold_keeps_both_promises():
    op = cal.fit({"r": np.linspace(0.6, 1.0, 100)}, {"f": np.linspace(0.0, 0.4, 100)})
    assert op.fake_at_most == op.real_above
    assert 0.4 < op.fake_at_most < 0.6


def test_verdicts_and_what_they_mean():
    op = OperatingPoint(0.1, 0.8, 0.05, "test", "frame", 0.03, 0.41, 0.2, 0.05)
    assert [op.verdict(p) for p in (0.1, 0.1001, 0.8, 0.81)] == \
        ["fake", "inconclusive", "inconclusive", "real"]
    assert op.meaning("fake") == ("fake: on faces from sources these weights never saw, 3.0% of "
                                  "real faces and 41.0% of forged faces get this verdict")
    plain = OperatingPoint.plain(0.5, 0.1, level="video")
    assert (plain.fake_at_most, plain.real_above) == (0.4, 0.6)
    assert "not measured" in plain.meaning("fake") and not plain.calibrated
    with pytest.raises(ValueError, match="fake_at_most <= real_above"):
        OperatingPoint(0.7, 0.2)
    assert OperatingPoint.from_dict({**op.as_dict(), "unknown": 1}) == op


def test_detection_at_a_false_alarm_rate_and_the_calibration_error():
    y = np.r_[np.ones(100), np.zeros(10)]
    p = np.r_[UNIFORM, np.full(5, 0.03), np.full(5, 0.5)]
    assert cal.tpr_at_fpr(y, p, 0.05) == 0.5  # threshold 0.055 catches the five at 0.03
    ece, table = cal.expected_calibration_error(np.r_[np.ones(8), np.zeros(2)], np.full(10, 0.8))
    assert ece == pytest.approx(0.0) and table == [(pytest.approx(0.8), 0.8, 10)]
    ece, _ = cal.expected_calibration_error(np.r_[np.ones(5), np.zeros(5)], np.full(10, 0.8))
    assert ece == pytest.approx(0.3)


def test_stacking_weighs_the_member_that_knows():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(200), np.zeros(200)]
    knows = np.clip(np.where(y == 1, 0.7, 0.3) + rng.normal(0, 0.1, 400), 0.01, 0.99)
    noise = rng.uniform(0.01, 0.99, 400)
    groups = np.repeat(["g1", "g2"], 200)
    stack = cal.fit_stacking(np.stack([knows, noise]), y, groups)
    assert stack["weights"][0] > 5 * abs(stack["weights"][1])
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, cal.stacked(np.stack([knows, noise]), stack)) >= \
        roc_auc_score(y, knows) - 1e-9
