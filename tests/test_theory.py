"""The theorem the slides rely on (Mao et al. 2017, Thm. 2), checked on discrete distributions.

With D at its optimum D* = (b P_r + a P_g) / (P_r + P_g), the generator objective
1/2 E_{P_r}[(D* - c)^2] + 1/2 E_{P_g}[(D* - c)^2] (the first term does not depend on G) equals
1/2 chi2_Pearson(P_r + P_g || 2 P_g) = 1/2 sum (2 P_g - (P_r + P_g))^2 / (P_r + P_g) when
b - c = 1 and b - a = 2; and adding the slides' regularizer keeps P_g = P_r the optimum.
"""
import numpy as np
import pytest
import scipy.optimize

import losses

K = 7


def optimal_d(p_r, p_g, a, b):
    return (b * p_r + a * p_g) / (p_r + p_g)


def generator_objective(real_counts, fake_counts, a, b, c):
    """The objective through the project's LSGAN generator loss: an expectation under P is a
    batch mean over a batch holding each point as many times as its count."""
    p_r, p_g = real_counts / real_counts.sum(), fake_counts / fake_counts.sum()
    d_star = optimal_d(p_r, p_g, a, b)
    real_batch = np.repeat(d_star, real_counts)[:, None]
    fake_batch = np.repeat(d_star, fake_counts)[:, None]
    return float(losses.lsgan_generator_loss(real_batch, c) + losses.lsgan_generator_loss(fake_batch, c))


def pearson_chi2(p, q):
    """chi2_Pearson(p || q) in Mao et al.'s notation: sum (q - p)^2 / p."""
    return np.sum((q - p) ** 2 / p)


@pytest.mark.parametrize('a, b, c', [(-1, 1, 0), (0, 2, 1), (-2, 0, -1)])  # b - c = 1, b - a = 2
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_lsgan_objective_at_the_optimal_d_is_half_pearson_chi2(a, b, c, seed):
    rng = np.random.default_rng(seed)
    real_counts, fake_counts = rng.integers(0, 6, K), rng.integers(0, 6, K)
    real_counts[0] = fake_counts[1] = 3  # neither distribution is empty
    p_r, p_g = real_counts / real_counts.sum(), fake_counts / fake_counts.sum()
    support = p_r + p_g > 0
    expected = 0.5 * pearson_chi2((p_r + p_g)[support], (2 * p_g)[support])
    assert generator_objective(real_counts, fake_counts, a, b, c) == pytest.approx(expected, rel=1e-5)


def test_the_identity_needs_the_theorem_conditions():
    real_counts, fake_counts = np.array([3, 1, 0, 2]), np.array([0, 2, 2, 1])
    p_r, p_g = real_counts / 6, fake_counts / 5
    chi2 = 0.5 * pearson_chi2(p_r + p_g, 2 * p_g)
    assert generator_objective(real_counts, fake_counts, a=-1, b=1, c=1) != pytest.approx(chi2, rel=1e-3)


def regularized_objective(logits, p_r, a, b, c, lam):
    """1/2 chi2-objective at D* plus lambda (E_g D* - E_r D*)^2, as a function of P_g."""
    p_g = np.exp(logits - logits.max())
    p_g /= p_g.sum()
    d_star = optimal_d(p_r, p_g, a, b)
    lsgan = 0.5 * np.sum(p_r * (d_star - c) ** 2) + 0.5 * np.sum(p_g * (d_star - c) ** 2)
    return lsgan + lam * (np.sum(p_g * d_star) - np.sum(p_r * d_star)) ** 2


@pytest.mark.parametrize('lam', [0.0, 0.5, 5.0])
def test_the_regularizer_keeps_p_g_equal_p_r_the_optimum(lam):
    rng = np.random.default_rng(4)
    p_r = rng.dirichlet(np.ones(K))
    a, b, c = -1, 1, 0
    at_p_r = regularized_objective(np.log(p_r), p_r, a, b, c, lam)
    assert at_p_r == pytest.approx(0.0, abs=1e-12)  # D* = (a + b) / 2 = c: chi2 = 0, no penalty
    for start in range(3):
        found = scipy.optimize.minimize(regularized_objective, rng.normal(size=K),
                                        args=(p_r, a, b, c, lam), method='BFGS', tol=1e-12)
        p_g = np.exp(found.x - found.x.max())
        np.testing.assert_allclose(p_g / p_g.sum(), p_r, atol=2e-3)
        assert found.fun >= at_p_r - 1e-9
    # The regularizer vanishes at P_g = P_r, where D* is the constant (a + b) / 2.
    assert regularized_objective(np.log(p_r), p_r, a, b, c, lam) == pytest.approx(
        regularized_objective(np.log(p_r), p_r, a, b, c, 0.0))
