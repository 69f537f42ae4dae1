"""Why does the regularized LSGAN train better? The experiment that separates the candidate
reasons (issue #15): `bash run_study.sh mechanism` trains its arms, `--mode=mechanism` draws
its table and figure from what they left on disk.

Candidates, and the arms that test them (LSGAN and LSGAN + regularizer unless stated):
- the target: with (a, b, c) = (-1, 1, 0) G aims at D's midpoint, while the regularizer pulls
  E D(G(z)) to E D(x), near b. Arms at (-1, 1, 0) (the slides), (-1, 1, 1) (G aims at the
  real target) and (0, 1, 1) (Mao et al.'s other setting).
- batch norm in D: D normalises the real and the generated batch separately, which ties the
  batch means the regularizer compares. Every arm with D's batch norm and without.
- the weight: the regularized LSGAN at lambda 0.1, 0.5, 2 and 5 ((-1, 1, 0), batch norm).
All arms share one budget (BUDGET) and three seeds; the metrics are those of training
(metrics.py), at the budget's last epoch, against the real-data floor.
"""
from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use('Agg')  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from absl import logging  # noqa: E402

import config  # noqa: E402
import evaluate  # noqa: E402
import utils  # noqa: E402
from studies import compare  # noqa: E402
from studies import paired  # noqa: E402

# A tenth of the slides' steps per arm: 156 steps an epoch, metrics after epochs 5 and 10.
BUDGET = dict(train_size=10000, epochs=10, eval_every=5)
TARGETS = ((-1.0, 1.0, 0.0), (-1.0, 1.0, 1.0), (0.0, 1.0, 1.0))
NORMS = ('batch', 'none')
LAMBDAS = (0.1, 2.0, 5.0)  # beside the default 0.5 of the first group
SEEDS = (0, 1, 2)
COLUMNS = ('fid', 'classifier_score', 'precision', 'recall', 'coverage')


class Arm(NamedTuple):
    model: str
    a: float
    b: float
    c: float
    critic_norm: str
    lam: float = config.Config.lam

    @property
    def label(self):
        targets = f'({self.a:g}, {self.b:g}, {self.c:g})'
        lam = f', lambda {self.lam:g}' if self.model == 'lsgan_reg' else ''
        norm = 'D batch norm' if self.critic_norm == 'batch' else 'D no norm'
        return f'{compare.label(self.model)} {targets}{lam}, {norm}'

    def flags(self):
        lam = f' --lam={self.lam:g}' if self.model == 'lsgan_reg' else ''
        return (f'--model={self.model} --a={self.a:g} --b={self.b:g} --c={self.c:g}{lam} '
                f'--critic_norm={self.critic_norm}')


def arms():
    """Every arm once, in table order."""
    grid = [Arm(model, *targets, norm) for targets in TARGETS for norm in NORMS
            for model in ('lsgan', 'lsgan_reg')]
    return grid + [Arm('lsgan_reg', *TARGETS[0], 'batch', lam) for lam in LAMBDAS]


def budget_flags():
    return ' '.join(f'--{name}={value}' for name, value in BUDGET.items())


def grid_lines():
    """One line of main.py flags per run, seed after seed (a finished seed is a whole table)."""
    return [f'{arm.flags()} --seed={seed} {budget_flags()}' for seed in SEEDS for arm in arms()]


def run_config(arm, seed, base=config.Config()):
    return base.for_model(arm.model, a=arm.a, b=arm.b, c=arm.c, lam=arm.lam,
                          critic_norm=arm.critic_norm, seed=seed, **BUDGET)


def final_scores(cfg, arm):
    """{seed: {column: value}} at the budget's last epoch, for the seeds that reached it."""
    scores = {}
    for seed in cfg.seeds:
        run = config.run_name(run_config(arm, seed, cfg))
        path = Path(cfg.checkpoint_dir) / run / 'metrics.csv'
        rows = [r for r in utils.read_csv(path) if int(r['epoch']) == BUDGET['epochs']]
        if rows:
            scores[seed] = {k: float(rows[-1][k]) for k in COLUMNS}
    return scores


