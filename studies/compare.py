"""The study's figures and tables from finished runs (`python main.py --mode=compare`): the
slides' Figure 1 (every model after epoch K), Figure 2 (LSGAN against the regularized LSGAN
across epochs), loss, metric and gradient curves, a GIF per run and RESULTS.md (metrics per
epoch, mean +- std over seeds, beside the real-data floor and the FID noise level). Everything
is read from <sample_dir>/<run>/ and <checkpoint_dir>/<run>/, so all of it can be redrawn at
any time from what the runs left on disk (or from the copies under results/runs/).
"""
import json
from pathlib import Path

import imageio.v3 as iio
import matplotlib

matplotlib.use('Agg')  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
from absl import logging  # noqa: E402

import config  # noqa: E402
import evaluate  # noqa: E402
import gan_step  # noqa: E402
import metrics  # noqa: E402
import registry  # noqa: E402
import utils  # noqa: E402
from studies import paired  # noqa: E402

FIGURE2_MODELS = ('lsgan', 'lsgan_reg')  # the slides' Figure 2
RELATIVE_PAIR = ('lsgan', 'ralsgan')  # the published relative of the slides' regularizer
RELATIVE_SCHEME = ('paper', 'ralsgan')  # a protocol and the model whose scheme all share
TABLE_METRICS = ('fid', 'classifier_score', 'precision', 'recall', 'density', 'coverage',
                 'classes_covered')
METRIC_TITLES = {'fid': 'FID vs test digits (lower is better)',
                 'classifier_score': 'classifier score (10 at most)',
                 'precision': 'precision (k = 3)', 'recall': 'recall (k = 3)',
                 'coverage': 'coverage (k = 5)', 'classes_covered': 'classes covered'}


def label(model):
    return registry.MODELS[model].label


def colour(model):
    """One colour per model, the same in every figure whichever models it shows."""
    cycle = plt.rcParams['axes.prop_cycle'].by_key()['color']
    return cycle[list(registry.MODELS).index(model) % len(cycle)]


def grid_path(sample_dir, run, epoch):
    return Path(sample_dir) / run / f'epoch_{epoch:03d}.png'


def _show_grids(panels, path, columns, title):
    """panels: [(label, png path)], drawn in rows of `columns`. Panels whose grid does not exist
    (a study still running) are left out with a warning; none at all is an error."""
    missing = [str(p) for _, p in panels if not Path(p).exists()]
    panels = [(text, p) for text, p in panels if Path(p).exists()]
    if not panels:
        raise FileNotFoundError(f'missing sample grids: {", ".join(missing)}')
    if missing:
        logging.warning('%s: no grid yet for %s', Path(path).name, ', '.join(missing))
    columns = min(columns, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 3.0 * rows + 0.4),
                             squeeze=False, layout='constrained')
    for ax in axes.ravel():
        ax.axis('off')
    for ax, (text, png) in zip(axes.ravel(), panels):
        ax.imshow(iio.imread(png), cmap='gray', vmin=0, vmax=255)
        ax.set_title(text, fontsize=10)
    fig.suptitle(title)
    utils.save_figure(fig, path)


def figure1(runs, sample_dir, epoch, path):
    """runs: {model: run name}. Every model's grid at `epoch`, labelled."""
    panels = [(label(m), grid_path(sample_dir, run, epoch)) for m, run in runs.items()]
    _show_grids(panels, path, columns=4, title=f'Samples after {epoch} epochs (the same fixed z)')


def figure2(runs, sample_dir, epochs, path):
    """LSGAN (top row) and the regularized LSGAN (bottom row) at the given epochs."""
    panels = [(f'{label(m)}, epoch {e}', grid_path(sample_dir, runs[m], e))
              for m in FIGURE2_MODELS for e in epochs]
    _show_grids(panels, path, columns=len(epochs), title='LSGAN vs LSGAN + regularizer')


def read_columns(path):
    """A CSV -> {column: float array} (blank cells are NaN)."""
    rows = utils.read_csv(path)
    return {key: np.array([float(r[key]) if r.get(key) else np.nan for r in rows])
            for key in (rows[0] if rows else ())}


def epoch_means(log, key):
    epochs = log['epoch'].astype(int)
    return np.unique(epochs), np.array([log[key][epochs == e].mean() for e in np.unique(epochs)])


