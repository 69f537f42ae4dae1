"""studies/rerun.py: its same-CPU table counts a step (an epoch) as repeated only if both losses
(every metric) match exactly; each EPYC training's losses are compared with the Xeon's at the
same step, and its speed read off wall_s; a report it does not have is refused."""
import subprocess
import sys
from pathlib import Path

import pytest

from studies import rerun


def write_run(run_dir, losses, metrics, started='I1206 20:11:45.394763 139 train.py:236] Settings: ...'):
    run_dir.mkdir(parents=True)
    (run_dir / 'train.log').write_text(started + '\n')
    (run_dir / 'losses.csv').write_text('step,epoch,d_loss,g_loss,wall_s\n' + ''.join(
        f'{step},1,{d!r},{g!r},{step * 0.3}\n' for step, (d, g) in enumerate(losses, start=1)))
    (run_dir / 'metrics.csv').write_text('step,epoch,fid,recall\n' + ''.join(
        f'{epoch * 10},{epoch},{fid!r},{recall}\n' for epoch, (fid, recall) in enumerate(metrics, start=1)))


def test_same_cpu_repeat_counts_the_steps_and_epochs_that_are_equal_to_the_last_bit(tmp_path, monkeypatch):
    monkeypatch.setattr(rerun, 'ROOT', tmp_path / 'rerun')
    monkeypatch.setattr(rerun, 'RESULTS', tmp_path)
    first = [(1.5, 0.25), (0.75, 1.125), (0.5, 0.5)]
    # The second training logged one step more; step 2's g_loss is off in its last bit.
    again = [(1.5, 0.25), (0.75, 1.1250000000000002), (0.5, 0.5), (0.4, 0.6)]
    # Epoch 1's blank recall matches a blank; epoch 2's FID differs; epoch 3 only in the second.
    first_metrics = [(400.5, ''), (200.25, 0.5)]
    again_metrics = [(400.5, ''), (200.25000000000003, 0.5), (100.0, 0.7)]
    for run in rerun.RUNS.values():
        write_run(tmp_path / 'rerun' / 'xeon' / run, first, first_metrics, 'I1205 16:43:12.312322 1 x] first')
        write_run(tmp_path / 'runs' / run, again, again_metrics)
    rows = rerun.same_cpu_repeat().splitlines()[2:]
    assert rows == ['| LSGAN | 12-05 16:43 | 12-06 20:11 | 3 | 2 | 2 | 1 |',
                    '| LSGAN + regularizer | 12-05 16:43 | 12-06 20:11 | 3 | 2 | 2 | 1 |']


def test_each_epyc_training_is_compared_with_the_xeons_step_by_step(tmp_path, monkeypatch):
    monkeypatch.setattr(rerun, 'ROOT', tmp_path)
    trainings = {'xeon': [(2.0, 1.0), (1.0, 0.5)],
                 'epyc': [(2.0, 1.1), (1.5, 0.5)],  # g_loss 10% off at step 1, d_loss 50% at step 2
                 'epyc_onednn': [(2.0, 1.0), (0.9, 0.55)]}  # equal at step 1, both 10% off at 2
    for cpu, losses in trainings.items():
        for run in rerun.RUNS.values():
            write_run(tmp_path / cpu / run, losses, [])
    rows = rerun.loss_gaps(steps=(1, 2)).splitlines()
    assert rows[0] == ('| step | LSGAN, epyc | LSGAN + regularizer, epyc | LSGAN, epyc_onednn '
                       '| LSGAN + regularizer, epyc_onednn |')
    assert rows[2:] == ['| 1 | 1.0e-01 | 1.0e-01 | 0.0e+00 | 0.0e+00 |',
                        '| 2 | 5.0e-01 | 5.0e-01 | 1.0e-01 | 1.0e-01 |']
    assert rerun.seconds_per_step('epyc_onednn', first=1, last=2) == pytest.approx([0.3, 0.3])


def test_the_difference_table_lists_the_epochs_every_training_scored(tmp_path):
    fids = {'xeon': {'lsgan': [400.0, 200.0], 'lsgan_reg': [390.0, 210.0]},  # stopped at epoch 2
            'epyc_onednn': {'lsgan': [410.0, 190.0, 100.0], 'lsgan_reg': [412.5, 180.0, 90.0]}}
    for training, by_model in fids.items():
        for model, run in rerun.headline_runs(9).items():
            write_run(tmp_path / training / run, [], [(fid, '') for fid in by_model[model]])
    rows = rerun.difference_table(9, {t: tmp_path / t for t in fids}).splitlines()
    assert rows[0] == '| epoch | difference, xeon | difference, epyc_onednn |'
    assert rows[2:] == ['| 1 | 10 | -2.5 |', '| 2 | -10 | 10 |']


def test_an_unknown_report_is_a_one_line_error():
    root = Path(rerun.__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, '-m', 'studies.rerun', 'seed7'], cwd=root,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ''
    assert done.stderr.strip().splitlines()[-1] == ('rerun.py: error: expected one of seed8, seed9 '
                                                    '(or nothing, for seed8), got seed7')