def results(cfg):
    """({arm: final_scores}, the real digits' scores or None, the FID gaps between two z sets)
    of the runs under cfg's directories."""
    scores = {arm: final_scores(cfg, arm) for arm in arms()}
    runs = [config.run_name(run_config(arm, seed, cfg)) for arm in scores for seed in cfg.seeds]
    return (scores, compare.real_floor(runs, cfg.checkpoint_dir),
            compare.fid_gaps(runs, cfg.checkpoint_dir))


def table(scores, floor):
    """Markdown: per arm, n and mean +- std over seeds of each column, then the floor."""
    lines = ['| arm | n | ' + ' | '.join(COLUMNS) + ' |',
             '| --- | ---: |' + ' ---: |' * len(COLUMNS)]
    for arm, by_seed in scores.items():
        cells = [utils.mean_std([s[k] for s in by_seed.values()]) for k in COLUMNS]
        lines.append(f'| {arm.label} | {len(by_seed)} | ' + ' | '.join(cells) + ' |')
    if floor:
        lines.append('| *real digits (floor)* | | ' + ' | '.join(
            f'{floor[k]:.3g}' for k in COLUMNS) + ' |')
    return '\n'.join(lines)


def seed_header(first, seeds, *after):
    """The two header lines of a markdown table with a column per seed."""
    names = [first, *(f'seed {s}' for s in seeds), *after]
    return ['| ' + ' | '.join(names) + ' |', '| --- |' + ' ---: |' * (len(names) - 1)]


