"""Seeds of the headline pair trained more than once, on an AMX Xeon and on an AVX2-only EPYC.

python -m studies.rerun [seed8]  prints, for seed 8, from
results/rerun_seed8_avx2/{xeon,epyc,epyc_onednn}/: how far each EPYC training's losses are from
the Xeon's after a few steps (TensorFlow's own kernels and oneDNN's), the FID per epoch of each,
the paired differences and the EPYC's seconds per step; and how many logged steps the Xeon's
second training (the seed-8 runs of results/runs/) shares with its first to the last bit.
python -m studies.rerun seed9  prints, for seed 9, the FID per epoch and the paired differences of
the Xeon's first five epochs (results/rerun_seed9/xeon/) and of the EPYC's 20-epoch training
that replaced them in results/runs/.
"""
import functools
import sys
from pathlib import Path

import numpy as np

import config
import utils
from studies import compare

RESULTS = Path(__file__).resolve().parent.parent / 'results'
ROOT = RESULTS / 'rerun_seed8_avx2'
SEED9_ROOT = RESULTS / 'rerun_seed9'
CPUS = ('xeon', 'epyc', 'epyc_onednn')  # epyc: oneDNN off, TensorFlow's default there then
EPYCS = CPUS[1:]


def headline_runs(seed):
    """{model: run name} of the headline pair at the slides' settings with `seed`."""
    runs = compare.runs_of(config.Config(), seed)
    return {model: runs[model] for model in compare.FIGURE2_MODELS}


RUNS = headline_runs(8)


@functools.cache
def read_losses(path):
    """A losses.csv, read once for both the loss gaps and the step times."""
    return compare.read_columns(path)


def losses(cpu, run):
    return read_losses(ROOT / cpu / run / 'losses.csv')


def loss_gaps(steps=(1, 2, 20, 100)):
    """| step | the largest relative difference of d_loss and g_loss between each EPYC training
    and the Xeon's, per model |"""
    logs = {(cpu, model): losses(cpu, run) for cpu in CPUS for model, run in RUNS.items()}
    lines = ['| step | ' + ' | '.join(f'{compare.label(m)}, {cpu}' for cpu in EPYCS for m in RUNS) + ' |',
             '| ---: |' + ' ---: |' * len(EPYCS) * len(RUNS)]
    for step in steps:
        cells = []
        for cpu in EPYCS:
            for model in RUNS:
                xeon, epyc = logs['xeon', model], logs[cpu, model]
                gap = max(abs(epyc[k][epyc['step'] == step][0] / xeon[k][xeon['step'] == step][0] - 1)
                          for k in ('d_loss', 'g_loss'))
                cells.append(f'{gap:.1e}')
        lines.append(f'| {step} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def difference_table(seed, roots):
    """| epoch | LSGAN - regularized in each training of `seed` |, over the epochs all of them
    scored; roots maps a training's name to the folder holding its two runs."""
    by_training = [compare.epoch_differences({seed: headline_runs(seed)}, root)
                   for root in roots.values()]
    lines = ['| epoch | ' + ' | '.join(f'difference, {name}' for name in roots) + ' |',
             '| ---: |' + ' ---: |' * len(roots)]
    for epoch in sorted(set.intersection(*map(set, by_training))):
        lines.append(f'| {epoch} | ' + ' | '.join(f'{d[epoch][seed]:.3g}' for d in by_training) + ' |')
    return '\n'.join(lines) + '\n'


def seconds_per_step(cpu, first=1000, last=5000):
    """An EPYC training's wall time per step between two steps, epoch-end evaluations included
    (two runs side by side, one thread each)."""
    times = []
    for run in RUNS.values():
        log = losses(cpu, run)
        wall = {int(s): w for s, w in zip(log['step'], log['wall_s'])}
        times.append((wall[last] - wall[first]) / (last - first))
    return times


def speed_line(cpu):
    times = seconds_per_step(cpu)
    return (f'{cpu} seconds per step, steps 1,000 to 5,000: ' + ', '.join(f'{t:.3f}' for t in times)
            + f' (20 epochs: {np.mean(times) * 18740 / 3600:.1f} h)\n')


def started(run_dir):
    """When a run first started: the month, day and time of its train.log's first line."""
    with open(run_dir / 'train.log') as log:
        stamp = log.readline().split(maxsplit=2)[:2]  # e.g. ['I1206', '20:11:45.394763']
    return f'{stamp[0][1:3]}-{stamp[0][3:5]} {stamp[1][:5]}'


def rows_repeated(first, again, key, columns):
    """(rows both logs hold, by key, and how many of them match in every column exactly)."""
    _, i, j = np.intersect1d(first[key], again[key], return_indices=True)
    same = np.all([(first[c][i] == again[c][j]) | (np.isnan(first[c][i]) & np.isnan(again[c][j]))
                   for c in columns], axis=0)  # a blank cell (NaN) matches a blank cell
    return len(i), int(np.sum(same))


def same_cpu_repeat():
    """Per model: of the steps that the Xeon record and the Xeon's second training of seed 8
    (results/runs/) both logged, how many have the same d_loss and g_loss to the last bit; and
    of the epochs both scored, how many have every metric the same."""
    lines = ['| model | first training | second training | steps both logged | identical losses '
             '| epochs both scored | identical metrics |',
             '| --- | --- | --- | ---: | ---: | ---: | ---: |']
    for model, run in RUNS.items():
        first_dir, again_dir = ROOT / 'xeon' / run, RESULTS / 'runs' / run
        first, again = ({log: compare.read_columns(d / f'{log}.csv') for log in ('losses', 'metrics')}
                        for d in (first_dir, again_dir))
        steps = rows_repeated(first['losses'], again['losses'], 'step', ('d_loss', 'g_loss'))
        epochs = rows_repeated(first['metrics'], again['metrics'], 'epoch', list(first['metrics']))
        lines.append(f'| {compare.label(model)} | {started(first_dir)} | {started(again_dir)} '
                     f'| {steps[0]} | {steps[1]} | {epochs[0]} | {epochs[1]} |')
    return '\n'.join(lines) + '\n'


def report():
    """Everything results/rerun_seed8_avx2/README.md quotes, as `python -m studies.rerun` prints it."""
    return '\n'.join([
        'Largest relative difference of the losses, each EPYC training against the Xeon\'s:\n',
        loss_gaps(),
        *(f'FID, {cpu}:\n\n' + compare.fid_by_epoch(RUNS, ROOT / cpu) for cpu in CPUS),
        difference_table(8, {cpu: ROOT / cpu for cpu in CPUS}),
        *(speed_line(cpu) for cpu in EPYCS),
        'The Xeon again (same CPU model), against its first training of seed 8:\n', same_cpu_repeat()])


def seed9_report():
    """Everything results/rerun_seed9/README.md quotes, as `python -m studies.rerun seed9` prints it."""
    trainings = {'xeon': SEED9_ROOT / 'xeon', 'epyc_onednn': RESULTS / 'runs'}
    return '\n'.join([*(f'FID, {name}:\n\n' + compare.fid_by_epoch(headline_runs(9), root)
                        for name, root in trainings.items()),
                      difference_table(9, trainings)])


REPORTS = {'seed8': report, 'seed9': seed9_report}

if __name__ == '__main__':
    chosen = sys.argv[1:] or ['seed8']
    if len(chosen) > 1 or chosen[0] not in REPORTS:
        utils.fail(f'expected one of {", ".join(REPORTS)} (or nothing, for seed8), '
                   f'got {" ".join(chosen)}')
    print(REPORTS[chosen[0]]())
