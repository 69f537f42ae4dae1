"""studies/rerun.py's same-CPU table counts a step (an epoch) as repeated only if both losses
(every metric) match exactly."""
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
