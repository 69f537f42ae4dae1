"""The paired statistics of the study's tables against values worked out by hand."""
import numpy as np
import pytest

from studies import paired


def test_paired_statistics_against_hand_computed_values():
    """Mean, sample sd, the t-interval with t(0.975, 3) = 3.182446 from a table, and the exact
    Wilcoxon p-value counted by hand: for d = (1.5, -0.5, 2, 3, -1, 2.5) the negative ranks sum
    to W- = 1 + 2 = 3, and 5 of the 2^6 sign patterns have a sum <= 3 ({}, {1}, {2}, {3},
    {1, 2}): p = 2 * 5 / 64."""
    stats = paired.statistics([1.0, 2.0, 3.0, 4.0])
    sd = np.sqrt(5 / 3)
    assert (stats.n, stats.mean, stats.positive) == (4, 2.5, 4)
    assert stats.sd == pytest.approx(sd)
    assert stats.ci == pytest.approx((2.5 - 3.182446 * sd / 2, 2.5 + 3.182446 * sd / 2), rel=1e-6)
    assert stats.p == pytest.approx(2 / 16)  # all four of one sign: 2 * (1 / 2^4)
    mixed = paired.statistics([1.5, -0.5, 2.0, 3.0, -1.0, 2.5])
    assert mixed.p == pytest.approx(10 / 64) and mixed.positive == 4
    assert paired.statistics([5.0] * 10).p == pytest.approx(2 / 1024)
    single = paired.statistics([3.0])
    assert single.n == 1 and np.isnan(single.sd) and np.isnan(single.p)


def test_cells_leave_the_spread_blank_below_two_seeds():
    assert paired.cells(paired.statistics([3.0])) == '1 | 3 | | | 1 of 1 |'
    assert paired.cells(paired.statistics([1.0, 2.0, 3.0, 4.0])) == '4 | 2.5 | 1.3 | [0.446, 4.55] | 4 of 4 | 0.12'