def _panels(n, width=4.0, height=3.0, columns=3):
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, min(columns, n), figsize=(width * min(columns, n), height * rows),
                             squeeze=False, layout='constrained')
    for ax in axes.ravel()[n:]:
        ax.axis('off')
    return fig, axes.ravel()


def loss_curves(runs, checkpoint_dir, path):
    """Per-epoch mean of every logged loss term for each run, one panel per model (the losses
    of different models are on different scales)."""
    logs = {model: log for model, run in runs.items()
            if (log := read_columns(Path(checkpoint_dir) / run / 'losses.csv'))}
    fig, axes = _panels(max(len(logs), 1))
    for ax, (model, log) in zip(axes, logs.items()):
        for key in log:
            if key.startswith(('d_', 'g_')):
                ax.plot(*epoch_means(log, key), marker='.', label=key)
        ax.set_title(label(model), fontsize=10)
        ax.set_xlabel('epoch')
        ax.legend(fontsize=7)
    utils.save_figure(fig, path)


def _metrics_log(checkpoint_dir, run):
    path = Path(checkpoint_dir) / run / 'metrics.csv'
    return read_columns(path) if path.exists() else None


def metric_curves(runs_by_seed, checkpoint_dir, path):
    """Each metric per epoch, one line per model and seed (seeds share their model's colour)."""
    fig, axes = _panels(len(METRIC_TITLES))
    for ax, (metric, title) in zip(axes, METRIC_TITLES.items()):
        labelled = set()  # one legend entry per model, from whichever seed has a curve
        for runs in runs_by_seed.values():
            for model, run in runs.items():
                log = _metrics_log(checkpoint_dir, run)
                if log and metric in log and len(log['epoch']) > 1:
                    ax.plot(log['epoch'], log[metric], color=colour(model), alpha=0.8,
                            label=None if model in labelled else label(model))
                    labelled.add(model)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel('epoch')
        if metric == 'classes_covered':  # from 0, or a flat line at 10 fills the panel
            ax.set_ylim(0, 10.5)
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=7)
    utils.save_figure(fig, path)


def gradient_curves(runs, checkpoint_dir, path):
    """The generator's gradient norm per logged step (log scale), with the norm of each term of
    its loss where it has several, and the mean norm of grad_x D at generated samples."""
    fig, axes = _panels(2, width=6, height=4, columns=2)
    for model, run in runs.items():
        log = read_columns(Path(checkpoint_dir) / run / 'gradients.csv')
        if not len(log.get('step', ())):
            continue
        axes[0].plot(log['step'], log['g_grad_norm'], color=colour(model), label=label(model))
        terms = [k for k in log if k.startswith('g_grad_norm_')]
        for key, style in zip(terms, ('--', ':', '-.')):
            axes[0].plot(log['step'], log[key], style, color=colour(model),
                         label=f'{label(model)}: {key[len("g_grad_norm_"):]} term')
        axes[1].plot(log['step'], log['d_grad_x_norm'], color=colour(model), label=label(model))
    axes[0].set_title("norm of the gradient of G's loss w.r.t. G's weights", fontsize=10)
    axes[1].set_title('mean norm of grad_x D(x) at generated samples', fontsize=10)
    for ax in axes:
        ax.set_yscale('log')
        ax.set_xlabel('step')
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    utils.save_figure(fig, path)


def animate(sample_dir, run, path, seconds_per_frame=0.4):
    """The run's grids, epoch after epoch, as one animated GIF."""
    frames = [iio.imread(p) for p in sorted((Path(sample_dir) / run).glob('epoch_*.png'))]
    if frames:
        iio.imwrite(path, np.stack(frames), extension='.gif', duration=seconds_per_frame * 1000,
                    loop=0)


def _json(path):
    return json.loads(Path(path).read_text()) if Path(path).exists() else None


def real_floor(runs, checkpoint_dir):
    """The real digits' scores, from the classifier.json of any of `runs` (None if none has one)."""
    return next((info['real_floor'] for run in runs
                 if (info := _json(Path(checkpoint_dir) / run / 'classifier.json'))), None)


def fid_gaps(runs, checkpoint_dir):
    """|FID(z set 1) - FID(z set 2)| of the final G of each of `runs` that has a final.json."""
    return [abs(f['fid'] - f['fid_second_z']) for run in runs
            if (f := _json(Path(checkpoint_dir) / run / 'final.json'))]