def fid_by_seed(scores, seeds):
    """Markdown: every run's FID, an arm a row and a seed a column, with the arm's range."""
    lines = seed_header('arm', seeds, 'max - min')
    for arm, by_seed in scores.items():
        fids = [by_seed[s]['fid'] for s in seeds if s in by_seed]
        cells = [f'{by_seed[s]["fid"]:.1f}' if s in by_seed else '' for s in seeds]
        cells.append(f'{max(fids) - min(fids):.1f}' if len(fids) > 1 else '')
        lines.append(f'| {arm.label} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def paired_fid(scores, seeds):
    """Markdown: each regularized arm's FID minus LSGAN's at the same targets and D
    normalisation, seed by seed, their mean, and in how many seeds the regularized run is
    lower; then the same over all pairs. The seeds differ more than most arms do, so the two
    models are compared within one."""
    def summary(diffs):
        if not diffs:
            return ['', '']
        return [f'{np.mean(diffs):+.3g}', f'{sum(d < 0 for d in diffs)} of {len(diffs)}']

    lines = seed_header('regularized arm', seeds, 'mean', 'lower in')
    pooled = []
    for arm, by_seed in scores.items():
        if arm.model != 'lsgan_reg':
            continue
        lsgan = scores[arm._replace(model='lsgan', lam=config.Config.lam)]
        diffs = {s: by_seed[s]['fid'] - lsgan[s]['fid'] for s in seeds
                 if s in by_seed and s in lsgan}
        pooled += diffs.values()
        cells = [f'{diffs[s]:+.3g}' if s in diffs else '' for s in seeds]
        lines.append(f'| {arm.label} | ' + ' | '.join(cells + summary(list(diffs.values()))) + ' |')
    lines.append('| *all pairs* | ' + ' | '.join([''] * len(seeds) + summary(pooled)) + ' |')
    return '\n'.join(lines)


def final_sample_pairs(cfg, scores_path):
    """Markdown: each regularized arm's FID minus LSGAN's on the runs' final samples
    (final_1000.npz) under every classifier of --mode=rescore's CSV: the mean paired difference,
    the seeds where the regularized run is lower and the exact two-sided Wilcoxon p-value (with
    three seeds it cannot go below 0.25); the last row counts the arms lower in every seed
    under every classifier. '' without the CSV."""
    fids, _ = compare.read_final_fids(scores_path)
    classifiers = sorted({c for by_classifier in fids.values() for c in by_classifier})
    if not classifiers:
        return ''
    lines = ['| regularized arm | ' + ' | '.join(f'classifier {c}: mean, lower in, p'
                                                for c in classifiers) + ' |',
             '| --- |' + ' ---: |' * len(classifiers)]
    everywhere = pairs = 0
    for arm in arms():
        if arm.model != 'lsgan_reg':
            continue
        lsgan = arm._replace(model='lsgan', lam=config.Config.lam)
        cells, always_lower = [], True
        for c in classifiers:
            gains = [fids[base][c] - fids[reg][c] for seed in cfg.seeds
                     for reg, base in [(config.run_name(run_config(arm, seed, cfg)),
                                        config.run_name(run_config(lsgan, seed, cfg)))]
                     if c in fids.get(reg, {}) and c in fids.get(base, {})]
            if not gains:
                cells.append('')
                always_lower = False
                continue
            stats = paired.statistics(gains)  # positive: the regularized run is lower
            always_lower &= stats.positive == stats.n
            cells.append(f'{-stats.mean:+.3g}, {stats.positive} of {stats.n}, {stats.p:.2g}')
        pairs += 1
        everywhere += always_lower
        lines.append(f'| {arm.label} | ' + ' | '.join(cells) + ' |')
    lines.append(f'| *arms lower in every seed under every classifier* | {everywhere} of {pairs} |'
                 + ' |' * (len(classifiers) - 1))
    return '\n'.join(lines)


def figure(scores, path, floor=None):
    """FID and classifier score of every arm: one dot per seed, the mean as a bar (LSGAN grey,
    the regularized LSGAN blue) and the real digits' value as a dashed line."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.45 * len(scores) + 1.5), layout='constrained',
                             sharey=True)
    ys = np.arange(len(scores))[::-1]
    for ax, column, title in zip(axes, ('fid', 'classifier_score'),
                                 ('FID vs test digits (lower is better)',
                                  'classifier score (10 at most)')):
        for y, (arm, by_seed) in zip(ys, scores.items()):
            values = [s[column] for s in by_seed.values()]
            if values:
                ax.barh(y, np.mean(values), color='lightsteelblue' if arm.model == 'lsgan_reg'
                        else 'lightgrey')
                ax.plot(values, [y] * len(values), 'o', color='black', markersize=3)
        if floor:
            ax.axvline(floor[column], color='black', linestyle='--', linewidth=1,
                       label='real digits')
            ax.legend(fontsize=8, loc='lower right')
        ax.set_title(title, fontsize=10)
    axes[0].set_yticks(ys, [arm.label for arm in scores], fontsize=8)
    utils.save_figure(fig, path)


def page(scores, floor, gaps, seeds, final_pairs=''):
    noise = f'\n\n{compare.noise_sentence(gaps)}' if gaps else ''
    finals = (f'\n\nThe same pairs on the final samples (final_1000.npz, the first 1,000 z of the '
              f'fixed evaluation set) under the three shipped digit classifiers '
              f'(`python main.py --mode=rescore --sample_dir=results/mechanism/runs`; '
              f'{evaluate.FINAL_SCORES} beside the runs): regularized minus LSGAN.\n\n'
              f'{final_pairs}\n') if final_pairs else ''
    return (f'# Mechanism arms after {BUDGET["epochs"]} epochs of {BUDGET["train_size"]:,} '
            f'digits\n\nMean +- std over seeds (n). Runs: `bash run_study.sh --list mechanism`.'
            f'{noise}\n\n{table(scores, floor)}\n\nThe FID of each run:\n\n'
            f'{fid_by_seed(scores, seeds)}\n\nFID of the regularized LSGAN minus FID of '
            f'LSGAN at the same targets and D normalisation, within each seed (negative: the '
            f'regularized run is better).\n\n{paired_fid(scores, seeds)}\n{finals}')


def draw(cfg):
    """--mode=mechanism: MECHANISM.md and mechanism.png in <out_dir>/mechanism/."""
    scores, floor, gaps = results(cfg)
    if not any(scores.values()):
        utils.fail(f'no mechanism run has reached epoch {BUDGET["epochs"]} under '
                   f'{cfg.checkpoint_dir} (bash run_study.sh mechanism trains them)')
    out = Path(cfg.out_dir) / 'mechanism'
    final_pairs = final_sample_pairs(cfg, Path(cfg.sample_dir) / evaluate.FINAL_SCORES)
    utils.write_atomically(out / 'MECHANISM.md', lambda tmp: tmp.write_text(
        page(scores, floor, gaps, cfg.seeds, final_pairs)))
    figure(scores, out / 'mechanism.png', floor)
    logging.info('Wrote %s', out)
