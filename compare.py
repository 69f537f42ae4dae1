"""Figures and tables from finished runs (`python main.py --mode=compare`): the slides'
Figure 1 (six models after epoch K), Figure 2 (LSGAN against the regularized LSGAN across
epochs), loss and metric curves, an animated GIF per run and RESULTS.md (final metrics, mean
+- std over seeds). Everything is read from samples/<run>/ and checkpoints/<run>/*.csv, so all
of it can be redrawn at any time from what the runs left on disk.
"""
import csv
from pathlib import Path

import imageio.v3 as iio
import matplotlib

matplotlib.use('Agg')  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

LABELS = {'gan': 'Vanilla GAN', 'improved_gan': 'Improved GAN', 'wgan': 'WGAN',
          'wgan_gp': 'WGAN-GP', 'lsgan': 'LSGAN', 'lsgan_reg': 'LSGAN + regularizer'}


def _save(fig, path):
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def mean_std(values):
    """'mean +- std' over seeds (sample std), or the value alone for one seed; '-' for none."""
    values = np.array(values, dtype=float)
    if len(values) == 0:
        return '-'
    return f'{values.mean():.3g} +- {values.std(ddof=1):.2g}' if len(values) > 1 else f'{values[0]:.3g}'


def one_row_per_discriminator(rows):
    """gradcheck rows repeat D's figures on every G loss of a block: one row per (seed, D, K)."""
    return list({(r['seed'], r['d_model'], int(r['d_steps'])): r for r in rows}.values())


def grid_path(sample_dir, run, epoch):
    return Path(sample_dir) / run / f'epoch_{epoch:03d}.png'


def _show_grids(panels, path, columns, title):
    """panels: [(label, png path)], drawn in rows of `columns`; missing files are reported."""
    missing = [str(p) for _, p in panels if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(f'missing sample grids: {", ".join(missing)}')
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.8 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis('off')
    for ax, (label, png) in zip(axes.ravel(), panels):
        ax.imshow(iio.imread(png), cmap='gray', vmin=0, vmax=255)
        ax.set_title(label, fontsize=10)
    fig.suptitle(title)
    _save(fig, path)


def figure1(runs, sample_dir, epoch, path):
    """runs: {model: run name}. The six final grids side by side, labelled."""
    panels = [(LABELS[m], grid_path(sample_dir, run, epoch)) for m, run in runs.items()]
    _show_grids(panels, path, columns=3, title=f'Samples after {epoch} epochs (fixed z)')


def figure2(lsgan_run, reg_run, sample_dir, epochs, path):
    """LSGAN (top row) and the regularized LSGAN (bottom row) at the given epochs."""
    panels = [(f'{LABELS[m]}, epoch {e}', grid_path(sample_dir, run, e))
              for m, run in (('lsgan', lsgan_run), ('lsgan_reg', reg_run)) for e in epochs]
    _show_grids(panels, path, columns=len(epochs), title='LSGAN vs LSGAN + regularizer')


def read_losses(path):
    """losses.csv -> {column: float array}."""
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    return {key: np.array([float(r[key]) if r.get(key) else np.nan for r in rows])
            for key in (rows[0] if rows else ())}


def epoch_means(log, key):
    epochs = log['epoch'].astype(int)
    return np.unique(epochs), np.array([log[key][epochs == e].mean() for e in np.unique(epochs)])


def loss_curves(runs, checkpoint_dir, path):
    """Per-epoch mean of D's and G's loss for each run, one panel per model (the losses of
    different models are on different scales)."""
    fig, axes = plt.subplots(2, 3, figsize=(12, 6), squeeze=False)
    for ax, (model, run) in zip(axes.ravel(), runs.items()):
        log = read_losses(Path(checkpoint_dir) / run / 'losses.csv')
        for key in ('d_loss', 'g_loss'):
            ax.plot(*epoch_means(log, key), marker='.', label=key)
        ax.set_title(LABELS[model], fontsize=10)
        ax.set_xlabel('epoch')
        ax.legend(fontsize=8)
    _save(fig, path)


METRIC_TITLES = {'fid': 'FID (classifier features, lower is better)',
                 'classifier_score': 'classifier score (10 at most)',
                 'classes_covered': 'classes covered'}


def metric_curves(runs_by_seed, checkpoint_dir, path):
    """Each metric per epoch, one line per model and seed (seeds share their model's colour)."""
    fig, axes = plt.subplots(1, len(METRIC_TITLES), figsize=(5 * len(METRIC_TITLES), 4))
    colours = dict(zip(LABELS, plt.rcParams['axes.prop_cycle'].by_key()['color']))
    for ax, (metric, title) in zip(axes, METRIC_TITLES.items()):
        labelled = set()  # one legend entry per model, from whichever seed has a curve
        for runs in runs_by_seed.values():
            for model, run in runs.items():
                log = _metrics_log(checkpoint_dir, run)
                if log and len(log['epoch']) > 1:
                    ax.plot(log['epoch'], log[metric], color=colours[model], alpha=0.8,
                            label=None if model in labelled else LABELS[model])
                    labelled.add(model)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel('epoch')
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=8)
    _save(fig, path)