def noise_sentence(gaps):
    return (f'FID noise level: |FID(z set 1) - FID(z set 2)| of the final G, mean '
            f'{np.mean(gaps):.3g}, largest {np.max(gaps):.3g} over {len(gaps)} runs: '
            'differences smaller than this are noise.')


def reference_rows(runs_by_seed, checkpoint_dir):
    """{classifier (classifier_label): its real-data floor}, one entry per classifier that scored
    any of the runs, in the order of the runs, and the FID gaps of the runs."""
    runs = [run for runs in runs_by_seed.values() for run in runs.values()]
    floors = {}
    for run in runs:
        if info := _json(Path(checkpoint_dir) / run / 'classifier.json'):
            floors.setdefault(classifier_label(info), info['real_floor'])
    return floors, fid_gaps(runs, checkpoint_dir)


def results_table(runs_by_seed, checkpoint_dir, epoch):
    """RESULTS.md: per model, the metrics at `epoch` as mean +- std over the seeds that have it."""
    header = ' | '.join(TABLE_METRICS)
    lines = [f'## After epoch {epoch}', '',
             f'| model | n | {header} |', '| --- | ---: |' + ' ---: |' * len(TABLE_METRICS)]
    for model in registry.MODELS:
        rows = []
        for runs in runs_by_seed.values():
            log = _metrics_log(checkpoint_dir, runs[model])
            if log and epoch in log['epoch']:
                i = int(np.where(log['epoch'] == epoch)[0][-1])
                rows.append([log[k][i] if k in log else np.nan for k in TABLE_METRICS])
        cells = [utils.mean_std(column) for column in np.array(rows).T] if rows else [''] * len(TABLE_METRICS)
        lines.append(f'| {label(model)} | {len(rows)} | ' + ' | '.join(cells) + ' |')
    floors, _ = reference_rows(runs_by_seed, checkpoint_dir)
    for classifier, floor in floors.items():
        which = f', classifier {classifier}' if len(floors) > 1 else ''
        lines.append(f'| *real digits (floor{which})* | | ' + ' | '.join(
            f'{floor[k]:.3g}' if k in floor else '' for k in TABLE_METRICS) + ' |')
    return '\n'.join(lines) + '\n'


