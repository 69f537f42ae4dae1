"""Sample grids, the run record and the loss log."""
import csv

import imageio.v3 as iio
import numpy as np
import pytest

import utils


def test_grid_places_image_i_at_row_i_div_k_column_i_mod_k(tmp_path):
    images = np.stack([np.full((28, 28, 1), v) for v in np.linspace(-1, 1, 9)])
    path = tmp_path / 'grid.png'
    utils.save_grid(images, path)
    grid = iio.imread(path)
    assert grid.shape == (84, 84) and grid.dtype == np.uint8
    for i, value in enumerate(np.linspace(-1, 1, 9)):
        cell = grid[(i // 3) * 28:(i // 3 + 1) * 28, (i % 3) * 28:(i % 3 + 1) * 28]
        assert np.all(cell == round((value + 1) * 127.5))
    assert not list(tmp_path.glob('.*tmp'))  # no temporary file left behind


def test_grid_rejects_a_non_square_count():
    with pytest.raises(ValueError, match='square'):
        utils.image_grid(np.zeros((6, 28, 28)))


def test_run_record_refuses_a_changed_parameter(tmp_path):
    path = tmp_path / 'run.json'
    utils.check_or_record_run(path, {'model': 'lsgan_reg', 'lam': 0.5, 'epochs': 20}, ['model', 'lam'])
    utils.check_or_record_run(path, {'model': 'lsgan_reg', 'lam': 0.5, 'epochs': 40}, ['model', 'lam'])
    with pytest.raises(utils.RunMismatch, match="lam=0.5.*lam=1.0"):
        utils.check_or_record_run(path, {'model': 'lsgan_reg', 'lam': 1.0}, ['model', 'lam'])


def test_a_resumed_csv_log_is_whole_on_disk_before_any_flush(tmp_path):
    path = tmp_path / 'metrics.csv'
    log = utils.CsvLog(path, ['step', 'fid'], resume_step=0)
    for step in (1, 2):
        log.write({'step': step, 'fid': 100 - step})
    log.close()
    resumed = utils.CsvLog(path, ['step', 'fid'], resume_step=2)
    resumed.write({'step': 3, 'fid': 1})  # buffered: as if the process were killed now
    rows = list(csv.DictReader(path.open()))
    assert [int(r['step']) for r in rows] == [1, 2]
    resumed.close()


def test_csv_log_drops_rows_past_the_resumed_step(tmp_path):
    path = tmp_path / 'losses.csv'
    log = utils.CsvLog(path, ['step', 'loss'], resume_step=0)
    for step in range(1, 6):
        log.write({'step': step, 'loss': step / 10})
    log.close()
    log = utils.CsvLog(path, ['step', 'loss'], resume_step=3)  # the checkpoint was at step 3
    log.write({'step': 4, 'loss': 99})
    log.close()
    rows = list(csv.DictReader(path.open()))
    assert [int(r['step']) for r in rows] == [1, 2, 3, 4] and rows[-1]['loss'] == '99'


def test_run_lock_refuses_a_second_process_and_takes_over_a_dead_ones(tmp_path, capsys):
    import subprocess
    import sys
    with utils.RunLock(tmp_path):
        assert (tmp_path / 'lock').read_text().strip() == str(__import__('os').getpid())
    assert not (tmp_path / 'lock').exists()  # released

    holder = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    try:
        (tmp_path / 'lock').write_text(f'{holder.pid}\n')
        with pytest.raises(SystemExit) as stop:
            with utils.RunLock(tmp_path):
                pass
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert f'being trained by process {holder.pid}' in err and err.count('\n') == 1
        assert (tmp_path / 'lock').read_text().strip() == str(holder.pid)  # left alone
    finally:
        holder.kill()
        holder.wait()
    with utils.RunLock(tmp_path):  # the holder is gone: its lock is taken over
        assert (tmp_path / 'lock').read_text().strip() == str(__import__('os').getpid())


def test_duration_reads_as_a_person_would():
    assert [utils.duration(s) for s in (5, 65, 3725)] == ['5 s', '1 min 05 s', '1 h 02 min']


def test_peak_rss_is_the_kernels_high_water_mark():
    """Against Linux's own count (VmHWM in /proc/self/status, kB), after holding ~200 MB."""
    held = np.ones(50_000_000, np.float32)  # 200 MB, touched
    high_water_kb = next(int(line.split()[1]) for line in open('/proc/self/status')
                         if line.startswith('VmHWM:'))
    assert utils.peak_rss_gb() == pytest.approx(high_water_kb * 1024 / 1e9, rel=0.02)
    assert utils.peak_rss_gb() > held.nbytes / 1e9