def _metrics_log(checkpoint_dir, run):
    path = Path(checkpoint_dir) / run / 'metrics.csv'
    return read_losses(path) if path.exists() else None


def animate(sample_dir, run, path, seconds_per_frame=0.4):
    """The run's grids, epoch after epoch, as one animated GIF."""
    frames = [iio.imread(p) for p in sorted((Path(sample_dir) / run).glob('epoch_*.png'))]
    if frames:
        iio.imwrite(path, np.stack(frames), extension='.gif', duration=seconds_per_frame * 1000,
                    loop=0)


def results_table(runs_by_seed, checkpoint_dir, epoch):
    """RESULTS.md: per model, the metrics at `epoch` as mean +- std over the seeds that have it."""
    lines = [f'## Results after epoch {epoch}', '',
             'Mean +- standard deviation over seeds (n = seeds with a score at that epoch). FID is '
             "computed on this project's digit-classifier features: compare it only within "
             'this table.', '',
             '| model | n | FID | classifier score | classes covered | KL to uniform |',
             '| --- | ---: | ---: | ---: | ---: | ---: |']
    for model, label in LABELS.items():
        rows = []
        for runs in runs_by_seed.values():
            log = _metrics_log(checkpoint_dir, runs[model])
            if log and epoch in log['epoch']:
                i = int(np.where(log['epoch'] == epoch)[0][-1])
                rows.append([log[k][i] for k in ('fid', 'classifier_score', 'classes_covered',
                                                 'kl_uniform')])
        if not rows:
            lines.append(f'| {label} | 0 | | | | |')
            continue
        values = np.array(rows)
        cells = [f'{m:.2f} +- {s:.2f}' if len(rows) > 1 else f'{m:.2f}'
                 for m, s in zip(values.mean(0), values.std(0, ddof=1) if len(rows) > 1
                                 else np.zeros(4))]
        lines.append(f'| {label} | {len(rows)} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def gradient_curves(runs, checkpoint_dir, path):
    """The generator's gradient norm per logged step (log scale), its LSGAN and regularizer
    parts for lsgan_reg, and the mean norm of grad_x D at generated samples, per model."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for model, run in runs.items():
        csv_path = Path(checkpoint_dir) / run / 'gradients.csv'
        if not csv_path.exists():
            continue
        log = read_losses(csv_path)
        if not len(log.get('step', ())):
            continue
        line, = axes[0].plot(log['step'], log['g_grad_norm'], label=LABELS[model])
        for part, style in (('lsgan', '--'), ('reg', ':')):
            if f'g_grad_norm_{part}' in log:
                axes[0].plot(log['step'], log[f'g_grad_norm_{part}'], style, color=line.get_color(),
                             label=f'{LABELS[model]}: {part} part')
        axes[1].plot(log['step'], log['d_grad_x_norm'], label=LABELS[model])
    axes[0].set_title("norm of the gradient of G's loss w.r.t. G's weights", fontsize=10)
    axes[1].set_title('mean norm of grad_x D(x) at generated samples', fontsize=10)
    for ax in axes:
        ax.set_yscale('log')
        ax.set_xlabel('step')
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    _save(fig, path)


def gradcheck_figure(rows, d_steps, path):
    """gradcheck.py's measurements: per G state, each G loss's gradient norm after K steps of D
    relative to its value at K = 0 (mean over seeds), and ||grad_x D|| at generated images."""
    g_states = list(dict.fromkeys(row['g_state'] for row in rows))
    fig, axes = plt.subplots(2, len(g_states), figsize=(6 * len(g_states), 8), squeeze=False)
    for column, g_state in enumerate(g_states):
        mine = [row for row in rows if row['g_state'] == g_state]
        for loss in dict.fromkeys(row['loss'] for row in mine):
            _plot_mean_over_seeds(axes[0, column], mine, d_steps, loss, 'loss', 'g_grad_norm',
                                  relative=True)
        d_side = one_row_per_discriminator(mine)
        for d_model in dict.fromkeys(row['d_model'] for row in d_side):
            _plot_mean_over_seeds(axes[1, column], d_side, d_steps, d_model, 'd_model',
                                  'd_grad_x_norm')
        axes[0, column].set_title(f'G {g_state}:\n||grad_G L_G|| after K steps of D / at K=0',
                                  fontsize=10)
        axes[1, column].set_title('mean ||grad_x D|| at generated images', fontsize=10)
        for ax in axes[:, column]:
            ax.set_xscale('symlog', linthresh=1)
            ax.set_yscale('log')
            ax.set_xlabel('K (discriminator steps, G frozen)')
            ax.legend(fontsize=7)
    _save(fig, path)


def _plot_mean_over_seeds(ax, rows, d_steps, label, key, value, relative=False):
    """One line: rows[key] == label, `value` against K, mean over seeds with min-max bars."""
    by_seed = {}
    for row in rows:
        if row[key] == label:
            by_seed.setdefault(row['seed'], {})[int(row['d_steps'])] = float(row[value])
    curves = np.array([[seed_values[k] for k in d_steps] for seed_values in by_seed.values()
                       if all(k in seed_values for k in d_steps)])
    if not len(curves):
        return
    if relative:
        curves = curves / curves[:, :1]
    mean = curves.mean(0)
    ax.errorbar(d_steps, mean, yerr=[mean - curves.min(0), curves.max(0) - mean], marker='o',
                capsize=3, label=f'{label} (n={len(curves)})')


def toy_figure(snapshots, real, extent, path):
    """snapshots: {model: {step: (generated points, D's output on a grid over `extent`)}}. One
    row per model, one column per step: D's output (its own colour scale in each panel), the
    real points in grey and the generated ones in orange."""
    labels = list(snapshots)
    steps = sorted(next(iter(snapshots.values())))
    fig, axes = plt.subplots(len(labels), len(steps), figsize=(2.2 * len(steps), 2.2 * len(labels)),
                             squeeze=False)
    for row, label in enumerate(labels):
        for column, step in enumerate(steps):
            ax = axes[row, column]
            points, surface = snapshots[label][step]
            ax.imshow(surface, extent=extent, origin='lower', cmap='Blues', aspect='auto')
            ax.scatter(real[:, 0], real[:, 1], s=1, c='grey')
            ax.scatter(points[:, 0], points[:, 1], s=1, c='tab:orange')
            ax.set_xlim(extent[:2])
            ax.set_ylim(extent[2:])
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f'step {step}', fontsize=9)
            if column == 0:
                ax.set_ylabel(label, fontsize=8)
    _save(fig, path)


def toy_curves(rows, path):
    """Per model (mean over seeds): ||grad_G L_G||, ||grad_x D|| at generated points and the
    share of generated points near the real support, against the step."""
    panels = {'g_grad_norm': "norm of the gradient of G's loss", 'd_grad_x_norm':
              'mean norm of grad_x D at generated points', 'near_support':
              'share of generated points near the real support'}
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4))
    for label in dict.fromkeys(row['model'] for row in rows):
        mine = [row for row in rows if row['model'] == label]
        steps = sorted({int(row['step']) for row in mine})
        for ax, key in zip(axes, panels):
            means = [np.mean([float(r[key]) for r in mine if int(r['step']) == s]) for s in steps]
            ax.plot(steps, means, label=label)
    for ax, (key, title) in zip(axes, panels.items()):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel('step')
        if key != 'near_support':
            ax.set_yscale('log')
    axes[0].legend(fontsize=7)
    _save(fig, path)
