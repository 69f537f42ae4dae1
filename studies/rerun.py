"""Seed 8 of the headline pair trained twice, on an AMX Xeon and on an AVX2-only EPYC.

python -m studies.rerun  prints, from results/rerun_seed8_avx2/{xeon,epyc}/, how far apart the
two CPUs' losses are after a few steps, the FID per epoch on each, the paired differences and
the EPYC's seconds per step.
"""
from pathlib import Path

import numpy as np

import utils
from studies import compare

ROOT = Path(__file__).resolve().parent.parent / 'results' / 'rerun_seed8_avx2'
CPUS = ('xeon', 'epyc')
RUNS = {'lsgan': 'lsgan_a-1_b1_c0_seed8', 'lsgan_reg': 'lsgan_reg_a-1_b1_c0_lam0.5_seed8'}


def loss_gaps(steps=(1, 2, 20, 100)):
    """| step | the largest relative difference between the CPUs' d_loss and g_loss, per model |"""
    logs = {(cpu, model): compare.read_columns(ROOT / cpu / run / 'losses.csv')
            for cpu in CPUS for model, run in RUNS.items()}
    lines = ['| step | ' + ' | '.join(compare.label(m) for m in RUNS) + ' |',
             '| ---: |' + ' ---: |' * len(RUNS)]
    for step in steps:
        cells = []
        for model in RUNS:
            xeon, epyc = (logs[cpu, model] for cpu in CPUS)
            gap = max(abs(epyc[k][epyc['step'] == step][0] / xeon[k][xeon['step'] == step][0] - 1)
                      for k in ('d_loss', 'g_loss'))
            cells.append(f'{gap:.1e}')
        lines.append(f'| {step} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def difference_table():
    """| epoch | LSGAN - regularized on each CPU |, over the epochs both CPUs scored."""
    by_cpu = [compare.epoch_differences({8: RUNS}, ROOT / cpu) for cpu in CPUS]
    lines = ['| epoch | ' + ' | '.join(f'difference, {cpu}' for cpu in CPUS) + ' |',
             '| ---: |' + ' ---: |' * len(CPUS)]
    for epoch in sorted(set(by_cpu[0]) & set(by_cpu[1])):
        lines.append(f'| {epoch} | ' + ' | '.join(f'{d[epoch][8]:.3g}' for d in by_cpu) + ' |')
    return '\n'.join(lines) + '\n'


def seconds_per_step(first=1000, last=5000):
    """The EPYC's wall time per step between two steps, epoch-end evaluations included."""
    times = []
    for run in RUNS.values():
        log = compare.read_columns(ROOT / 'epyc' / run / 'losses.csv')
        wall = {int(s): w for s, w in zip(log['step'], log['wall_s'])}
        times.append((wall[last] - wall[first]) / (last - first))
    return times


def report():
    """Everything results/rerun_seed8_avx2/README.md quotes, as `python -m studies.rerun` prints it."""
    times = seconds_per_step()
    return '\n'.join([
        'Largest relative difference of the losses, EPYC against Xeon:\n', loss_gaps(),
        *(f'FID, {cpu}:\n\n' + compare.fid_by_epoch(RUNS, ROOT / cpu) for cpu in CPUS),
        difference_table(),
        'EPYC seconds per step, steps 1,000 to 5,000: ' + ', '.join(f'{t:.3f}' for t in times)
        + f' (20 epochs: {np.mean(times) * 18740 / 3600:.1f} h)'])


if __name__ == '__main__':
    print(report())