def fid_by_epoch(runs, checkpoint_dir):
    """FID at every scored epoch, one column per model of `runs` that has a metrics log."""
    logs = {model: log for model, run in runs.items()
            if (log := _metrics_log(checkpoint_dir, run)) and len(log['epoch'])}
    if not logs:
        return ''
    epochs = sorted({int(e) for log in logs.values() for e in log['epoch']})
    lines = ['| epoch | ' + ' | '.join(label(m) for m in logs) + ' |',
             '| ---: |' + ' ---: |' * len(logs)]
    for epoch in epochs:
        cells = [f'{log["fid"][log["epoch"] == epoch][-1]:.3g}' if epoch in log['epoch'] else ''
                 for log in logs.values()]
        lines.append(f'| {epoch} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def _paired_logs(runs_by_seed, checkpoint_dir, models):
    """{seed: ({epoch: FID} of models[0], the same of models[1])} for the seeds with both logs.
    A seed gives both runs the same initial weights, data order and z, so they are a pair."""
    pairs = {}
    for seed, runs in runs_by_seed.items():
        logs = [_metrics_log(checkpoint_dir, runs[m]) for m in models]
        if all(log is not None for log in logs):
            pairs[seed] = tuple({int(e): f for e, f in zip(log['epoch'], log['fid'])}
                                for log in logs)
    return pairs


def paired_fids(runs_by_seed, checkpoint_dir, epoch, models=FIGURE2_MODELS):
    """Two models (the slides' headline pair by default) seed by seed at `epoch`, and in how
    many epochs the second was the lower one."""
    base, other = (label(m) for m in models)
    rows = []
    for seed, (fid_base, fid_other) in _paired_logs(runs_by_seed, checkpoint_dir, models).items():
        if epoch in fid_base and epoch in fid_other:
            shared = sorted(set(fid_base) & set(fid_other))
            lower = sum(fid_other[e] < fid_base[e] for e in shared)
            rows.append((seed, fid_base[epoch], fid_other[epoch], lower, len(shared)))
    if not rows:
        return ''
    lines = [f'FID at epoch {epoch}. A seed gives both runs the same initial weights, data order '
             f'and z, so each seed is a pair; difference = {base} - {other} (positive: {other} '
             'is lower). The last column counts the epochs both runs scored.', '',
             f'| seed | {base} | {other} | difference | epochs where {other} is lower |',
             '| ---: | ---: | ---: | ---: | ---: |']
    lines += [f'| {seed} | {a:.3g} | {b:.3g} | {a - b:.3g} | {lower} of {n} |'
              for seed, a, b, lower, n in rows]
    _, a, b, lower, n = (np.array(column) for column in zip(*rows))
    lines.append(f'| mean +- std, n = {len(rows)} | {utils.mean_std(a)} | {utils.mean_std(b)} | '
                 f'{utils.mean_std(a - b)}; positive in {int((a > b).sum())} of {len(rows)} | '
                 f'{lower.sum()} of {n.sum()} |')
    return '\n'.join(lines) + '\n'


def epoch_differences(runs_by_seed, checkpoint_dir):
    """{epoch: {seed: FID of the pair's first model - its second}} at every epoch both runs of
    a seed scored."""
    by_epoch = {}
    for seed, (a, b) in _paired_logs(runs_by_seed, checkpoint_dir, FIGURE2_MODELS).items():
        for epoch in sorted(set(a) & set(b)):
            by_epoch.setdefault(epoch, {})[seed] = a[epoch] - b[epoch]
    return dict(sorted(by_epoch.items()))


def paired_differences(runs_by_seed, checkpoint_dir):
    """The headline pair's FID difference at every epoch, seed by seed, with its paired
    statistics: where in training the two runs of a seed differ, and how sure that is."""
    by_epoch = epoch_differences(runs_by_seed, checkpoint_dir)
    if not by_epoch:
        return ''
    seeds = sorted({seed for differences in by_epoch.values() for seed in differences})
    base, other = (label(m) for m in FIGURE2_MODELS)
    lines = [f'{base} - {other} (positive: {other} is lower), FID at every scored '
             'epoch, within each seed\'s pair (both runs of a seed were scored by one classifier); '
             'the mean with its 95% t-interval and the two-sided Wilcoxon signed-rank p-value '
             '(exact) over the seeds.',
             '', '| epoch | ' + ' | '.join(f'seed {seed}' for seed in seeds)
             + f' | {paired.HEADER.format(other=other)} |',
             '| ---: |' + ' ---: |' * (len(seeds) + 6)]
    for epoch, differences in by_epoch.items():
        cells = [f'{differences[seed]:.3g}' if seed in differences else '' for seed in seeds]
        lines.append(f'| {epoch} | ' + ' | '.join(cells) + ' | '
                     + paired.cells(paired.statistics(list(differences.values()))) + ' |')
    return '\n'.join(lines) + '\n'


def paired_difference_figure(runs_by_seed, checkpoint_dir, path):
    """The headline pair's FID difference per epoch: each seed a thin line, the mean with its
    95% t-band (nothing is drawn before two seeds)."""
    by_epoch = epoch_differences(runs_by_seed, checkpoint_dir)
    epochs = [e for e, d in by_epoch.items() if len(d) > 1]
    if not epochs:  # no spread to draw before two seeds
        return
    fig, ax = plt.subplots(figsize=(6.5, 4), layout='constrained')
    for seed in sorted({s for d in by_epoch.values() for s in d}):
        seed_epochs = [e for e, d in by_epoch.items() if seed in d]
        ax.plot(seed_epochs, [by_epoch[e][seed] for e in seed_epochs], color='0.6', lw=0.7)
    stats = [paired.statistics(list(by_epoch[e].values())) for e in epochs]
    ax.fill_between(epochs, [s.ci[0] for s in stats], [s.ci[1] for s in stats], alpha=0.3,
                    color=colour(FIGURE2_MODELS[1]), label='95% t-interval of the mean')
    counts = sorted({s.n for s in stats})
    n = f'{counts[0]}' if len(counts) == 1 else f'{counts[0]}-{counts[-1]} by epoch'
    ax.plot(epochs, [s.mean for s in stats], color=colour(FIGURE2_MODELS[1]), marker='.',
            label=f'mean over seeds (n = {n})')
    ax.axhline(0, color='k', lw=0.8)
    base, other = (label(m) for m in FIGURE2_MODELS)
    ax.set(xlabel='epoch', ylabel=f'FID of {base} - FID of {other}',
           title=f'Paired FID difference, each seed in grey\nabove 0: {other} is better')
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    utils.save_figure(fig, path)


def g_updates(cfg, steps):
    """How many G updates cfg's critic schedule makes in its first `steps` training steps."""
    schedule = gan_step.CriticSchedule(cfg)
    return sum(schedule.g_turn(step) for step in range(1, steps + 1))


def scheme_row(model, setting, cfg, checkpoint_dir, epochs, final_fids):
    """A row of a table of runs trained under named schemes: cfg's run's FID at `epochs`, the
    last one's classifier score and coverage, its final samples' FID under classifier 0, the G
    updates its schedule made by then (a protocol with n_critic D updates per G update trains
    G less in the same steps) and its training-loop wall time; None before epochs[-1]."""
    run = config.run_name(cfg)
    log = _metrics_log(checkpoint_dir, run)
    if log is None or epochs[-1] not in log['epoch']:
        return None
    at = {e: log['epoch'] == e for e in epochs}
    last = at[epochs[-1]]
    cells = [f'{log["fid"][at[e]][-1]:.3g}' if at[e].any() else '' for e in epochs]
    losses = utils.read_csv(Path(checkpoint_dir) / run / 'losses.csv')
    wall = utils.duration(float(losses[-1]['wall_s'])) if losses else ''
    final = f'{final_fids[run][0]:.3g}' if 0 in final_fids.get(run, {}) else ''
    return (f'| {label(model)} | {setting} | {g_updates(cfg, int(log["step"][last][-1]))} | '
            + ' | '.join(cells) + f' | {log["classifier_score"][last][-1]:.3g} | '
            f'{log["coverage"][last][-1]:.3g} | {final} | {wall} |')


def scheme_table(caption, setting, rows, epochs):
    """scheme_row's rows under their caption and header (`setting` names the second column)."""
    return '\n'.join([
        caption, '', f'| model | {setting} | G updates | '
        + ' | '.join(f'FID epoch {e}' for e in epochs)
        + f' | classifier score epoch {epochs[-1]} | coverage epoch {epochs[-1]} | '
        'final samples FID (classifier 0) | training-loop wall time |',
        '| --- | --- |' + ' ---: |' * (len(epochs) + 5), *rows]) + '\n'


def protocol_comparison(cfg, checkpoint_dir, epochs, final_fids):
    """Each model with a run of cfg.seed under both protocols, side by side (scheme_row)."""
    rows = []
    for model in registry.MODELS:
        pair = [scheme_row(model, p, cfg.under(p, model), checkpoint_dir, epochs, final_fids)
                for p in registry.PROTOCOLS]
        if None not in pair:
            rows += pair
    if not rows:
        return ''
    return scheme_table(
        f'Seed {cfg.seed}: the models trained under both protocols (registry.py; README, Models '
        f'and protocols), the same {epochs[-1]} epochs of training steps each.', 'protocol',
        rows, epochs)


def shared_scheme_comparison(cfg, checkpoint_dir, epochs, final_fids):
    """RaLSGAN and the two LSGANs of cfg.seed all trained under RaLSGAN's paper scheme (the
    LSGANs with --protocol=paper and that scheme's settings as flags), so that only the
    losses differ; '' until all three have run."""
    protocol, owner = RELATIVE_SCHEME
    scheme = registry.scheme(protocol, owner)
    models = dict.fromkeys((*FIGURE2_MODELS, owner))
    setting = f"{label(owner)}'s {protocol}"
    rows = [scheme_row(m, setting, cfg.replace(protocol=protocol, model=m, **scheme),
                       checkpoint_dir, epochs, final_fids) for m in models]
    if None in rows:
        return ''
    acting = registry.relevant_scheme(owner, scheme['optimizer'])
    return scheme_table(
        f'Seed {cfg.seed}: {", ".join(label(m) for m in models)} under one scheme, {setting} '
        f'settings ({", ".join(f"{k} {v}" for k, v in scheme.items() if k in acting)}; the '
        f'LSGANs with --protocol={protocol} and the differing settings as flags), the same '
        f'{epochs[-1]} epochs of training steps each: only the losses differ.', 'settings',
        rows, epochs)


def read_final_fids(scores_path):
    """({run: {classifier: FID of its final samples}}, {classifier: its test accuracy}) from
    --mode=rescore's CSV (both empty without one)."""
    fids, accuracy = {}, {}
    for row in utils.read_csv(scores_path):
        fids.setdefault(row['run'], {})[int(row['classifier'])] = float(row['fid'])
        accuracy[int(row['classifier'])] = float(row['classifier_test_accuracy'])
    return fids, accuracy


def final_scores(runs_by_seed, scores_path):
    """FID of each run's final_1000.npz under every classifier of --mode=rescore's CSV, with its
    range over the classifiers, then the headline pair's paired difference under each."""
    fids, accuracy = read_final_fids(scores_path)
    seed_of = {run: seed for seed, runs in runs_by_seed.items() for run in runs.values() if run in fids}
    if not seed_of:
        return ''
    classifiers = sorted({c for run in seed_of for c in fids[run]})
    names = [f'classifier {c}' + (' (metrics)' if c == 0 else '') for c in classifiers]
    lines = ['FID of the 1,000 samples in each run\'s final_1000.npz (the first 1,000 z of the '
             'fixed evaluation set, at the end of the run; FID of 1,000 samples is higher than of '
             '5,000) under digit classifiers that differ only in their training seed '
             '(`python main.py --mode=rescore`, final_scores.csv beside the runs). Classifier 0 is the '
             'one behind every other metric (data/classifier.npz); all three ship with the '
             'project (data/README.md). The range is how much a FID owes to which '
             'equally good classifier defines it.', '',
             '| run | seed | ' + ' | '.join(names) + ' | range |', '| --- | ---: |' + ' ---: |' * (len(names) + 1),
             '| *the classifier\'s test accuracy* | | ' + ' | '.join(f'{accuracy[c]:.4f}' for c in classifiers) + ' | |']
    for run, seed in seed_of.items():
        values = [fids[run].get(c, np.nan) for c in classifiers]
        lines.append(f'| {run} | {seed} | ' + ' | '.join(f'{v:.3g}' for v in values)
                     + f' | {np.nanmax(values) - np.nanmin(values):.2g} |')
    if evaluate.REAL_DIGITS in fids:  # each classifier's floor at this n
        values = [fids[evaluate.REAL_DIGITS].get(c, np.nan) for c in classifiers]
        lines.append('| *real digits (1,000 training digits)* | | '
                     + ' | '.join(f'{v:.3g}' for v in values) + ' | |')
    base, other = (label(m) for m in FIGURE2_MODELS)
    pairs = [(seed, [fids[runs[FIGURE2_MODELS[0]]][c] - fids[runs[FIGURE2_MODELS[1]]][c] for c in classifiers])
             for seed, runs in runs_by_seed.items()
             if all(set(classifiers) <= set(fids.get(runs[m], {})) for m in FIGURE2_MODELS)]
    if pairs:
        lines += ['', f'The same samples, {base} - {other} seed by seed (positive: the regularized '
                  'run is lower) under each classifier.', '',
                  '| seed | ' + ' | '.join(names) + ' |', '| ---: |' + ' ---: |' * len(names)]
        lines += [f'| {seed} | ' + ' | '.join(f'{d:.3g}' for d in diffs) + ' |' for seed, diffs in pairs]
        lines += ['', f'| classifier | {paired.HEADER.format(other=other)} |', '| --- |' + ' ---: |' * 6]
        lines += [f'| {name} | {paired.cells(paired.statistics(d))} |'
                  for name, d in zip(names, np.array([diffs for _, diffs in pairs]).T)]
    return '\n'.join(lines) + '\n'


def early_sample_statistics(runs_by_seed, scores_path):
    """The headline pair's paired FID difference on the 1,000 samples each run kept at its
    early epochs (samples_1000_epoch_NNN.npz, --mode=rescore's early_scores.csv, classifier 0),
    with its paired statistics per epoch."""
    fid = {(r['run'], int(r['epoch'])): float(r['fid']) for r in utils.read_csv(scores_path)
           if int(r['classifier']) == 0}
    by_epoch = {}
    for seed, runs in runs_by_seed.items():
        for epoch in sorted({e for run, e in fid if run == runs[FIGURE2_MODELS[0]]}):
            if (runs[FIGURE2_MODELS[1]], epoch) in fid:
                by_epoch.setdefault(epoch, []).append(
                    fid[runs[FIGURE2_MODELS[0]], epoch] - fid[runs[FIGURE2_MODELS[1]], epoch])
    if not by_epoch:
        return ''
    base, other = (label(m) for m in FIGURE2_MODELS)
    lines = [f'FID of the 1,000 samples of the fixed evaluation z that each run kept at its early '
             f'epochs (samples_1000_epoch_NNN.npz beside the runs, scored by classifier 0 into '
             f'{Path(scores_path).name} by `python main.py --mode=rescore`): {base} - {other} '
             'within each seed\'s pair (positive: the regularized run is lower).', '',
             f'| epoch | {paired.HEADER.format(other=other)} |', '| ---: |' + ' ---: |' * 6]
    lines += [f'| {epoch} | {paired.cells(paired.statistics(d))} |' for epoch, d in sorted(by_epoch.items())]
    return '\n'.join(lines) + '\n'


PAUSE_S = 20  # a gap between two logged steps longer than any epoch end's grid, metrics and checkpoint


def classifier_label(info):
    """The classifier a run's classifier.json describes, as its test accuracy / real-data floor
    FID (which tell apart the classifiers trained on different machines)."""
    return f'{info["test_accuracy"]:.4f} / {info["real_floor"]["fid"]:.3g}'


def run_times(runs_by_seed, checkpoint_dir):
    """Per run that has a loss log: its seed, the steps and epochs it has trained, the training
    loop's wall time over all its invocations (losses.csv's wall_s), how much of it went to gaps
    over PAUSE_S between two steps (the run paused, or the machine busy), its median step, the
    CPU of its last invocation (run.json; with whether oneDNN's kernels ran, where recorded) and
    the classifier that scored it."""
    lines = ['| run | seed | steps | epochs | training-loop wall time | in gaps over '
             f'{PAUSE_S} s | median step | CPU | classifier: test accuracy / floor FID |',
             '| --- |' + ' ---: |' * 6 + ' --- | --- |']
    for seed, runs in runs_by_seed.items():
        for run in runs.values():
            rows = utils.read_csv(Path(checkpoint_dir) / run / 'losses.csv')
            if rows:
                last = rows[-1]
                gaps = np.diff([float(r['wall_s']) for r in rows])
                median = f'{np.median(gaps):.3f} s' if len(gaps) else ''
                record = _json(Path(checkpoint_dir) / run / 'run.json') or {}
                cpu = record.get('cpu', 'not recorded') + (
                    f', oneDNN {"on" if record["onednn"] else "off"}' if 'onednn' in record else '')
                info = _json(Path(checkpoint_dir) / run / 'classifier.json')
                lines.append(f'| {run} | {seed} | {last["step"]} | {last["epoch"]} | '
                             f'{utils.duration(float(last["wall_s"]))} | '
                             f'{utils.duration(gaps[gaps > PAUSE_S].sum())} | {median} | {cpu} | '
                             f'{classifier_label(info) if info else ""} |')
    return '\n'.join(lines) + '\n' if len(lines) > 2 else ''


def results_page(runs_by_seed, checkpoint_dir, epochs, scores_path, scheme_sections=None):
    """RESULTS.md: the per-epoch tables, then a section per analysis, with `scheme_sections`
    ({heading: text}, drawn by study_page from runs outside runs_by_seed) after the final
    samples."""
    floors, gaps = reference_rows(runs_by_seed, checkpoint_dir)
    intro = ['# Results of the study', '',
             'Mean +- sample standard deviation over seeds (n = seeds with a score at that epoch), '
             f'from {", ".join(str(s) for s in runs_by_seed)}. Metrics of 5,000 samples of a fixed '
             "z against the 10,000 MNIST test digits, on this project's digit-classifier "
             'features (metrics.py): compare them within these tables only.', '']
    if len(floors) > 1:
        intro += [f'These runs were scored during training by {len(floors)} different digit '
                  'classifiers (the last column of the run table, test accuracy / floor FID; '
                  'each has its floor row): the ones trained on different CPUs before the '
                  'classifier shipped with the project. A table that mixes them mixes their '
                  'FIDs; the final samples under one classifier (below) do not.', '']
    if floors:
        intro.append(f'Real-data floor: {metrics.FLOOR_N} training digits scored the same way.')
    if gaps:
        intro.append(noise_sentence(gaps))
    seed, runs = next(iter(runs_by_seed.items()))
    sections = {f'{" against ".join(label(m) for m in FIGURE2_MODELS)}, seed by seed':
                paired_fids(runs_by_seed, checkpoint_dir, epochs[-1]),
                f'{" - ".join(label(m) for m in FIGURE2_MODELS)} at every epoch':
                paired_differences(runs_by_seed, checkpoint_dir),
                f'{" against ".join(label(m) for m in RELATIVE_PAIR)}, seed by seed':
                paired_fids(runs_by_seed, checkpoint_dir, epochs[-1], RELATIVE_PAIR),
                'Final samples under one classifier, and under others': final_scores(runs_by_seed, scores_path),
                'Early samples under one classifier': early_sample_statistics(
                    runs_by_seed, Path(scores_path).with_name(evaluate.EARLY_SCORES)),
                **(scheme_sections or {}),
                f'FID at every scored epoch, seed {seed}': fid_by_epoch(runs, checkpoint_dir),
                'Runs': run_times(runs_by_seed, checkpoint_dir)}
    return '\n'.join(intro) + '\n\n' + '\n'.join(
        results_table(runs_by_seed, checkpoint_dir, e) for e in epochs) + ''.join(
        f'\n## {heading}\n\n{text}' for heading, text in sections.items() if text)


def runs_of(cfg, seed):
    """{model: the run name the config gives it with `seed`}."""
    return {m: config.run_name(cfg.replace(seed=seed), model=m) for m in registry.MODELS}


def study_page(cfg):
    """RESULTS.md of the runs cfg names over cfg.seeds: one table per epoch of Figure 2 and
    Figure 1 (early epochs may have more seeds than the last), and the runs of the first seed
    under other schemes."""
    epochs = sorted({cfg.compare_epoch or cfg.epochs, *cfg.figure2_epochs})
    scores = Path(cfg.sample_dir) / evaluate.FINAL_SCORES
    final_fids = read_final_fids(scores)[0]
    first = cfg.replace(seed=cfg.seeds[0])
    protocol, owner = RELATIVE_SCHEME
    schemes = {"The course code's settings against the papers'":
               protocol_comparison(first, cfg.checkpoint_dir, epochs, final_fids),
               f"{label(owner)} and the LSGANs under {label(owner)}'s {protocol} settings":
               shared_scheme_comparison(first, cfg.checkpoint_dir, epochs, final_fids)}
    return results_page({seed: runs_of(cfg, seed) for seed in cfg.seeds}, cfg.checkpoint_dir,
                        epochs, scores, schemes)


def draw(cfg):
    """--mode=compare: figures of cfg.seed's runs, tables and curves over cfg.seeds."""
    runs = runs_of(cfg, cfg.seed)
    runs_by_seed = {seed: runs_of(cfg, seed) for seed in cfg.seeds}
    epoch = cfg.compare_epoch or cfg.epochs
    out = Path(cfg.out_dir) / f'seed{cfg.seed}'
    try:
        figure1(runs, cfg.sample_dir, epoch, out / 'figure1.png')
        figure2(runs, cfg.sample_dir, cfg.figure2_epochs, out / 'figure2.png')
        loss_curves(runs, cfg.checkpoint_dir, out / 'losses.png')
        gradient_curves(runs, cfg.checkpoint_dir, out / 'gradients.png')
    except FileNotFoundError as error:
        utils.fail(error)
    for model, run in runs.items():
        animate(cfg.sample_dir, run, out / f'{model}.gif')
    metric_curves(runs_by_seed, cfg.checkpoint_dir, Path(cfg.out_dir) / 'metrics.png')
    paired_difference_figure(runs_by_seed, cfg.checkpoint_dir, Path(cfg.out_dir) / 'paired_difference.png')
    page = study_page(cfg)
    utils.write_atomically(Path(cfg.out_dir) / 'RESULTS.md', lambda tmp: tmp.write_text(page))
    logging.info('Figures written to %s, RESULTS.md and metrics.png to %s', out, cfg.out_dir)
