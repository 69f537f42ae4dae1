"""Paired differences over seeds (one run of each of two models per seed, the same initial
weights, data order and z): their mean, spread, 95% t-interval, sign count and exact Wilcoxon
signed-rank p-value, and those as the cells of a Markdown table row."""
from typing import NamedTuple

import numpy as np
import scipy.stats


class Stats(NamedTuple):
    n: int
    mean: float
    sd: float  # sample standard deviation
    ci: tuple  # the 95% t-interval of the mean
    positive: int  # how many differences are above zero
    p: float  # two-sided Wilcoxon signed-rank p-value


def statistics(differences):
    """n, mean, sample sd, 95% t confidence interval of the mean, the count of positive
    differences and the two-sided Wilcoxon signed-rank p-value of paired differences (scipy's
    exact distribution for n <= 50 without ties or zeros, its normal approximation otherwise).
    NaN where n is too small for a spread."""
    d = np.asarray(differences, dtype=float)
    n, mean = len(d), float(d.mean())
    if n < 2:
        return Stats(n, mean, np.nan, (np.nan, np.nan), int((d > 0).sum()), np.nan)
    sd = float(d.std(ddof=1))
    half = float(scipy.stats.t.ppf(0.975, n - 1)) * sd / np.sqrt(n)
    p = float(scipy.stats.wilcoxon(d).pvalue) if np.any(d != 0) else 1.0
    return Stats(n, mean, sd, (mean - half, mean + half), int((d > 0).sum()), p)


HEADER = 'n | mean | sd | 95% CI (t) | seeds where {other} is lower | Wilcoxon p'


def cells(stats):
    """Stats as the cells of a table row under HEADER."""
    if stats.n < 2:
        return f'{stats.n} | {stats.mean:.3g} | | | {stats.positive} of {stats.n} |'
    return (f'{stats.n} | {stats.mean:.3g} | {stats.sd:.2g} | [{stats.ci[0]:.3g}, {stats.ci[1]:.3g}] | '
            f'{stats.positive} of {stats.n} | {stats.p:.2g}')
